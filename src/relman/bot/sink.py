"""The Telegram notification sink: release events as chat messages.

- ``READY_FOR_TESTING`` goes to the QA chat (``RELMAN_TELEGRAM_QA_CHAT_ID``) as seed 003's
  "🚀 Новый релиз готов к тестированию" with [✅ Подтвердить] [❌ Отклонить];
- ``DEPLOYED`` (seed 000: tell the team), ``PRODUCTION_FAILED``, ``ROLLBACK_DONE``,
  ``ROLLBACK_FAILED``, ``STAGING_FAILED``, ``REJECTED``, ``INTERRUPTED`` and developer
  deploys go to the team chat (``RELMAN_TELEGRAM_TEAM_CHAT_ID``, else the QA chat).

:meth:`TelegramSink.send` only queues: the pipeline never waits for Telegram. One delivery
task sends the queue in order; when Telegram answers 429 it waits the ``retry_after``
seconds Telegram asks for (Bot API, ``ResponseParameters``) and tries again, at most
``max_attempts`` times and never waiting more than ``max_wait`` seconds in all for one
message. A message that still cannot be sent is logged (kind and Telegram's description
with the bot token scrubbed out, never the text) and dropped; a notice is best effort
(DESIGN.md, notify).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter

from relman.bot import cards
from relman.bot.context import BotContext
from relman.bot.redact import scrub
from relman.notify import Notice

log = logging.getLogger("relman.bot.sink")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Outgoing:
    chat_id: int
    screen: cards.Screen
    kind: str


class TelegramSink:
    """A :class:`~relman.notify.Sink` posting notices with ``bot`` (see module doc)."""

    name = "telegram"

    def __init__(
        self,
        bot: Bot,
        ctx: BotContext,
        *,
        qa_chat_id: int | None,
        team_chat_id: int | None,
        max_attempts: int = 5,
        max_wait: float = 120.0,
        network_retry_delay: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._ctx = ctx
        self._qa = qa_chat_id
        self._team = team_chat_id if team_chat_id is not None else qa_chat_id
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._network_retry_delay = network_retry_delay
        self._sleep = sleep
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def chat_for(self, notice: Notice) -> int | None:
        """The chat ``notice`` goes to, ``None`` when the bot does not post it."""
        if notice.kind in cards.QA_KINDS:
            return self._qa
        if notice.kind in cards.TEAM_KINDS:
            return self._team
        return None

    async def send(self, notice: Notice) -> None:
        """Render ``notice`` in the default language and queue it for its chat."""
        if self._closed:
            return
        chat_id = self.chat_for(notice)
        if chat_id is None:
            return
        view = self._ctx.view(self._ctx.default_texts())
        screen = cards.notice_screen(view, notice, self._ctx.log_root)
        if screen is None:
            return
        self._queue.put_nowait(_Outgoing(chat_id, screen, notice.kind.value))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._deliver_all(), name="relman-telegram-sink")

    async def drain(self) -> None:
        """Wait until every queued message was sent (or given up on)."""
        await self._queue.join()

    async def aclose(self, grace: float = 10.0) -> None:
        """Stop taking notices; give the queue ``grace`` seconds, then drop the rest."""
        self._closed = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), grace)
        except TimeoutError:
            log.warning("telegram sink: %d notices not sent at shutdown", self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _deliver_all(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            except Exception as exc:  # a notice is best effort: log, keep going
                # A client error may quote the request URL, which holds the token.
                description = (
                    scrub(exc.message, self._bot.token) if isinstance(exc, TelegramAPIError) else ""
                )
                log.warning(
                    "telegram notice %s to chat %s not sent: %s %s",
                    item.kind,
                    item.chat_id,
                    type(exc).__name__,
                    description,
                )
            finally:
                self._queue.task_done()

    async def _deliver(self, item: _Outgoing) -> None:
        waited = 0.0
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._bot.send_message(
                    item.chat_id, item.screen.text, reply_markup=item.screen.markup
                )
                return
            except TelegramRetryAfter as exc:
                delay = float(exc.retry_after)
            except TelegramNetworkError:
                delay = self._network_retry_delay * attempt
            if attempt == self._max_attempts or waited + delay > self._max_wait:
                raise TimeoutError(f"gave up after {attempt} attempts, {waited:.0f}s waited")
            waited += delay
            await self._sleep(delay)
