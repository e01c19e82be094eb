"""The release pipeline: from a version tag to production and back (DESIGN.md §1, §5; issue
"pipeline").

One function per use case — :meth:`PipelineService.start_release`, ``approve``, ``reject``,
``request_rollback``, ``retry`` — called by the API, the CLI and the bot alike. Each checks
the approval policy (a refusal is audited and raised), changes the release through the
domain, and hands the deploy to the environment's executor:

* ``local``: a job row queued in the same transaction as the status change (so of 50
  concurrent approvals exactly one queues a production deploy); relman's worker runs it
  through :meth:`PipelineService.execute`.
* ``github``: the worker dispatches the ``on-approve-manual-testing`` workflow (seed 003),
  from a job queued with the approval like a local deploy; the workflow deploys and
  reports back through ``PATCH {prefix}/release``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from relman.config import RelmanConfig
from relman.deploy import ProgressCallback
from relman.domain.clock import Clock, utcnow
from relman.domain.errors import (
    Conflict,
    EnvironmentLocked,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RelmanError,
)
from relman.domain.policy import SYSTEM, Action, Actor, Roles, authorize, authorize_report
from relman.domain.release import Release, Source
from relman.domain.status import GROUPS, ReleaseStatus
from relman.domain.version import is_release_tag, parse_release_tag
from relman.notify import Notice, NoticeKind, Notifier
from relman.services.deploys import DeployOutcome, DeployService, DevDeployOutcome
from relman.services.releases import NewRelease, ReleaseService, check_emergency_reason
from relman.store.deployments import Deployment, DeploymentStore
from relman.store.jobs import Job, JobKind, JobStore, NewJob
from relman.store.releases import ReleaseStore, StaleRelease

log = logging.getLogger("relman.pipeline")

S = ReleaseStatus
STAGE = "stage"
PRODUCTION = "production"

#: The statuses a job may find its release in when it runs (a re-run after a crash finds
#: it one step further); anywhere else the job no longer applies and leaves it alone.
_JOB_STARTS: Mapping[JobKind, frozenset[ReleaseStatus]] = {
    "stage_deploy": frozenset({S.BUILDING, S.STAGE_DEPLOY}),
    "production_deploy": frozenset({S.MANUAL_TEST_PASSED, S.DEPLOYING}),
    "rollback": frozenset({S.ROLLBACK}),
}

#: Where a failed or interrupted job leaves its release, by job kind and the status the job
#: left it in (DESIGN.md §5: never silently stuck). manual_test_passed can only fail
#: through deploying (the transition table's one way out).
_JOB_FAILS: Mapping[JobKind, Mapping[ReleaseStatus, tuple[ReleaseStatus, ...]]] = {
    "stage_deploy": {S.BUILDING: (S.STAGING_FAILED,), S.STAGE_DEPLOY: (S.STAGING_FAILED,)},
    "production_deploy": {
        S.MANUAL_TEST_PASSED: (S.DEPLOYING, S.PRODUCTION_FAILED),
        S.DEPLOYING: (S.PRODUCTION_FAILED,),
    },
    "rollback": {S.ROLLBACK: (S.ROLLBACK_FAILED,)},
}

_STAGE_STATUSES = frozenset({S.BUILDING, S.STAGE_DEPLOY, S.MANUAL_TESTING, S.STAGING_FAILED})
_PRODUCTION_STATUSES = frozenset({S.DEPLOYING, S.DEPLOYED, S.PRODUCTION_FAILED})
_ROLLBACK_STATUSES = frozenset({S.ROLLBACK, S.ROLLBACK_DONE, S.ROLLBACK_FAILED})

#: Releases whose card says whether they are the one in production (issue 16).
_SHOWS_LIVE = frozenset({S.DEPLOYED, S.ROLLBACK_DONE, S.ROLLBACK, S.ROLLBACK_FAILED})

_NOTICE_FOR: Mapping[ReleaseStatus, NoticeKind] = {
    S.MANUAL_TESTING: NoticeKind.READY_FOR_TESTING,
    S.STAGING_FAILED: NoticeKind.STAGING_FAILED,
    S.MANUAL_TEST_FAILED: NoticeKind.REJECTED,
    S.DEPLOYED: NoticeKind.DEPLOYED,
    S.PRODUCTION_FAILED: NoticeKind.PRODUCTION_FAILED,
    S.ROLLBACK_DONE: NoticeKind.ROLLBACK_DONE,
    S.ROLLBACK_FAILED: NoticeKind.ROLLBACK_FAILED,
}


class AlreadyDecided(Conflict):
    """Someone decided this release first (approve/reject raced, or it moved on)."""

    code = "already_decided"

    def __init__(self, release: Release) -> None:
        super().__init__(
            f"release {release.id} was already decided: it is {release.status.value}",
            current=release.status.value,
        )


class ProductionMoved(Conflict):
    """Production is on another release than the one a confirmation was made for."""

    code = "production_moved"

    def __init__(self, service: str, expected: int, current: Release) -> None:
        super().__init__(
            f"{service}: production is on release {current.id} ({current.release_tag}) now, "
            f"not release {expected}; look again before rolling back"
        )


class NotReportable(Conflict):
    """A status relman sets itself for this service (its worker deploys there), reported
    from outside."""

    code = "not_reportable"


class IncidentHook(Protocol):
    """Told of every status change the pipeline saves (the incidents, issue 14 item 2:
    ``relman.services.incidents.IncidentService``). Never raises."""

    async def on_transition(self, release: Release) -> None: ...


class WorkflowDispatcher(Protocol):
    """Starts a GitHub Actions workflow (``relman.integrations.github.GitHubClient``).

    Raises a :class:`RelmanError` carrying GitHub's message when GitHub refuses.
    """

    async def dispatch_workflow(
        self, repository: str, workflow: str, ref: str, inputs: Mapping[str, str]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What :meth:`PipelineService.execute` did: the release as it ended up, whether the
    job succeeded, and the error shown to people when it did not."""

    release: Release
    ok: bool
    error: str = ""
    #: The job could not start because another deploy holds its environment's lock: put
    #: it back in the queue rather than fail the release.
    requeue: bool = False


