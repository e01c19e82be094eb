"""Engines and schema migrations.

SQLite (aiosqlite) is the embedded default; PostgreSQL uses asyncpg. Alembic migrations
ship inside the package (``relman/store/migrations``) and run on a live async engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relman.config import redact_url
from relman.domain.errors import ConfigError, StoreUnavailable

if TYPE_CHECKING:
    # Alembic is imported where migrations run: every other command starts without it.
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``).

    SQLite gets foreign keys on, WAL journaling and a busy timeout (seconds) so the API,
    the CLI and the worker can share one file. Raises :class:`ConfigError` for a URL with
    an unsupported driver.
    """
    if url.startswith("sqlite+aiosqlite://"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql+asyncpg://"):
        return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ConfigError(
        f"unsupported database URL {redact_url(url)!r}: use sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER@HOST/DB"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raises :class:`StoreUnavailable` (without the DSN) on failure."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from None


def _alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (default: the newest).

    Raises :class:`StoreUnavailable` when the database cannot be reached.
    """
    from alembic import command

    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(
            f"database migration failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _first_line(exc: BaseException) -> str:
    # Driver messages can be long; the first line says what went wrong and holds no DSN.
    return str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else ""


#: What a database call can fail with: SQLAlchemy's errors, and OSError from a driver that
#: cannot connect.
DB_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)


def unavailable(exc: Exception) -> StoreUnavailable:
    """The :class:`StoreUnavailable` for a driver error: its kind, never the DSN.

    A missing table means the schema was never migrated; the message says how to fix it.
    """
    text = str(exc).lower()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return StoreUnavailable(
            "the database has no relman tables yet: run `relman db upgrade` "
            "(or `relman serve --migrate`)"
        )
    return StoreUnavailable(f"database error: {type(exc).__name__}")


@contextmanager
def db_errors() -> Iterator[None]:
    """Inside it, a driver error becomes :class:`StoreUnavailable` (see :func:`unavailable`);
    relman's own errors pass through."""
    try:
        yield
    except DB_ERRORS as exc:
        raise unavailable(exc) from None
