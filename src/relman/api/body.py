"""Reading a request body as JSON, strictly (issue 15 item 2).

One parser for every JSON body relman takes — the Release API's (through
:class:`JsonRoute`, which FastAPI calls for each route) and the Telegram webhook's — so
every body that is not JSON is refused alike, as a 4xx naming ``body`` and the position.

JSON text is UTF-8 (RFC 8259 §8.1: a UTF-8 byte order mark is ignored), holds no
``NaN``/``Infinity`` (not JSON, though Python's parser takes them), no integer longer than
Python converts (``sys.get_int_max_str_digits()``) and no nesting deeper than
:data:`MAX_JSON_DEPTH`: Python's parser recurses per level and a few thousand ``[`` are a
``RecursionError``, which used to be a 500.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

#: The deepest nesting accepted. relman's own bodies are one level deep and a Telegram
#: update about ten; the limit only has to stay far below Python's recursion limit.
MAX_JSON_DEPTH = 64

# JSON strings (skipped whole, so brackets inside them do not count; the unrolled loop is
# linear), a quote that opens no complete string, brackets, the non-JSON constants Python
# accepts, and digit runs.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{}]|NaN|-?Infinity|[0-9]+', re.DOTALL)


class _NotJsonConstant(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _refuse_constant(token: str) -> Any:
    raise _NotJsonConstant(token)


def _tokens(text: str) -> Iterator[re.Match[str]]:
    """The tokens of ``text`` outside strings, up to a string that never ends (the parser
    reports that one; scanning on from each later quote would take quadratic time)."""
    for match in _TOKENS.finditer(text):
        if match.group() == '"':
            return
        if not match.group().startswith('"'):
            yield match


def _first(text: str, wanted: Callable[[str], bool]) -> int:
    """The position of the first token outside strings for which ``wanted`` holds (0 if
    none is found, which only costs precision in a message)."""
    for match in _tokens(text):
        if wanted(match.group()):
            return match.start()
    return 0


def _too_deep(text: str, limit: int) -> int | None:
    """The position of the first bracket nested deeper than ``limit``, if any."""
    depth = 0
    for match in _tokens(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return match.start()
        elif token in ("]", "}"):
            depth -= 1
    return None


def load_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of a request body.

    In: the body's bytes. Out: the parsed value (any JSON type; checking its shape is the
    caller's job). Raises :class:`json.JSONDecodeError` for a body that is not UTF-8, not
    JSON, nested deeper than ``max_depth`` or with a number Python will not convert; its
    ``msg`` says what is wrong in words for a user, ``doc`` is the text (undecodable bytes
    replaced) and ``pos`` the character offset, from which ``lineno``/``colno`` follow.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        doc = raw.decode("utf-8", errors="replace")
        reason = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        raise json.JSONDecodeError(reason, doc, len(good)) from None
    if text.startswith("\ufeff"):
        # A space keeps every position where the client counts it.
        text = " " + text[1:]
    deep = _too_deep(text, max_depth)
    if deep is not None:
        raise json.JSONDecodeError(f"nested deeper than {max_depth} levels", text, deep)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except _NotJsonConstant as exc:
        token = exc.token
        pos = _first(text, lambda t: t == token)
        raise json.JSONDecodeError(f"{token} is not a JSON value", text, pos) from None
    except ValueError:
        # Python refuses to convert an integer longer than this many digits (CVE-2020-10735).
        limit = sys.get_int_max_str_digits()
        pos = _first(text, lambda t: t.isdigit() and len(t) > limit)
        raise json.JSONDecodeError(f"a number longer than {limit} digits", text, pos) from None


class StrictJsonRequest(Request):
    """A request whose :meth:`json` is :func:`load_json` (FastAPI parses route bodies with
    it, and turns its :class:`json.JSONDecodeError` into a ``json_invalid`` validation
    error at ``["body", pos]``, which :mod:`relman.api.errors` answers)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = load_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """An API route that reads its JSON body with :class:`StrictJsonRequest` (FastAPI's
    documented way to customise the request: a custom ``APIRoute.get_route_handler``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
