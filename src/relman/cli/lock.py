"""``relman lock …`` — who holds a service's deploy lock on an environment, holding deploys
for maintenance, and freeing a maintenance or stale lock."""

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
from relman.cli.deploy import EnvOption, cli_actor

if TYPE_CHECKING:
    from relman.services.deploys import LockReport

lock_app = typer.Typer(help="Deploy locks.", no_args_is_help=True)
app.add_typer(lock_app, name="lock")

ServiceArg = Annotated[str, typer.Argument(help="Service name.")]


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def _render_locks(report: LockReport, verb: str) -> None:
    from rich.table import Table

    table = Table("where", "state", "holder", "since", "tag", "reason", "stale")
    db = report.database
    if db is None:
        table.add_row("database", "free", "", "", "", "", "")
    else:
        add_data_row(
            table,
            "database",
            f"{verb} (maintenance)" if db.maintenance else verb,
            db.holder,
            utc_text(db.acquired_at),
            db.tag,
            db.reason,
            _yes_no(report.database_stale),
        )
    for name, host in report.hosts.items():
        add_data_row(
            table,
            f"host {name}",
            verb if host.held else "free",
            host.holder or "",
            utc_text(host.since),
            host.tag or "",
            "",
            _yes_no(host.stale) if host.held else "",
        )
    console.print(table)


def _report_json(report: LockReport) -> dict[str, Any]:
    """``relman lock status --json``: the database lock (``null`` when free) and each
    host's lock dir."""
    db = report.database
    database = (
        None
        if db is None
        else {
            "holder": db.holder,
            "since": utc_json(db.acquired_at),
            "tag": db.tag or None,
            "reason": db.reason,
            "maintenance": db.maintenance,
            "stale": report.database_stale,
        }
    )
    hosts = {
        name: {
            "held": host.held,
            "holder": host.holder,
            "since": utc_json(host.since),
            "tag": host.tag,
            "stale": host.stale,
        }
        for name, host in report.hosts.items()
    }
    return {"database": database, "hosts": hosts}


@lock_app.command("status")
def lock_status_command(service: ServiceArg, env: EnvOption, json: JsonOption = False) -> None:
    """Show who holds the deploy lock of SERVICE on ENV (database and hosts), since when
    (UTC) and why; --json prints {database: {holder, since, tag, reason, maintenance,
    stale} or null, hosts: {name: {held, holder, since, tag, stale}}}."""
    report = run(with_container(lambda c: c.locks().status(service, env)))
    if json:
        print_json(_report_json(report))
    else:
        _render_locks(report, "held")


@lock_app.command("acquire")
def lock_acquire_command(
    service: ServiceArg,
    env: EnvOption,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why deploys are held (shown to them).")
    ],
) -> None:
    """Hold every deploy of SERVICE to ENV for maintenance until `relman lock release`:
    deploys are refused naming you, the time and REASON; queued pipeline jobs wait.
    On production this needs role releaser or admin (as a production deploy by hand)."""
    from relman.domain.policy import Actor

    held = run(
        with_container(
            lambda c: c.locks().acquire(service, env, actor=Actor(cli_actor()), reason=reason)
        )
    )
    console.print(
        f"{service} on {env} held for maintenance by {held.holder} since "
        f"{utc_text(held.acquired_at)}: {held.reason}",
        markup=False,
        highlight=False,
    )


@lock_app.command("release")
def lock_release_command(
    service: ServiceArg,
    env: EnvOption,
    force: Annotated[
        bool,
        typer.Option(help="Also free a lock whose holder runs, or someone else's maintenance."),
    ] = False,
) -> None:
    """Free the deploy lock of SERVICE on ENV: your maintenance lock, someone else's with
    --force (on production with role releaser or admin), or a stale deploy lock (database
    row and host lock dirs; a live one with --force)."""
    from relman.domain.policy import Actor

    report = run(
        with_container(
            lambda c: c.locks().release(service, env, actor=Actor(cli_actor()), force=force)
        )
    )
    _render_locks(report, "released")
