"""The Bot API calls relman's notices need — ``sendMessage`` and ``editMessageText`` — over
httpx, without the Telegram library.

aiogram takes seconds to import (2.7 s on a quiet 2-core machine, 7 s on a busy one), and a
CLI command or the worker posts a notice or two per run: paying that after a rollback that
took one second is what "fast" rules out (issue 10). aiogram stays where updates are
received and answered (:mod:`relman.bot.runtime`, :mod:`relman.bot.handlers`); every
process sends its notices through :class:`BotApiClient`, so there is one delivery path.

Shapes are the Bot API's (https://core.telegram.org/bots/api#making-requests): a JSON POST
to ``<api>/bot<token>/<method>``; the answer ``{"ok": true, "result": …}`` or ``{"ok":
false, "error_code": …, "description": …, "parameters": {"retry_after": …}}``. Messages
are HTML with link previews off, as the bot's own (:func:`relman.bot.runtime.make_bot`).
"""

from __future__ import annotations

from typing import Any

import httpx

from relman.bot.keyboards import Keyboard
from relman.bot.redact import scrub
from relman.domain.errors import RelmanError

#: Seconds one Bot API request may take.
REQUEST_TIMEOUT = 30.0


class TelegramUnavailable(RelmanError):
    """Telegram (or the configured Bot API server) refused a request or could not be
    reached; the message is Telegram's description, never the token.

    ``error_code`` is Telegram's (400, 403, 429, …), ``None`` when no answer came (a
    network error, a timeout); ``retry_after`` the seconds Telegram asks to wait (429).
    """

    code = "telegram_unavailable"

    def __init__(
        self, message: str, *, error_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.retry_after = retry_after


class BotApiClient:
    """Calls the Bot API at ``api_url`` (``https://api.telegram.org``, a local Bot API
    server or a test double) as the bot ``token``. Close with :meth:`aclose`."""

    def __init__(self, api_url: str, token: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.token = token
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """``method`` with ``params`` (JSON); returns Telegram's ``result``.

        Raises :class:`TelegramUnavailable` when Telegram answers ``ok: false`` (or not in
        its shape) or cannot be reached; the token is scrubbed from the message.
        """
        try:
            response = await self._http.post(self._base + method, json=params)
        except httpx.HTTPError as exc:  # the message may quote the URL, which holds the token
            raise TelegramUnavailable(
                f"{method}: {type(exc).__name__}: {scrub(str(exc), self.token)}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TelegramUnavailable(
                f"{method}: HTTP {response.status_code}, not a Bot API answer",
                error_code=response.status_code,
            )
        if body.get("ok") is True:
            return body.get("result")
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise TelegramUnavailable(
            scrub(str(body.get("description") or f"HTTP {response.status_code}"), self.token),
            error_code=_int_or_none(body.get("error_code")) or response.status_code,
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def send_message(self, chat_id: int, text: str, markup: Keyboard | None) -> int:
        """``sendMessage`` of HTML ``text`` with ``markup``; returns the new message's id.
        Raises :class:`TelegramUnavailable`."""
        result = await self.call("sendMessage", _message(text, markup, chat_id=chat_id))
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if not isinstance(message_id, int):  # an answer, not a network error: no retry
            raise TelegramUnavailable("sendMessage: the answer holds no message_id", error_code=200)
        return message_id

    async def edit_message_text(
        self, chat_id: int, message_id: int, text: str, markup: Keyboard | None
    ) -> None:
        """``editMessageText``: the message shows ``text`` and ``markup`` (none: its
        keyboard goes away, as in Telegram). Raises :class:`TelegramUnavailable`."""
        await self.call(
            "editMessageText", _message(text, markup, chat_id=chat_id, message_id=message_id)
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()


def _message(text: str, markup: Keyboard | None, **target: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        **target,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if markup is not None:
        params["reply_markup"] = markup.to_api()
    return params


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
