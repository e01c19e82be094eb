"""``relman status [SERVICE] [--json]`` — what runs where (Kamal's ``app details``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from relman.cli import app
from relman.cli._common import (
    JsonOption,
    add_data_row,
    console,
    print_json,
    run,
    utc_json,
    utc_text,
    with_container,
)

if TYPE_CHECKING:
    from datetime import datetime

    from relman.services.status import HostStatus
    from relman.store.deployments import Deployment

#: The tag shown for a host never deployed (its other columns stay empty).
NEVER = "—"
#: How much of a git sha the table shows.
SHORT_SHA = 12


def attempt_note(attempt: Deployment | None) -> str:
    """The note on a newer deployment that failed or still runs, e.g. ``v1.3.0 failed
    2026-12-02 19:30:05 UTC``, ``v1.3.0 deploying since …``, ``rollback to v1.0.0 failed …``;
    ``""`` for none."""
    if attempt is None:
        return ""
    what = attempt.tag if attempt.kind == "deploy" else f"rollback to {attempt.tag}"
    if attempt.status == "running":
        verb = "deploying" if attempt.kind == "deploy" else "running"
        return f"{what} {verb} since {utc_text(attempt.started_at)}"
    return f"{what} failed {utc_text(attempt.finished_at or attempt.started_at)}"


def _since(d: Deployment) -> datetime:
    # What runs there runs since its deployment finished healthy.
    return d.finished_at or d.started_at


def status_json(row: HostStatus) -> dict[str, Any]:
    """One host's status for ``--json``: full sha, ISO times (UTC, ``…Z``), ``release_id``
    an int or null; the deployment fields are null for a host never deployed."""
    d = row.current
    attempt = row.attempt
    return {
        "service": row.service,
        "environment": row.environment,
        "host": row.host,
        "tag": d.tag if d else None,
        "kind": d.kind if d else None,
        "git_sha": (d.git_sha or None) if d else None,
        "since": utc_json(_since(d)) if d else None,
        "by": d.actor if d else None,
        "release_id": d.release_id if d else None,
        "deployment_id": d.id if d else None,
        "attempt": None
        if attempt is None
        else {
            "tag": attempt.tag,
            "kind": attempt.kind,
            "status": attempt.status,
            "started_at": utc_json(attempt.started_at),
            "finished_at": utc_json(attempt.finished_at),
            "by": attempt.actor,
            "deployment_id": attempt.id,
        },
        "note": attempt_note(attempt) or None,
    }


@app.command("status")
def status_command(
    service: Annotated[
        str | None, typer.Argument(help="Service name (default: every service of relman.toml).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show what runs where: per service, environment and host the tag, git sha, since when,
    by whom and for which release — the newest healthy deploy or rollback there — and a
    newer deploy that failed or is still running."""
    rows = run(with_container(lambda c: c.status.status(service)))
    if as_json:
        print_json([status_json(row) for row in rows])
        return
    from rich.table import Table

    table = Table("service", "environment", "host", "tag", "sha", "since", "by", "release", "note")
    for row in rows:
        d = row.current
        note = attempt_note(row.attempt)
        if d is None:
            add_data_row(table, row.service, row.environment, row.host, NEVER, *[""] * 4, note)
            continue
        if d.kind == "rollback":
            note = f"rollback; {note}" if note else "rollback"
        add_data_row(
            table,
            row.service,
            row.environment,
            row.host,
            d.tag,
            d.git_sha[:SHORT_SHA],
            utc_text(_since(d)),
            d.actor,
            "" if d.release_id is None else str(d.release_id),
            note,
        )
    console.print(table)
