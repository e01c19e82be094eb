"""How ``relman status`` words a host's newer attempt and shapes its JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from relman.cli.status import attempt_note, status_json
from relman.services.status import HostStatus
from relman.store.deployments import Deployment, DeploymentKind, DeploymentStatus

T0 = datetime(2026, 12, 2, 19, 30, 5, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 19, 41, 0, tzinfo=UTC)


def row(
    tag: str, kind: DeploymentKind, status: DeploymentStatus, *, finished: datetime | None = T1
) -> Deployment:
    return Deployment(
        id=7,
        release_id=3,
        service="hello",
        environment="production",
        tag=tag,
        kind=kind,
        status=status,
        actor="gh:anna",
        hosts=["box"],
        migrated=False,
        backup_path="",
        log_path="",
        evidence_path="",
        error="",
        started_at=T0,
        finished_at=finished,
        git_sha="0123456789abcdef" * 2 + "01234567",
    )


def test_the_note_names_the_attempt_its_outcome_and_when() -> None:
    assert attempt_note(None) == ""
    failed = row("v1.3.0", "deploy", "failed")
    assert attempt_note(failed) == "v1.3.0 failed 2026-12-02 19:41:00 UTC"
    running = row("v1.3.0", "deploy", "running", finished=None)
    assert attempt_note(running) == "v1.3.0 deploying since 2026-12-02 19:30:05 UTC"
    assert (
        attempt_note(row("v1.0.0", "rollback", "failed"))
        == "rollback to v1.0.0 failed 2026-12-02 19:41:00 UTC"
    )
    assert (
        attempt_note(row("v1.0.0", "rollback", "running", finished=None))
        == "rollback to v1.0.0 running since 2026-12-02 19:30:05 UTC"
    )


def test_json_keeps_the_full_sha_the_release_id_and_iso_times() -> None:
    current = row("v1.2.0", "rollback", "succeeded")
    shown = status_json(HostStatus("hello", "production", "box", current=current, attempt=None))
    assert shown == {
        "service": "hello",
        "environment": "production",
        "host": "box",
        "tag": "v1.2.0",
        "kind": "rollback",
        "git_sha": current.git_sha,
        "since": "2026-12-02T19:41:00Z",
        "by": "gh:anna",
        "release_id": 3,
        "deployment_id": 7,
        "attempt": None,
        "note": None,
    }
