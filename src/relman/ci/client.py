"""An httpx client of relman's Release API, as CI uses it.

Routes (DESIGN.md, seed 003), under the base URL that includes the prefix:
``POST /release`` (201 created, 200 already recorded), ``PATCH /release/{id}``,
``GET /release/{id}``. Every request carries ``Authorization: Bearer <secret>`` — or,
inside GitHub Actions with an OIDC request configured (:attr:`ApiSettings.oidc`),
``Authorization: Bearer <OIDC token>``: the token is fetched from the runner's endpoint
(``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`` with ``Authorization: Bearer
$ACTIONS_ID_TOKEN_REQUEST_TOKEN``, answering ``{"value": "<jwt>"}``) at the first request
and reused; a new one is fetched only when the one held is about to expire.

The retry rule (for the OIDC token request too): a request is tried again, with
exponential backoff, only when no HTTP answer arrived (a :class:`httpx.TransportError`:
refused, reset, timed out), at most ``attempts`` times in all. An HTTP answer — even a
5xx — is never retried: it is the API's word. Creating a release is idempotent on
(service, tag, run id); a status report whose earlier attempt may have reached the server
is recognised when the API then answers "illegal transition" from the very status that
was asked for.

Errors: :class:`ApiRefused` (an HTTP error answer; :attr:`ApiError.exit_code` 2 for a
4xx, 1 otherwise), :class:`ApiUnreachable` (every attempt failed; exit code 1),
:class:`ApiBadAnswer` (a 2xx whose body is not a release; exit code 1),
:class:`OidcTokenError` (no OIDC token from the runner; exit code 1). No message contains
the secret, the OIDC request token or an OIDC token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from relman import __version__
from relman.ci.github_env import OIDC_REQUEST_URL_VAR, ApiSettings, OidcRequest
from relman.config import redact_url
from relman.domain.errors import RelmanError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is retried on connection errors.

    ``attempts`` (≥ 1) counts the first try; the n-th retry waits
    ``min(first_delay * factor ** (n - 1), max_delay)`` seconds.
    """

    attempts: int = 5
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0

    def delays(self) -> list[float]:
        """The waits (seconds) before retries 1 … attempts-1."""
        return [
            min(self.first_delay * self.factor**n, self.max_delay) for n in range(self.attempts - 1)
        ]


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """Told to ``on_retry`` before each wait: attempt ``attempt`` of ``attempts`` failed
    with ``reason``; the next starts after ``delay`` seconds."""

    method: str
    path: str
    attempt: int
    attempts: int
    delay: float
    reason: str
    target: str = "relman API"


@dataclass(frozen=True, slots=True)
class ApiRelease:
    """The fields of a release answer that CI needs (``status`` as the API spells it)."""

    id: int
    service_name: str
    release_tag: str
    status: str
    allowed_next: list[str] = field(default_factory=list)
    github_action_link: str = ""


class ApiError(RelmanError):
    """The Release API could not be used; :attr:`exit_code` is what ``relman ci`` exits
    with (1 unless a subclass says otherwise)."""

    code = "api_error"

    @property
    def exit_code(self) -> int:
        """1: not the user's mistake (network, server)."""
        return 1


class ApiRefused(ApiError):
    """The API answered with an HTTP error. ``status`` is the HTTP status, ``kind`` the
    body's ``error``, ``api_message`` its ``message``, ``field`` its ``field`` and
    ``body`` the whole decoded JSON object (``{}`` when the body was not JSON)."""

    code = "api_refused"

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        kind: str,
        api_message: str,
        field: str | None,
        body: dict[str, Any],
    ) -> None:
        where = f" (field: {field})" if field else ""
        super().__init__(
            f"relman API refused {method} {path}: {status} {kind}: {api_message}{where}",
            status=status,
            error=kind,
            field=field,
        )
        self.method = method
        self.path = path
        self.status = status
        self.kind = kind
        self.api_message = api_message
        self.field = field
        self.body = body

    @property
    def exit_code(self) -> int:
        """2 for a 4xx (the request was wrong), 1 for anything else."""
        return 2 if 400 <= self.status < 500 else 1


class ApiUnreachable(ApiError):
    """No attempt got an HTTP answer."""

    code = "api_unreachable"


class ApiBadAnswer(ApiError):
    """A success status whose body is not what the API sends."""

    code = "api_bad_answer"


class OidcTokenError(ApiError):
    """The runner's OIDC token endpoint gave no token (an HTTP error, no answer after
    every attempt, or an answer without ``value``)."""

    code = "oidc_token_error"


_NOT_DELIVERED = (httpx.ConnectError, httpx.ConnectTimeout)
#: A token this close (seconds) to its ``exp`` is replaced before the next request.
TOKEN_REFRESH_MARGIN = 30.0


