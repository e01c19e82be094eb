"""``relman dora`` and ``relman incident …``: release analytics and incidents from a shell
(issue 14). Each command parses, calls one service function, renders; the application is
imported inside the commands so ``relman --help`` stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from relman.cli import app
from relman.cli._common import add_data_row, console, run, with_container

if TYPE_CHECKING:
    from relman.bootstrap import Container
    from relman.domain.dora import Keys, Report
    from relman.domain.incident import Incident
    from relman.domain.policy import Actor
    from relman.services.incidents import IncidentView


def duration(seconds: float | None) -> str:
    """``45s``, ``17m 30s``, ``18h 0m``, ``7d 0h``; ``—`` for no value."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def _band(band: object) -> str:
    return f" ({band})" if band is not None else ""


def key_cells(keys: Keys) -> list[str]:
    """The four keys of one period as table cells (value and band)."""
    rate = keys.change_failure_rate
    return [
        f"{keys.deploys_per_day:.2f}/day, {keys.deploys_per_week:.2f}/week"
        f"{_band(keys.frequency_band.value)}",
        f"{duration(keys.lead_time_median)} / {duration(keys.lead_time_p90)}"
        f"{_band(keys.lead_time_band and keys.lead_time_band.value)}"
        + (f" [{keys.changes} commits]" if keys.changes else ""),
        ("—" if rate is None else f"{rate:.1%} of {keys.deploys}")
        + _band(keys.change_failure_band and keys.change_failure_band.value),
        duration(keys.recovery_median)
        + _band(keys.recovery_band and keys.recovery_band.value)
        + (f" [{keys.unrestored} not restored]" if keys.unrestored else ""),
    ]


def render_dora(report: Report) -> None:
    """Print the figures: one row per service (and all), then the weekly bars of all."""
    from rich.table import Table

    console.print(
        f"DORA's four keys, the last {report.days} days "
        f"({report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC); a rollback "
        f"within {report.rollback_window.total_seconds() / 3600:g} h makes a failed change",
        markup=False,
        highlight=False,
    )
    table = Table(show_lines=False)
    for column in (
        "service",
        "deployment frequency",
        "lead time (median / p90)",
        "change failure rate",
        "recovery (median)",
        "emergency",
    ):
        table.add_column(column)
    rows = [("all", report.all.keys)] if len(report.services) != 1 else []
    rows += [(s.service or "all", s.keys) for s in report.services]
    for name, keys in rows:
        add_data_row(table, name, *key_cells(keys), str(keys.emergency_deploys))
    console.print(table)
    console.print("healthy production deploys by ISO week:", markup=False, highlight=False)
    for week in report.all.weeks:
        k = week.keys
        bar = "█" * k.healthy_deploys
        failed = f", {k.failed_deploys} failed" if k.failed_deploys else ""
        console.print(
            f"  {week.week}  {bar} {k.healthy_deploys}{failed}", markup=False, highlight=False
        )


@app.command("dora")
def dora(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="The window: this many days up to now.")
    ] = 30,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON as GET {prefix}/dora answers.")
    ] = False,
) -> None:
    """DORA's four keys (deployment frequency, lead time for changes, change failure rate,
    failed deployment recovery time) with their bands, per service and by week."""

    async def use(container: Container) -> Report:
        return await container.analytics.dora(service=service, days=days)

    report = run(with_container(use))
    if as_json:
        from relman.api.schemas import DoraOut

        print(DoraOut.of(report).model_dump_json(indent=2))
        return
    render_dora(report)


incident_app = typer.Typer(help="Production incidents (issue 14).", no_args_is_help=True)
app.add_typer(incident_app, name="incident")


def _incident_actor() -> Actor:
    from relman.cli.deploy import cli_actor
    from relman.domain.policy import Actor

    return Actor(cli_actor())


def render_incident(view: IncidentView) -> None:
    """Print an incident: its facts, then its timeline, one line per entry."""
    i = view.incident
    lines = [
        f"INC-{i.id} {i.title} — {i.status}",
        f"  {i.service} on {i.environment}; detected {i.detected_at:%Y-%m-%d %H:%M:%S} UTC "
        f"by {i.detected_by}; releases "
        + (", ".join(f"#{r} {view.releases.get(r, '?')}" for r in i.release_ids) or "—"),
    ]
    if i.impact:
        lines.append(f"  impact: {i.impact}")
    if i.status == "resolved":
        lines.append(
            f"  resolved {i.resolved_at:%Y-%m-%d %H:%M:%S} UTC by {i.resolved_by}: {i.resolution}"
            f" (time to restore {duration(i.time_to_restore)})"
        )
    if i.postmortem:
        lines.append(f"  postmortem: {i.postmortem}")
    lines.append("  timeline:")
    for e in view.timeline:
        lines.append(
            f"    {e.at:%Y-%m-%d %H:%M:%S} [{e.source}] {e.text}"
            + (f" ({e.actor})" if e.actor else "")
            + (f", log {e.log_path}" if e.log_path else "")
        )
    lines.append(f"  markdown: {view.markdown_path}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@incident_app.command("list")
def incident_list(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many.")] = 20,
) -> None:
    """List incidents, newest first."""
    from rich.table import Table

    async def use(container: Container) -> list[Incident]:
        return await container.incidents.find(service=service, status=status, limit=limit)

    found = run(with_container(use))
    table = Table()
    for column in ("id", "service", "env", "status", "detected (UTC)", "restored in", "title"):
        table.add_column(column)
    for i in found:
        add_data_row(
            table,
            f"INC-{i.id}",
            i.service,
            i.environment,
            i.status,
            f"{i.detected_at:%Y-%m-%d %H:%M}",
            duration(i.time_to_restore),
            i.title,
        )
    console.print(table)


@incident_app.command("show")
def incident_show(incident_id: Annotated[int, typer.Argument(min=1, help="Incident id.")]) -> None:
    """An incident with its timeline (audit trail, deploys and steps, notes)."""

    async def use(container: Container) -> IncidentView:
        return await container.incidents.show(incident_id)

    render_incident(run(with_container(use)))


@incident_app.command("note")
def incident_note(
    incident_id: Annotated[int, typer.Argument(min=1, help="Incident id.")],
    text: Annotated[str, typer.Argument(help="What to add.")],
    kind: Annotated[
        str, typer.Option(help="note (added), impact or postmortem (replaced).")
    ] = "note",
) -> None:
    """Add a note to an incident, or set its impact or postmortem (role releaser)."""

    async def use(container: Container) -> IncidentView:
        return await container.incidents.note(
            incident_id,
            text,
            actor=_incident_actor(),
            kind=kind,  # type: ignore[arg-type]  # the service refuses another kind
        )

    render_incident(run(with_container(use)))


@incident_app.command("close")
def incident_close(
    incident_id: Annotated[int, typer.Argument(min=1, help="Incident id.")],
    resolution: Annotated[str, typer.Option(help="What restored service.")],
) -> None:
    """Resolve an incident by hand (role releaser); the team is told."""
    from relman.notify.telegram import telegram_notices

    async def use(container: Container) -> IncidentView:
        async with telegram_notices(container):
            return await container.incidents.close(incident_id, resolution, actor=_incident_actor())

    render_incident(run(with_container(use)))
