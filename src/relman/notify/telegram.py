"""Telegram notices for a process without the bot's endpoints (``relman worker``, CLI
commands that run jobs), through the notifier port.

The Telegram library takes seconds to import, and such a process only sends, so it never
imports it: :func:`telegram_notices` checks the settings at once (no token → no bot; a
malformed token or Bot API URL is a :class:`~relman.domain.errors.ConfigError` before
anything runs) and registers the bot's :class:`~relman.bot.sink.TelegramSink`, which posts
through the Bot API over httpx (:mod:`relman.bot.sender`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from relman.config import redact_url
from relman.domain.errors import ConfigError

if TYPE_CHECKING:
    from relman.bootstrap import Container
    from relman.bot.sink import TelegramSink
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
    out of range, an empty, overlong or malformed host label): the client's own error would
    quote the request URL, which holds the token. The message hides a password in it."""
    import httpx  # here: a command that never talks to Telegram does not load it

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range
        (parts.hostname or "").encode("idna")  # raises for an empty or overlong label
        _ = httpx.URL(url).host  # and the client's own IDNA 2008 rules (an A-label like xn--)
    except (ValueError, httpx.InvalidURL):  # UnicodeError is a ValueError
        raise ConfigError(
            f"RELMAN_TELEGRAM_API_URL: not a usable URL: {redact_url(url)[:200]!r}"
        ) from None


def checked_token(settings: Settings) -> str | None:
    """The bot token, or ``None`` when the bot is off; raises :class:`ConfigError` for a
    malformed token or Bot API URL (:func:`check_token`, :func:`check_api_url`)."""
    token = token_of(settings)
    if token is not None:
        check_api_url(settings.telegram_api_url)
        check_token(token)
    return token


@asynccontextmanager
async def telegram_notices(container: Container) -> AsyncIterator[TelegramSink | None]:
    """While inside, ``container.notifier`` also posts to Telegram (when a token is set);
    at the exit queued notices are sent (bounded) and the HTTP session closed. Yields the
    registered sink, or ``None`` when the bot is off.

    Raises :class:`ConfigError` on entry for a malformed token or Bot API URL.
    """
    token = checked_token(container.settings)
    if token is None:
        yield None
        return
    from relman.bot.sink import telegram_sink

    sink = telegram_sink(container, token)
    container.notifier.add(sink)
    try:
        yield sink
    finally:
        await sink.aclose()
