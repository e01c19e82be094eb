"""``relman lock …`` — who holds a service's deploy lock on an environment, and freeing a
stale one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from relman.cli import app
from relman.cli._common import add_data_row, console, run, with_container
from relman.cli.deploy import EnvOption

if TYPE_CHECKING:
    from relman.services.deploys import LockReport

lock_app = typer.Typer(help="Deploy locks.", no_args_is_help=True)
app.add_typer(lock_app, name="lock")


def _render_locks(report: LockReport, verb: str) -> None:
    from rich.table import Table

    table = Table("where", "state", "holder", "since", "tag", "stale")
    db = report.database
    if db is None:
        table.add_row("database", "free", "", "", "", "")
    else:
        add_data_row(
            table,
            "database",
            verb,
            db.holder,
            f"{db.acquired_at:%Y-%m-%d %H:%M:%S} UTC",
            db.tag,
            "yes" if report.database_stale else "no",
        )
    for name, host in report.hosts.items():
        stale = {True: "yes", False: "no", None: "unknown"}[host.stale]
        add_data_row(
            table,
            f"host {name}",
            verb if host.held else "free",
            host.holder or "",
            host.since or "",
            host.tag or "",
            stale if host.held else "",
        )
    console.print(table)


@lock_app.command("status")
def lock_status_command(
    service: Annotated[str, typer.Argument(help="Service name.")], env: EnvOption
) -> None:
    """Show who holds the deploy lock of SERVICE on ENV (database and hosts)."""
    _render_locks(run(with_container(lambda c: c.deploys.lock_report(service, env))), "held")


@lock_app.command("release")
def lock_release_command(
    service: Annotated[str, typer.Argument(help="Service name.")],
    env: EnvOption,
    force: Annotated[bool, typer.Option(help="Also free a lock whose holder runs.")] = False,
) -> None:
    """Free a stale deploy lock of SERVICE on ENV (database row and host lock dirs)."""
    report = run(with_container(lambda c: c.deploys.release_locks(service, env, force=force)))
    _render_locks(report, "released")
