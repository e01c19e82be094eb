"""Keys processed once: a Telegram ``update_id``, an HMAC request id (DESIGN.md §5).

The primary key does the work: of several concurrent inserts of one key exactly one
succeeds, on SQLite and PostgreSQL alike, across relman replicas sharing the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relman.store.db import db_errors
from relman.store.tables import seen_keys


class SeenStore:
    """Remembers keys. Raises :class:`StoreUnavailable` when the database fails."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first_time(self, key: str, *, at: datetime) -> bool:
        """Record ``key`` (namespace it, e.g. ``"tg-update:42"``); True only for the first
        caller ever to record it, False for every repeat."""
        with db_errors():
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(seen_keys).values(key=key, seen_at=at))
            except IntegrityError:
                return False
        return True

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop keys recorded before ``cutoff`` (UTC); returns how many were dropped."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(seen_keys).where(seen_keys.c.seen_at < cutoff))
        return int(result.rowcount)
