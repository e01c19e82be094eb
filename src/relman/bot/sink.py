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

Issue 16: the QA notice is followed. Once sent, its chat and message id are recorded in
``bot_messages`` (:class:`~relman.store.bot_messages.BotMessageStore`); every
``CHANGED`` notice — a status change from any source, in any relman process — re-renders
the messages following that release (the notice, a card showing a deploy or rollback) from
the database and edits them: buttons gone, what happened, who and when. Telegram's limits
are handled: "message is not modified" is success; a message Telegram will not edit any
more ("message can't be edited" — bots cannot edit after 48 hours — or "message to edit
not found") is no longer followed; 429 waits ``retry_after`` as for a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from relman.bot import cards
from relman.bot.context import BotContext, bot_context
from relman.bot.redact import scrub
from relman.bot.sender import BotApiClient, TelegramUnavailable
from relman.bot.texts import texts_for
from relman.domain.release import Release
from relman.notify import Notice, NoticeKind
from relman.store.bot_messages import TrackedMessage

if TYPE_CHECKING:
    from relman.bootstrap import Container

log = logging.getLogger("relman.bot.sink")

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

#: Telegram's answer to an edit that changes nothing (Bot API ``editMessageText``).
NOT_MODIFIED = "message is not modified"
#: Telegram's answers for a message that cannot be edited (any more).
NOT_EDITABLE = ("message can't be edited", "message to edit not found")
#: Telegram's error code for a request it refuses as malformed or impossible.
BAD_REQUEST = 400
#: Bots cannot edit messages older than this (Bot API, editing messages).
EDITABLE_FOR = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class _Outgoing:
    chat_id: int
    screen: cards.Screen
    kind: str
    follow: Release | None = None  # the QA notice: record it to edit it later


@dataclass(frozen=True, slots=True)
class _Refresh:
    release_id: int
    kind: str = "changed"


class TelegramSink:
    """A :class:`~relman.notify.Sink` posting notices through ``client`` (see module doc);
    closing the sink closes the client."""

    name = "telegram"

    def __init__(
        self,
        client: BotApiClient,
        ctx: BotContext,
        *,
        qa_chat_id: int | None,
        team_chat_id: int | None,
        max_attempts: int = 5,
        max_wait: float = 120.0,
        network_retry_delay: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._ctx = ctx
        self._qa = qa_chat_id
        self._team = team_chat_id if team_chat_id is not None else qa_chat_id
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._network_retry_delay = network_retry_delay
        self._sleep = sleep
        self._queue: asyncio.Queue[_Outgoing | _Refresh] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def context(self) -> BotContext:
        """What the sink renders with (the bot's context)."""
        return self._ctx

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
        if notice.kind is NoticeKind.CHANGED:
            if notice.release is not None and notice.release.id is not None:
                self._queue.put_nowait(_Refresh(notice.release.id))
                self._wake()
            return
        chat_id = self.chat_for(notice)
        if chat_id is None:
            return
        view = self._ctx.view(self._ctx.default_texts())
        screen = cards.notice_screen(view, notice, self._ctx.log_root)
        if screen is None:
            return
        follow = notice.release if notice.kind is NoticeKind.READY_FOR_TESTING else None
        self._queue.put_nowait(_Outgoing(chat_id, screen, notice.kind.value, follow))
        self._wake()

    def _wake(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._deliver_all(), name="relman-telegram-sink")

    async def drain(self) -> None:
        """Wait until every queued message was sent (or given up on)."""
        await self._queue.join()

    async def aclose(self, grace: float = 10.0) -> None:
        """Stop taking notices; give the queue ``grace`` seconds, then drop the rest; close
        the client."""
        self._closed = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._queue.join(), grace)
            except TimeoutError:
                log.warning("telegram sink: %d notices not sent at shutdown", self._queue.qsize())
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _deliver_all(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, _Refresh):
                    await self.refresh(item.release_id)
                else:
                    await self._deliver(item)
            except Exception as exc:  # a notice is best effort: log, keep going
                # Scrubbed again: a description may quote the request URL, which holds the token.
                description = (
                    scrub(exc.message, self._client.token)
                    if isinstance(exc, TelegramUnavailable)
                    else ""
                )
                log.warning(
                    "telegram notice %s to chat %s not sent: %s %s",
                    item.kind,
                    item.chat_id if isinstance(item, _Outgoing) else "-",
                    type(exc).__name__,
                    description,
                )
            finally:
                self._queue.task_done()

    async def _deliver(self, item: _Outgoing) -> None:
        screen = item.screen
        message_id = await self._retrying(
            lambda: self._client.send_message(item.chat_id, screen.text, screen.markup)
        )
        if item.follow is not None:
            await self._follow(item.chat_id, message_id, item.follow)

    async def _follow(self, chat_id: int, message_id: int, shown: Release) -> None:
        """Record the QA notice just sent; if the release moved while it was on its way
        (another replica decided), bring it up to date at once."""
        assert shown.id is not None
        now = await self._ctx.container.releases.get(shown.id)
        newest = shown_event(now) if now.status is shown.status else 0
        await self._ctx.messages.track(
            chat_id=chat_id,
            message_id=message_id,
            release_id=shown.id,
            purpose="qa_notice",
            at=self._ctx.clock(),
            shown_event_id=newest,
        )
        if newest == 0:
            await self.refresh(shown.id)

    async def refresh(self, release_id: int) -> None:
        """Edit every message following ``release_id`` to show it as it is now (see the
        module doc); a message another replica already brought this far is left alone."""
        store = self._ctx.messages
        rows = await store.following(release_id)
        if not rows:
            return
        release = await self._ctx.container.releases.get(release_id)
        newest = shown_event(release)
        for row in rows:
            view = self._ctx.view(texts_for(row.language or None, self._ctx.language))
            if not await store.claim(row.id, newest):
                continue
            if self._ctx.clock() - row.sent_at > EDITABLE_FOR:
                await store.retire(row.id)
                continue
            await self._edit(row, cards.tracked_screen(view, release, row.purpose))
            if not release.allowed_next():
                await store.retire(row.id)  # final: nothing will change it again

    async def _edit(self, row: TrackedMessage, screen: cards.Screen) -> None:
        try:
            await self._retrying(
                lambda: self._client.edit_message_text(
                    row.chat_id, row.message_id, screen.text, screen.markup
                )
            )
        except TelegramUnavailable as exc:
            if exc.error_code != BAD_REQUEST:
                raise
            if NOT_MODIFIED in exc.message:
                return
            if any(reason in exc.message for reason in NOT_EDITABLE):
                log.info(
                    "telegram: message %s in chat %s can no longer be edited: not followed",
                    row.message_id,
                    row.chat_id,
                )
                await self._ctx.messages.retire(row.id)
                return
            raise

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, again after Telegram's ``retry_after`` (429) or a network error,
        within ``max_attempts`` and ``max_wait``."""
        waited = 0.0
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await call()
            except TelegramUnavailable as exc:
                if exc.retry_after is not None:
                    delay = exc.retry_after
                elif exc.error_code is None:  # no answer: the network
                    delay = self._network_retry_delay * attempt
                else:
                    raise
            if attempt == self._max_attempts or waited + delay > self._max_wait:
                raise TimeoutError(f"gave up after {attempt} attempts, {waited:.0f}s waited")
            waited += delay
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def telegram_sink(container: Container, token: str) -> TelegramSink:
    """The sink of ``container``'s settings: the QA and team chats, the Bot API at
    ``telegram_api_url`` as the bot ``token`` (checked by the caller), the default
    language and time zone."""
    settings = container.settings
    return TelegramSink(
        BotApiClient(settings.telegram_api_url, token),
        bot_context(container, token),
        qa_chat_id=settings.telegram_qa_chat_id,
        team_chat_id=settings.telegram_team_chat_id,
    )


def shown_event(release: Release) -> int:
    """The id of the transition that brought ``release`` to its status: what a message
    showing it is up to (the ``bot_messages.shown_event_id`` a refresh claims).

    Not simply the newest event: the release's row and its events are read by two
    statements, so a transition committed in between can be among the events while the
    status is still the one before; claiming that event would let the refresh that shows
    it be skipped as already done.
    """
    return max(
        (
            e.id or 0
            for e in release.events
            if e.kind == "transition" and e.to_status is release.status
        ),
        default=0,
    )
