"""`relman release …` as a user runs it: start, a refused approval, an approval, show."""

from __future__ import annotations

import json
from pathlib import Path

from relman.config import Environment, Host, Policy, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper
from tests.support.pipeline import write_config
from tests.support.sshd import free_port
from tests.support.targets import hello_service


def test_start_refused_approval_approval_and_show(
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
            policy=Policy(releaser=["cli:dev"], qa=["cli:qa"]),
        ),
    )
    env = {"RELMAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'relman.db'}"}
    assert relman(["db", "upgrade"], tmp_path, **env).returncode == 0

    started = relman(["release", "start", "hello", "v1.0.0"], tmp_path, RELMAN_ACTOR="dev", **env)
    assert started.returncode == 0, started.stderr
    assert "#1 hello v1.0.0 — manual_testing" in started.stdout
    # While the stage deploy runs, its progress: the title, then the host's lines (English).
    lines = started.stdout.splitlines()
    assert lines[0] == "releasing hello v1.0.0"
    assert any(line.startswith("[stage] ") and "Health check passed" in line for line in lines)
    assert any(line.startswith("[stage] ") and " ok" in line for line in lines)

    # The developer is no QA engineer: one line, exit 2, and the refusal is on record.
    refused = relman(["release", "approve", "1"], tmp_path, RELMAN_ACTOR="dev", **env)
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: cli:dev may not approve")
    assert "Traceback" not in refused.stderr

    approved = relman(["release", "approve", "1"], tmp_path, RELMAN_ACTOR="qa", **env)
    assert approved.returncode == 0, approved.stderr
    assert "#1 hello v1.0.0 — deployed" in approved.stdout

    shown = relman(["release", "show", "1"], tmp_path, **env)
    assert shown.returncode == 0
    assert "REFUSED manual_testing → manual_test_passed" in shown.stdout
    assert "deploy v1.0.0 to production: succeeded" in shown.stdout

    # --json: the API's shape (GET /release/1) plus the deploys, one document on stdout.
    as_json = relman(["release", "show", "1", "--json"], tmp_path, **env)
    assert as_json.returncode == 0, as_json.stderr
    detail = json.loads(as_json.stdout)
    assert (detail["id"], detail["release_tag"], detail["status"]) == (1, "v1.0.0", "deployed")
    assert [e["to_status"] for e in detail["events"]][-2:] == ["deploying", "deployed"]
    assert any(e["kind"] == "refused" and e["actor"] == "cli:dev" for e in detail["events"])
    deploys = [(d["environment"], d["kind"], d["status"]) for d in detail["deployments"]]
    assert deploys == [("stage", "deploy", "succeeded"), ("production", "deploy", "succeeded")]
    assert all(len(d["git_sha"]) == 40 for d in detail["deployments"])

    bad_tag = relman(["release", "start", "hello", "1.0"], tmp_path, RELMAN_ACTOR="dev", **env)
    assert bad_tag.returncode == 2 and "tag" in bad_tag.stderr

    # A release whose stage deploy fails ends failed: exit 1, so a script can tell.
    broken = sample_repo.broken_tags[0]
    failed = relman(["release", "start", "hello", broken], tmp_path, RELMAN_ACTOR="dev", **env)
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert f"#2 hello {broken} — staging_failed" in failed.stdout


def test_demo_in_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = relman(["demo", "--dir", str(tmp_path / "file" / "demo")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot use") and "Traceback" not in done.stderr
