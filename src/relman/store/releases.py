"""The release repository: loads and saves :class:`~relman.domain.release.Release`.

A status change and its audit row are written in one transaction, and the UPDATE is
conditional on the status the change was decided from, so of several racing writers
exactly one wins (DESIGN.md §5: "nothing deployed twice").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    false,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relman.domain.errors import Conflict, ReleaseNotFound
from relman.domain.release import Release, ReleaseEvent, Source
from relman.domain.status import ReleaseStatus
from relman.store.db import db_errors
from relman.store.jobs import NewJob, insert_job
from relman.store.tables import emergency_releases, release_events, releases


class StaleRelease(Conflict):
    """The release changed status after it was read; the caller should re-read it."""


class ReleaseStore:
    """Async repository over the ``releases`` and ``release_events`` tables.

    Every method raises :class:`StoreUnavailable` when the database fails, with the
    driver's error kind but never the connection string.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, release: Release, event: ReleaseEvent) -> tuple[Release, bool]:
        """Insert a new release with its creation event.

        Returns ``(release, True)`` with the id filled in, or ``(existing, False)`` when a
        release with the same (service_name, release_tag, github_run_id) already exists
        (CI retried the call).
        """
        with db_errors():
            try:
                async with self._engine.begin() as conn:
                    release_id = await _insert_release(conn, release)
                    await _insert_event(conn, release_id, event)
                    if release.emergency_reason:
                        await _insert_emergency(conn, release_id, release, event)
            except IntegrityError:
                existing = await self._find_same_run(release)
                if existing is None:  # pragma: no cover - the unique key is the only one
                    raise
                return existing, False
        release.id = release_id
        release.events = [_with_release_id(event, release_id)]
        return release, True

    async def get(self, release_id: int, *, with_events: bool = False) -> Release:
        """The release with ``release_id`` (and its audit events, oldest first, if asked).

        Raises :class:`ReleaseNotFound`.
        """
        with db_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(_select().where(releases.c.id == release_id))).first()
                if row is None:
                    raise ReleaseNotFound(release_id)
                release = _release_from_row(row)
                if with_events:
                    release.events = await _events(conn, release_id)
        return release

    async def save_transition(
        self,
        release: Release,
        event: ReleaseEvent,
        *,
        expected: ReleaseStatus,
        job: NewJob | None = None,
    ) -> int | None:
        """Persist ``release``'s new status (and times, rollback tag) with ``event`` and,
        when given, queue ``job`` in the same transaction; returns the job id.

        The write only happens if the stored status is still ``expected``; otherwise
        nothing is written (no event, no job) and :class:`StaleRelease` is raised.
        """
        assert release.id is not None
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(releases)
                    .where(and_(releases.c.id == release.id, releases.c.status == expected))
                    .values(
                        status=release.status.value,
                        rollback_to_tag=release.rollback_to_tag,
                        started_at=release.started_at,
                        completed_at=release.completed_at,
                    )
                )
                if result.rowcount != 1:
                    raise StaleRelease(f"release {release.id} changed while being updated")
                await _insert_event(conn, release.id, event)
                if job is not None:
                    return await insert_job(conn, job, at=event.created_at)
        return None

    async def add_event(self, event: ReleaseEvent) -> None:
        """Append an audit event that changes nothing else (a refused action)."""
        assert event.release_id is not None
        with db_errors():
            async with self._engine.begin() as conn:
                await _insert_event(conn, event.release_id, event)

    async def current_deployed(self, service: str, *, tag: str | None = None) -> Release | None:
        """Of ``service``'s ``deployed`` releases (of ``tag``, when given), the one that
        reached ``deployed`` last (a newer one supersedes it — DESIGN.md §1)."""
        query = (
            _select()
            .where(
                and_(
                    releases.c.service_name == service,
                    releases.c.status == ReleaseStatus.DEPLOYED.value,
                )
            )
            .order_by(releases.c.completed_at.desc(), releases.c.id.desc())
            .limit(1)
        )
        if tag is not None:
            query = query.where(releases.c.release_tag == tag)
        with db_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return None if row is None else _release_from_row(row)

    async def list(
        self,
        *,
        service: str | None = None,
        statuses: Collection[ReleaseStatus] | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Release]:
        """Releases newest first (by id), filtered by service and statuses.

        ``before_id`` is the keyset cursor: only releases with a smaller id are returned.
        Several statuses (a group) are read as the newest ``limit`` of each, merged: one
        ``status IN (…)`` made SQLite sort every matching release first (benchmarks/
        dashboard_releases.py, issue 13 item 5); each status is one range of the
        (status, id) or (service_name, status, id) index.
        """
        common: list[ColumnElement[bool]] = []
        if service is not None:
            common.append(releases.c.service_name == service)
        if before_id is not None:
            common.append(releases.c.id < before_id)
        query = _select().where(*common).order_by(releases.c.id.desc()).limit(limit)
        if statuses is not None and len(statuses) <= 1:
            wanted = [s.value for s in statuses]
            query = query.where(releases.c.status == wanted[0] if wanted else false())
        elif statuses is not None:
            newest = union_all(
                *(
                    select(part.c.id)
                    for part in (
                        select(releases.c.id)
                        .where(*common, releases.c.status == value)
                        .order_by(releases.c.id.desc())
                        .limit(limit)
                        .subquery()
                        for value in sorted(s.value for s in statuses)
                    )
                )
            ).subquery()
            query = query.where(releases.c.id.in_(select(newest.c.id)))
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_release_from_row(row) for row in rows]

    async def count(self, *, statuses: Collection[ReleaseStatus] | None = None) -> int:
        """How many releases have one of ``statuses`` (all releases when ``None``)."""
        query = select(func.count()).select_from(releases)
        if statuses is not None:
            query = query.where(releases.c.status.in_([s.value for s in statuses]))
        with db_errors():
            async with self._engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())

    async def _find_same_run(self, release: Release) -> Release | None:
        query = _select().where(
            and_(
                releases.c.service_name == release.service_name,
                releases.c.release_tag == release.release_tag,
                releases.c.github_run_id == release.github_run_id,
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _release_from_row(row)


def _select() -> Select[Any]:
    """``releases`` rows with their emergency reason (``NULL`` for an ordinary release)."""
    return select(releases, emergency_releases.c.reason.label("emergency_reason")).select_from(
        releases.outerjoin(emergency_releases, emergency_releases.c.release_id == releases.c.id)
    )


async def _insert_emergency(
    conn: AsyncConnection, release_id: int, release: Release, event: ReleaseEvent
) -> None:
    """The emergency record of a new release, in its creation's transaction (who asked,
    why, when: the creation event's actor and time)."""
    await conn.execute(
        insert(emergency_releases).values(
            release_id=release_id,
            reason=release.emergency_reason,
            actor=event.actor,
            at=event.created_at,
        )
    )


async def _insert_release(conn: AsyncConnection, release: Release) -> int:
    result = await conn.execute(
        insert(releases)
        .values(
            service_name=release.service_name,
            release_tag=release.release_tag,
            rollback_to_tag=release.rollback_to_tag,
            status=release.status.value,
            initiated_by=release.initiated_by,
            github_run_id=release.github_run_id,
            github_action_link=release.github_action_link,
            github_ref=release.github_ref,
            created_at=release.created_at,
            started_at=release.started_at,
            completed_at=release.completed_at,
        )
        .returning(releases.c.id)
    )
    return int(result.scalar_one())


async def _insert_event(conn: AsyncConnection, release_id: int, event: ReleaseEvent) -> None:
    await conn.execute(
        insert(release_events).values(
            release_id=release_id,
            from_status=None if event.from_status is None else event.from_status.value,
            to_status=event.to_status.value,
            actor=event.actor,
            source=event.source.value,
            note=event.note,
            created_at=event.created_at,
            kind=event.kind,
        )
    )


async def _events(conn: AsyncConnection, release_id: int) -> list[ReleaseEvent]:
    rows = (
        await conn.execute(
            select(release_events)
            .where(release_events.c.release_id == release_id)
            .order_by(release_events.c.id)
        )
    ).all()
    return [_event_from_row(row) for row in rows]


def _release_from_row(row: Row[Any]) -> Release:
    m = row._mapping
    return Release(
        id=m["id"],
        service_name=m["service_name"],
        release_tag=m["release_tag"],
        rollback_to_tag=m["rollback_to_tag"] or "",
        status=ReleaseStatus(m["status"]),
        initiated_by=m["initiated_by"],
        github_run_id=m["github_run_id"],
        github_action_link=m["github_action_link"],
        github_ref=m["github_ref"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        emergency_reason=m["emergency_reason"] or "",
    )


def _event_from_row(row: Row[Any]) -> ReleaseEvent:
    m = row._mapping
    return ReleaseEvent(
        id=m["id"],
        release_id=m["release_id"],
        from_status=None if m["from_status"] is None else ReleaseStatus(m["from_status"]),
        to_status=ReleaseStatus(m["to_status"]),
        actor=m["actor"],
        source=Source(m["source"]),
        note=m["note"],
        created_at=m["created_at"],
        kind=m["kind"],
    )


def _with_release_id(event: ReleaseEvent, release_id: int) -> ReleaseEvent:
    return ReleaseEvent(
        release_id=release_id,
        from_status=event.from_status,
        to_status=event.to_status,
        actor=event.actor,
        source=event.source,
        note=event.note,
        created_at=event.created_at,
    )
