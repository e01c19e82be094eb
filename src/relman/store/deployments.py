"""Deploy history and the per-(service, environment) deploy lock, in the database.

The history answers "what was last deployed and healthy here?" (the default rollback
target) and "did the deploy being undone run a migration?" (whether to restore the
backup). The lock row makes a second concurrent deploy fail at once, naming the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relman.domain.errors import EnvironmentLocked
from relman.store.db import db_errors
from relman.store.tables import deploy_locks, deployments

DeploymentKind = Literal["deploy", "rollback"]
DeploymentStatus = Literal["running", "succeeded", "failed"]

#: How the ``owner`` of a maintenance lock (``relman lock acquire``) begins. A relman
#: process's lock is owned by ``machine:pid:…`` and a runner's by its leased id; a
#: maintenance lock has no process that could die and no lease that could run out, so the
#: stale-lock checks (a dead pid, an expired lease, the worker's recovery) never free it.
MAINTENANCE_OWNER = "maintenance:"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deploy or rollback of ``service`` to ``environment`` (a row of the history)."""

    id: int
    release_id: int | None
    service: str
    environment: str
    tag: str
    kind: DeploymentKind
    status: DeploymentStatus
    actor: str
    hosts: list[str]
    migrated: bool
    backup_path: str
    log_path: str
    evidence_path: str
    error: str
    started_at: datetime
    finished_at: datetime | None
    git_sha: str = ""
    image_digest: str = ""
    artifact_url: str = ""
    evidence_digest: str = ""


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the deploy lock of a (service, environment), and since when (UTC)."""

    service: str
    environment: str
    holder: str
    owner: str
    tag: str
    reason: str
    acquired_at: datetime
    #: A runner's lease (UTC): the lock is stale after it; ``None`` for a relman process.
    expires_at: datetime | None = None

    @property
    def maintenance(self) -> bool:
        """Whether a person holds it for maintenance (``relman lock acquire``): never
        stale, freed only by ``relman lock release``."""
        return self.owner.startswith(MAINTENANCE_OWNER)

    def expired(self, now: datetime) -> bool:
        """Whether this is a runner's lock whose lease ran out before ``now``."""
        return self.expires_at is not None and self.expires_at < now

    def refusal(self) -> EnvironmentLocked:
        """The error telling a second deploy who holds this lock, since when (UTC, to the
        second) and, for a maintenance lock, why."""
        at = self.acquired_at
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return EnvironmentLocked(
            self.service,
            self.environment,
            self.holder,
            f"{at:%Y-%m-%d %H:%M:%S} UTC",
            self.tag,
            reason=self.reason,
            maintenance=self.maintenance,
        )


