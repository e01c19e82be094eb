"""``relman ci …`` — the commands the generated GitHub workflows run (``relman init github``).

They read the runner's environment (``GITHUB_RUN_ID``, ``GITHUB_REF``, ``GITHUB_ACTOR``,
``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY``) and talk to the Release API at
``RELMAN_API_URL`` / ``LOOM_RELEASE_TG_BOT_API_URL`` with the bearer secret
``RELMAN_SECRET_KEY`` / ``LOOM_INTERSERVER_SECRET_KEY`` — or, in a GitHub Actions job with
``permissions: id-token: write`` and ``RELMAN_OIDC_AUDIENCE`` set, with a GitHub OIDC token
for that audience, fetched from the runner at the first request (see
:mod:`relman.ci.github_env`).

Exit codes: 0 done; 1 a deploy failed, the API could not be reached (after retries) or
answered with a 5xx; 2 a mistake or a refusal (a 4xx from the API, a missing variable, a
bad option, an unknown service). Errors are one line on stderr; the secret, the runner's
OIDC request token and the OIDC token never appear.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from relman.cli._common import console, err_console, fail
from relman.domain.errors import RelmanError
from relman.domain.release import MAX_RELEASE_ID

if TYPE_CHECKING:
    from relman.ci.client import ReleaseApiClient, RetryNotice
    from relman.ci.github_env import ApiSettings
    from relman.deploy import DeployResult
    from relman.deploy.log import Language
    from relman.deploy.progress import Progress

T = TypeVar("T")

app = typer.Typer(
    name="ci",
    help="Commands the generated GitHub workflows run (see `relman init github`).",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Commands the generated GitHub workflows run (see `relman init github`)."""


ServiceOption = Annotated[str, typer.Option("--service", help="Service name from relman.toml.")]
TagOption = Annotated[str, typer.Option("--tag", help="Version tag, e.g. v1.2.3.")]
ReleaseIdOption = Annotated[
    int,
    typer.Option(
        "--release-id", min=1, max=MAX_RELEASE_ID, help="relman release id (from release-start)."
    ),
]


# --- running ------------------------------------------------------------------------------


class _Hints:
    """Where the API settings came from, for error hints (set once they are read)."""

    api: ApiSettings | None = None


def _run(coro: Coroutine[Any, Any, T], hints: _Hints) -> T:
    """Run ``coro``; an API failure exits 2 (a 4xx) or 1, any other relman error 2."""
    import asyncio

    from relman.ci.client import ApiError, ApiRefused

    try:
        return asyncio.run(coro)
    except ApiError as exc:
        message = str(exc)
        if isinstance(exc, ApiRefused) and exc.status == 401 and hints.api is not None:
            message += f" — check {hints.api.credential_hint}"
        fail(message, exc.exit_code)
    except RelmanError as exc:
        fail(str(exc))


def _say(message: str) -> None:
    """A progress line on stderr (stdout stays for what a workflow step captures)."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def _out(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def _retrying(notice: RetryNotice) -> None:
    _say(
        f"{notice.target}: {notice.method} {notice.path} failed ({notice.reason}); "
        f"attempt {notice.attempt} of {notice.attempts}, retrying in {notice.delay:g}s"
    )


def _client(api: ApiSettings) -> ReleaseApiClient:
    from relman.ci.client import ReleaseApiClient

    if api.oidc is not None:
        _say(f"relman API: authenticating with a GitHub OIDC token (audience {api.oidc.audience})")
    return ReleaseApiClient(api, on_retry=_retrying)


def _read_api(hints: _Hints) -> ApiSettings:
    from relman.ci.github_env import api_settings

    hints.api = api_settings(os.environ)
    return hints.api


class _StepPrinter:
    """The deploy's progress as CI log lines: one when a host starts a step, one when it
    is done (``[host] step seconds latest-log-line``, the line in ``language``:
    ``RELMAN_LANGUAGE``)."""

    def __init__(self, language: Language = "en") -> None:
        self._language: Language = language
        self._last: dict[tuple[str, str], str] = {}

    def __call__(self, report: Progress) -> None:
        key = (report.kind, report.host)
        if self._last.get(key) == report.step and not report.done:
            return
        self._last[key] = report.step
        what = f"{report.kind} {report.ref}".strip()
        state = report.state if report.done else report.step
        text = report.text(self._language)
        _out(f"[{report.host}] {what}: {state} {report.elapsed:.1f}s {text}".rstrip())


def _render(result: DeployResult, heading: str, language: Language = "en") -> None:
    """The outcome as CI log lines, a host's error in ``language``."""
    verdict = "ok" if result.ok else "FAILED"
    _out(f"{heading}: {verdict} in {result.duration:.1f}s")
    for name, host in result.hosts.items():
        line = (
            f"  {name}: {'ok' if host.ok else 'FAILED'} "
            f"{host.version_before or '—'} → {host.version_after or '—'} ({host.duration:.1f}s)"
        )
        if host.error:
            line += f" {host.error_text(language)}"
        _out(line)
    if result.error:
        errors = [f"{r.host}: {r.error_text(language)}" for r in result.hosts.values() if r.error]
        _out(f"  error: {'; '.join(errors) or result.error}")
    if result.log_path:
        _out(f"log: {result.log_path}")
    if result.evidence_dir:
        _out(f"evidence: {result.evidence_dir}")


