"""``POST {prefix}/update``: Telegram's webhook (seed 003's path).

Order of checks (DESIGN.md §5): the ``X-Telegram-Bot-Api-Secret-Token`` header is
compared (constant time) before the body is read or parsed — missing or wrong → 403 and
nothing is written; then the JSON body must be a Telegram ``Update`` (else 400); then the
update is handed to the bot to process in the background and the endpoint answers
``200 {"ok": true}`` at once. Telegram re-sends an update it got no 2xx for, so a business
refusal (a user without a role, a stale button) is never an error status here: it is a
short answer in the chat. Without a bot token the path answers 404.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from relman.api.errors import error_response
from relman.bot.runtime import SECRET_HEADER, BotRuntime
from relman.domain.errors import InvalidInput


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
        raw = await request.body()
        try:
            runtime.accept(json.loads(raw))
        except (ValueError, InvalidInput):
            return error_response(400, "invalid_input", "body: not a Telegram update")
        return JSONResponse({"ok": True})

    return router
