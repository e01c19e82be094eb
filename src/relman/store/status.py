"""What the deploy history says runs on each host (``relman status``), in one query.

A deployment row lists the hosts it targeted (``deployments.hosts``, comma-separated,
sorted). Per (service, environment, host) two rows matter: the newest *succeeded*
deployment (deploy or rollback) that lists the host — what runs there — and the newest
one of any status — a newer failed or running attempt, when it is not the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relman.store.db import db_errors
from relman.store.deployments import Deployment
from relman.store.tables import deployments

#: (service, environment, host) — one place something may run.
Target = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class HostHistory:
    """The two deployments of one host that its status is made of.

    ``succeeded`` is the newest succeeded deployment listing the host (``None``: it never
    had one); ``newest`` the newest deployment listing it, whatever its status (``None``:
    never deployed). They are the same row when the last attempt succeeded.
    """

    succeeded: Deployment | None
    newest: Deployment | None


class StatusStore:
    """Reads the per-host view of ``deployments``.

    Raises :class:`~relman.domain.errors.StoreUnavailable` when the database fails.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def per_host(self, targets: Sequence[Target]) -> dict[Target, HostHistory]:
        """The :class:`HostHistory` of every target, in one statement.

        For each target two scalar subqueries ``ORDER BY id DESC LIMIT 1`` on
        (service, environment) walk the index ``(service, environment, id)`` backwards
        and stop at the first row listing the host; the outer query reads those rows by
        primary key. Host names are matched exactly (case-sensitive, no wildcards)."""
        if not targets:
            return {}
        wanted: list[ColumnElement[Any]] = []
        for service, environment, host in targets:
            lists_host = and_(
                deployments.c.service == service,
                deployments.c.environment == environment,
                self._lists(host),
            )
            newest = select(deployments.c.id).where(lists_host)
            wanted.append(newest.order_by(deployments.c.id.desc()).limit(1).scalar_subquery())
            succeeded = newest.where(deployments.c.status == "succeeded")
            wanted.append(succeeded.order_by(deployments.c.id.desc()).limit(1).scalar_subquery())
        query = select(deployments).where(deployments.c.id.in_(wanted))
        with db_errors():
            async with self._engine.connect() as conn:
                rows = [_deployment(row) for row in (await conn.execute(query)).all()]
        # Every row read is the newest (succeeded) one of some target; a target's own
        # newest is then the highest id among the rows read that list its host.
        rows.sort(key=lambda d: d.id, reverse=True)
        result: dict[Target, HostHistory] = {}
        for target in targets:
            service, environment, host = target
            mine = [
                d
                for d in rows
                if d.service == service and d.environment == environment and host in d.hosts
            ]
            result[target] = HostHistory(
                succeeded=next((d for d in mine if d.status == "succeeded"), None),
                newest=mine[0] if mine else None,
            )
        return result

    def _lists(self, host: str) -> ColumnElement[bool]:
        """Whether a row's ``hosts`` (``a,b,c``) names ``host``: ``,host,`` is found in
        ``,a,b,c,`` — with ``instr`` on SQLite, ``strpos`` on PostgreSQL (LIKE would read
        ``_`` and ``%`` in a name as wildcards and, on SQLite, ignore case)."""
        haystack = literal(",") + deployments.c.hosts + literal(",")
        find = func.instr if self._engine.dialect.name == "sqlite" else func.strpos
        return find(haystack, f",{host},") > 0


def _deployment(row: Row[Any]) -> Deployment:
    m = row._mapping
    values = {f.name: m[f.name] for f in fields(Deployment)}
    values["hosts"] = [h for h in m["hosts"].split(",") if h]
    values["migrated"] = bool(m["migrated"])
    return Deployment(**values)
