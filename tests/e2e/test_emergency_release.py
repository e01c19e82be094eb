"""The emergency release as a user runs it (issue 14 item 3, seed 004's "Принудительный
релиз"): ``relman release start … --emergency --reason …`` by an admin deploys stage, then
production at once — nobody tests, nobody approves —, the reason is in the audit trail and
on the release, the team chat hears of it, and DORA counts the deploy apart. Without a
reason, or by someone without the role, it is one line, exit 2, and nothing is written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from relman.config import Environment, Host, Policy, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper
from tests.support.pipeline import write_config
from tests.support.sshd import free_port
from tests.support.targets import hello_service
from tests.support.telegram_double import TelegramDouble

TEAM_CHAT = -100555
QA_CHAT = -100556
REASON = "payments down since 14:05, hotfix for the card form"


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_an_emergency_release_goes_to_production_without_manual_testing(
    tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> None:
    service_reaper.watch(tmp_path / "stage" / "hello")
    service_reaper.watch(tmp_path / "prod" / "hello")
    write_config(
        tmp_path / "relman.toml",
        RelmanConfig(
            services={"hello": hello_service(sample_repo, free_port("127.0.0.1"))},
            hosts={
                "stage": Host(transport="local", root=str(tmp_path / "stage")),
                "prod": Host(transport="local", root=str(tmp_path / "prod")),
            },
            environments={
                "stage": Environment(hosts=["stage"]),
                "production": Environment(hosts=["prod"]),
            },
            policy=Policy(releaser=["cli:dev"], qa=["cli:qa"], admin=["cli:boss"]),
        ),
    )
    db = tmp_path / "relman.db"
    with TelegramDouble() as telegram:
        telegram.add_group(TEAM_CHAT, "Team")
        telegram.add_group(QA_CHAT, "QA")
        env = {
            "RELMAN_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "RELMAN_TELEGRAM_TOKEN": telegram.token,
            "RELMAN_TELEGRAM_API_URL": telegram.base_url,
            "RELMAN_TELEGRAM_TEAM_CHAT_ID": str(TEAM_CHAT),
            "RELMAN_TELEGRAM_QA_CHAT_ID": str(QA_CHAT),
        }
        assert relman(["db", "upgrade"], tmp_path, **env).returncode == 0
        start = ["release", "start", "hello", "v1.0.0", "--emergency"]

        no_reason = relman(start, tmp_path, RELMAN_ACTOR="boss", **env)
        assert no_reason.returncode == 2
        assert no_reason.stderr.strip() == (
            "error: reason: an emergency release needs a reason: say why manual testing is skipped"
        )
        blank = relman([*start, "--reason", "   "], tmp_path, RELMAN_ACTOR="boss", **env)
        assert blank.returncode == 2 and "error: reason:" in blank.stderr

        # A releaser may start releases, not skip QA: refused, logged, nothing written.
        not_admin = relman([*start, "--reason", REASON], tmp_path, RELMAN_ACTOR="dev", **env)
        assert not_admin.returncode == 2
        assert (
            "error: cli:dev may not start an emergency release: needs role admin"
            in not_admin.stderr
        )
        assert "refused: cli:dev asked for an emergency release of hello v1.0.0" in (
            not_admin.stderr + not_admin.stdout
        )
        assert "Traceback" not in not_admin.stderr
        assert _rows(db, "SELECT count(*) FROM releases") == [(0,)]
        assert _rows(db, "SELECT count(*) FROM emergency_releases") == [(0,)]

        started = relman([*start, "--reason", REASON], tmp_path, RELMAN_ACTOR="boss", **env)
        assert started.returncode == 0, started.stderr
        assert "#1 hello v1.0.0 — deployed" in started.stdout
        assert f"⚠️ emergency release, no manual testing: {REASON}" in started.stdout

        # Stage ran, then production; no person decided in between.
        statuses = _rows(
            db, "SELECT to_status, actor, note FROM release_events WHERE release_id = 1 ORDER BY id"
        )
        assert [s for s, _, _ in statuses] == [
            "initiated",
            "building",
            "stage_deploy",
            "manual_testing",
            "manual_test_passed",
            "deploying",
            "deployed",
        ]
        assert statuses[0][2] == f"⚠️ emergency release, manual testing skipped: {REASON}"
        passed = statuses[4]
        assert passed[1] == "system"
        assert str(passed[2]).startswith(
            f"⚠️ emergency release: manual testing skipped ({REASON}); on stage at "
        )
        deploys = _rows(
            db, "SELECT environment, status FROM deployments WHERE release_id = 1 ORDER BY id"
        )
        assert deploys == [("stage", "succeeded"), ("production", "succeeded")]
        assert _rows(db, "SELECT reason, actor FROM emergency_releases") == [(REASON, "cli:boss")]

        # The team chat was told, with the reason; QA was never asked to test.
        team = [m.text for m in telegram.messages(TEAM_CHAT)]
        assert any("Принудительный релиз" in t and REASON in t for t in team), team
        assert any("Релиз задеплоен на production" in t and REASON in t for t in team), team
        assert telegram.messages(QA_CHAT) == []

        shown = relman(["release", "show", "1"], tmp_path, **env)
        assert shown.returncode == 0
        assert f"⚠️ emergency release, no manual testing: {REASON}" in shown.stdout

        dora = relman(["dora", "--json"], tmp_path, **env)
        assert dora.returncode == 0, dora.stderr
        figures = json.loads(dora.stdout)
        assert figures["all"]["keys"]["emergency_deploys"] == 1, figures
