"""Translation of relman's errors (and FastAPI's validation errors) into JSON answers.

Every answer has ``{"error": kind, "message": text}`` plus the field and other details
where they help. A user's mistake is always a 4xx; only an unexpected bug is a 500, and its
body says nothing about the internals.

A body that is not JSON (not UTF-8, malformed, too deep: :func:`relman.api.body.load_json`)
is answered here, in one shape wherever it is found: ``field`` is ``"body"`` (never the
character offset FastAPI puts in its ``loc``) and ``position``/``line``/``column`` say
where (issue 15 item 2).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from relman.domain.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RelmanError,
    StoreUnavailable,
    Unauthenticated,
)
from relman.integrations.github import GitHubUnavailable, WorkflowDispatchRefused

log = logging.getLogger("relman.api")


class PayloadTooLarge(RelmanError):
    """A request body over the API's limit (``RELMAN_MAX_BODY_BYTES``)."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"body: larger than {limit} bytes", field="body")


_STATUS: list[tuple[type[RelmanError], int]] = [
    (PayloadTooLarge, 413),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (StoreUnavailable, 503),
    (ConfigError, 503),
    (WorkflowDispatchRefused, 502),
    (GitHubUnavailable, 503),
]


def status_for(exc: RelmanError) -> int:
    """The HTTP status for a relman error (400 for a kind not listed)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    """A JSON error answer in relman's shape."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": error, "message": message, **extra}, status_code=status, headers=headers
    )


def relman_error_response(exc: RelmanError) -> JSONResponse:
    """The answer to a relman error: its status (:func:`status_for`), code, message and
    details."""
    return error_response(status_for(exc), exc.code, exc.message, **exc.details)


def json_body_details(reason: str, doc: object, position: int) -> dict[str, Any]:
    """The error fields for a body that is not acceptable JSON: ``reason`` (what is wrong),
    ``doc`` (the body's text, for line and column) and ``position`` (a character offset).

    Out: ``message`` (``body: invalid JSON at line L, column C: reason``), ``field``
    (``"body"``), ``position``, ``line`` and ``column`` (1-based).
    """
    text = doc if isinstance(doc, str) else ""
    position = min(max(position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return {
        "message": f"body: invalid JSON at line {line}, column {column}: {reason}",
        "field": "body",
        "position": position,
        "line": line,
        "column": column,
    }


def json_body_response(status: int, exc: json.JSONDecodeError) -> JSONResponse:
    """The ``status`` answer for a body :func:`relman.api.body.load_json` refused."""
    details = json_body_details(exc.msg, exc.doc, exc.pos)
    message = details.pop("message")
    return error_response(status, "invalid_input", message, **details)


async def _relman_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelmanError)
    return relman_error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            # FastAPI's loc is ["body", <character offset>]: the offset is a position, not
            # a field, and the reason is in ctx.error.
            loc = err.get("loc", ())
            position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
            reason = str((err.get("ctx") or {}).get("error") or "not JSON")
            details = json_body_details(reason, exc.body, position)
            message = details.pop("message")
            problems = [{"field": "body", "message": message}]
            return error_response(422, "invalid_input", message, **details, problems=problems)
    problems = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        message = err.get("msg", "invalid")
        if not loc and err.get("type") in ("model_attributes_type", "dict_type", "missing"):
            message = "expected a JSON object (Content-Type: application/json)"
        problems.append({"field": ".".join(loc) or "body", "message": message})
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    return error_response(
        422,
        "invalid_input",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        problems=problems,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if isinstance(cause, RelmanError):
        # FastAPI wraps whatever fails while it reads a route's body in a 400 (raised
        # ``from`` the failure): answer the failure itself (a body over the limit: 413).
        return relman_error_response(cause)
    if exc.status_code == 400:
        # FastAPI's only own 400 is "There was an error parsing the body": bad input, which
        # the API documents as a 422 naming the field.
        return error_response(422, "invalid_input", "body: could not be read as JSON", field="body")
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, kind, str(exc.detail))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal", "internal error; see relman's log")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RelmanError, _relman_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
