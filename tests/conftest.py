"""Shared fixtures: a real database per test (SQLite or PostgreSQL), settings, the API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Settings
from tests.support.databases import PG_DEFAULT, DatabaseFactory, PostgresServer, skip_or_fail

pytest_plugins = ["tests.support.ssh_fixtures"]

SECRET = "test-interserver-secret-Zq8"
#: The API secret that relays people's decisions (approve, reject, rollback, retry).
OPERATOR_SECRET = "test-operator-secret-0123456789abcdef"
PREFIX = "/api/tg-bot"


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    """The session's database backend (``RELMAN_TEST_DATABASE_URL`` picks PostgreSQL)."""
    url = os.environ.get("RELMAN_TEST_DATABASE_URL", "")
    pg = None
    if url:
        pg = PostgresServer(url)
        if not await pg.reachable():
            skip_or_fail(f"PostgreSQL at {url} is not reachable")
    factory = DatabaseFactory(
        "postgres" if pg else "sqlite", tmp_path_factory.mktemp("databases"), pg
    )
    yield factory
    await factory.close()


@pytest.fixture(scope="session")
async def postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    """PostgreSQL whatever the session's backend is (for tests that are about PostgreSQL)."""
    pg = PostgresServer(os.environ.get("RELMAN_TEST_DATABASE_URL") or PG_DEFAULT)
    if not await pg.reachable():
        skip_or_fail(f"PostgreSQL at {pg.admin_url} is not reachable")
    factory = DatabaseFactory("postgres", tmp_path_factory.mktemp("pg"), pg)
    yield factory
    await factory.close()


@pytest.fixture
async def database_url(databases: DatabaseFactory) -> str:
    """A fresh, migrated database for this test."""
    return await databases.fresh()


def make_settings(database_url: str, tmp_path: Path, **extra: object) -> Settings:
    """Settings for a test: its own database, files under ``tmp_path``, a known secret."""
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "operator_secret": OPERATOR_SECRET,
        "config_file": tmp_path / "relman.toml",
        "log_root": tmp_path / "logs",
        "evidence_root": tmp_path / "evidence",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    c = build(settings)
    yield c
    await c.aclose()


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The real Release API app over an in-process ASGI transport, authenticated."""
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://relman.test",
        headers={"Authorization": f"Bearer {SECRET}"},
    ) as client:
        yield client
