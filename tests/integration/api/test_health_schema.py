"""``/health`` tells the truth about the schema (issue 15 item 6), and migrations run once
when several relman processes start at the same time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import text

from relman.api.app import create_app
from relman.bootstrap import build
from relman.store.db import create_engine, current_revision, head_revision, upgrade
from tests.conftest import PREFIX, make_settings
from tests.e2e.test_serve import RELMAN, clean_env
from tests.support.databases import DatabaseFactory


async def health(database_url: str, tmp_path: Path) -> httpx.Response:
    container = build(make_settings(database_url, tmp_path))
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(f"{PREFIX}/health")
    finally:
        await container.aclose()


async def test_health_is_503_schema_missing_on_a_never_migrated_database(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.empty()
    response = await health(url, tmp_path)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["schema"] == "missing"


async def test_health_is_503_schema_outdated_one_revision_behind(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.empty()
    engine = create_engine(url)
    try:
        await upgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
    finally:
        await engine.dispose()
    response = await health(url, tmp_path)
    assert response.status_code == 503, response.text
    assert response.json()["schema"] == "outdated"


async def test_health_is_200_schema_current_once_migrated(
    database_url: str, tmp_path: Path
) -> None:
    response = await health(database_url, tmp_path)
    assert response.status_code == 200, response.text
    assert response.json()["schema"] == "current"
    assert response.json()["database"] == "ok"


async def race_upgrades(url: str, count: int, cwd: Path) -> None:
    """Start ``count`` ``relman db upgrade`` processes at once on ``url``: every one must
    succeed and the database end at the head revision, once."""
    procs = [
        await asyncio.create_subprocess_exec(
            RELMAN,
            "db",
            "upgrade",
            cwd=cwd,
            env=clean_env(RELMAN_DATABASE_URL=url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(proc.communicate() for proc in procs)), timeout=90
    )
    said = "\n".join(out.decode() for out, _ in outputs)
    assert [proc.returncode for proc in procs] == [0] * count, said
    engine = create_engine(url)
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [row[0] for row in rows] == [head_revision()]
    finally:
        await engine.dispose()


async def test_replicas_migrating_one_postgresql_database_at_once_all_succeed(
    postgres: DatabaseFactory, tmp_path: Path
) -> None:
    await race_upgrades(await postgres.empty(), 3, tmp_path)


async def test_processes_migrating_one_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    await race_upgrades(f"sqlite+aiosqlite:///{tmp_path / 'relman.db'}", 3, tmp_path)
