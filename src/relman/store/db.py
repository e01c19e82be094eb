"""Engines and schema migrations.

SQLite (aiosqlite) is the embedded default; PostgreSQL uses asyncpg. Alembic migrations
ship inside the package (``relman/store/migrations``) and run on a live async engine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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


#: The PostgreSQL advisory lock key of relman's migrations (any fixed 64-bit number; this
#: one is ``b"relman"`` read as an integer), so replicas started at once migrate in turn.
MIGRATION_LOCK_KEY = 0x72656C6D616E


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (default: the newest), one process at a time.

    Several relman processes may start at once on one database (replicas, ``serve`` and
    ``worker``): on PostgreSQL the migration holds a transaction-level advisory lock
    (``pg_advisory_xact_lock``, freed at commit or when the connection drops); on SQLite an
    exclusive ``flock`` on ``<database>-migrate.lock`` next to the file. The one that waits
    then finds the schema already current and does nothing. Raises
    :class:`StoreUnavailable` when the database cannot be reached or a migration fails.
    """
    from alembic import command

    try:
        async with _sqlite_migration_lock(engine), engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(
            f"database migration failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


@asynccontextmanager
async def _sqlite_migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold an exclusive file lock beside a SQLite database file while inside; nothing
    for PostgreSQL or an in-memory database. SQLite's own locking does not serialise two
    migrations: both read "no schema" before either writes, and the second then fails on
    ``table already exists``."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import asyncio
    import fcntl

    fd = os.open(f"{database}-migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock blocks: waited for in a thread so the event loop keeps serving.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor frees the lock


SchemaState = Literal["current", "missing", "outdated"]


def head_revision() -> str:
    """The newest migration revision shipped with this relman (e.g. ``"0008"``)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None  # relman ships at least one migration
    return head


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """``"current"`` when the database is at :func:`head_revision`, ``"missing"`` when it
    was never migrated, ``"outdated"`` otherwise (behind, or at a revision this relman
    does not know). Raises :class:`StoreUnavailable` when the database cannot be read."""
    try:
        revision = await current_revision(engine)
    except DB_ERRORS as exc:
        raise unavailable(exc) from None
    if revision is None:
        return "missing"
    return "current" if revision == head_revision() else "outdated"


class SchemaCheck:
    """:func:`schema_state`, remembered once it is ``"current"``: a schema does not go
    back, so ``/health`` then costs no migration-table read (only the ``SELECT 1``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._current = False

    async def state(self) -> SchemaState:
        """The schema's state (see :func:`schema_state`); raises like it."""
        if self._current:
            return "current"
        state = await schema_state(self._engine)
        self._current = state == "current"
        return state


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
