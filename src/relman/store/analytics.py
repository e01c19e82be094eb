"""What the DORA figures are computed from, read from the database (issue 14 item 1), and
the commits of production deploys, written once read with git.

Reads only: ``deployments`` (production), ``releases`` + ``release_events`` (their
transitions), ``deploy_commits``, ``emergency_releases``; writes ``deploy_commits`` and
``commit_scans``. Raises :class:`StoreUnavailable` when the database fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relman.domain.dora import CommitRecord, DeployRecord, ReleaseRecord
from relman.domain.status import ReleaseStatus
from relman.store.db import db_errors
from relman.store.tables import (
    commit_scans,
    deploy_commits,
    deployments,
    emergency_releases,
    release_events,
    releases,
)

PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class Unscanned:
    """A healthy production deploy whose commits were never looked for, with the tag that
    was healthy in production before it (``None`` for the service's first)."""

    deployment_id: int
    service: str
    tag: str
    previous_tag: str | None


class AnalyticsStore:
    """Async repository of the analytics records."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def records(
        self, since: datetime, *, service: str | None = None
    ) -> tuple[list[DeployRecord], list[ReleaseRecord], list[CommitRecord]]:
        """The production deploys and rollbacks finished after ``since`` (or still
        running), the releases they belong to or that moved after ``since`` with their
        transitions, and the commits of those deploys; of ``service`` only, when given."""
        query = select(deployments).where(
            and_(
                deployments.c.environment == PRODUCTION,
                or_(deployments.c.finished_at > since, deployments.c.finished_at.is_(None)),
            )
        )
        if service is not None:
            query = query.where(deployments.c.service == service)
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query.order_by(deployments.c.id))).all()
                deploys = [
                    DeployRecord(
                        id=m["id"],
                        service=m["service"],
                        kind=m["kind"],
                        status=m["status"],
                        started_at=m["started_at"],
                        finished_at=m["finished_at"],
                        release_id=m["release_id"],
                        tag=m["tag"],
                    )
                    for m in (row._mapping for row in rows)
                ]
                moved = select(release_events.c.release_id).where(
                    and_(
                        release_events.c.created_at > since,
                        release_events.c.kind == "transition",
                    )
                )
                ids = {d.release_id for d in deploys if d.release_id is not None}
                ids.update(r for (r,) in (await conn.execute(moved.distinct())).all())
                release_query = select(releases.c.id, releases.c.service_name).where(
                    releases.c.id.in_(sorted(ids))
                )
                if service is not None:
                    release_query = release_query.where(releases.c.service_name == service)
                names = {r: n for r, n in (await conn.execute(release_query)).all()}
                events = (
                    await conn.execute(
                        select(
                            release_events.c.release_id,
                            release_events.c.to_status,
                            release_events.c.created_at,
                        )
                        .where(
                            and_(
                                release_events.c.release_id.in_(sorted(names)),
                                release_events.c.kind == "transition",
                            )
                        )
                        .order_by(release_events.c.id)
                    )
                ).all()
                emergency = {
                    r
                    for (r,) in (
                        await conn.execute(
                            select(emergency_releases.c.release_id).where(
                                emergency_releases.c.release_id.in_(sorted(names))
                            )
                        )
                    ).all()
                }
                commit_rows = (
                    await conn.execute(
                        select(deploy_commits).where(
                            deploy_commits.c.deployment_id.in_([d.id for d in deploys])
                        )
                    )
                ).all()
        transitions: dict[int, list[tuple[ReleaseStatus, datetime]]] = {r: [] for r in names}
        for release_id, to_status, at in events:
            transitions[release_id].append((ReleaseStatus(to_status), at))
        release_records = [
            ReleaseRecord(r, names[r], tuple(transitions[r]), emergency=r in emergency)
            for r in sorted(names)
        ]
        commits = [
            CommitRecord(m["deployment_id"], m["sha"], m["committed_at"])
            for m in (row._mapping for row in commit_rows)
        ]
        return deploys, release_records, commits

    async def known_services(self) -> set[str]:
        """Every service name a release was recorded for."""
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(releases.c.service_name).distinct())).all()
        return {name for (name,) in rows}

    async def unscanned(self, since: datetime, *, limit: int = 50) -> list[Unscanned]:
        """Healthy production deploys finished after ``since`` whose commits were never
        looked for, oldest first, each with the tag production ran healthy before it."""
        query = (
            select(deployments.c.id, deployments.c.service, deployments.c.tag)
            .outerjoin(commit_scans, commit_scans.c.deployment_id == deployments.c.id)
            .where(
                and_(
                    deployments.c.environment == PRODUCTION,
                    deployments.c.kind == "deploy",
                    deployments.c.status == "succeeded",
                    deployments.c.finished_at > since,
                    commit_scans.c.deployment_id.is_(None),
                )
            )
            .order_by(deployments.c.id)
            .limit(limit)
        )
        found: list[Unscanned] = []
        with db_errors():
            async with self._engine.connect() as conn:
                for deployment_id, service, tag in (await conn.execute(query)).all():
                    previous = (
                        await conn.execute(
                            select(deployments.c.tag)
                            .where(
                                and_(
                                    deployments.c.environment == PRODUCTION,
                                    deployments.c.service == service,
                                    deployments.c.status == "succeeded",
                                    deployments.c.id < deployment_id,
                                )
                            )
                            .order_by(deployments.c.id.desc())
                            .limit(1)
                        )
                    ).scalar_one_or_none()
                    found.append(Unscanned(deployment_id, service, tag, previous))
        return found

    async def save_scan(
        self,
        deployment_id: int,
        *,
        commits: Sequence[tuple[str, datetime]],
        revisions: str,
        error: str,
        at: datetime,
    ) -> None:
        """Store the commits found for a deploy and that it was scanned (once: a second
        writer's scan of the same deploy is dropped)."""
        with db_errors():
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        insert(commit_scans).values(
                            deployment_id=deployment_id,
                            revisions=revisions,
                            commits=len(commits),
                            error=error[:2000],
                            scanned_at=at,
                        )
                    )
                    if commits:
                        await conn.execute(
                            insert(deploy_commits),
                            [
                                {"deployment_id": deployment_id, "sha": sha, "committed_at": when}
                                for sha, when in commits
                            ],
                        )
            except IntegrityError:
                pass  # another replica scanned it first
