"""The job queue of relman's own worker (the ``local`` executor).

A job is a row: ``queued`` → ``running`` (claimed by one worker, heartbeating) →
``succeeded`` / ``failed``, or ``interrupted`` when its worker stopped heartbeating. Claims
are atomic: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (several replicas share one
database) plus a conditional UPDATE, which is what makes it atomic on SQLite too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relman.store.db import db_errors
from relman.store.tables import jobs

JobKind = Literal["stage_deploy", "production_deploy", "rollback"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "interrupted"]


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue for ``release_id``; ``payload`` is JSON-safe (tag, sha, hosts…)."""

    kind: JobKind
    release_id: int
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job. Times are timezone-aware UTC."""

    id: int
    kind: JobKind
    release_id: int
    payload: Mapping[str, Any]
    status: JobStatus
    owner: str
    error: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


async def insert_job(conn: AsyncConnection, job: NewJob, *, at: datetime) -> int:
    """Queue ``job`` inside the caller's transaction (so the release's status change and
    its job commit together or not at all); returns the job id."""
    result = await conn.execute(
        insert(jobs)
        .values(
            kind=job.kind,
            release_id=job.release_id,
            payload=json.dumps(dict(job.payload), sort_keys=True),
            status="queued",
            created_at=at,
        )
        .returning(jobs.c.id)
    )
    return int(result.scalar_one())


class JobStore:
    """Async repository over ``jobs``. Raises :class:`StoreUnavailable` on database errors."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, owner: str, *, at: datetime) -> Job | None:
        """Take the oldest queued job for ``owner`` (it becomes ``running``), or ``None``.

        Of several workers racing for one job exactly one gets it.
        """
        with db_errors():
            for _ in range(5):  # lost races on SQLite: try the next queued job
                async with self._engine.begin() as conn:
                    job_id = (
                        await conn.execute(
                            select(jobs.c.id)
                            .where(
                                and_(
                                    jobs.c.status == "queued",
                                    or_(jobs.c.not_before.is_(None), jobs.c.not_before <= at),
                                )
                            )
                            .order_by(jobs.c.id)
                            .limit(1)
                            .with_for_update(skip_locked=True)
                        )
                    ).scalar()
                    if job_id is None:
                        return None
                    taken = await conn.execute(
                        update(jobs)
                        .where(and_(jobs.c.id == job_id, jobs.c.status == "queued"))
                        .values(status="running", owner=owner, started_at=at, heartbeat_at=at)
                    )
                    if taken.rowcount == 1:
                        row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
                        return _job(row)
        return None

    async def heartbeat(self, job_id: int, owner: str, *, at: datetime) -> bool:
        """Prove ``owner`` still runs ``job_id``; False when the job is no longer its own
        (it was marked interrupted meanwhile)."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(jobs).where(_running_by(job_id, owner)).values(heartbeat_at=at)
                )
        return bool(result.rowcount == 1)

    async def finish(
        self, job_id: int, owner: str, *, ok: bool, at: datetime, error: str = ""
    ) -> bool:
        """Mark ``owner``'s running job succeeded or failed; False if it was not running
        under ``owner`` any more."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(jobs)
                    .where(_running_by(job_id, owner))
                    .values(status="succeeded" if ok else "failed", finished_at=at, error=error)
                )
        return bool(result.rowcount == 1)

    async def requeue(self, job_id: int, owner: str, *, not_before: datetime, reason: str) -> bool:
        """Put ``owner``'s running job back in the queue, not to be claimed before
        ``not_before`` (its environment was locked by another deploy); False if it was not
        running under ``owner`` any more."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(jobs)
                    .where(_running_by(job_id, owner))
                    .values(
                        status="queued",
                        owner="",
                        started_at=None,
                        heartbeat_at=None,
                        not_before=not_before,
                        error=reason[:2000],
                    )
                )
        return bool(result.rowcount == 1)

    async def stale(self, *, heartbeat_before: datetime) -> list[Job]:
        """Running jobs whose last heartbeat is older than ``heartbeat_before``."""
        query = (
            select(jobs)
            .where(and_(jobs.c.status == "running", jobs.c.heartbeat_at < heartbeat_before))
            .order_by(jobs.c.id)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_job(row) for row in rows]

    async def interrupt(self, job: Job, *, at: datetime, error: str) -> bool:
        """Mark a stale running ``job`` interrupted; False when it moved on meanwhile (its
        worker heartbeated or finished, or another replica marked it first)."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(jobs)
                    .where(
                        and_(
                            jobs.c.id == job.id,
                            jobs.c.status == "running",
                            jobs.c.heartbeat_at == job.heartbeat_at,
                        )
                    )
                    .values(status="interrupted", finished_at=at, error=error)
                )
        return bool(result.rowcount == 1)

    async def for_release(self, release_id: int) -> list[Job]:
        """The jobs of a release, oldest first."""
        query = select(jobs).where(jobs.c.release_id == release_id).order_by(jobs.c.id)
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_job(row) for row in rows]


def _running_by(job_id: int, owner: str) -> ColumnElement[bool]:
    """The job ``job_id`` while ``owner`` runs it."""
    return and_(jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.status == "running")


def _job(row: Row[Any]) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        kind=m["kind"],
        release_id=m["release_id"],
        payload=json.loads(m["payload"] or "{}"),
        status=m["status"],
        owner=m["owner"],
        error=m["error"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        heartbeat_at=m["heartbeat_at"],
        finished_at=m["finished_at"],
    )
