"""``relman lock acquire|status|release`` as a user runs them (issue 15 item 10): real
processes, a real relman.toml and its SQLite database, the sample repository,
hello-service on a local host."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from relman.demo.sample_repo import SampleRepo
from relman.deploy.lock import this_machine
from tests.e2e.test_deploy_cli import health_url, hello_project
from tests.e2e.test_serve import relman
from tests.integration.deploy.deploy_support import dead_pid
from tests.support.hello import ServiceReaper, wait_for_health

WIDE = {"COLUMNS": "200"}
#: The CLI's one time format for people, and the one of ``--json``.
HUMAN_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
JSON_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def project(tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper) -> Path:
    """hello-service on one local host ``box`` of stage, nothing deployed yet."""
    return hello_project(tmp_path, sample_repo, service_reaper, environment="stage", host="box")


def as_(actor: str) -> dict[str, str]:
    return {"RELMAN_ACTOR": actor, **WIDE}


def status_json(project: Path) -> dict[str, object]:
    shown = relman(["lock", "status", "hello", "--env", "stage", "--json"], project, **WIDE)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def acquire(project: Path, actor: str, reason: str = "database upgrade") -> str:
    """``relman lock acquire hello --env stage`` as ``actor``; returns the time it printed."""
    taken = relman(
        ["lock", "acquire", "hello", "--env", "stage", "--reason", reason], project, **as_(actor)
    )
    assert taken.returncode == 0, taken.stdout + taken.stderr
    printed = re.fullmatch(
        rf"hello on stage held for maintenance by cli:{actor} since ({HUMAN_TIME}): "
        rf"{re.escape(reason)}\n",
        taken.stdout,
    )
    assert printed is not None, taken.stdout
    return printed[1]


def test_a_maintenance_lock_refuses_deploys_shows_in_status_and_yields_to_force(
    project: Path,
) -> None:
    since = acquire(project, "alice")

    # a deploy is refused naming holder, time and reason; the host is untouched
    refused = relman(["deploy", "hello", "v1.0.0", "--env", "stage"], project, **as_("bob"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: hello on stage is held for maintenance by cli:alice since {since}: "
        "database upgrade (relman lock release hello --env stage frees it)"
    ]
    assert not (project / "box" / "hello").exists()

    # a second acquire is refused naming who holds it
    again = relman(
        ["lock", "acquire", "hello", "--env", "stage", "--reason", "me too"],
        project,
        **as_("bob"),
    )
    assert again.returncode == 2
    assert again.stderr.startswith("error: hello on stage is held for maintenance by cli:alice")

    # status, for people: the reason and the one time format
    shown = relman(["lock", "status", "hello", "--env", "stage"], project, **WIDE)
    assert shown.returncode == 0, shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if "database" in line]
    cells = [cell.strip() for cell in row.strip("│┃ ").split("│")]
    assert cells == [
        "database",
        "held (maintenance)",
        "cli:alice",
        since,
        "",
        "database upgrade",
        "no",
    ], row
    (host_row,) = [line for line in shown.stdout.splitlines() if "host box" in line]
    assert "free" in host_row

    # status --json, field by field
    data = status_json(project)
    assert set(data) == {"database", "hosts"}
    database = data["database"]
    assert isinstance(database, dict)
    assert database == {
        "holder": "cli:alice",
        "since": database["since"],
        "tag": None,
        "reason": "database upgrade",
        "maintenance": True,
        "stale": False,
    }
    assert JSON_TIME.fullmatch(str(database["since"]))
    assert str(database["since"]).replace("T", " ").replace("Z", " UTC") == since
    assert data["hosts"] == {
        "box": {"held": False, "holder": None, "since": None, "tag": None, "stale": None}
    }

    # someone else frees it with --force (stage: no role needed)
    forced = relman(
        ["lock", "release", "hello", "--env", "stage", "--force"], project, **as_("bob")
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert status_json(project)["database"] is None


def test_only_its_holder_releases_a_maintenance_lock_then_deploys_run(project: Path) -> None:
    since = acquire(project, "alice")

    # someone else may not release it without --force, and is told so
    not_theirs = relman(["lock", "release", "hello", "--env", "stage"], project, **as_("bob"))
    assert not_theirs.returncode == 2
    assert not_theirs.stderr.strip().splitlines() == [
        f"error: hello on stage is held for maintenance by cli:alice since {since}: "
        "database upgrade; only cli:alice releases it, cli:bob only with --force"
    ]
    assert status_json(project)["database"] is not None

    # its holder releases it; then the deploy runs
    freed = relman(["lock", "release", "hello", "--env", "stage"], project, **as_("alice"))
    assert freed.returncode == 0, freed.stdout + freed.stderr
    assert "released (maintenance)" in freed.stdout
    assert status_json(project)["database"] is None
    done = relman(["deploy", "hello", "v1.0.0", "--env", "stage"], project, **as_("bob"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert wait_for_health(health_url(project), version="1.0.0").status == 200


#: Reasons refused, and the start of the one-line error each gets.
BAD_REASONS = [
    ("", "reason: must not be empty: say why deploys are held"),
    ("   ", "reason: must not be empty: say why deploys are held"),
    ("stop\x1b[2Jnow", "reason: must not contain the control character U+001B (ESC)"),
    ("two\nlines", "reason: must be one line: it holds U+000A (LF) at character 4"),
    ("a\u202eb", "reason: must not contain the invisible formatting character U+202E"),
]


def test_a_lock_needs_a_one_line_reason(project: Path) -> None:
    for reason, said in BAD_REASONS:
        refused = relman(
            ["lock", "acquire", "hello", "--env", "stage", "--reason", reason], project, **WIDE
        )
        assert refused.returncode == 2, reason
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith(f"error: {said}"), line
    missing = relman(["lock", "acquire", "hello", "--env", "stage"], project, **WIDE)
    assert missing.returncode == 2 and "--reason" in missing.stderr
    assert status_json(project)["database"] is None


def test_status_shows_a_host_lock_in_the_one_time_format(project: Path) -> None:
    """A lock dir a dead deploy left on the host: its ``since`` (ISO 8601 with
    microseconds, as the host wrote it) is shown to the second in UTC."""
    lock = project / "box" / ".relman-hello" / "lock"
    lock.mkdir(parents=True)
    (lock / "details.json").write_text(
        json.dumps(
            {
                "actor": "cli:oleg",
                "since": "2026-12-02T21:30:05.734112+02:00",
                "tag": "v1.0.0",
                "pid": dead_pid(),
                "machine": this_machine(),
                "deploy_id": "abc",
            }
        ),
        encoding="utf-8",
    )
    shown = relman(["lock", "status", "hello", "--env", "stage"], project, **WIDE)
    assert shown.returncode == 0, shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if "host box" in line]
    cells = [cell.strip() for cell in row.strip("│┃ ").split("│")]
    assert cells == ["host box", "held", "cli:oleg", "2026-12-02 19:30:05 UTC", "v1.0.0", "", "yes"]
    assert status_json(project)["hosts"] == {
        "box": {
            "held": True,
            "holder": "cli:oleg",
            "since": "2026-12-02T19:30:05Z",
            "tag": "v1.0.0",
            "stale": True,
        }
    }
    freed = relman(["lock", "release", "hello", "--env", "stage"], project, **WIDE)
    assert freed.returncode == 0, freed.stdout + freed.stderr
    assert not lock.exists()
