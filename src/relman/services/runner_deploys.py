"""Deploys run by GitHub Actions runners, locked and recorded on relman's server (issue 12
item 3).

A runner has no database of its own: ``relman ci deploy`` drives the same
:class:`~relman.services.deploys.DeployService` as relman's worker, with a ledger that
calls these functions through the Release API (:mod:`relman.ci.ledger`). So a runner's
deploy takes the same (service, environment) lock, reads the same history for its
automatic rollback, and lands in the history, the dashboard and the DORA figures.

A runner's lock cannot be checked by pid: it is *leased* for :data:`LEASE_SECONDS` and
renewed by the runner while it deploys. A runner that dies stops renewing; relman's worker
then frees the lock and fails the deploy and its release like a dead worker's job
(:meth:`relman.services.pipeline.PipelineService.recover_runners`). Every write names the
lock's ``owner`` and is refused unless that owner holds the lock now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from relman.domain.clock import Clock, utcnow
from relman.domain.errors import Conflict, InvalidInput, NotFound
from relman.services.deploys import DeployService
from relman.services.pipeline import PRODUCTION, PipelineService
from relman.services.releases import ReleaseService
from relman.store.deployments import Deployment, DeploymentKind, DeploymentStore, LockInfo

#: Seconds a runner's lock lives without a renewal. The runner renews every quarter of it,
#: so a few lost requests do not cost the lock; a dead runner's lock is freed within this
#: plus the worker's recovery interval.
LEASE_SECONDS = 60.0


class LockNotHeld(Conflict):
    """A runner wrote for a deploy whose lock it does not hold (it expired and was freed,
    was released by force, or never was its)."""

    code = "lock_not_held"


class ApprovedShaMismatch(Conflict):
    """A production deploy of a release asked for a commit other than the one QA approved
    (the sha of the release's healthy stage deploy)."""

    code = "sha_not_approved"


class DeploymentNotFound(NotFound):
    """No deploy has this id."""

    code = "deployment_not_found"


@dataclass(frozen=True, slots=True)
class RunnerOutcome:
    """What a runner reports when its deploy on the hosts ends (see
    :meth:`~relman.store.deployments.DeploymentStore.finish` for the fields)."""

    ok: bool
    migrated: bool = False
    backup_path: str = ""
    log_path: str = ""
    evidence_path: str = ""
    error: str = ""
    git_sha: str = ""
    image_digest: str = ""
    evidence_digest: str = ""


class RunnerDeploys:
    """The server's side of a runner's deploy: lease the lock, record the deploy, hand out
    the history. Raises :class:`InvalidInput` for an unknown service or environment."""

    def __init__(
        self,
        store: DeploymentStore,
        deploys: DeployService,
        releases: ReleaseService,
        pipeline: PipelineService,
        *,
        clock: Clock = utcnow,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._store = store
        self._deploys = deploys
        self._releases = releases
        self._pipeline = pipeline
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)

    async def acquire(
        self, *, service: str, environment: str, holder: str, owner: str, tag: str, reason: str
    ) -> LockInfo:
        """Lease the deploy lock of (``service``, ``environment``) to ``owner`` (who, in the
        lock, is ``holder``). Raises :class:`~relman.domain.errors.EnvironmentLocked`
        naming the holder while another deploy runs there."""
        self._deploys.target(service, environment)
        now = self._clock()
        await self._store.acquire_lock(
            service=service,
            environment=environment,
            holder=holder,
            owner=owner,
            tag=tag,
            reason=reason,
            at=now,
            expires_at=now + self._lease,
        )
        return await self._held(service, environment, owner)

    async def renew(self, *, service: str, environment: str, owner: str) -> LockInfo:
        """Move the lease of ``owner``'s lock on by :data:`LEASE_SECONDS` from now. Raises
        :class:`LockNotHeld` when the lock is no longer ``owner``'s."""
        self._deploys.target(service, environment)
        expires = self._clock() + self._lease
        if not await self._store.renew_lock(service, environment, owner=owner, expires_at=expires):
            raise _lost(service, environment)
        return await self._held(service, environment, owner)

    async def release(self, *, service: str, environment: str, owner: str) -> bool:
        """Free ``owner``'s lock; False when it was not (or no longer) ``owner``'s."""
        self._deploys.target(service, environment)
        return await self._store.release_lock(service, environment, owner=owner)

    async def lock(self, service: str, environment: str) -> LockInfo | None:
        """The lock of (``service``, ``environment``) now, or ``None``."""
        self._deploys.target(service, environment)
        return await self._store.lock(service, environment)

    async def history(self, service: str, environment: str, *, limit: int) -> list[Deployment]:
        """The deploy history there, newest first (at most ``limit`` rows)."""
        self._deploys.target(service, environment)
        return await self._store.history(service, environment, limit=limit)

    async def start(
        self,
        *,
        owner: str,
        release_id: int | None,
        service: str,
        environment: str,
        tag: str,
        kind: DeploymentKind,
        actor: str,
        hosts: list[str],
        expected_sha: str | None,
    ) -> Deployment:
        """Record a runner's deploy as running. Refused with :class:`LockNotHeld` unless
        ``owner`` holds the lock there; :class:`~relman.domain.errors.ReleaseNotFound` /
        :class:`Conflict` for a release that does not exist or is another service's;
        :class:`ApprovedShaMismatch` for a production deploy of a release whose approved
        commit is not ``expected_sha``."""
        _, env = self._deploys.target(service, environment)
        await self._held(service, environment, owner)
        unknown = sorted(set(hosts) - set(env.hosts))
        if unknown or not hosts:
            raise InvalidInput("hosts", f"not hosts of {environment}: {', '.join(unknown) or '—'}")
        if release_id is not None:
            release = await self._releases.get(release_id)
            if release.service_name != service:
                raise Conflict(f"release {release_id} is of {release.service_name}, not {service}")
            if environment == PRODUCTION and kind == "deploy":
                approved, _ = await self._pipeline.approved_artifact(release_id)
                if approved and expected_sha != approved:
                    raise ApprovedShaMismatch(
                        f"release {release_id} was approved at {approved[:12]}; this deploy "
                        f"asks for {(expected_sha or 'no sha')[:12]}: pass the dispatch's git_sha"
                    )
        deployment_id = await self._store.start(
            release_id=release_id,
            service=service,
            environment=environment,
            tag=tag,
            kind=kind,
            actor=actor,
            hosts=sorted(hosts),
            at=self._clock(),
        )
        return await self._get(deployment_id)

    async def finish(self, deployment_id: int, *, owner: str, outcome: RunnerOutcome) -> Deployment:
        """Record how a runner's deploy ended. Refused with :class:`LockNotHeld` unless
        ``owner`` holds the lock of its (service, environment), :class:`Conflict` when it
        is not running any more (e.g. already failed as interrupted),
        :class:`DeploymentNotFound` for an unknown id."""
        deployment = await self._get(deployment_id)
        await self._held(deployment.service, deployment.environment, owner)
        finished = await self._store.finish(
            deployment_id,
            ok=outcome.ok,
            at=self._clock(),
            migrated=outcome.migrated,
            backup_path=outcome.backup_path,
            log_path=outcome.log_path,
            evidence_path=outcome.evidence_path,
            error=outcome.error,
            git_sha=outcome.git_sha,
            image_digest=outcome.image_digest,
            evidence_digest=outcome.evidence_digest,
        )
        if not finished:
            raise Conflict(f"deployment {deployment_id} is {deployment.status}, not running")
        return await self._get(deployment_id)

    async def set_artifact(self, deployment_id: int, url: str) -> Deployment:
        """Record the link to the runner's uploaded log and evidence (an ``https://`` or
        ``http://`` URL). Raises :class:`InvalidInput` (``url``),
        :class:`DeploymentNotFound`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput("url", f"{url[:100]!r} is not an http(s) URL")
        if not await self._store.set_artifact(deployment_id, url):
            raise DeploymentNotFound(f"no deployment {deployment_id}")
        return await self._get(deployment_id)

    async def _get(self, deployment_id: int) -> Deployment:
        deployment = await self._store.get(deployment_id)
        if deployment is None:
            raise DeploymentNotFound(f"no deployment {deployment_id}")
        return deployment

    async def _held(self, service: str, environment: str, owner: str) -> LockInfo:
        lock = await self._store.lock(service, environment)
        if lock is None or lock.owner != owner:
            raise _lost(service, environment)
        return lock


def _lost(service: str, environment: str) -> LockNotHeld:
    return LockNotHeld(
        f"this runner does not hold the deploy lock of {service} on {environment} "
        "(its lease ran out, or it was released)"
    )
