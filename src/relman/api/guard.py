"""The API's front door: body size limit, then authentication, before any route runs.

Runs as plain ASGI middleware so an unauthenticated or oversized request is refused before
FastAPI parses its body, and nothing is written. Open paths (health, metrics, Telegram's
webhook) are not authenticated here: their body is left unread, so a route with its own
credential (the webhook's secret header) checks it before reading the body, and the size
limit applies as that body is read (issue 15 item 3).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relman.api.errors import (
    PayloadTooLarge,
    error_response,
    relman_error_response,
    status_for,
)
from relman.domain.errors import RelmanError, Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called the API. ``name`` goes into audit rows as the actor by default.

    ``kind`` is ``service`` for the inter-server bearer secret (a trusted caller that may
    act for a named actor) and ``ci`` for a CI identity (GitHub OIDC token or HMAC
    signature): CI may create releases and report statuses, never approve (DESIGN.md §5).
    ``repository`` / ``ref`` are the OIDC token's claims when known.
    """

    name: str
    method: str
    kind: Literal["service", "ci"] = "service"
    repository: str | None = None
    ref: str | None = None


class Authenticator(Protocol):
    """Proves who a request comes from, or raises :class:`Unauthenticated` (any other
    :class:`RelmanError`, e.g. the database being down, is answered with its own status).
    """

    async def authenticate(self, headers: Headers, body: bytes) -> Principal: ...


class TokenVerifier(Protocol):
    """Verifies a bearer token that is not the shared secret (a GitHub OIDC JWT)."""

    async def verify(self, token: str) -> Principal: ...


#: The headers of an HMAC-signed request (checked in :mod:`relman.api.ci_auth`).
ID_HEADER = "X-Relman-Request-Id"
TIMESTAMP_HEADER = "X-Relman-Timestamp"
SIGNATURE_HEADER = "X-Relman-Signature"

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(token: str) -> bool:
    """True when ``token`` has a JWT's compact shape: three base64url parts joined by
    dots (the last may be empty, as in an ``alg=none`` token). The shared secret made by
    ``relman config init-env`` has no dots, so it never looks like one."""
    return bool(_JWT_SHAPE.match(token))


class ApiAuthenticator:
    """The API's credentials (DESIGN.md §5), tried in this order:

    1. a request carrying any ``X-Relman-Signature``/``-Request-Id``/``-Timestamp``
       header is an HMAC-signed CI request, checked by ``signed`` (refused when HMAC is
       off);
    2. ``Authorization: Bearer <LOOM_INTERSERVER_SECRET_KEY>`` (seed 003's inter-server
       secret, compared in constant time) → principal ``ci`` of kind ``service``: creates
       and reports like CI; ``Authorization: Bearer <RELMAN_OPERATOR_SECRET>`` → principal
       ``operator``, the only API caller that may relay a person's decision;
    3. ``Authorization: Bearer <JWT>`` → a GitHub Actions OIDC token, checked by ``oidc``
       (refused when OIDC is off).
    """

    def __init__(
        self,
        secret: str,
        *,
        operator_secret: str | None = None,
        oidc: TokenVerifier | None = None,
        signed: Authenticator | None = None,
    ) -> None:
        self._secret = secret.encode()
        self._operator = operator_secret.encode() if operator_secret else None
        self._oidc = oidc
        self._signed = signed

    async def authenticate(self, headers: Headers, body: bytes) -> Principal:
        """The caller's principal; raises :class:`Unauthenticated` saying what failed."""
        if any(name in headers for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)):
            if self._signed is None:
                raise Unauthenticated("HMAC-signed requests are not enabled on this relman")
            return await self._signed.authenticate(headers, body)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "missing credentials: send Authorization: Bearer <secret or GitHub OIDC "
                "token>, or an HMAC-signed request"
            )
        if hmac.compare_digest(token.encode(), self._secret):
            return Principal(name="ci", method="bearer", kind="service")
        if self._operator is not None and hmac.compare_digest(token.encode(), self._operator):
            return Principal(name="operator", method="operator", kind="service")
        if looks_like_jwt(token):
            if self._oidc is None:
                raise Unauthenticated("GitHub OIDC tokens are not enabled on this relman")
            return await self._oidc.verify(token)
        raise Unauthenticated("wrong credentials")


class BearerAuthenticator(ApiAuthenticator):
    """Only the shared secret: ``Authorization: Bearer <LOOM_INTERSERVER_SECRET_KEY>``."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class GuardMiddleware:
    """Refuses bodies over ``max_body_bytes`` (413) and, under ``prefix``, requests that
    ``authenticator`` does not accept (401) — except ``open_paths``. The accepted
    principal is put in ``scope["state"]["principal"]``.

    A guarded request's body is read first (an HMAC signature covers it); an open path's
    body is read by its route, through a receive that raises :class:`PayloadTooLarge`
    (answered 413 by the app's error handler) once the body passes the limit.
    """

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
        path: str = scope["path"]
        guarded = (path == self.prefix or path.startswith(self.prefix + "/")) and (
            path not in self.open_paths
        )
        if not guarded:
            await self.app(scope, _limited(receive, headers, self.max_body_bytes), send)
            return
        body = b""
        if scope["method"] in _BODY_METHODS:
            read = await self._read_body(headers, receive)
            if read is None:
                await relman_error_response(PayloadTooLarge(self.max_body_bytes))(
                    scope, receive, send
                )
                return
            body = read
        try:
            principal = await self.authenticator.authenticate(headers, body)
        except RelmanError as exc:
            response = error_response(status_for(exc), exc.code, exc.message)
            await response(scope, receive, send)
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


def _limited(original: Receive, headers: Headers, limit: int) -> Receive:
    """A receive that raises :class:`PayloadTooLarge` when the body is declared (Content-
    Length) or turns out larger than ``limit`` bytes — only once someone reads it."""
    declared = headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    size = 0

    async def receive() -> Message:
        nonlocal size
        if too_large:
            raise PayloadTooLarge(limit)
        message = await original()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise PayloadTooLarge(limit)
        return message

    return receive


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
