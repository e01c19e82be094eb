"""The releases page's queries (issue 13 item 5): migration 0009's indexes exist, and a
group of several statuses — read as the newest releases of each status, merged — pages
through exactly the releases one ``status IN (…)`` would, newest first, with a service and
a cursor. On SQLite and, with ``RELMAN_TEST_DATABASE_URL``, PostgreSQL. The timings
themselves are measured by hand (``benchmarks/dashboard_releases.py``), not here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, inspect

from relman.bootstrap import Container
from relman.domain.status import FAILED, GROUPS, ReleaseStatus
from relman.store.db import create_engine, upgrade
from relman.store.releases import ReleaseStore
from relman.store.tables import releases
from tests.support.databases import DatabaseFactory

S = ReleaseStatus
#: A status per release id 1..40, cycling so that each status's newest rows interleave.
CYCLE = [S.DEPLOYED, S.STAGING_FAILED, S.MANUAL_TESTING, S.PRODUCTION_FAILED, S.DEPLOYED]


async def test_migration_0009_adds_the_dashboard_indexes(databases: DatabaseFactory) -> None:
    engine = create_engine(await databases.empty())
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda sync: {
                    i["name"]: list(i["column_names"])
                    for i in inspect(sync).get_indexes("releases")
                }
            )
    finally:
        await engine.dispose()
    assert indexes["ix_releases_service_name_id"] == ["service_name", "id"]
    assert indexes["ix_releases_service_name_status_release_tag"] == [
        "service_name",
        "status",
        "release_tag",
    ]


async def _fill(container: Container) -> list[tuple[int, str, ReleaseStatus]]:
    """Releases 1..40 of two services with interleaved statuses; (id, service, status)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = [(n, "shop" if n % 3 else "api", CYCLE[n % len(CYCLE)]) for n in range(1, 41)]
    rows = [
        {
            "id": n,
            "service_name": service,
            "release_tag": f"v1.{n}.0",
            "status": status.value,
            "initiated_by": "dev",
            "github_run_id": str(n),
            "github_action_link": "",
            "github_ref": f"refs/tags/v1.{n}.0",
            "created_at": start + timedelta(minutes=n),
            "started_at": start + timedelta(minutes=n),
        }
        for n, service, status in made
    ]
    async with container.engine.begin() as conn:
        await conn.execute(insert(releases), rows)
    return made


async def test_several_statuses_page_newest_first_like_one_in_query(
    container: Container,
) -> None:
    made = await _fill(container)
    store = ReleaseStore(container.engine)
    cases: list[tuple[str | None, frozenset[ReleaseStatus] | None]] = [
        (service, statuses)
        for service in (None, "shop", "api")
        for statuses in (
            GROUPS["failed"],
            GROUPS["active"],
            frozenset({S.DEPLOYED, S.MANUAL_TESTING}),
            frozenset({S.ROLLBACK_FAILED, S.ROLLBACK_DONE}),  # none of these exist
            frozenset({S.STAGING_FAILED}),
            frozenset(),
            None,
        )
    ]
    for service, statuses in cases:
        expected = [
            n
            for n, name, status in reversed(made)
            if (statuses is None or status in statuses) and service in (None, name)
        ]
        seen: list[int] = []
        before: int | None = None
        for _ in range(30):
            page = await store.list(service=service, statuses=statuses, limit=3, before_id=before)
            seen += [r.id for r in page if r.id is not None]
            if len(page) < 3:
                break
            before = page[-1].id
        assert seen == expected, (service, statuses)


async def test_the_releases_service_pages_a_group(container: Container) -> None:
    made = await _fill(container)
    first = await container.releases.list(group="failed", service="shop", limit=2)
    second = await container.releases.list(
        group="failed", service="shop", limit=2, cursor=first.next_cursor
    )
    failed_shop = [n for n, name, s in reversed(made) if name == "shop" and s in FAILED]
    assert [r.id for r in first.releases + second.releases] == failed_shop[:4]
