"""Incidents in the database (issue 14 item 2): ``incidents`` and ``incident_events``.

At most one open incident per (service, environment): the partial unique index refuses a
second, so two writers racing to open one end with one incident the other joins. Raises
:class:`StoreUnavailable` when the database fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relman.domain.dora import Outage
from relman.domain.errors import Conflict, NotFound
from relman.domain.incident import Incident, IncidentEvent
from relman.store.db import db_errors
from relman.store.tables import incident_events, incidents


class IncidentNotFound(NotFound):
    """No incident with this id."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found", incident_id=incident_id)


class IncidentAlreadyResolved(Conflict):
    """Closing an incident that is resolved already (its resolution would be lost)."""

    def __init__(self, incident: Incident) -> None:
        when = f"{incident.resolved_at:%Y-%m-%d %H:%M} UTC " if incident.resolved_at else ""
        super().__init__(
            f"incident {incident.id} is already resolved ({when}by {incident.resolved_by}: "
            f"{incident.resolution})",
            incident_id=incident.id,
        )


class IncidentStore:
    """Async repository of incidents."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_or_join(
        self,
        *,
        service: str,
        environment: str,
        release_id: int,
        title: str,
        text: str,
        actor: str,
        at: datetime,
    ) -> tuple[Incident, bool]:
        """Open an incident for (service, environment), or join the open one (adding
        ``release_id`` to its releases); returns it and whether it was opened."""
        for _ in range(2):  # a racing writer may open it between our read and insert
            with db_errors():
                try:
                    async with self._engine.begin() as conn:
                        row = await _open_row(conn, service, environment)
                        if row is None:
                            result = await conn.execute(
                                insert(incidents)
                                .values(
                                    service=service,
                                    environment=environment,
                                    status="open",
                                    title=title,
                                    detected_at=at,
                                    detected_by=actor,
                                    release_ids=str(release_id),
                                    updated_at=at,
                                )
                                .returning(incidents.c.id)
                            )
                            incident_id = int(result.scalar_one())
                            await _event(conn, incident_id, at, "detected", actor, text, release_id)
                            opened = True
                        else:
                            incident_id = row._mapping["id"]
                            ids = _ids(row._mapping["release_ids"])
                            if release_id not in ids:
                                ids.append(release_id)
                            await conn.execute(
                                update(incidents)
                                .where(incidents.c.id == incident_id)
                                .values(release_ids=",".join(map(str, ids)), updated_at=at)
                            )
                            await _event(conn, incident_id, at, "joined", actor, text, release_id)
                            opened = False
                except IntegrityError:
                    continue
            return await self.get(incident_id), opened
        raise RuntimeError("could not open or join an incident")  # pragma: no cover

    async def resolve_open(
        self,
        *,
        service: str,
        environment: str,
        resolution: str,
        actor: str,
        at: datetime,
        release_id: int | None = None,
    ) -> Incident | None:
        """Resolve the open incident of (service, environment) with ``resolution``;
        ``None`` when none is open."""
        with db_errors():
            async with self._engine.begin() as conn:
                row = await _open_row(conn, service, environment)
                if row is None:
                    return None
                incident_id = row._mapping["id"]
                if not await _resolve(
                    conn, incident_id, resolution, actor, at, "resolved", release_id
                ):
                    return None  # another writer resolved it between our read and update
        return await self.get(incident_id)

    async def close(
        self, incident_id: int, *, resolution: str, actor: str, at: datetime
    ) -> Incident:
        """Resolve incident ``incident_id`` by hand. Raises :class:`IncidentNotFound`,
        :class:`IncidentAlreadyResolved` (also when another writer resolved it first)."""
        with db_errors():
            async with self._engine.begin() as conn:
                resolved = await _resolve(conn, incident_id, resolution, actor, at, "closed", None)
        if not resolved:
            raise IncidentAlreadyResolved(await self.get(incident_id))
        return await self.get(incident_id)

    async def annotate(
        self, incident_id: int, *, kind: str, text: str, actor: str, at: datetime
    ) -> Incident:
        """Add a ``note``, or set the ``impact`` or the ``postmortem`` (the text replaces
        the previous one; the event keeps the history). Raises :class:`IncidentNotFound`."""
        await self.get(incident_id)
        values: dict[str, Any] = {"updated_at": at}
        if kind in ("impact", "postmortem"):
            values[kind] = text
        with db_errors():
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(incidents).where(incidents.c.id == incident_id).values(**values)
                )
                await _event(conn, incident_id, at, kind, actor, text, None)
        return await self.get(incident_id)

    async def get(self, incident_id: int) -> Incident:
        """The incident with its events, oldest first. Raises :class:`IncidentNotFound`."""
        with db_errors():
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(select(incidents).where(incidents.c.id == incident_id))
                ).first()
                if row is None:
                    raise IncidentNotFound(incident_id)
                events = (
                    await conn.execute(
                        select(incident_events)
                        .where(incident_events.c.incident_id == incident_id)
                        .order_by(incident_events.c.id)
                    )
                ).all()
        return _incident(row, events)

    async def find(
        self, *, service: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Incident]:
        """Incidents newest first (without their events)."""
        query = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
        if service is not None:
            query = query.where(incidents.c.service == service)
        if status is not None:
            query = query.where(incidents.c.status == status)
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_incident(row, []) for row in rows]

    async def outages(self, since: datetime, *, service: str | None = None) -> list[Outage]:
        """Production incidents detected after ``since`` as DORA failures."""
        query = select(incidents.c.service, incidents.c.detected_at, incidents.c.resolved_at).where(
            and_(incidents.c.environment == "production", incidents.c.detected_at > since)
        )
        if service is not None:
            query = query.where(incidents.c.service == service)
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [Outage(s, d, r) for s, d, r in rows]


async def _open_row(conn: AsyncConnection, service: str, environment: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(incidents).where(
                and_(
                    incidents.c.service == service,
                    incidents.c.environment == environment,
                    incidents.c.status == "open",
                )
            )
        )
    ).first()


async def _resolve(
    conn: AsyncConnection,
    incident_id: int,
    resolution: str,
    actor: str,
    at: datetime,
    kind: str,
    release_id: int | None,
) -> bool:
    """Resolve the incident if it is open; False (nothing written) when it is not."""
    result = await conn.execute(
        update(incidents)
        .where(and_(incidents.c.id == incident_id, incidents.c.status == "open"))
        .values(
            status="resolved",
            resolution=resolution,
            resolved_at=at,
            resolved_by=actor,
            updated_at=at,
        )
    )
    if not result.rowcount:
        return False
    await _event(conn, incident_id, at, kind, actor, resolution, release_id)
    return True


async def _event(
    conn: AsyncConnection,
    incident_id: int,
    at: datetime,
    kind: str,
    actor: str,
    text: str,
    release_id: int | None,
) -> None:
    await conn.execute(
        insert(incident_events).values(
            incident_id=incident_id,
            at=at,
            kind=kind,
            actor=actor,
            text=text[:4000],
            release_id=release_id,
        )
    )


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def _incident(row: Row[Any], events: Any) -> Incident:
    m = row._mapping
    return Incident(
        id=m["id"],
        service=m["service"],
        environment=m["environment"],
        status=m["status"],
        title=m["title"],
        detected_at=m["detected_at"],
        detected_by=m["detected_by"],
        release_ids=tuple(_ids(m["release_ids"])),
        updated_at=m["updated_at"],
        impact=m["impact"],
        resolution=m["resolution"],
        resolved_at=m["resolved_at"],
        resolved_by=m["resolved_by"],
        postmortem=m["postmortem"],
        events=tuple(
            IncidentEvent(
                at=e._mapping["at"],
                kind=e._mapping["kind"],
                actor=e._mapping["actor"],
                text=e._mapping["text"],
                release_id=e._mapping["release_id"],
            )
            for e in events
        ),
    )
