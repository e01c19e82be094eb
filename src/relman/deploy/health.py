"""Health check and smoke URLs, requested from the relman machine (DESIGN.md §4, seed 003).

Health: up to ``attempts`` GETs, ``interval`` seconds apart, ``timeout`` seconds each. An
attempt passes when the answer is 2xx and, when a version is expected, the body shows it:
the JSON ``version`` field (``1.2.3`` or ``v1.2.3``) for a JSON body, else a substring.
Smoke: every URL must answer 2xx (seed 001 §3.5). Proxies from the environment are ignored
(``trust_env=False``): these are the deploy targets, not the internet.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Attempt:
    """One request: HTTP status (``None`` if no answer), error text, seconds taken."""

    number: int
    status: int | None
    ok: bool
    duration: float
    error: str | None = None
    version_seen: str | None = None


@dataclass(frozen=True)
class HealthReport:
    """The outcome of a health check or of one smoke URL."""

    url: str
    ok: bool
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    expected_version: str | None = None

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (for summary.json)."""
        return asdict(self)


def _version_in(body: str, content_type: str, version: str) -> tuple[bool, str | None]:
    """Whether ``body`` shows ``version``; also the version the body reports, if any."""
    wanted = {version, f"v{version}"}
    if "json" in content_type or body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and "version" in data:
            seen = str(data["version"])
            return seen in wanted, seen
    return version in body, None


async def probe(
    client: httpx.AsyncClient, url: str, number: int, limit: float, version: str | None
) -> Attempt:
    """One GET of ``url`` allowed ``limit`` seconds; never raises for network errors."""
    started = time.monotonic()
    try:
        response = await client.get(url, timeout=limit)
    except httpx.HTTPError as exc:
        return Attempt(
            number, None, False, time.monotonic() - started, f"{type(exc).__name__}: {exc}"
        )
    duration = time.monotonic() - started
    status = response.status_code
    if not 200 <= status < 300:
        return Attempt(number, status, False, duration, f"HTTP {status}")
    if version is None:
        return Attempt(number, status, True, duration)
    ok, seen = _version_in(response.text, response.headers.get("content-type", ""), version)
    error = None if ok else f"version {version} not in the answer (saw {seen or 'no version'})"
    return Attempt(number, status, ok, duration, error, seen)


async def check_health(
    url: str,
    *,
    attempts: int,
    interval: float,
    attempt_timeout: float,
    expected_version: str | None = None,
    on_attempt: Callable[[int, int], None] | None = None,
    on_result: Callable[[Attempt], None] | None = None,
    client: httpx.AsyncClient | None = None,
) -> HealthReport:
    """Poll ``url`` until an attempt passes or ``attempts`` are used up.

    ``interval`` and ``attempt_timeout`` (per request) are seconds; ``expected_version`` is
    a version without ``v`` (``None``: any 2xx passes). ``on_attempt(n, attempts)`` is
    called before each try (for "🔍 Проверка health (попытка 1 из 3)..."), ``on_result``
    after it. Never raises for a failing service: the report says so.
    """
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    done: list[Attempt] = []
    try:
        for number in range(1, attempts + 1):
            if on_attempt is not None:
                on_attempt(number, attempts)
            attempt = await probe(http, url, number, attempt_timeout, expected_version)
            done.append(attempt)
            if on_result is not None:
                on_result(attempt)
            if attempt.ok:
                return HealthReport(url, True, tuple(done), expected_version)
            if number < attempts:
                await asyncio.sleep(interval)
    finally:
        if own:
            await http.aclose()
    return HealthReport(url, False, tuple(done), expected_version)


async def check_smoke(
    urls: Sequence[str], *, attempt_timeout: float, client: httpx.AsyncClient | None = None
) -> list[HealthReport]:
    """GET every URL once (``attempt_timeout`` seconds each); each must answer 2xx."""
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    try:
        reports = []
        for url in urls:
            attempt = await probe(http, url, 1, attempt_timeout, None)
            reports.append(HealthReport(url, attempt.ok, (attempt,)))
        return reports
    finally:
        if own:
            await http.aclose()
