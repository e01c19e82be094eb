"""``relman deploy``, ``relman rollback`` — the deploy engine from a shell.

While a deploy runs, a live table shows one row per host (what is running, for how long, the
latest log line); without a terminal (CI logs) each step is printed as one line instead.
Then the result table and the log path. The hosts' messages and relman's own errors among
them are shown in ``RELMAN_LANGUAGE`` (``en`` by default; ``ru``: the seed's words, as the
log files have them); a host's own output stays as it printed it.
:func:`show_progress` is the display for any command that runs a deploy.
"""

from __future__ import annotations

import getpass
import os
import shlex
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from relman.cli import app
from relman.cli._common import (
    add_data_row,
    cli_settings,
    console,
    live_console,
    run,
    with_container,
)
from relman.domain.policy import Actor

if TYPE_CHECKING:
    from rich.table import Table

    from relman.bootstrap import Container
    from relman.config import Settings
    from relman.deploy import DeployResult
    from relman.deploy.log import Language
    from relman.deploy.progress import Progress, ProgressCallback
    from relman.services.deploys import DeployOutcome

T = TypeVar("T")

EnvOption = Annotated[str, typer.Option("--env", help="stage, production or dev:<name>")]


def cli_actor() -> str:
    """Who runs the CLI: ``RELMAN_ACTOR`` or the OS user, as ``cli:<name>``."""
    return "cli:" + (os.environ.get("RELMAN_ACTOR") or getpass.getuser())


#: Seconds between two redraws of the live table.
REFRESH = 0.25


class ProgressView:
    """The latest :class:`Progress` of each host, drawn as a table (one row per host).

    ``clock`` is :func:`time.monotonic`-like; a running host's elapsed time keeps counting
    between reports. Messages are shown in ``language`` (``en`` or ``ru``).
    """

    def __init__(
        self,
        title: str,
        clock: Callable[[], float] = time.monotonic,
        *,
        language: Language = "en",
    ) -> None:
        self.title = title
        self.language: Language = language
        self._clock = clock
        self._rows: dict[str, tuple[Progress, float]] = {}

    def update(self, report: Progress) -> None:
        """Take a host's new report (the engine's progress callback)."""
        self._rows[report.host] = (report, self._clock())

    def elapsed(self, host: str) -> float:
        """Seconds the host has been running (frozen once it is done)."""
        report, seen = self._rows[host]
        return report.elapsed + (0.0 if report.done else self._clock() - seen)

    def table(self) -> Table:
        """The live table: host, what (deploy/rollback and ref), step, seconds, latest line."""
        from rich.table import Table
        from rich.text import Text

        table = Table("host", "what", "step", "seconds", "latest", title=Text(self.title))
        # a snapshot: a live display may draw from its refresh thread while hosts report
        for host, (report, _) in list(self._rows.items()):
            state = {"running": report.step, "ok": "ok", "failed": "FAILED"}[report.state]
            what = f"{report.kind} {report.ref}" if report.ref else report.kind
            latest = report.text(self.language)[:100]
            add_data_row(table, host, what, state, f"{self.elapsed(host):.1f}", latest)
        return table


