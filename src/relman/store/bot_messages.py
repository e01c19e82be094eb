"""The Telegram messages that follow a release (issue 16), in the database.

A row says "message ``message_id`` in chat ``chat_id`` shows release ``release_id`` as a
``purpose``": the QA chat's ready-for-testing notice (``qa_notice``), a card turned into a
deploy or rollback's progress (``progress``), or a prompt waiting for a rejection's reason
(``reason_prompt``, for one user). Any relman replica reads them — the API, the worker, a
CLI command — so the message is edited wherever the release moves, after restarts too.

``shown_event_id`` is the newest audit event the message shows: :meth:`claim` moves it
forward only, so of two replicas rendering the same change one edits, and an older state
never overwrites a newer one that was already shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relman.store.db import db_errors
from relman.store.tables import bot_messages

Purpose = Literal["qa_notice", "progress", "reason_prompt"]


@dataclass(frozen=True, slots=True)
class TrackedMessage:
    """One row (see the module doc)."""

    id: int
    chat_id: int
    message_id: int
    release_id: int
    purpose: Purpose
    user_id: int
    language: str
    shown_event_id: int
    active: bool
    sent_at: datetime

    def is_for(self, user_id: int) -> bool:
        """Whether ``user_id`` may answer the message: a reason prompt asks the one person
        who pressed ✍️ (``user_id``); a row for nobody in particular is anyone's."""
        return self.user_id in (0, user_id)


class BotMessageStore:
    """Repository of ``bot_messages``. Every method raises :class:`StoreUnavailable` when
    the database fails."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def track(
        self,
        *,
        chat_id: int,
        message_id: int,
        release_id: int,
        purpose: Purpose,
        at: datetime,
        shown_event_id: int = 0,
        user_id: int = 0,
        language: str = "",
    ) -> None:
        """Record that the message shows ``release_id`` as ``purpose`` (replacing what the
        same message was tracked as before: a card becomes a progress, and so on)."""
        values = {
            "chat_id": chat_id,
            "message_id": message_id,
            "release_id": release_id,
            "purpose": purpose,
            "user_id": user_id,
            "language": language,
            "shown_event_id": shown_event_id,
            "active": True,
            "sent_at": at,
        }
        where = and_(bot_messages.c.chat_id == chat_id, bot_messages.c.message_id == message_id)
        with db_errors():
            async with self._engine.begin() as conn:
                try:
                    async with conn.begin_nested():
                        await conn.execute(insert(bot_messages).values(**values))
                except IntegrityError:
                    await conn.execute(update(bot_messages).where(where).values(**values))

    async def following(self, release_id: int) -> list[TrackedMessage]:
        """The active notices and progress messages of ``release_id``, oldest first."""
        query = (
            select(bot_messages)
            .where(
                and_(
                    bot_messages.c.release_id == release_id,
                    bot_messages.c.active.is_(True),
                    bot_messages.c.purpose != "reason_prompt",
                )
            )
            .order_by(bot_messages.c.id)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_tracked(row) for row in rows]

    async def follow(
        self, *, chat_id: int, message_id: int, release_id: int, at: datetime, language: str = ""
    ) -> None:
        """Make sure a QA notice pressed on is followed (one sent before relman tracked
        notices, or whose recording failed); a tracked one is left as it is."""
        if await self.find(chat_id, message_id) is None:
            await self.track(
                chat_id=chat_id,
                message_id=message_id,
                release_id=release_id,
                purpose="qa_notice",
                at=at,
                language=language,
            )

    async def find(self, chat_id: int, message_id: int) -> TrackedMessage | None:
        """The row of a message, ``None`` when relman does not track it."""
        query = select(bot_messages).where(
            and_(bot_messages.c.chat_id == chat_id, bot_messages.c.message_id == message_id)
        )
        with db_errors():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return None if row is None else _tracked(row)

    async def claim(self, row_id: int, event_id: int) -> bool:
        """Take the right to show audit event ``event_id`` in the message: True when no
        replica showed that event or a newer one yet (then it is recorded as shown)."""
        with db_errors():
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(bot_messages)
                    .where(
                        and_(
                            bot_messages.c.id == row_id,
                            bot_messages.c.shown_event_id < event_id,
                            bot_messages.c.active.is_(True),
                        )
                    )
                    .values(shown_event_id=event_id)
                )
        return int(result.rowcount) == 1

    async def retire(self, row_id: int) -> None:
        """Stop following the message (the release is final, or Telegram refuses edits)."""
        with db_errors():
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(bot_messages).where(bot_messages.c.id == row_id).values(active=False)
                )

    async def forget(self, chat_id: int, message_id: int, *, keep_release: int = 0) -> None:
        """The message shows something else now (the person navigated away): stop
        following it, unless it still shows a progress of ``keep_release``. A QA notice
        stays followed whatever is pressed on it."""
        where = and_(
            bot_messages.c.chat_id == chat_id,
            bot_messages.c.message_id == message_id,
            bot_messages.c.purpose != "qa_notice",
            bot_messages.c.release_id != keep_release,
        )
        with db_errors():
            async with self._engine.begin() as conn:
                await conn.execute(delete(bot_messages).where(where))


def _tracked(row: Row[Any]) -> TrackedMessage:
    return TrackedMessage(
        id=row.id,
        chat_id=int(row.chat_id),
        message_id=int(row.message_id),
        release_id=row.release_id,
        purpose=row.purpose,
        user_id=int(row.user_id),
        language=row.language,
        shown_event_id=row.shown_event_id,
        active=bool(row.active),
        sent_at=row.sent_at,
    )