# --- commands ------------------------------------------------------------------------------


@app.command("release-start")
def release_start(service: ServiceOption, tag: TagOption) -> None:
    """Record the release of TAG (POST /release) and print only its id on stdout.

    The run id, ref, actor and action link come from GitHub's variables; a re-run of the
    same run gets the same id back.
    """
    from relman.ci.github_env import github_run

    hints = _Hints()

    async def work() -> int:
        api = _read_api(hints)
        run = github_run(os.environ)
        initiated_by = run.require_actor()
        run_id = run.require_run_id()
        async with _client(api) as client:
            release, created = await client.create_release(
                service_name=service,
                release_tag=tag,
                initiated_by=initiated_by,
                github_run_id=run_id,
                github_action_link=run.action_link,
                github_ref=run.ref,
            )
        state = "recorded" if created else "already recorded (same run)"
        _say(f"release {release.id}: {release.service_name} {release.release_tag} {state}")
        return release.id

    release_id = _run(work(), hints)
    typer.echo(str(release_id))


@app.command("report")
def report(
    status: Annotated[
        str, typer.Argument(help="New status, e.g. manual_testing, deployed, staging_failed.")
    ],
    release_id: ReleaseIdOption,
    note: Annotated[str, typer.Option("--note", help="Note for the audit trail.")] = "",
    rollback_to: Annotated[
        str | None, typer.Option("--rollback-to", help="With status rollback: the tag.")
    ] = None,
) -> None:
    """Report STATUS for a release (PATCH /release/ID) as gh:$GITHUB_ACTOR."""
    from relman.ci.deploy import run_note
    from relman.ci.flow import CI_REPORTABLE
    from relman.ci.github_env import github_run

    allowed = [s.value for s in CI_REPORTABLE]
    if status not in allowed:
        fail(
            f"status: {status!r} is not a status CI reports; use one of {', '.join(allowed)} "
            "(QA decides manual_test_passed/manual_test_failed in the bot)"
        )
    hints = _Hints()

    async def work() -> str:
        api = _read_api(hints)
        run = github_run(os.environ)
        async with _client(api) as client:
            release = await client.report_status(
                release_id,
                status,
                note=note or run_note(run, "reported"),
                actor=f"gh:{run.actor}" if run.actor else None,
                rollback_to_tag=rollback_to,
            )
        return (
            f"release {release.id} ({release.service_name} {release.release_tag}): {release.status}"
        )

    _out(_run(work(), hints))


