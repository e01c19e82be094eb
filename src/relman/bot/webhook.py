"""``POST {prefix}/update``: Telegram's webhook (seed 003's path).

Order of checks (DESIGN.md §5): the ``X-Telegram-Bot-Api-Secret-Token`` header is
compared (constant time) before the body is read or parsed — missing or wrong → 403 and
nothing is written, whatever the body's size (the API's guard leaves this path's body
unread, issue 15 item 3); then the body is read, up to the API's limit (else 413); then it
must be JSON (:func:`relman.api.body.load_json`: else 400 naming ``body`` and the
position) and a Telegram ``Update`` (else 400); then the update is handed to the bot to
process in the background and the endpoint answers ``200 {"ok": true}`` at once. Telegram
re-sends an update it got no 2xx for, so a business refusal (a user without a role, a
stale button) is never an error status here: it is a short answer in the chat. Without a
bot token the path answers 404.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from relman.api.body import load_json
from relman.api.errors import error_response, json_body_response
from relman.bot.registration import SECRET_HEADER
from relman.domain.errors import InvalidInput

if TYPE_CHECKING:
    from relman.bot.runtime import BotRuntime


def build_webhook_router() -> APIRouter:
    """The webhook route, relative to the API prefix. The app keeps the running bot in
    ``app.state.bot`` (``None`` when it is off)."""
    router = APIRouter()

    @router.post("/update", include_in_schema=False)
    async def telegram_update(request: Request) -> Response:
        runtime: BotRuntime | None = getattr(request.app.state, "bot", None)
        if runtime is None:
            return error_response(404, "not_found", "the Telegram bot is not enabled")
        if not runtime.check_secret(request.headers.get(SECRET_HEADER)):
            return error_response(
                403, "forbidden", f"{SECRET_HEADER}: missing or wrong", field=SECRET_HEADER
            )
        # Only now is the body read: a body over the limit raises PayloadTooLarge (413).
        raw = await request.body()
        try:
            payload = load_json(raw)
        except json.JSONDecodeError as exc:
            return json_body_response(400, exc)
        try:
            runtime.accept(payload)
        except InvalidInput:
            return error_response(400, "invalid_input", "body: not a Telegram update", field="body")
        return JSONResponse({"ok": True})

    return router
