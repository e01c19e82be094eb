"""``relman release …`` and ``relman worker``: the pipeline from a shell (CLI parity with the
API and the bot). Each command parses, calls one pipeline function, renders.

By default a command that queues a deploy also runs it here (``--run``), so the CLI works
without a server; ``--no-run`` leaves it to ``relman serve``'s or ``relman worker``'s
worker.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from relman.cli import app
from relman.cli._common import (
    JsonOption,
    cli_settings,
    console,
    fail,
    print_json,
    run,
    with_container,
)
from relman.cli.deploy import cli_actor, show_progress
from relman.domain.release import MAX_RELEASE_ID, Release, Source
from relman.domain.status import FAILED

if TYPE_CHECKING:
    from relman.bootstrap import Container
    from relman.deploy.progress import ProgressCallback
    from relman.domain.policy import Actor
    from relman.services.pipeline import Timeline

release_app = typer.Typer(help="Start, decide and roll back releases.", no_args_is_help=True)
app.add_typer(release_app, name="release")

RunOption = Annotated[
    bool, typer.Option("--run/--no-run", help="Run the queued deploy here and wait for it.")
]


def _actor() -> Actor:
    from relman.domain.policy import Actor

    return Actor(cli_actor())


def _act(
    use: Callable[[Container], Awaitable[Release]], run_jobs: bool, title: str = ""
) -> Release:
    """Call ``use``; with ``run_jobs`` run what it queued here, printing each host's
    progress under ``title`` as ``relman deploy`` does, then show the release.

    Exits 1 when the deploys run here leave the release failed (``staging_failed``,
    ``production_failed``, ``rollback_failed``; issue 15 item 10), so a script can tell."""
    # Telegram notices go through the notifier; aiogram is imported only to send one.
    from relman.notify.telegram import telegram_notices

    async def act(container: Container, on_progress: ProgressCallback | None) -> Release:
        # The worker first: one that cannot run (an executor without its token) refuses
        # before anything is decided, not after an approval is on record.
        worker = container.worker() if run_jobs else None
        async with telegram_notices(container):  # the chats hear about what runs here too
            release = await use(container)
            if worker is not None:
                await worker.run_until_idle(on_progress)
                assert release.id is not None
                release = await container.releases.get(release.id)
        return release

    settings = cli_settings()
    if run_jobs:
        with show_progress(title, settings.language) as on_progress:
            release = run(with_container(lambda c: act(c, on_progress), settings))
    else:
        release = run(with_container(lambda c: act(c, None), settings))
    render_release(release)
    if run_jobs and release.status in FAILED:
        raise typer.Exit(1)
    return release


def render_timeline(timeline: Timeline) -> None:
    """Print a release's timeline, then each of its deploys with log and evidence paths."""
    render_release(timeline.release)
    for d in timeline.deployments:
        console.print(
            f"  {d.kind} {d.tag} to {d.environment}: {d.status}"
            + (f", log {d.log_path}" if d.log_path else "")
            + (f", evidence {d.evidence_path}" if d.evidence_path else "")
            + (f" ({d.evidence_digest})" if d.evidence_digest else "")
            + (f", artifact {d.artifact_url}" if d.artifact_url else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def render_release(release: Release) -> None:
    """Print a release and its audit timeline, one line per event: time (UTC), from → to,
    actor and source, time since the previous event, note; refused actions are marked."""
    head = f"#{release.id} {release.service_name} {release.release_tag} — {release.status.value}"
    if release.rollback_to_tag:
        head += f" (rollback to {release.rollback_to_tag})"
    console.print(f"{head}, initiated by {release.initiated_by}", markup=False, highlight=False)
    if release.emergency_reason:
        console.print(
            f"⚠️ emergency release, no manual testing: {release.emergency_reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    previous = None
    for e in release.events:
        after = "" if previous is None else f"+{(e.created_at - previous).total_seconds():.1f}s"
        previous = e.created_at
        moved = f"{e.from_status.value if e.from_status else '—'} → {e.to_status.value}"
        if e.kind == "refused":
            moved = f"REFUSED {moved}"
        line = (
            f"  {e.created_at:%Y-%m-%d %H:%M:%S}  {after:>7}  {moved:<40} "
            f"{e.actor} ({e.source.value})"
        )
        if e.note:
            line += f" — {e.note}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@release_app.command("start")
def start(
    service: Annotated[str, typer.Argument(help="Service name from relman.toml.")],
    tag: Annotated[str, typer.Argument(help="Version tag, e.g. v1.2.3.")],
    run_jobs: RunOption = True,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Emergency release: stage, then production at once, no manual testing "
            "(role admin or [policy] emergency; needs --reason).",
        ),
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the emergency release skips testing.")
    ] = "",
) -> None:
    """Start a release of TAG (as a pushed tag would): stage deploy, then manual testing."""
    if reason and not emergency:
        fail("reason: --reason goes with --emergency (an ordinary release has no reason)")
    _act(
        lambda c: c.pipeline.start_by_hand(
            service, tag, actor=_actor(), source=Source.CLI, emergency=emergency, reason=reason
        ),
        run_jobs,
        f"releasing {service} {tag}",
    )


@release_app.command("approve")
def approve(
    release_id: Annotated[int, typer.Argument(help="Release id.", min=1, max=MAX_RELEASE_ID)],
    run_jobs: RunOption = True,
) -> None:
    """QA passed: promote the release to production (role qa; not your own release)."""
    _act(
        lambda c: c.pipeline.approve(release_id, actor=_actor(), source=Source.CLI),
        run_jobs,
        f"release #{release_id} approved: deploying to production",
    )


@release_app.command("reject")
def reject(
    release_id: Annotated[int, typer.Argument(help="Release id.", min=1, max=MAX_RELEASE_ID)],
    reason: Annotated[str, typer.Option(help="Why it failed testing.")] = "",
) -> None:
    """QA failed: the release ends as manual_test_failed (role qa)."""
    _act(
        lambda c: c.pipeline.reject(release_id, actor=_actor(), source=Source.CLI, reason=reason),
        False,
    )


@release_app.command("rollback")
def rollback(
    service: Annotated[str, typer.Argument(help="Service name.")],
    to: Annotated[str, typer.Option("--to", help="Tag to put production back on.")],
    run_jobs: RunOption = True,
) -> None:
    """Put SERVICE's production back on an earlier tag (role releaser)."""
    _act(
        lambda c: c.pipeline.request_rollback(service, to, actor=_actor(), source=Source.CLI),
        run_jobs,
        f"rolling back {service} in production to {to}",
    )


@release_app.command("retry")
def retry(
    release_id: Annotated[
        int, typer.Argument(help="Id of a release that failed on stage.", min=1, max=MAX_RELEASE_ID)
    ],
    run_jobs: RunOption = True,
) -> None:
    """Start a release that failed on stage again, as a new release (role releaser)."""
    _act(
        lambda c: c.pipeline.retry(release_id, actor=_actor(), source=Source.CLI),
        run_jobs,
        f"retrying release #{release_id}",
    )


@release_app.command("show")
def show(
    release_id: Annotated[int, typer.Argument(help="Release id.", min=1, max=MAX_RELEASE_ID)],
    as_json: JsonOption = False,
) -> None:
    """Show a release, its audit timeline with the time between events, and its deploys."""
    timeline = run(with_container(lambda c: c.pipeline.timeline(release_id)))
    if not as_json:
        render_timeline(timeline)
        return
    # The API's shapes (GET {prefix}/release/{id}, the runner's deployments), so a script
    # reads the CLI and the API alike.
    from relman.api.schemas import DeploymentOut, ReleaseDetail

    detail = ReleaseDetail.of(timeline.release).model_dump(mode="json")
    detail["deployments"] = [
        DeploymentOut.of(d).model_dump(mode="json") for d in timeline.deployments
    ]
    print_json(detail)


@app.command("worker")
def worker() -> None:
    """Run relman's worker (the local executor) until SIGINT/SIGTERM: claim queued deploys,
    run them, mark jobs of dead workers interrupted."""
    import asyncio

    from relman.notify.telegram import telegram_notices

    async def work(container: Container) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        w = container.worker()
        console.print(f"relman worker {w.owner} started", highlight=False, markup=False)
        async with telegram_notices(container):
            await w.run(stop)

    run(with_container(work))


@app.command("demo")
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo's repository, database, logs.")
    ] = Path("relman-demo"),
    keep_running: Annotated[
        bool, typer.Option(help="Leave the demo's hello-service instances running.")
    ] = False,
) -> None:
    """Run the whole release lifecycle for real on this machine (SQLite, local hosts):
    v1.0.0 and v1.1.0 to production, a broken v1.2.0 stopped on stage, a rollback."""
    from relman.demo.lifecycle import run_demo

    started = time.monotonic()
    report = run(run_demo(folder, say=lambda line: console.print(line, markup=False)))
    console.print()
    for timeline in report.timelines:
        render_timeline(timeline)
        console.print()
    console.print(
        f"demo done in {time.monotonic() - started:.1f}s — database {report.database}, "
        f"logs {report.log_root}, evidence {report.evidence_root}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"look again: RELMAN_DATABASE_URL=sqlite+aiosqlite:///{report.database} "
        "relman release show 2",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
