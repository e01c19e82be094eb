"""``relman status`` as a user runs it: real processes, a real relman.toml, real deploys of
the sample repository's hello-service on a local host, SQLite."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_deploy_cli import hello_project
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper

#: Wide enough that rich never wraps a cell.
WIDE = {"COLUMNS": "200"}
HUMAN_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


@pytest.fixture
def project(tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper) -> Path:
    """hello on one local host ``box`` of stage, without the automatic rollback (a failed
    deploy stays failed), deploys by ``cli:alice``."""
    return hello_project(
        tmp_path,
        sample_repo,
        service_reaper,
        environment="stage",
        host="box",
        environments={"stage": {"hosts": ["box"], "auto_rollback": False}},
    )


def table_rows(stdout: str) -> list[list[str]]:
    """The body rows of the rich table in ``stdout``, as stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def status(project: Path, *args: str) -> list[list[str]]:
    """``relman status ARGS``'s table rows, after checking its header."""
    done = relman(["status", *args], project, RELMAN_ACTOR="alice", **WIDE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[1].split() == [
        "┃",
        "service",
        "┃",
        "environment",
        "┃",
        "host",
        "┃",
        "tag",
        "┃",
        "sha",
        "┃",
        "since",
        "┃",
        "by",
        "┃",
        "release",
        "┃",
        "note",
        "┃",
    ], done.stdout
    return table_rows(done.stdout)


def deploy(project: Path, tag: str) -> subprocess.CompletedProcess[str]:
    """``relman deploy hello TAG --env stage`` by ``cli:alice``."""
    return relman(["deploy", "hello", tag, "--env", "stage"], project, RELMAN_ACTOR="alice", **WIDE)


def test_status_follows_deploys_of_a_host(project: Path, sample_repo: SampleRepo) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    done = deploy(project, "v1.0.0")
    assert done.returncode == 0, done.stdout + done.stderr
    after = datetime.now(UTC)
    sha = sample_repo.commits["v1.0.0"]
    [row] = status(project, "hello")
    assert row[:5] == ["hello", "stage", "box", "v1.0.0", sha[:12]]
    assert HUMAN_TIME.fullmatch(row[5]), row
    since = datetime.strptime(row[5], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert before <= since <= after
    assert row[6:] == ["cli:alice", "", ""]

    broken = deploy(project, "v1.2.0")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    [row] = status(project)
    # still shown on the last healthy deploy, with the failed one beside it
    assert row[:7] == ["hello", "stage", "box", "v1.0.0", sha[:12], row[5], "cli:alice"]
    assert re.fullmatch(r"v1\.2\.0 failed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row[8]), row

    shown = relman(["status", "hello", "--json"], project, **WIDE)
    assert shown.returncode == 0, shown.stderr
    [entry] = json.loads(shown.stdout)
    assert set(entry) == {
        "service",
        "environment",
        "host",
        "tag",
        "kind",
        "git_sha",
        "since",
        "by",
        "release_id",
        "deployment_id",
        "attempt",
        "note",
    }
    assert (entry["service"], entry["environment"], entry["host"]) == ("hello", "stage", "box")
    assert (entry["tag"], entry["kind"], entry["git_sha"]) == ("v1.0.0", "deploy", sha)
    assert entry["since"] == f"{since:%Y-%m-%dT%H:%M:%SZ}"
    assert entry["by"] == "cli:alice"
    assert entry["release_id"] is None
    assert isinstance(entry["deployment_id"], int)
    attempt = entry["attempt"]
    assert (attempt["tag"], attempt["kind"], attempt["status"]) == ("v1.2.0", "deploy", "failed")
    assert attempt["by"] == "cli:alice"
    assert attempt["deployment_id"] > entry["deployment_id"]
    started = datetime.strptime(attempt["started_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    finished = datetime.strptime(attempt["finished_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert since <= started <= finished <= datetime.now(UTC) + timedelta(seconds=1)
    assert entry["note"] == f"v1.2.0 failed {finished:%Y-%m-%d %H:%M:%S} UTC" == row[8]


def test_a_host_never_deployed(project: Path) -> None:
    assert status(project) == [["hello", "stage", "box", "—", "", "", "", "", ""]]
    shown = relman(["status", "--json"], project)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == [
        {
            "service": "hello",
            "environment": "stage",
            "host": "box",
            "tag": None,
            "kind": None,
            "git_sha": None,
            "since": None,
            "by": None,
            "release_id": None,
            "deployment_id": None,
            "attempt": None,
            "note": None,
        }
    ]


def test_an_unknown_service_is_one_line_exit_2(project: Path) -> None:
    for args in (["status", "nope"], ["status", "nope", "--json"]):
        done = relman(args, project, **WIDE)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stdout == ""
        assert done.stderr.strip().splitlines() == ["error: unknown service 'nope' (known: hello)"]
