"""``relman ci deploy`` as one service function: check, move the release into the
deploy through the Release API, deploy with the runner's relman against the server's lock
and history (see :mod:`relman.ci.flow` for which statuses are entered)."""

from __future__ import annotations

import re
from collections.abc import Callable

from relman.ci.client import ReleaseApiClient
from relman.ci.flow import check_release_matches, deploy_path, statuses_to_enter
from relman.ci.github_env import GitHubRun
from relman.deploy.progress import ProgressCallback
from relman.domain.errors import InvalidInput
from relman.domain.version import parse_release_tag
from relman.services.deploys import DeployOutcome, DeployService


def check_deploy_args(run: GitHubRun, env: str, tag: str) -> str:
    """The deploy's actor (``gh:<login>``), checked with the arguments before anything is
    opened: raises :class:`~relman.domain.errors.ConfigError` without ``GITHUB_ACTOR``,
    :class:`~relman.domain.errors.InvalidInput` for a tag that is not a release tag or an
    environment other than stage or production."""
    actor = run.audit_actor
    parse_release_tag(tag, field="tag")
    deploy_path(env)
    return actor


async def ci_deploy(
    *,
    deploys: DeployService,
    client: ReleaseApiClient,
    run: GitHubRun,
    env: str,
    service: str,
    tag: str,
    release_id: int,
    git_sha: str | None = None,
    say: Callable[[str], None],
    on_progress: ProgressCallback | None = None,
) -> DeployOutcome:
    """Deploy ``tag`` of ``service`` to ``env`` under release ``release_id``.

    ``deploys`` is wired with the server's ledger (:class:`relman.ci.ledger.ApiLedger`):
    the lock, the history and the deploy records are relman's own. Checks the arguments
    (:func:`check_deploy_args`) and that ``service`` and ``env`` are configured, reads the
    release from the API and checks it is ``service`` ``tag``, reports the statuses that
    move it into the deploy (:func:`statuses_to_enter`), then deploys as ``gh:<actor>``;
    ``git_sha`` (the approval's commit, from the dispatch) is checked on every host before
    it changes. ``say`` hears each status reported and the deploy's start.

    Raises :class:`~relman.domain.errors.ConfigError` without ``GITHUB_ACTOR``,
    :class:`~relman.domain.errors.InvalidInput` for a bad argument,
    :class:`~relman.domain.errors.Conflict` for a release that is another one or not in
    a status a deploy to ``env`` starts from, :class:`~relman.ci.client.ApiError` when
    the API refuses (another deploy holds the lock; a sha other than the approved one)
    or cannot be reached.
    """
    actor = check_deploy_args(run, env, tag)
    if git_sha:
        check_git_sha(git_sha)
    deploys.target(service, env)
    release = await client.get_release(release_id)
    check_release_matches(
        release_id, service, tag, got_service=release.service_name, got_tag=release.release_tag
    )
    note = run_note(run, f"{env} deploy of {tag} started")
    for status in statuses_to_enter(release_id, env, release.status):
        await client.report_status(release_id, status.value, note=note, actor=actor)
        say(f"release {release_id}: {status.value}")
    say(f"deploying {service} {tag} to {env} as {actor} (release {release_id})")
    return await deploys.deploy(
        service,
        tag,
        env,
        actor=actor,
        release_id=release_id,
        expected_sha=git_sha or None,
        on_progress=on_progress,
        reason=f"release {release_id}" + (f" ({run.action_link})" if run.action_link else ""),
    )


def check_git_sha(value: str) -> str:
    """``value`` if it is a commit sha (7–64 lowercase hex digits); else
    :class:`~relman.domain.errors.InvalidInput` (field ``git_sha``)."""
    if not re.fullmatch(r"[0-9a-f]{7,64}", value):
        raise InvalidInput("git_sha", f"{value[:80]!r} is not a commit sha (hex digits)")
    return value


def run_note(run: GitHubRun, what: str) -> str:
    """An audit note: ``what`` by the run's action link (or by relman ci)."""
    link = run.action_link
    return f"{what} by GitHub Actions run {link}" if link else f"{what} by relman ci"
