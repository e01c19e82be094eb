"""The bot's registration with Telegram: the webhook's secret header, ``setWebhook`` and
``deleteWebhook`` (``relman bot set-webhook|delete-webhook``).

Sent through :class:`~relman.bot.sender.BotApiClient`, without the Telegram library: a
one-shot command should not pay seconds of imports for one request.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from relman.bot.sender import BotApiClient, TelegramUnavailable
from relman.config import redact_url
from relman.domain.errors import ConfigError
from relman.notify.telegram import checked_token

if TYPE_CHECKING:
    from relman.config import Settings

#: The header Telegram sends with every webhook delivery (Bot API ``setWebhook``).
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
#: The update types the bot handles (``allowed_updates`` of setWebhook / getUpdates).
ALLOWED_UPDATES = ["message", "callback_query"]


def webhook_secret(settings: Settings, token: str) -> str:
    """The ``X-Telegram-Bot-Api-Secret-Token`` value: the configured one, else 64 hex
    characters derived from the token (so ``relman bot set-webhook`` and ``relman serve``
    agree without another setting, and the token itself never travels in a header)."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    return hmac.new(token.encode(), b"relman/webhook-secret/v1", hashlib.sha256).hexdigest()


async def register_webhook(settings: Settings, url: str, *, drop_pending_updates: bool) -> None:
    """``setWebhook``: Telegram will POST updates to ``url`` with relman's secret header
    (``relman bot set-webhook URL``). Raises :class:`ConfigError` without a token (or with
    a malformed one) and :class:`TelegramUnavailable` when Telegram says no (e.g. not an
    https URL) or cannot be reached."""
    token = _require_token(settings)
    params = {
        "url": url,
        "secret_token": webhook_secret(settings, token),
        "allowed_updates": ALLOWED_UPDATES,
        "drop_pending_updates": drop_pending_updates,
    }
    await _call(settings, token, "setWebhook", params, "Telegram refused the webhook")


async def unregister_webhook(settings: Settings) -> None:
    """``deleteWebhook`` (``relman bot delete-webhook``), e.g. before polling elsewhere.
    Raises like :func:`register_webhook`."""
    token = _require_token(settings)
    await _call(settings, token, "deleteWebhook", {}, "Telegram refused")


async def _call(
    settings: Settings, token: str, method: str, params: dict[str, object], refused: str
) -> None:
    client = BotApiClient(settings.telegram_api_url, token)
    try:
        await client.call(method, params)
    except TelegramUnavailable as exc:
        if exc.error_code is None:
            raise TelegramUnavailable(
                f"cannot reach the Bot API at {redact_url(settings.telegram_api_url)} "
                f"(RELMAN_TELEGRAM_API_URL): {exc.message}"
            ) from None
        raise TelegramUnavailable(f"{refused}: {exc.message}") from None
    finally:
        await client.aclose()


def _require_token(settings: Settings) -> str:
    token = checked_token(settings)
    if token is None:
        raise ConfigError("no Telegram token: set LOOM_RELEASE_TG_BOT_TOKEN (the bot is off)")
    return token