@app.command("deploy")
def deploy(
    env: Annotated[str, typer.Option("--env", help="stage or production.")],
    service: ServiceOption,
    tag: TagOption,
    release_id: ReleaseIdOption,
    git_sha: Annotated[
        str | None,
        typer.Option("--git-sha", help="The commit QA approved (the dispatch's git_sha input)."),
    ] = None,
) -> None:
    """Deploy TAG of SERVICE to ENV under a release; exit 0 only if every host is healthy.

    Before deploying it moves the release into the deploy (stage: building, stage_deploy;
    production: deploying) — the workflow's next steps report the outcome. The deploy lock,
    the history (the automatic rollback's target) and the deploy's record are relman's
    server's, through the API; the runner opens no database. Writes deployment_id, log_dir
    and evidence_dir to $GITHUB_OUTPUT for the upload step.
    """
    from relman.bootstrap import build_runner
    from relman.ci.deploy import check_deploy_args, check_git_sha, ci_deploy
    from relman.ci.github_env import github_run
    from relman.ci.ledger import ApiLedger
    from relman.config import load_settings

    hints = _Hints()
    sha = git_sha or None  # an empty input: relman bound no commit at the approval

    async def work() -> bool:
        api = _read_api(hints)
        run = github_run(os.environ)
        check_deploy_args(run, env, tag)
        if sha is not None:
            check_git_sha(sha)
        settings = load_settings()
        async with _client(api) as client:
            ledger = ApiLedger(client, expected_sha=sha, say=_say)
            outcome = await ci_deploy(
                deploys=build_runner(settings, ledger),
                client=client,
                run=run,
                env=env,
                service=service,
                tag=tag,
                release_id=release_id,
                git_sha=sha,
                say=_say,
                on_progress=_StepPrinter(settings.language),
            )
        language = settings.language
        _render(outcome.result, f"{service} {tag} → {env}", language)
        if outcome.rollback is not None:
            _render(outcome.rollback, f"automatic rollback to {outcome.rollback.tag}", language)
        elif outcome.rollback_skipped:
            _out(f"no automatic rollback: {outcome.rollback_skipped}")
        _step_outputs(ledger.started, outcome.result)
        return outcome.ok

    if not _run(work(), hints):
        raise typer.Exit(1)


def _step_outputs(started: list[int], result: DeployResult) -> None:
    """The deploy's id and its log and evidence folders for the workflow's upload step."""
    from relman.ci.github_env import write_outputs

    values = {"deployment_id": str(started[0]) if started else ""}
    if result.log_path:
        values["log_dir"] = str(Path(result.log_path).resolve().parent)
    if result.evidence_dir:
        values["evidence_dir"] = str(Path(result.evidence_dir).resolve())
    write_outputs(os.environ, values)


@app.command("artifact")
def artifact(
    deployment_id: Annotated[
        int,
        typer.Option(
            "--deployment-id", min=1, max=2**31 - 1, help="From relman ci deploy's outputs."
        ),
    ],
    url: Annotated[str, typer.Option("--url", help="actions/upload-artifact's artifact-url.")],
) -> None:
    """Tell relman where the deploy's log and evidence were uploaded (shown with the
    release in the bot, the dashboard and `relman release show`)."""
    hints = _Hints()

    async def work() -> str:
        api = _read_api(hints)
        async with _client(api) as client:
            await client.call("POST", f"/runner/deployments/{deployment_id}/artifact", {"url": url})
        return f"deployment {deployment_id}: artifact {url}"

    _out(_run(work(), hints))


@app.command("dev-deploy")
def dev_deploy(
    service: ServiceOption,
    branch: Annotated[str, typer.Option("--branch", help="The pushed work branch.")],
    author: Annotated[str, typer.Option("--author", help="GitHub login of the pusher.")],
) -> None:
    """Deploy BRANCH of SERVICE to the dev server of AUTHOR.

    The dev server is relman.toml's dev:<name> environment whose owner is AUTHOR (else the
    one named dev:AUTHOR). An author without one is not a failure: the reason is printed
    and the exit code is 0. The lock and the history are relman's server's, as for
    `relman ci deploy`.
    """
    from relman.bootstrap import build_runner
    from relman.ci.github_env import github_run
    from relman.ci.ledger import ApiLedger
    from relman.config import load_settings

    hints = _Hints()

    async def work() -> bool:
        api = _read_api(hints)
        run = github_run(os.environ)
        actor = f"gh:{run.actor or author}"
        settings = load_settings()
        async with _client(api) as client:
            deploys = build_runner(settings, ApiLedger(client, say=_say))
            _say(f"dev deploy of {service} branch {branch} for {author} as {actor}")
            outcome = await deploys.dev_deploy(
                service,
                branch=branch,
                author=author,
                actor=actor,
                on_progress=_StepPrinter(settings.language),
            )
        if outcome.result is None:
            _out(outcome.skipped or f"nothing deployed for {author}")
            return True
        _render(outcome.result, f"{service} {branch} → dev server of {author}", settings.language)
        return outcome.result.ok

    if not _run(work(), hints):
        raise typer.Exit(1)
