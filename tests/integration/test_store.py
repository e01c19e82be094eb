"""The store on a real database: migrations, the append-only audit trail, racing writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

import relman.store
from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.store.db import create_engine, current_revision, upgrade
from relman.store.tables import release_events, releases
from tests.conftest import SECRET, make_settings
from tests.support.api import PREFIX, create_release, patch_status
from tests.support.databases import DatabaseFactory


def _newest_migration() -> str:
    """The revision of the highest-numbered file in the migrations folder."""
    folder = Path(relman.store.__file__).parent / "migrations" / "versions"
    return max(path.name.split("_", 1)[0] for path in folder.glob("[0-9]*_*.py"))


async def test_migrations_build_the_seed_table_from_nothing(databases: DatabaseFactory) -> None:
    engine = create_engine(await databases.empty())
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        await upgrade(engine)  # a second run is a no-op
        assert await current_revision(engine) == _newest_migration()
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: [c["name"] for c in inspect(sync).get_columns("releases")]
            )
        assert columns == [
            "id",
            "service_name",
            "release_tag",
            "rollback_to_tag",
            "status",
            "initiated_by",
            "github_run_id",
            "github_action_link",
            "github_ref",
            "created_at",
            "started_at",
            "completed_at",
        ]
    finally:
        await engine.dispose()


async def test_audit_rows_cannot_be_changed_or_deleted(
    api: httpx.AsyncClient, container: Container
) -> None:
    await create_release(api)
    for statement in (update(release_events).values(actor="mallory"), delete(release_events)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with container.engine.begin() as conn:
                await conn.execute(statement)
    async with container.engine.connect() as conn:
        actors = (await conn.execute(select(release_events.c.actor))).scalars().all()
    assert actors == ["developer_name"]


async def test_status_must_be_known_to_the_database(container: Container) -> None:
    with pytest.raises(IntegrityError):
        async with container.engine.begin() as conn:
            await conn.execute(
                releases.insert().values(
                    service_name="s",
                    release_tag="v1.0.0",
                    status="shipped",
                    initiated_by="x",
                    github_run_id="1",
                    github_action_link="",
                    github_ref="",
                )
            )


async def race_twenty_patches(api: httpx.AsyncClient, container: Container, run: int = 1) -> None:
    rid = (await create_release(api, github_run_id=f"race-{run}"))["id"]
    for status in ("building", "stage_deploy"):
        assert (await patch_status(api, rid, status)).status_code == 200
    responses = await asyncio.gather(
        *(patch_status(api, rid, "manual_testing", actor=f"racer-{n}") for n in range(20))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["current_status"] == "manual_testing"
    async with container.engine.connect() as conn:
        n = (
            await conn.execute(
                select(func.count())
                .select_from(release_events)
                .where(
                    release_events.c.release_id == rid,
                    release_events.c.to_status == "manual_testing",
                )
            )
        ).scalar()
    assert n == 1


async def test_twenty_racing_patches_make_one_audit_row(
    api: httpx.AsyncClient, container: Container
) -> None:
    await race_twenty_patches(api, container)


@pytest.mark.postgres
async def test_twenty_racing_patches_on_postgresql(postgres: DatabaseFactory, tmp_path) -> None:
    container = build(make_settings(await postgres.fresh(), tmp_path))
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {SECRET}"}
    ) as client:
        for run in range(3):
            await race_twenty_patches(client, container, run)
        async with container.engine.connect() as conn:
            assert (await conn.execute(text("SELECT version()"))).scalar().startswith("PostgreSQL")
    await container.aclose()


async def test_racing_creates_of_one_run_make_one_release(
    api: httpx.AsyncClient, container: Container
) -> None:
    body = {
        "service_name": "svc",
        "release_tag": "v2.0.0",
        "initiated_by": "dev",
        "github_run_id": "77",
        "github_action_link": "",
        "github_ref": "refs/tags/v2.0.0",
    }
    responses = await asyncio.gather(*(api.post(f"{PREFIX}/release", json=body) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with container.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(releases))).scalar() == 1
        assert (await conn.execute(select(func.count()).select_from(release_events))).scalar() == 1


async def test_store_errors_hide_the_dsn(tmp_path) -> None:
    from relman.domain.errors import StoreUnavailable

    container = build(make_settings("postgresql+asyncpg://u:hunter2@127.0.0.1:1/x", tmp_path))
    with pytest.raises(StoreUnavailable) as info:
        await container.releases.get(1)
    assert "hunter2" not in str(info.value) and "127.0.0.1" not in str(info.value)
    await container.aclose()