class DeploymentStore:
    """Async repository over ``deployments`` and ``deploy_locks``.

    Raises :class:`StoreUnavailable` (without the DSN) when the database fails.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def start(
        self,
        *,
        release_id: int | None,
        service: str,
        environment: str,
        tag: str,
        kind: DeploymentKind,
        actor: str,
        hosts: list[str],
        at: datetime,
    ) -> int:
        """Record a deploy as ``running``; returns its id."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    insert(deployments)
                    .values(
                        release_id=release_id,
                        service=service,
                        environment=environment,
                        tag=tag,
                        kind=kind,
                        status="running",
                        actor=actor,
                        hosts=",".join(hosts),
                        started_at=at,
                    )
                    .returning(deployments.c.id)
                )
                return int(result.scalar_one())

    async def finish(
        self,
        deployment_id: int,
        *,
        ok: bool,
        at: datetime,
        migrated: bool = False,
        backup_path: str = "",
        log_path: str = "",
        evidence_path: str = "",
        error: str = "",
        git_sha: str = "",
        image_digest: str = "",
        evidence_digest: str = "",
    ) -> bool:
        """Record the outcome of a running deploy (``git_sha``: the commit deployed;
        ``image_digest``: the image a registry-mode compose deploy ran;
        ``evidence_digest``: SHA-256 of the evidence's ``SHA256SUMS``). Returns False when
        no running deploy has that id (it was finished already, e.g. as interrupted)."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(deployments)
                    .where(deployments.c.id == deployment_id, deployments.c.status == "running")
                    .values(
                        status="succeeded" if ok else "failed",
                        finished_at=at,
                        migrated=migrated,
                        backup_path=backup_path,
                        log_path=log_path,
                        evidence_path=evidence_path,
                        error=error[:2000],
                        git_sha=git_sha,
                        image_digest=image_digest,
                        evidence_digest=evidence_digest,
                    )
                )
        return bool(result.rowcount)

    async def get(self, deployment_id: int) -> Deployment | None:
        """One deploy of the history, or ``None``."""
        query = select(deployments).where(deployments.c.id == deployment_id)
        with db_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return None if row is None else _deployment(row)

    async def set_artifact(self, deployment_id: int, url: str) -> bool:
        """Record where a runner uploaded the deploy's log and evidence; False when no
        deploy has that id."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(deployments)
                    .where(deployments.c.id == deployment_id)
                    .values(artifact_url=url)
                )
        return bool(result.rowcount)

    async def break_expired_lock(
        self, lock: LockInfo, *, at: datetime, error: str
    ) -> list[Deployment] | None:
        """Free ``lock`` if its lease is still out at ``at`` and mark the running deploys of
        its (service, environment) failed with ``error``, in one transaction (so neither a
        late renewal nor a new deploy can slip in between). Returns those deploys as they
        were, or ``None`` when the lock was renewed or freed meanwhile."""
        held = and_(
            deploy_locks.c.service == lock.service,
            deploy_locks.c.environment == lock.environment,
            deploy_locks.c.owner == lock.owner,
            deploy_locks.c.expires_at < at,
        )
        running = and_(
            deployments.c.service == lock.service,
            deployments.c.environment == lock.environment,
            deployments.c.status == "running",
        )
        with db_errors():
            async with self._engine.begin() as conn:
                if not (await conn.execute(delete(deploy_locks).where(held))).rowcount:
                    return None
                rows = (await conn.execute(select(deployments).where(running))).all()
                await conn.execute(
                    update(deployments)
                    .where(running)
                    .values(status="failed", finished_at=at, error=error[:2000])
                )
        return [_deployment(row) for row in rows]

    async def history(self, service: str, environment: str, *, limit: int = 50) -> list[Deployment]:
        """Deploys of ``service`` to ``environment``, newest first."""
        query = (
            select(deployments)
            .where(and_(deployments.c.service == service, deployments.c.environment == environment))
            .order_by(deployments.c.id.desc())
            .limit(limit)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_deployment(row) for row in rows]

    async def for_release(self, release_id: int) -> list[Deployment]:
        """Deploys done for a release, oldest first."""
        query = (
            select(deployments)
            .where(deployments.c.release_id == release_id)
            .order_by(deployments.c.id)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_deployment(row) for row in rows]

    async def acquire_lock(
        self,
        *,
        service: str,
        environment: str,
        holder: str,
        owner: str,
        tag: str,
        reason: str,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> None:
        """Take the deploy lock, or raise :class:`EnvironmentLocked` naming its holder.

        ``expires_at`` (UTC) leases it: a runner's lock, stale after that time unless
        :meth:`renew_lock` moves it on."""
        # Two tries: the holder may release between our refused insert and our read.
        for _ in range(2):
            with db_errors():
                try:
                    async with self._engine.begin() as conn:
                        await conn.execute(
                            insert(deploy_locks).values(
                                service=service,
                                environment=environment,
                                holder=holder,
                                owner=owner,
                                tag=tag,
                                reason=reason,
                                acquired_at=at,
                                expires_at=expires_at,
                            )
                        )
                    return
                except IntegrityError:
                    pass
            held = await self.lock(service, environment)
            if held is not None:
                raise held.refusal()
        raise EnvironmentLocked(service, environment, "another deploy", "just now", tag)

    async def lock(self, service: str, environment: str) -> LockInfo | None:
        """The current lock of (service, environment), or ``None``."""
        query = select(deploy_locks).where(
            and_(deploy_locks.c.service == service, deploy_locks.c.environment == environment)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            return None
        return LockInfo(**row._mapping)

    async def renew_lock(
        self, service: str, environment: str, *, owner: str, expires_at: datetime
    ) -> bool:
        """Move a leased lock's expiry to ``expires_at``; False when ``owner`` no longer
        holds it (it expired and was freed, or was released by force)."""
        condition = and_(
            deploy_locks.c.service == service,
            deploy_locks.c.environment == environment,
            deploy_locks.c.owner == owner,
        )
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(deploy_locks).where(condition).values(expires_at=expires_at)
                )
        return bool(result.rowcount)

    async def expired_locks(self, now: datetime) -> list[LockInfo]:
        """The leased locks whose lease ran out before ``now``."""
        query = select(deploy_locks).where(
            deploy_locks.c.expires_at.is_not(None), deploy_locks.c.expires_at < now
        )
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [LockInfo(**row._mapping) for row in rows]

    async def release_lock(
        self, service: str, environment: str, *, owner: str | None = None
    ) -> bool:
        """Free the lock (only if ``owner`` holds it, when given). True if a row went."""
        condition = and_(
            deploy_locks.c.service == service, deploy_locks.c.environment == environment
        )
        if owner is not None:
            condition = and_(condition, deploy_locks.c.owner == owner)
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(deploy_locks).where(condition))
        return bool(result.rowcount)


def _deployment(row: Row[Any]) -> Deployment:
    m = row._mapping
    return Deployment(
        id=m["id"],
        release_id=m["release_id"],
        service=m["service"],
        environment=m["environment"],
        tag=m["tag"],
        kind=m["kind"],
        status=m["status"],
        actor=m["actor"],
        hosts=[h for h in m["hosts"].split(",") if h],
        migrated=bool(m["migrated"]),
        backup_path=m["backup_path"],
        log_path=m["log_path"],
        evidence_path=m["evidence_path"],
        error=m["error"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        git_sha=m["git_sha"],
        image_digest=m["image_digest"],
        artifact_url=m["artifact_url"],
        evidence_digest=m["evidence_digest"],
    )
