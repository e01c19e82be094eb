"""Translation of relman's errors (and FastAPI's validation errors) into JSON answers.

Every answer has ``{"error": kind, "message": text}`` plus the field and other details
where they help. A user's mistake is always a 4xx; only an unexpected bug is a 500, and its
body says nothing about the internals.
"""

from __future__ import annotations

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

_STATUS: list[tuple[type[RelmanError], int]] = [
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


async def _relman_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelmanError)
    return error_response(status_for(exc), exc.code, exc.message, **exc.details)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
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