@dataclass(frozen=True, slots=True)
class RollbackPreview:
    """A rollback about to be confirmed: to ``chosen``'s tag, from ``current`` (the
    release now in production, ``None`` when none). When ``chosen`` is the one in
    production, ``targets`` are the earlier releases it could go back to (issue 16)."""

    chosen: Release
    current: Release | None
    targets: list[Release] = field(default_factory=list)

    @property
    def picks(self) -> bool:
        """Whether ``chosen`` is the release in production: then the rollback is to one
        of ``targets`` (to be chosen), not to ``chosen``'s own tag."""
        return _is_live(self.chosen, self.current)


def _is_live(chosen: Release, current: Release | None) -> bool:
    return current is not None and current.release_tag == chosen.release_tag


@dataclass(frozen=True, slots=True)
class Browse:
    """Releases as the bot lists them: ``releases`` (newest first), how many the list has
    in all (``total``), and per service of those shown the release now in production
    (``live``; a service with none is absent)."""

    releases: list[Release]
    total: int
    live: Mapping[str, Release]
    #: Per release id, the link to its newest deploy's uploaded log and evidence (a
    #: GitHub Actions artifact, issue 12); filled by :meth:`PipelineService.show` only.
    artifacts: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A release, its audit events (in ``release.events``) and its deploys, oldest first."""

    release: Release
    deployments: list[Deployment]


class PipelineService:
    """Moves releases through the lifecycle and runs their deploys."""

    def __init__(
        self,
        *,
        config: RelmanConfig,
        releases: ReleaseService,
        release_store: ReleaseStore,
        deployments: DeploymentStore,
        jobs: JobStore,
        deploys: DeployService,
        notifier: Notifier,
        clock: Clock = utcnow,
        github: WorkflowDispatcher | None = None,
        incidents: IncidentHook | None = None,
    ) -> None:
        self._config = config
        self._roles: Roles = config.policy.roles()
        self._releases = releases
        self._store = release_store
        self._deployments = deployments
        self._jobs = jobs
        self._deploys = deploys
        self._notifier = notifier
        self._clock = clock
        self._github = github
        self._incidents = incidents

    # --- use cases ------------------------------------------------------------------

    async def start_release(
        self, new: NewRelease, *, actor: Actor, source: Source
    ) -> tuple[Release, bool]:
        """Record the release of a pushed version tag and, when stage is deployed by
        relman's worker (``executor = "local"``) and the service is configured, move it
        to ``building`` and queue the stage deploy.

        Returns ``(release, created)``. Idempotent like ``POST /release``: the same
        (service, tag, run id) again returns the recorded release (``created`` False) and
        queues nothing. Raises :class:`InvalidInput` (bad tag,
        empty service), :class:`PermissionDenied` (audited).

        An emergency release (``new.emergency``, seed 004's "Принудительный релиз", issue
        14 item 3) needs a reason (:class:`InvalidInput` naming ``reason``) and a person
        with role ``admin`` or one in ``[policy] emergency``; a refusal is logged as an
        audit line (there is no release row to put it on) and nothing is written. Once
        recorded, the team chat is told, and the release goes to production right after
        its stage deploy, without manual testing (:meth:`_skip_testing`).
        """
        if new.emergency:
            new = replace(new, emergency_reason=check_emergency_reason(new.emergency_reason))
            self._authorize_emergency(new, actor, source)
        authorize(self._roles, actor, Action.START)
        release, created = await self._releases.create(new, source=source)
        if created and release.emergency_reason:
            await self._notifier.notify(
                Notice(NoticeKind.EMERGENCY, release, detail=release.emergency_reason)
            )
        if not created or not self._runs_locally(new.service_name, STAGE):
            return release, created
        job = NewJob("stage_deploy", _id(release), {"actor": actor.audit_name})
        note = "stage deploy queued"
        return await self._move(release, S.BUILDING, SYSTEM, source, note, job), True

    async def start_by_hand(
        self,
        service: str,
        tag: str,
        *,
        actor: Actor,
        source: Source,
        run_id: str = "",
        emergency: bool = False,
        reason: str = "",
    ) -> Release:
        """Start a release of ``tag`` without CI (``relman release start``, the demo), as a
        pushed tag would: no Actions run link, ref ``refs/tags/<tag>``, run id ``run_id``
        or a fresh ``<source>-<random>`` one; with ``emergency`` an emergency release for
        ``reason``. Raises like :meth:`start_release`."""
        release, _ = await self.start_release(
            NewRelease(
                service_name=service,
                release_tag=tag,
                initiated_by=actor.id,
                github_run_id=run_id or f"{source.value}-{uuid.uuid4().hex[:12]}",
                github_action_link="",
                github_ref=f"refs/tags/{tag}",
                emergency=emergency,
                emergency_reason=reason,
            ),
            actor=actor,
            source=source,
        )
        return release

    async def approve(self, release_id: int, *, actor: Actor, source: Source) -> Release:
        """QA passed on stage: ``manual_testing`` → ``manual_test_passed`` and the
        production deploy is started by the production environment's executor.

        The approval binds the git sha deployed to stage, and in registry mode the image
        digest; production refuses the tag if it moved, or another image under it. Raises
        :class:`PermissionDenied` (audited: no role, a CI identity, the initiator without
        ``allow_self_approval``), :class:`AlreadyDecided`, :class:`ReleaseNotFound`.
        """
        release = await self._releases.get(release_id)
        await self._authorize(release, actor, Action.APPROVE, S.MANUAL_TEST_PASSED, source)
        if release.status is not S.MANUAL_TESTING:
            raise AlreadyDecided(release)
        sha, digest = await self.approved_artifact(release_id)
        note = f"approved; tested on stage at {sha[:12]}" if sha else "approved"
        if digest:
            note += f", image {digest}"
        executor = self._executor(release.service_name, PRODUCTION)
        # Both executors start from a job queued with the decision: the worker deploys
        # (local) or dispatches the workflow (github), so a crash in between is recovered
        # like any job, and the approval does not wait on GitHub.
        job = (
            NewJob(
                "production_deploy",
                release_id,
                {"actor": actor.audit_name, "sha": sha, "digest": digest, "executor": executor},
            )
            if executor is not None
            else None
        )
        return await self._move(release, S.MANUAL_TEST_PASSED, actor, source, note, job)

    async def reject(
        self, release_id: int, *, actor: Actor, source: Source, reason: str = ""
    ) -> Release:
        """QA failed on stage: ``manual_testing`` → ``manual_test_failed`` (terminal), with
        ``reason`` in the audit note and the notices. Raises like :meth:`approve`, and
        :class:`InvalidInput` (``reason``) for a blank reason while
        ``[policy] require_reject_reason`` is on (the default, issue 16: the developer must
        learn why)."""
        reason = reason.strip()
        release = await self.check_reject(release_id, actor=actor, source=source)
        if not reason and self._config.policy.require_reject_reason:
            raise InvalidInput("reason", "say why the release failed testing")
        note = f"rejected: {reason}" if reason else "rejected"
        release = await self._move(release, S.MANUAL_TEST_FAILED, actor, source, note)
        await self._notify(release, detail=reason)
        return release

    async def check_reject(self, release_id: int, *, actor: Actor, source: Source) -> Release:
        """Whether ``actor`` may reject the release now, before they are asked why (the
        bot's ❌ Отклонить, issue 16) — :meth:`reject` checks the same first: the release,
        else raises like :meth:`approve` (a refusal of the policy is audited). Changes
        nothing."""
        release = await self._releases.get(release_id)
        await self._authorize(release, actor, Action.REJECT, S.MANUAL_TEST_FAILED, source)
        if release.status is not S.MANUAL_TESTING:
            raise AlreadyDecided(release)
        return release

    def roles_of(self, actor: Actor) -> frozenset[str]:
        """The roles ``actor`` holds in ``[policy]`` (``qa``, ``releaser``, ``admin``)."""
        return self._roles.roles_of(actor.id)

    async def request_rollback(
        self,
        service: str,
        to_tag: str,
        *,
        actor: Actor,
        source: Source,
        expected_current: int | None = None,
    ) -> Release:
        """Put ``service``'s production back on ``to_tag`` (seed 003 "Процесс отката"): the
        release now in production goes to ``rollback`` with ``rollback_to_tag`` and the
        rollback is queued for the worker (a rollback must not wait for a CI runner).

        ``to_tag`` must have been deployed healthy to production before. Raises
        :class:`PermissionDenied` (audited; role ``releaser`` or ``admin``),
        :class:`NotFound` (nothing in production), :class:`InvalidInput` (``to_tag``),
        :class:`AlreadyDecided` (the release moved meanwhile), :class:`ProductionMoved`
        when ``expected_current`` (the release the person saw in production when they
        confirmed) is no longer the one there.
        """
        parse_release_tag(to_tag, field="to_tag")
        deployed = await self.current_deployed(service)
        failed = await self._failed_in_production(service, after=deployed)
        current = failed or deployed
        if current is None:
            raise NotFound(f"no release of {service} is deployed to production")
        if expected_current is not None and expected_current not in {
            r.id for r in (deployed, failed) if r is not None
        }:
            raise ProductionMoved(service, expected_current, current)
        await self._authorize(current, actor, Action.ROLLBACK, S.ROLLBACK, source)
        if failed is not None:
            # Its hosts may run the failed tag, or be half-way: any healthy tag goes back.
            if to_tag == failed.release_tag:
                raise InvalidInput("to_tag", f"{to_tag} is the release that failed")
        elif to_tag == (await self._production_tag(service) or current.release_tag):
            raise InvalidInput("to_tag", f"{service} is already on {to_tag}")
        history = await self._deployments.history(service, PRODUCTION, limit=500)
        if not any(d.tag == to_tag and d.status == "succeeded" for d in history):
            raise InvalidInput(
                "to_tag", f"{to_tag} was never deployed healthy to production for {service}"
            )
        job = NewJob("rollback", _id(current), {"actor": actor.audit_name, "to_tag": to_tag})
        return await self._move(
            current,
            S.ROLLBACK,
            actor,
            source,
            f"rollback to {to_tag} requested",
            job,
            rollback_to_tag=to_tag,
        )

    async def _failed_in_production(self, service: str, *, after: Release | None) -> Release | None:
        """The newest release of ``service`` that failed in production, when it is newer
        than ``after`` (the one deployed): a failed production deploy is rolled back from
        that release (issue 12 item 6), so the rollback is linked to what failed."""
        page = await self._releases.list(service=service, status=S.PRODUCTION_FAILED, limit=1)
        failed = page.releases[0] if page.releases else None
        if failed is None or (after is not None and _id(failed) < _id(after)):
            return None
        return failed

    async def rollback_preview(self, to_release_id: int) -> RollbackPreview:
        """What a rollback to release ``to_release_id``'s tag would do: that release and
        the release now in production of its service (for a confirmation screen). When
        the release chosen is the one in production, the earlier healthy releases to go
        back to instead (:meth:`rollback_targets`). Raises :class:`ReleaseNotFound`."""
        chosen = await self._releases.get(to_release_id)
        current = await self.current_deployed(chosen.service_name)
        targets: list[Release] = []
        if _is_live(chosen, current):
            targets = await self.rollback_targets(chosen.service_name)
        return RollbackPreview(chosen, current, targets)

    async def rollback_targets(self, service: str, *, limit: int = 5) -> list[Release]:
        """The releases ``service``'s production can be put back on, newest deploy first
        (at most ``limit``): each one's tag was deployed healthy to production by relman
        (what :meth:`request_rollback` accepts), it is still ``deployed`` (not rolled back
        from) and it is not the tag production runs now."""
        now = await self._production_tag(service)
        current = await self.current_deployed(service)
        failed = await self._failed_in_production(service, after=current)
        # After a failed production deploy even the tag last healthy is a way back.
        skip = (
            {failed.release_tag}
            if failed is not None
            else {now, current.release_tag if current else None}
        )
        found: list[Release] = []
        for deployment in await self._deployments.history(service, PRODUCTION, limit=500):
            if len(found) >= limit:
                break
            if (
                deployment.kind != "deploy"
                or deployment.status != "succeeded"
                or deployment.release_id is None
                or deployment.tag in skip
            ):
                continue
            skip.add(deployment.tag)
            release = await self._releases.get(deployment.release_id)
            if release.status is S.DEPLOYED:
                found.append(release)
        return found

    async def browse(self, group: str | None, *, limit: int) -> Browse:
        """The bot's list ``group`` (``active``, ``successful``, ``failed``; ``None`` for
        all): its first ``limit`` releases, its size, and which release of each service
        shown is in production. Raises :class:`InvalidInput` for an unknown group or
        limit."""
        page = await self._releases.list(group=group, limit=limit)
        total = await self._store.count(statuses=GROUPS[group] if group else None)
        return Browse(page.releases, total, await self._live(page.releases))

    async def show(self, release_id: int, *, group: str | None = None) -> Browse:
        """One release (with its audit events) as :meth:`browse` gives it; ``total`` is
        the size of the list ``group`` it is shown in (1 without one). Raises
        :class:`ReleaseNotFound`, :class:`InvalidInput` for an unknown group."""
        release = await self._releases.get(release_id)
        total = 1
        if group is not None:
            if group not in GROUPS:
                raise InvalidInput("group", f"unknown group {group!r}")
            total = await self._store.count(statuses=GROUPS[group])
        links = [d.artifact_url for d in await self._deployments.for_release(release_id)]
        newest = next((url for url in reversed(links) if url), "")
        artifacts = {release_id: newest} if newest else {}
        return Browse([release], total, await self._live([release]), artifacts)

    async def _live(self, shown: list[Release]) -> dict[str, Release]:
        live: dict[str, Release] = {}
        for service in {r.service_name for r in shown if r.status in _SHOWS_LIVE}:
            current = await self.current_deployed(service)
            if current is not None:
                live[service] = current
        return live

    async def rollback_to_release(
        self,
        to_release_id: int,
        *,
        actor: Actor,
        source: Source,
        expected_current: int | None = None,
    ) -> Release:
        """:meth:`request_rollback` to the tag of release ``to_release_id`` (the bot's
        ⏪ button sits on that release's card). Raises like :meth:`request_rollback` and
        :class:`ReleaseNotFound`."""
        chosen = await self._releases.get(to_release_id)
        return await self.request_rollback(
            chosen.service_name,
            chosen.release_tag,
            actor=actor,
            source=source,
            expected_current=expected_current,
        )

    async def retry(self, release_id: int, *, actor: Actor, source: Source) -> Release:
        """Start a release that failed on stage (``staging_failed``, e.g. a host was down)
        again: a new release of the same tag, linked in its run id (``retry-of-<id>``);
        asking again returns that same new release. Raises
        :class:`PermissionDenied` (audited; ``releaser``/``admin``), :class:`Conflict` for
        any other status."""
        failed = await self._releases.get(release_id)
        await self._authorize(failed, actor, Action.RETRY, S.BUILDING, source)
        if failed.status is not S.STAGING_FAILED:
            raise Conflict(
                f"release {release_id} is {failed.status.value}; only a release that "
                "failed on stage can be retried"
            )
        release, _ = await self.start_release(
            NewRelease(
                service_name=failed.service_name,
                release_tag=failed.release_tag,
                initiated_by=failed.initiated_by,
                # One retry per failed release, however often it is asked for (the
                # (service, tag, run id) key makes concurrent retries one release).
                github_run_id=f"retry-of-{release_id}",
                github_action_link=failed.github_action_link,
                github_ref=failed.github_ref,
                # a retried emergency release is still one (its reason was checked)
                emergency=bool(failed.emergency_reason),
                emergency_reason=failed.emergency_reason,
            ),
            actor=SYSTEM,
            source=source,
        )
        return release

    async def report_status(
        self,
        release_id: int,
        status: ReleaseStatus,
        *,
        actor: Actor,
        source: Source,
        note: str = "",
        rollback_to_tag: str | None = None,
    ) -> Release:
        """A status reported by CI (seed 003 ``PATCH /release``); notifies on statuses
        people must hear about.

        Refused, audited:

        * a QA decision (``manual_test_passed`` / ``manual_test_failed``), for every
          caller — it goes through :meth:`approve` / :meth:`reject`, where the policy and
          four-eyes apply (DESIGN.md §5: CI can never approve): :class:`PermissionDenied`;
        * a repository-bound CI identity reporting on another repository's service:
          :class:`PermissionDenied`;
        * a status relman sets itself for this service (its worker deploys that
          environment; rollbacks always run on the worker): :class:`NotReportable`.

        Raises like :meth:`ReleaseService.report_status` otherwise.
        """
        if actor.repository is not None:
            release = await self._releases.get(release_id)
            service = self._config.services.get(release.service_name)
            try:
                authorize_report(actor, service.github_repository if service else None, release)
            except PermissionDenied as exc:
                await self._refuse(release, status, actor, source, str(exc))
                raise
        if status in (S.MANUAL_TEST_PASSED, S.MANUAL_TEST_FAILED):
            release = await self._releases.get(release_id)
            verb = "approve" if status is S.MANUAL_TEST_PASSED else "reject"
            reason = (
                f"{actor.id}: {status.value} is QA's decision, not a status report; "
                f"{verb} the release instead (role qa)"
            )
            await self._refuse(release, status, actor, source, reason)
            raise PermissionDenied(reason)
        release = await self._releases.get(release_id)
        owner = self._reported_by_relman(release.service_name, status)
        if owner:
            reason = f"{actor.id}: {status.value} is set by relman here ({owner}), not reported"
            await self._refuse(release, status, actor, source, reason)
            raise NotReportable(reason)
        release = await self._releases.report_status(
            release_id,
            status,
            actor=actor.audit_name,
            source=source,
            note=note,
            rollback_to_tag=rollback_to_tag,
        )
        await self._moved(release)
        if release.status is S.MANUAL_TESTING and release.emergency_reason:
            return await self._skip_testing(release)
        await self._notify(release, detail=note)
        return release

    async def dev_deploy(
        self,
        service: str,
        *,
        branch: str,
        author: str,
        actor: Actor,
        on_progress: ProgressCallback | None = None,
    ) -> DevDeployOutcome:
        """Deploy the head of ``branch`` to ``author``'s developer server (seed 003
        on-push-in-work-branch) and notify; an author without a server is skipped with the
        reason in the outcome, not failed. Raises like :meth:`DeployService.dev_deploy`."""
        outcome = await self._deploys.dev_deploy(
            service, branch=branch, author=author, actor=actor.audit_name, on_progress=on_progress
        )
        result = outcome.result
        if result is not None:
            kind = NoticeKind.DEV_DEPLOYED if result.ok else NoticeKind.DEV_DEPLOY_FAILED
            await self._notifier.notify(
                Notice(
                    kind,
                    None,
                    detail=f"{outcome.environment}" + ("" if result.ok else f": {result.error}"),
                    log_path=str(result.log_path or ""),
                    service=service,
                    ref=branch,
                )
            )
        return outcome

    async def current_deployed(self, service: str) -> Release | None:
        """The release of ``service`` now in production (``None`` when none): the
        ``deployed`` release of the tag production last ran healthy (from the deploy
        history, so a rollback to an older release counts), else the one deployed last."""
        tag = await self._production_tag(service)
        if tag is not None:
            release = await self._store.current_deployed(service, tag=tag)
            if release is not None:
                return release
        return await self._store.current_deployed(service)

    async def _production_tag(self, service: str) -> str | None:
        """The tag production last ran healthy (a deploy or a rollback), from the history."""
        for deployment in await self._deployments.history(service, PRODUCTION, limit=50):
            if deployment.status == "succeeded" and is_release_tag(deployment.tag):
                return deployment.tag
        return None

    async def timeline(self, release_id: int) -> Timeline:
        """A release with its audit events and its deploys (log and evidence paths).
        Raises :class:`ReleaseNotFound`."""
        release = await self._releases.get(release_id)
        return Timeline(release, await self._deployments.for_release(release_id))

    # --- the worker's side ----------------------------------------------------------

    async def execute(self, job: Job, *, on_progress: ProgressCallback | None = None) -> JobOutcome:
        """Run a claimed job to its end and move its release accordingly (called by the
        worker; ``on_progress`` hears each host's progress, as for ``relman deploy``).
        Never raises for a failing deploy: the release ends in the failure status with the
        reason, and people are notified. A job whose release has moved elsewhere (decided,
        rolled back, failed meanwhile) ends without touching it. Raises
        :class:`StoreUnavailable` when the database fails."""
        release = await self._releases.get(job.release_id)
        if release.status not in _JOB_STARTS[job.kind]:
            return JobOutcome(
                release,
                False,
                f"release {release.id} is {release.status.value}; the "
                f"{job.kind.replace('_', ' ')} no longer applies",
            )
        try:
            if job.kind == "stage_deploy":
                return await self._stage(release, job, on_progress)
            if job.kind == "production_deploy":
                return await self._production(release, job, on_progress)
            return await self._rollback(release, job, on_progress)
        except EnvironmentLocked as exc:
            return JobOutcome(await self.release_of(job), False, str(exc), requeue=True)
        except RelmanError as exc:
            return await self._fail_job(job, str(exc))
        except Exception as exc:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            return await self._fail_job(job, f"internal error: {type(exc).__name__}")

    async def release_of(self, job: Job) -> Release:
        """The release a job works on. Raises :class:`ReleaseNotFound`."""
        return await self._releases.get(job.release_id)

    async def interrupt(self, job: Job, *, reason: str) -> Release | None:
        """A job whose worker died: move its release to the matching failure status with
        ``reason``, free the deploy locks that worker's process held and notify. Returns
        the release, or ``None`` when the release had already moved past the job (then
        nothing else is touched)."""
        release = await self._releases.get(job.release_id)
        moved = await self._fail_release(release, job.kind, reason)
        if moved is None:
            return None
        environment = STAGE if job.kind == "stage_deploy" else PRODUCTION
        process = ":".join(job.owner.split(":")[:2])  # machine:pid of the dead worker
        await self._deploys.free_locks_of(release.service_name, environment, process=process)
        await self._notifier.notify(Notice(NoticeKind.INTERRUPTED, moved, detail=reason))
        return moved

    async def recover_runners(self) -> int:
        """Free the deploy locks of GitHub Actions runners whose lease ran out (the runner
        died or lost its network mid-deploy): their running deploys are marked failed,
        their releases moved to the failure status (like :meth:`interrupt` for a dead
        worker) and the team told. Returns how many locks were freed."""
        freed = 0
        for lock in await self._deployments.expired_locks(self._clock()):
            reason = (
                f"interrupted: the GitHub Actions runner of {lock.holder} stopped renewing "
                f"the deploy lock of {lock.service} on {lock.environment}"
            )
            stopped = await self._deployments.break_expired_lock(
                lock, at=self._clock(), error=reason
            )
            if stopped is None:
                continue  # renewed meanwhile, or another replica took care of it
            freed += 1
            log.warning("%s", reason)
            for deployment in stopped:
                if deployment.release_id is None:
                    continue
                kind: JobKind = (
                    "rollback"
                    if deployment.kind == "rollback"
                    else "stage_deploy"
                    if deployment.environment == STAGE
                    else "production_deploy"
                )
                release = await self._releases.get(deployment.release_id)
                moved = await self._fail_release(release, kind, reason)
                if moved is not None:
                    await self._notifier.notify(
                        Notice(NoticeKind.INTERRUPTED, moved, detail=reason)
                    )
        return freed

    async def _stage(
        self, release: Release, job: Job, on_progress: ProgressCallback | None
    ) -> JobOutcome:
        if release.status is S.BUILDING:
            release = await self._move(
                release, S.STAGE_DEPLOY, SYSTEM, Source.WORKER, "deploying to stage"
            )
        outcome = await self._deploys.deploy(
            release.service_name,
            release.release_tag,
            STAGE,
            actor=str(job.payload.get("actor") or SYSTEM.id),
            release_id=release.id,
            reason=f"stage deploy of release {release.id}",
            on_progress=on_progress,
        )
        result = outcome.result
        log_path = str(result.log_path or "")
        if result.ok:
            sha = result.git_sha or ""
            note = f"on stage at {sha[:12]}" if sha else "on stage"
            release = await self._move(release, S.MANUAL_TESTING, SYSTEM, Source.WORKER, note)
            if release.emergency_reason:
                return JobOutcome(await self._skip_testing(release), True)
            await self._notify(release, log_path=log_path)
            return JobOutcome(release, True)
        error = result.error or "stage deploy failed"
        if outcome.rollback is not None:
            back = "back on" if outcome.rollback.ok else "could not be put back on"
            error += f"; stage {back} {outcome.rollback.tag}"
        release = await self._move(release, S.STAGING_FAILED, SYSTEM, Source.WORKER, error)
        await self._notify(release, detail=error, log_path=log_path)
        return JobOutcome(release, False, error)

    async def _production(
        self, release: Release, job: Job, on_progress: ProgressCallback | None
    ) -> JobOutcome:
        if job.payload.get("executor") == "github":
            return await self._dispatch(release)
        approver = str(job.payload.get("actor") or SYSTEM.id)
        if release.status is S.MANUAL_TEST_PASSED:
            release = await self._move(
                release,
                S.DEPLOYING,
                SYSTEM,
                Source.WORKER,
                f"production deploy approved by {approver}",
            )
        sha = str(job.payload.get("sha") or "") or None
        digest = str(job.payload.get("digest") or "") or None
        outcome = await self._deploys.deploy(
            release.service_name,
            release.release_tag,
            PRODUCTION,
            actor=approver,
            release_id=release.id,
            expected_sha=sha,
            expected_digest=digest,
            reason=f"production deploy of release {release.id}",
            on_progress=on_progress,
        )
        result = outcome.result
        log_path = str(result.log_path or "")
        if result.ok:
            release = await self._move(release, S.DEPLOYED, SYSTEM, Source.WORKER, "healthy")
            await self._notify(release, log_path=log_path)
            return JobOutcome(release, True)
        error = result.error or "production deploy failed"
        release = await self._move(release, S.PRODUCTION_FAILED, SYSTEM, Source.WORKER, error)
        await self._notify(release, detail=error, log_path=log_path)
        if outcome.rollback is not None:
            release = await self._after_auto_rollback(release, outcome)
        return JobOutcome(release, False, error)

    async def _after_auto_rollback(self, release: Release, outcome: DeployOutcome) -> Release:
        rollback = outcome.rollback
        assert rollback is not None
        release = await self._move(
            release,
            S.ROLLBACK,
            SYSTEM,
            Source.WORKER,
            f"automatic rollback to {rollback.tag}",
            rollback_to_tag=rollback.tag,
        )
        final = S.ROLLBACK_DONE if rollback.ok else S.ROLLBACK_FAILED
        note = "rollback healthy" if rollback.ok else (rollback.error or "rollback failed")
        release = await self._move(release, final, SYSTEM, Source.WORKER, note)
        await self._notify(
            release, detail="" if rollback.ok else note, log_path=str(rollback.log_path or "")
        )
        return release

    async def _rollback(
        self, release: Release, job: Job, on_progress: ProgressCallback | None
    ) -> JobOutcome:
        to_tag = str(job.payload["to_tag"])
        result = await self._deploys.rollback(
            release.service_name,
            PRODUCTION,
            actor=str(job.payload.get("actor") or SYSTEM.id),
            to_tag=to_tag,
            release_id=release.id,
            reason=f"rollback of release {release.id} to {to_tag}",
            on_progress=on_progress,
        )
        final = S.ROLLBACK_DONE if result.ok else S.ROLLBACK_FAILED
        note = f"back on {to_tag}" if result.ok else (result.error or "rollback failed")
        release = await self._move(release, final, SYSTEM, Source.WORKER, note)
        await self._notify(
            release, detail="" if result.ok else note, log_path=str(result.log_path or "")
        )
        return JobOutcome(release, result.ok, "" if result.ok else note)

    async def _fail_job(self, job: Job, error: str) -> JobOutcome:
        release = await self._releases.get(job.release_id)
        moved = await self._fail_release(release, job.kind, error)
        if moved is not None:
            await self._notify(moved, detail=error)
            release = moved
        return JobOutcome(release, False, error)

    async def _fail_release(self, release: Release, kind: JobKind, reason: str) -> Release | None:
        """Move ``release`` from where a ``kind`` job left it to the failure status; ``None``
        when the release is not where such a job leaves it (it moved on)."""
        path = _JOB_FAILS[kind].get(release.status)
        if path is None:
            return None
        for status in path:
            release = await self._move(release, status, SYSTEM, Source.WORKER, reason)
        return release

    # --- emergency releases (issue 14 item 3) ---------------------------------------

    def _authorize_emergency(self, new: NewRelease, actor: Actor, source: Source) -> None:
        """Allow ``actor`` to start the emergency release ``new`` or raise
        :class:`PermissionDenied`. A refusal is audited as a WARNING line of the
        ``relman.pipeline`` log — who, what, why — since no release row exists to hold it
        (and none is written: the refusal comes before anything else)."""
        try:
            authorize(self._roles, actor, Action.EMERGENCY)
        except PermissionDenied as exc:
            log.warning(
                "refused: %s asked for an emergency release of %s %s (source %s): %s",
                actor.audit_name,
                new.service_name,
                new.release_tag,
                source.value,
                exc,
            )
            raise

    async def _skip_testing(self, release: Release) -> Release:
        """An emergency release just reached ``manual_testing`` on stage: pass it on at
        once (seed 004's forced release skips the checks; issue 14 item 3) and start the
        production deploy as an approval would, bound to the sha (and digest) stage ran.
        Nobody is asked to test; the audit row names the reason."""
        sha, digest = await self.approved_artifact(_id(release))
        note = f"⚠️ emergency release: manual testing skipped ({release.emergency_reason})"
        if sha:
            note += f"; on stage at {sha[:12]}"
        executor = self._executor(release.service_name, PRODUCTION)
        job = (
            NewJob(
                "production_deploy",
                _id(release),
                {
                    "actor": release.initiated_by,
                    "sha": sha,
                    "digest": digest,
                    "executor": executor,
                },
            )
            if executor is not None
            else None
        )
        return await self._move(release, S.MANUAL_TEST_PASSED, SYSTEM, Source.WORKER, note, job)

    # --- helpers --------------------------------------------------------------------

    async def _move(
        self,
        release: Release,
        to: ReleaseStatus,
        actor: Actor,
        source: Source,
        note: str,
        job: NewJob | None = None,
        *,
        rollback_to_tag: str | None = None,
    ) -> Release:
        """Transition ``release`` (and queue ``job``) atomically; a concurrent writer that
        got there first turns into :class:`AlreadyDecided`."""
        expected = release.status
        event = release.transition(
            to,
            actor=actor.audit_name,
            source=source,
            at=self._clock(),
            note=note,
            rollback_to_tag=rollback_to_tag,
        )
        try:
            await self._store.save_transition(release, event, expected=expected, job=job)
        except StaleRelease:
            raise AlreadyDecided(await self._releases.get(_id(release))) from None
        await self._moved(release)
        return release

    async def _moved(self, release: Release) -> None:
        """After every status change saved, whoever made it: the incidents hear of it
        (production failures open them), and the messages that show the release follow
        (``CHANGED``, issue 16)."""
        if self._incidents is not None:
            await self._incidents.on_transition(release)
        await self._notifier.notify(Notice(NoticeKind.CHANGED, release))

    async def _authorize(
        self,
        release: Release,
        actor: Actor,
        action: Action,
        wanted: ReleaseStatus,
        source: Source,
    ) -> None:
        try:
            authorize(self._roles, actor, action, release)
        except PermissionDenied as exc:
            await self._refuse(release, wanted, actor, source, str(exc))
            raise

    async def _refuse(
        self, release: Release, wanted: ReleaseStatus, actor: Actor, source: Source, reason: str
    ) -> None:
        """Audit that ``actor`` asked for ``wanted`` and was refused for ``reason``."""
        await self._store.add_event(
            release.refusal(
                wanted, actor=actor.audit_name, source=source, at=self._clock(), reason=reason
            )
        )

    def _reported_by_relman(self, service: str, status: ReleaseStatus) -> str:
        """Why relman itself sets ``status`` for ``service`` (so nobody may report it), or
        "" when a report is expected: stage and production statuses when relman's worker
        deploys that environment (``executor = "local"``); rollback statuses for every
        configured service (rollbacks always run on relman's worker)."""
        if service not in self._config.services:
            return ""  # seed mode: CI drives this release entirely
        if status in _ROLLBACK_STATUSES:
            return "rollbacks run on relman's worker"
        if status in _STAGE_STATUSES and self._runs_locally(service, STAGE):
            return "stage is deployed by relman's worker"
        if status in _PRODUCTION_STATUSES and self._runs_locally(service, PRODUCTION):
            return "production is deployed by relman's worker"
        return ""

    async def approved_artifact(self, release_id: int) -> tuple[str, str]:
        """The git sha and image digest ("" when none) of the release's last healthy stage
        deploy: what QA tested, bound by the approval (production refuses another)."""
        for deployment in reversed(await self._deployments.for_release(release_id)):
            if deployment.environment == STAGE and deployment.status == "succeeded":
                return deployment.git_sha, deployment.image_digest
        return "", ""

    async def _dispatch(self, release: Release) -> JobOutcome:
        """Start the production workflow on GitHub (seed 003 on-approve-manual-testing); the
        workflow deploys and reports. A refusal — or no answer: the workflow may not have
        started, and its first report would be refused anyway — fails the release with
        GitHub's message (issue "pipeline" item 4)."""
        if release.status is not S.MANUAL_TEST_PASSED:
            # A re-run after a crash: the workflow started and already reported.
            return JobOutcome(release, True)
        service = self._config.services.get(release.service_name)
        repository = service.github_repository if service else None
        try:
            if self._github is None:
                raise InvalidInput(
                    "github", "the github executor needs RELMAN_GITHUB_TOKEN to dispatch"
                )
            if not repository:
                raise InvalidInput(
                    "github_repository",
                    f"service {release.service_name} has no github_repository in relman.toml",
                )
            # Exactly the inputs the on-approve-manual-testing template declares: GitHub
            # refuses undeclared ones with 422.
            sha, _ = await self.approved_artifact(_id(release))
            inputs = {
                "release_id": str(release.id),
                "tag": release.release_tag,
                "environment": PRODUCTION,
                # the runner's deploy is refused by relman unless it asks for this commit
                "git_sha": sha,
            }
            await self._github.dispatch_workflow(
                repository, self._config.github.approve_workflow, self._config.github.ref, inputs
            )
        except RelmanError as exc:
            reason = f"workflow dispatch refused: {exc}"
            release = await self._move(release, S.DEPLOYING, SYSTEM, Source.WORKER, reason)
            release = await self._move(release, S.PRODUCTION_FAILED, SYSTEM, Source.WORKER, reason)
            await self._notify(release, detail=reason)
            return JobOutcome(release, False, reason)
        return JobOutcome(release, True)

    async def _notify(self, release: Release, *, detail: str = "", log_path: str = "") -> None:
        kind = _NOTICE_FOR.get(release.status)
        if kind is not None:
            await self._notifier.notify(Notice(kind, release, detail=detail, log_path=log_path))

    def _executor(self, service: str, environment: str) -> str | None:
        env = self._config.environments.get(environment)
        if env is None or service not in self._config.services:
            return None
        return env.executor

    def _runs_locally(self, service: str, environment: str) -> bool:
        return self._executor(service, environment) == "local"


def _id(release: Release) -> int:
    assert release.id is not None
    return release.id