class ReleaseApiClient:
    """The Release API at ``settings.url``. Use as ``async with``.

    ``transport`` replaces the network (e.g. :class:`httpx.ASGITransport` of a real app)
    for the API, ``token_transport`` for the runner's OIDC token endpoint; ``sleep`` waits
    between retries (seconds); ``on_retry`` hears of each retry; ``clock`` is the time in
    unix seconds (compared with an OIDC token's ``exp``).
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        on_retry: Callable[[RetryNotice], None] | None = None,
        token_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.oidc is None and settings.secret is None:
            raise ValueError("ApiSettings needs a secret or an OIDC request")
        self._base = settings.url.rstrip("/")
        self._retry = retry or RetryPolicy(attempts=settings.attempts, first_delay=settings.backoff)
        self._sleep = sleep
        self._on_retry = on_retry
        self._secret = settings.secret
        self._oidc = settings.oidc
        self._timeout = settings.timeout
        self._token_transport = token_transport
        self._clock = clock
        self._token: str | None = None
        self._token_expires: float | None = None
        self._token_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=settings.timeout,
            headers={
                "Accept": "application/json",
                "User-Agent": f"relman-ci/{__version__}",
            },
        )

    @property
    def uses_oidc(self) -> bool:
        """Whether requests carry a GitHub OIDC token rather than the secret."""
        return self._oidc is not None

    @property
    def where(self) -> str:
        """The base URL without any password (for messages)."""
        return redact_url(self._base)

    async def __aenter__(self) -> ReleaseApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def create_release(
        self,
        *,
        service_name: str,
        release_tag: str,
        initiated_by: str,
        github_run_id: str,
        github_action_link: str,
        github_ref: str,
    ) -> tuple[ApiRelease, bool]:
        """``POST /release``: record a release in ``initiated``.

        Returns ``(release, created)``; ``created`` is False when the API already had this
        service, tag and run id (200). Raises :class:`ApiError`.
        """
        body = {
            "service_name": service_name,
            "release_tag": release_tag,
            "initiated_by": initiated_by,
            "github_run_id": github_run_id,
            "github_action_link": github_action_link,
            "github_ref": github_ref,
        }
        response, _ = await self._send("POST", "/release", body)
        return _release(response, "POST /release"), response.status_code == 201

    async def report_status(
        self,
        release_id: int,
        status: str,
        *,
        note: str = "",
        actor: str | None = None,
        rollback_to_tag: str | None = None,
    ) -> ApiRelease:
        """``PATCH /release/{id}``: move the release to ``status``; returns it after the
        move. ``actor`` (e.g. ``gh:login``) goes into the audit row; without it the API
        records the caller. Raises :class:`ApiError` (a 409 ``illegal_transition`` for a
        move the lifecycle does not allow)."""
        body: dict[str, Any] = {"status": status, "note": note}
        if actor:
            body["actor"] = actor
        if rollback_to_tag:
            body["rollback_to_tag"] = rollback_to_tag
        path = f"/release/{release_id}"
        try:
            response, _ = await self._send("PATCH", path, body)
        except ApiRefused as refused:
            if not _already_done(refused, status):
                raise
            # An earlier attempt reached the server before the connection broke.
            return await self.get_release(release_id)
        return _release(response, f"PATCH {path}")

    async def get_release(self, release_id: int) -> ApiRelease:
        """``GET /release/{id}``. Raises :class:`ApiError` (404 for an unknown id)."""
        path = f"/release/{release_id}"
        response, _ = await self._send("GET", path, None)
        return _release(response, f"GET {path}")

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Any other route (``path`` under the base URL, query string included): its
        decoded JSON answer. Raises :class:`ApiError` (:class:`ApiBadAnswer` for a 2xx
        that is not JSON)."""
        response, _ = await self._send(method, path, body)
        try:
            return response.json()
        except ValueError:
            raise ApiBadAnswer(
                f"relman API answered {method} {path} with {response.status_code} but not "
                f"JSON: {_one_line(response.text) or '(empty body)'}"
            ) from None

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[httpx.Response, bool]:
        """The first HTTP answer (raising :class:`ApiRefused` for an error status) and
        whether an earlier failed attempt may have reached the server."""
        headers = {"Authorization": f"Bearer {await self._credential()}"}

        def unreachable(attempt: int, reason: str) -> ApiError:
            return ApiUnreachable(
                f"cannot reach the relman API at {self.where} ({method} {path}) "
                f"after {attempt} attempt{'s' if attempt > 1 else ''}: {reason}"
            )

        response, maybe_delivered = await self._retrying(
            method,
            path,
            "relman API",
            lambda: self._http.request(method, self._base + path, json=body, headers=headers),
            unreachable,
        )
        if response.is_error:
            raise _refusal(method, path, response, maybe_delivered)
        return response, maybe_delivered

    async def _retrying(
        self,
        method: str,
        path: str,
        target: str,
        request: Callable[[], Awaitable[httpx.Response]],
        unreachable: Callable[[int, str], ApiError],
    ) -> tuple[httpx.Response, bool]:
        """The first HTTP answer of ``request``, tried again (per :attr:`_retry`) while
        none arrives, and whether an earlier failed attempt may have been delivered."""
        delays = self._retry.delays()
        maybe_delivered = False
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await request(), maybe_delivered
            except httpx.TransportError as exc:
                maybe_delivered = maybe_delivered or not isinstance(exc, _NOT_DELIVERED)
                reason = _describe(exc)
                if attempt == self._retry.attempts:
                    raise unreachable(attempt, reason) from None
                delay = delays[attempt - 1]
                if self._on_retry is not None:
                    self._on_retry(
                        RetryNotice(
                            method, path, attempt, self._retry.attempts, delay, reason, target
                        )
                    )
                await self._sleep(delay)
        raise AssertionError("unreachable: attempts >= 1")  # pragma: no cover

    async def _credential(self) -> str:
        """The bearer credential: the secret, or the OIDC token (fetched the first time
        and again only when the one held is about to expire)."""
        if self._oidc is None:
            assert self._secret is not None  # checked in __init__
            return self._secret
        async with self._token_lock:
            if self._token is None or (
                self._token_expires is not None
                and self._clock() >= self._token_expires - TOKEN_REFRESH_MARGIN
            ):
                self._token = await self._fetch_token(self._oidc)
                self._token_expires = _expiry(self._token)
            return self._token

    async def _fetch_token(self, oidc: OidcRequest) -> str:
        """``GET`` the runner's token URL for ``oidc.audience``; the ``value`` it answers.
        Raises :class:`OidcTokenError` (never naming the request token or the JWT)."""
        what = (
            f"cannot get a GitHub OIDC token for audience {oidc.audience!r} from "
            f"{OIDC_REQUEST_URL_VAR} ({oidc.where})"
        )

        def unreachable(attempt: int, reason: str) -> ApiError:
            plural = "s" if attempt > 1 else ""
            return OidcTokenError(f"{what}: no answer after {attempt} attempt{plural}: {reason}")

        headers = {
            "Authorization": f"Bearer {oidc.request_token}",
            "Accept": "application/json",
            "User-Agent": f"relman-ci/{__version__}",
        }
        async with httpx.AsyncClient(
            transport=self._token_transport, timeout=self._timeout
        ) as http:
            response, _ = await self._retrying(
                "GET",
                OIDC_REQUEST_URL_VAR,
                "GitHub OIDC token endpoint",
                lambda: http.get(oidc.token_url, headers=headers),
                unreachable,
            )
        if response.is_error:
            detail = _scrub(_error_message(response), oidc.request_token)
            raise OidcTokenError(
                f"{what}: {response.status_code} {response.reason_phrase}"
                + (f": {detail}" if detail else "")
            )
        try:
            value = response.json().get("value")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value.strip():
            raise OidcTokenError(
                f"{what}: it answered {response.status_code} without a token "
                '(expected JSON {"value": "<jwt>"})'
            )
        return value.strip()


