"""The running bot: aiogram's Bot and Dispatcher built from the settings, the update gate,
webhook intake and polling, the notification sink.

Without a token (``LOOM_RELEASE_TG_BOT_TOKEN`` / ``RELMAN_TELEGRAM_TOKEN``) there is no bot:
:func:`build_bot` returns ``None`` and relman runs without it (API, CLI, worker).

Updates arrive either through the webhook (``POST {prefix}/update``, :mod:`relman.bot.webhook`
→ :meth:`BotRuntime.accept`, which returns at once and processes in the background so the
endpoint answers Telegram quickly) or by long polling (:meth:`BotRuntime.start_polling`).
Either way every update passes the :class:`UpdateGate`: an ``update_id`` is processed once
(``seen_keys``; also when Telegram retries or delivers concurrently, also across replicas
sharing the database), and the seed's metrics are recorded.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, TelegramObject, Update, User
from aiogram.utils.token import TokenValidationError
from pydantic import ValidationError

from relman.bootstrap import Container
from relman.bot.handlers import build_router
from relman.bot.redact import scrub
from relman.bot.registration import ALLOWED_UPDATES, webhook_secret
from relman.bot.sink import telegram_sink
from relman.bot.texts import LANGUAGES, texts_for
from relman.config import Settings
from relman.domain.clock import Clock
from relman.domain.errors import ConfigError, InvalidInput
from relman.notify.telegram import check_api_url, token_of
from relman.store.seen import SeenStore

if TYPE_CHECKING:
    # Only a type here; the API, which records metrics, builds them and passes them in.
    from relman.api.metrics import Metrics

log = logging.getLogger("relman.bot")

#: Seconds a Bot API request may take (polling adds its long-poll timeout).
REQUEST_TIMEOUT = 30.0

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def make_bot(settings: Settings, token: str) -> Bot:
    """An aiogram Bot talking to ``settings.telegram_api_url`` (Telegram, a local Bot API
    server or a test double), HTML parse mode, link previews off.

    Raises :class:`ConfigError` for a token that is not shaped like ``123456:ABC…`` and
    for an API URL the HTTP client could not use (a port out of range, a broken host):
    its error would quote the request URL, which holds the token.
    """
    check_api_url(settings.telegram_api_url)
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=REQUEST_TIMEOUT
    )
    try:
        return Bot(
            token,
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
        )
    except TokenValidationError:
        raise ConfigError(
            "LOOM_RELEASE_TG_BOT_TOKEN: not a Telegram bot token (expected 123456:ABC…)"
        ) from None


class UpdateGate(BaseMiddleware):
    """Outer middleware of every update: drops an ``update_id`` seen before (recorded in
    ``seen_keys`` as ``tg-update:<bot id>:<update id>`` — the primary key makes exactly one
    of several concurrent deliveries win) and records seed 003's metrics
    ``telegram.server.ok.message.total``, ``telegram.server.error.message.total`` and
    ``telegram.server.message.duration`` (seconds), labelled by update type and outcome
    (``handled``, ``duplicate``, ``ignored``)."""

    def __init__(self, seen: SeenStore, clock: Clock, metrics: Metrics | None) -> None:
        self._seen = seen
        self._clock = clock
        self._metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        started = time.perf_counter()
        attrs: dict[str, str] = {"telegram.update.type": event.event_type}
        failed = True
        try:
            key = f"tg-update:{bot.id}:{event.update_id}"
            if not await self._seen.first_time(key, at=self._clock()):
                attrs["outcome"] = "duplicate"
                failed = False
                return UNHANDLED
            result = await handler(event, data)
            attrs["outcome"] = "ignored" if result is UNHANDLED else "handled"
            failed = False
            return result
        except Exception as exc:
            attrs["error.type"] = type(exc).__name__
            raise
        finally:
            if self._metrics is not None:
                self._metrics.telegram_duration.record(time.perf_counter() - started, attrs)
                counter = self._metrics.telegram_error if failed else self._metrics.telegram_ok
                counter.add(1, attrs)


class Language(BaseMiddleware):
    """Puts ``texts`` into the handler data: the user's ``language_code`` (ru or en), else
    the configured default language."""

    def __init__(self, default: str) -> None:
        self._default = default

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        data["texts"] = texts_for(user.language_code if user else None, self._default)
        return await handler(event, data)


class BotRuntime:
    """The bot of one relman process. Build with :func:`build_bot`; close with
    :meth:`aclose`."""

    def __init__(self, container: Container, token: str, *, metrics: Metrics | None = None) -> None:
        settings = container.settings
        self.settings = settings
        self.bot = make_bot(settings, token)
        self.secret = webhook_secret(settings, token)
        self.sink = telegram_sink(container, token)
        self.context = self.sink.context
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher["bot_ctx"] = self.context
        self.dispatcher.update.outer_middleware(
            UpdateGate(container.seen, container.clock, metrics)
        )
        self.dispatcher.update.outer_middleware(Language(settings.telegram_language))
        self.dispatcher.include_router(build_router())
        self._tasks: set[asyncio.Task[None]] = set()
        self._polling: asyncio.Task[None] | None = None

    def check_secret(self, given: str | None) -> bool:
        """Whether ``given`` (the webhook request's secret header) is right; constant
        time."""
        return given is not None and hmac.compare_digest(given.encode(), self.secret.encode())

    def accept(self, payload: object) -> int:
        """Take one webhook update (the JSON body Telegram posted) and process it in the
        background; returns its ``update_id``.

        Raises :class:`InvalidInput` when ``payload`` is not a Telegram ``Update``.
        """
        if not isinstance(payload, dict):
            raise InvalidInput("body", "not a Telegram update object")
        try:
            update = Update.model_validate(payload, context={"bot": self.bot})
        except ValidationError:
            raise InvalidInput("body", "not a Telegram update object") from None
        task = asyncio.create_task(self._process(update), name=f"tg-update-{update.update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return update.update_id

    async def _process(self, update: Update) -> None:
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception as exc:
            # Logged without the update (it may hold user text) and never raised: the
            # webhook has long been answered. The error metric was recorded by the gate.
            log.error("telegram update %s failed: %s", update.update_id, type(exc).__name__)

    async def idle(self) -> None:
        """Wait until every update accepted so far was processed and every queued
        notification was sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.sink.drain()

    def announce_commands(self) -> None:
        """``setMyCommands`` in the background (issue 16): the command menu Telegram
        shows, in Russian and English (by the user's language) and the default language
        for everyone else. Telegram being down is logged, never fatal."""
        task = asyncio.create_task(self._announce(), name="relman-telegram-commands")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self) -> None:
        try:
            for language in (*sorted(LANGUAGES), None):
                texts = texts_for(language, self.settings.telegram_language)
                commands = [BotCommand(command=c, description=d) for c, d in texts.commands]
                await self.bot.set_my_commands(commands, language_code=language)
        except TelegramAPIError as exc:
            log.warning("telegram: setMyCommands failed: %s", scrub(exc.message, self.bot.token))

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:
        """Remove the webhook (polling needs that: Telegram refuses getUpdates while a
        webhook is set)."""
        await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)

    async def start_polling(self, *, polling_timeout: int = 25) -> None:
        """Delete any webhook and receive updates by long polling in the background (for
        a machine Telegram cannot reach). When Telegram cannot be reached now, relman
        starts anyway (logged, the token scrubbed); polling retries with a backoff."""
        try:
            await self.delete_webhook()
        except TelegramAPIError as exc:
            log.warning(
                "telegram: could not delete the webhook before polling: %s",
                scrub(exc.message, self.bot.token),
            )
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                polling_timeout=polling_timeout,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=ALLOWED_UPDATES,
            ),
            name="relman-telegram-polling",
        )

    async def aclose(self) -> None:
        """Stop polling, finish the updates in progress, send what is queued, close the
        HTTP session."""
        if self._polling is not None:
            if not self._polling.done():
                try:
                    await self.dispatcher.stop_polling()
                except RuntimeError:  # polling had not started yet
                    self._polling.cancel()
            try:
                await self._polling
            except (asyncio.CancelledError, Exception) as exc:
                log.warning("telegram polling ended: %s", type(exc).__name__)
            self._polling = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.sink.aclose()
        await self.bot.session.close()


def build_bot(container: Container, *, metrics: Metrics | None = None) -> BotRuntime | None:
    """The bot for ``container`` with its notification sink registered, or ``None``
    without a token. Raises :class:`ConfigError` for a malformed token."""
    token = token_of(container.settings)
    if token is None:
        return None
    runtime = BotRuntime(container, token, metrics=metrics)
    container.notifier.add(runtime.sink)
    return runtime