class _LinePrinter:
    """Without a terminal (CI logs): each host's new log line as ``[host] 1.2s text``, its
    outcome at the end, and a heading when an automatic rollback starts."""

    def __init__(self, view: ProgressView) -> None:
        self._view = view
        self._last: dict[str, str] = {}
        self._what: tuple[str, str] | None = None

    def __call__(self, report: Progress) -> None:
        self._view.update(report)
        what = (report.kind, report.ref)
        if self._what is not None and what != self._what:
            self._print(f"{report.kind} {report.ref}")
        self._what = what
        head = f"[{report.host}] {report.elapsed:.1f}s"
        text = report.text(self._view.language)
        new = text != self._last.get(report.host)
        self._last[report.host] = text
        if report.done:
            outcome = "ok" if report.state == "ok" else "FAILED"
            self._print(f"{head} {outcome}: {text}" if new else f"{head} {outcome}")
        elif new and text:
            self._print(f"{head} {text}")

    @staticmethod
    def _print(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def show_progress(title: str, language: Language = "en") -> Iterator[ProgressCallback]:
    """Show the progress of the deploys run inside the ``with`` block under ``title``;
    yields the callback to pass as their ``on_progress``.

    On a terminal: a live table, one row per host, redrawn every :data:`REFRESH` seconds
    and cleared when the block ends. Without one (a pipe, a CI log): ``title`` at once,
    then one line per new message of a host (``[host] 1.2s text``), its outcome at the
    end, and a heading when an automatic rollback starts. Messages are shown in
    ``language`` (``RELMAN_LANGUAGE``: ``en`` or ``ru``).
    """
    view = ProgressView(title, language=language)
    if not console.is_terminal:
        console.print(title, markup=False, highlight=False)
        yield _LinePrinter(view)
        return
    from rich.live import Live

    # rich redraws from its own thread, so the deploy's event loop never waits on the screen
    with Live(
        get_renderable=view.table,
        console=live_console(),
        refresh_per_second=1 / REFRESH,
        transient=True,
    ):
        yield view.update


def _live(
    title: str,
    work: Callable[[Container, ProgressCallback], Awaitable[T]],
    settings: Settings,
) -> T:
    """Run ``work(container, on_progress)`` on relman wired from ``settings`` while
    showing the hosts' progress in the settings' language; returns what ``work`` returns."""
    from relman.notify.telegram import telegram_notices

    async def notified(container: Container, on_progress: ProgressCallback) -> T:
        # The team chat hears of a deploy by hand as of the pipeline's (issue 15 item 5).
        async with telegram_notices(container):
            return await work(container, on_progress)

    with show_progress(title, settings.language) as on_progress:
        return run(with_container(lambda c: notified(c, on_progress), settings))


def _render(result: DeployResult, heading: str, language: Language = "en") -> None:
    """Print the result table (a host's error in ``language``), the log and evidence paths."""
    from rich.table import Table

    table = Table("host", "result", "before", "after", "seconds", "error", title=heading)
    for name, host in result.hosts.items():
        add_data_row(
            table,
            name,
            "ok" if host.ok else "FAILED",
            host.version_before or "—",
            host.version_after or "—",
            f"{host.duration:.1f}",
            host.error_text(language) or "",
        )
    console.print(table)
    if result.log_path:
        console.print(f"log: {result.log_path}", highlight=False, markup=False)
    if result.evidence_dir:
        console.print(f"evidence: {result.evidence_dir}", highlight=False, markup=False)


def failed_hosts_line(failed: Sequence[str]) -> str:
    """The line after a partial failure: the failed hosts, and the ``--hosts`` option that
    retries only them, e.g. ``deploy failed on: prod-1, prod-2 (retry with --hosts
    prod-1,prod-2)``; the option's value is one shell word (quoted when a name needs it)."""
    return (
        f"deploy failed on: {', '.join(failed)} "
        f"(retry with --hosts {shlex.quote(','.join(failed))})"
    )


@app.command("deploy")
def deploy_command(
    service: Annotated[str, typer.Argument(help="Service name from relman.toml.")],
    tag: Annotated[str, typer.Argument(help="Version tag, e.g. v1.2.3.")],
    env: EnvOption,
    hosts: Annotated[
        str | None, typer.Option(help="Comma-separated hosts (retry only these).")
    ] = None,
) -> None:
    """Deploy TAG of SERVICE to every host of an environment; exit 0 only if all are healthy."""
    only = None if hosts is None else [h.strip() for h in hosts.split(",") if h.strip()]
    settings = cli_settings()
    outcome: DeployOutcome = _live(
        f"deploying {service} {tag} to {env}",
        lambda c, progress: c.hand_deploys().deploy(
            service, tag, env, actor=Actor(cli_actor()), only_hosts=only, on_progress=progress
        ),
        settings,
    )
    language = settings.language
    _render(outcome.result, f"{service} {tag} → {env}", language)
    if outcome.rollback is not None:
        _render(outcome.rollback, f"automatic rollback to {outcome.rollback.tag}", language)
    elif outcome.rollback_skipped:
        console.print(f"no automatic rollback: {outcome.rollback_skipped}", highlight=False)
    if not outcome.ok:
        console.print(failed_hosts_line(outcome.result.failed_hosts), markup=False)
        raise typer.Exit(1)


@app.command("rollback")
def rollback_command(
    service: Annotated[str, typer.Argument(help="Service name from relman.toml.")],
    env: EnvOption,
    to: Annotated[
        str | None, typer.Option("--to", help="Tag to go back to (default: last healthy).")
    ] = None,
) -> None:
    """Redeploy an earlier tag (by default the last one deployed healthy on ENV)."""
    settings = cli_settings()
    result = _live(
        f"rolling back {service} on {env}",
        lambda c, progress: c.hand_deploys().rollback(
            service, env, actor=Actor(cli_actor()), to_tag=to, on_progress=progress
        ),
        settings,
    )
    _render(result, f"rollback of {service} on {env} to {result.tag}", settings.language)
    if not result.ok:
        raise typer.Exit(1)
