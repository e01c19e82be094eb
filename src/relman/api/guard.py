"""The API's front door: body size limit, then authentication, before any route runs.

Runs as plain ASGI middleware so an unauthenticated or oversized request is refused before
FastAPI parses its body, and nothing is written.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relman.api.errors import error_response
from relman.domain.errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called the API. ``name`` goes into audit rows as the actor by default."""

    name: str
    method: str


class Authenticator(Protocol):
    """Proves who a request comes from, or raises :class:`Unauthenticated`."""

    def authenticate(self, headers: Headers, body: bytes) -> Principal: ...


class BearerAuthenticator:
    """``Authorization: Bearer <LOOM_INTERSERVER_SECRET_KEY>`` (seed 003's inter-server
    secret), compared in constant time."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def authenticate(self, headers: Headers, body: bytes) -> Principal:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing credentials: send Authorization: Bearer <secret>")
        if not hmac.compare_digest(token.strip().encode(), self._secret):
            raise Unauthenticated("wrong credentials")
        return Principal(name="ci", method="bearer")


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class GuardMiddleware:
    """Refuses bodies over ``max_body_bytes`` (413) and, under ``prefix``, requests that
    ``authenticator`` does not accept (401) — except ``open_paths``. The accepted
    principal is put in ``scope["state"]["principal"]``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        max_body_bytes: int,
        authenticator: Authenticator,
        open_paths: Collection[str],
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.max_body_bytes = max_body_bytes
        self.authenticator = authenticator
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body = b""
        if scope["method"] in _BODY_METHODS:
            read = await self._read_body(headers, receive)
            if read is None:
                response = error_response(
                    413,
                    "payload_too_large",
                    f"body: larger than {self.max_body_bytes} bytes",
                    field="body",
                )
                await response(scope, receive, send)
                return
            body = read
        path: str = scope["path"]
        guarded = (path == self.prefix or path.startswith(self.prefix + "/")) and (
            path not in self.open_paths
        )
        if guarded:
            try:
                principal = self.authenticator.authenticate(headers, body)
            except Unauthenticated as exc:
                await error_response(401, exc.code, exc.message)(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        if scope["method"] in _BODY_METHODS:
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes | None:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """A receive that hands the already-read body once, then waits on the real one."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
