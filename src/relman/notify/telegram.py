"""Telegram notices for a process without the bot's endpoints (``relman worker``, CLI
commands that run jobs), through the notifier port.

The Telegram library takes seconds to import, and most commands never send a message, so
nothing here imports it: :func:`telegram_notices` checks the settings at once (no token →
no bot; a malformed token or Bot API URL is a :class:`~relman.domain.errors.ConfigError`
before anything runs, as it always was) and registers a :class:`DeferredTelegramSink`,
which builds the bot (:class:`relman.bot.runtime.BotRuntime`) on the first notice it has
to post.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from relman.domain.errors import ConfigError
from relman.notify import Notice

if TYPE_CHECKING:
    from relman.bootstrap import Container
    from relman.bot.runtime import BotRuntime
    from relman.config import Settings


def token_of(settings: Settings) -> str | None:
    """The bot token from ``settings``, or ``None`` when the bot is off (unset or blank)."""
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    return token.strip() or None


def check_token(token: str) -> None:
    """Raise :class:`ConfigError` unless ``token`` is shaped like a bot token,
    ``<digits>:<secret>`` without whitespace (the rule aiogram's ``Bot`` enforces). The
    message never holds the token."""
    bot_id, colon, secret = token.partition(":")
    if any(c.isspace() for c in token) or not colon or not bot_id.isdigit() or not secret:
        raise ConfigError(
            "LOOM_RELEASE_TG_BOT_TOKEN: not a Telegram bot token (expected 123456:ABC…)"
        )


def check_api_url(url: str) -> None:
    """Raise :class:`ConfigError` for a Bot API URL the HTTP client could not use (a port
    out of range, an empty or overlong host label): the client's own error would quote the
    request URL, which holds the token."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range
        (parts.hostname or "").encode("idna")  # raises for an empty or overlong label
    except ValueError:  # UnicodeError is one
        raise ConfigError(f"RELMAN_TELEGRAM_API_URL: not a usable URL: {url[:200]!r}") from None


class DeferredTelegramSink:
    """A :class:`~relman.notify.Sink` that posts through the bot of ``container``, built
    (and the Telegram library imported) on the first notice; until then it costs nothing.
    Close it with :meth:`aclose`, which sends what is queued."""

    name = "telegram"

    def __init__(self, container: Container, token: str) -> None:
        self._container = container
        self._token = token
        self._runtime: BotRuntime | None = None
        self._starting = asyncio.Lock()
        self._closed = False

    @property
    def runtime(self) -> BotRuntime | None:
        """The bot, once a notice needed it; ``None`` before."""
        return self._runtime

    async def send(self, notice: Notice) -> None:
        """Queue ``notice`` with the bot's sink (building the bot first if need be); nothing
        once closed. Which notices become messages, and where, is the bot sink's call."""
        if self._closed:
            return
        runtime = await self._started()
        await runtime.sink.send(notice)

    async def _started(self) -> BotRuntime:
        async with self._starting:  # one bot even when notices arrive together
            if self._runtime is None:
                # Imported in a thread: seconds of importing must not stall the event loop,
                # which may be heartbeating a job or watching a deploy meanwhile.
                await asyncio.to_thread(importlib.import_module, "relman.bot.runtime")
                from relman.bot.runtime import BotRuntime

                self._runtime = BotRuntime(self._container, self._token)
            return self._runtime

    async def aclose(self) -> None:
        """Stop taking notices; if the bot was built, send what it queued (bounded) and
        close its HTTP session."""
        self._closed = True
        async with self._starting:  # a bot being built is closed too
            if self._runtime is not None:
                await self._runtime.aclose()


@asynccontextmanager
async def telegram_notices(container: Container) -> AsyncIterator[DeferredTelegramSink | None]:
    """While inside, ``container.notifier`` also posts to Telegram (when a token is set);
    at the exit queued notices are sent (bounded) and the HTTP session closed. Yields the
    registered sink, or ``None`` when the bot is off.

    Raises :class:`ConfigError` on entry for a malformed token or Bot API URL.
    """
    settings = container.settings
    token = token_of(settings)
    if token is None:
        yield None
        return
    check_api_url(settings.telegram_api_url)
    check_token(token)
    sink = DeferredTelegramSink(container, token)
    container.notifier.add(sink)
    try:
        yield sink
    finally:
        await sink.aclose()