class _Replayed(ApiRefused):
    """An :class:`ApiRefused` for a request an earlier attempt may already have done."""


def _refusal(method: str, path: str, response: httpx.Response, maybe_delivered: bool) -> ApiRefused:
    try:
        data = response.json()
    except ValueError:
        data = None
    body = data if isinstance(data, dict) else {}
    kind = str(body.get("error") or response.reason_phrase or "error")
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = _one_line(response.text) or "(no message)"
    field = body.get("field")
    cls = _Replayed if maybe_delivered else ApiRefused
    return cls(
        method,
        path,
        response.status_code,
        kind,
        message,
        field if isinstance(field, str) else None,
        body,
    )


def _already_done(refused: ApiRefused, status: str) -> bool:
    return (
        isinstance(refused, _Replayed)
        and refused.status == 409
        and refused.kind == "illegal_transition"
        and refused.body.get("current_status") == status
    )


def _release(response: httpx.Response, what: str) -> ApiRelease:
    try:
        data = response.json()
        return ApiRelease(
            id=_int(data["id"]),
            service_name=str(data["service_name"]),
            release_tag=str(data["release_tag"]),
            status=str(data["status"]),
            allowed_next=[str(s) for s in data.get("allowed_next", [])],
            github_action_link=str(data.get("github_action_link", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiBadAnswer(
            f"relman API answered {what} with {response.status_code} but not a release: "
            f"{_one_line(response.text) or '(empty body)'}"
        ) from None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("id is not an integer")
    return value


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return _one_line(data["message"])
    return _one_line(response.text)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def _expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (read without verifying: only to know when to fetch a
    new one — the server verifies), or ``None`` when it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims["exp"]
    except (IndexError, ValueError, binascii.Error, KeyError, TypeError):
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def _describe(exc: httpx.TransportError) -> str:
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
