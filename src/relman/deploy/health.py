"""Health check and smoke URLs, requested from the relman machine (DESIGN.md §4, seed 003).

Health: ``attempts`` numbered attempts, ``interval`` seconds apart, ``timeout`` seconds per
request (seed 003: "попытка 1 из 3"). The first request goes out right after the restart;
inside the first interval quick retries follow at pauses that double from
:data:`FIRST_PAUSE` (issue "Fast relman" item 5), so a service that is up in 0.2 s passes
in about 0.2 s, not after a whole interval. The last attempt is still due
``(attempts - 1) × interval`` seconds after the first, as before. A request passes when the
answer is 2xx and, when a version is expected, the body shows it: the JSON ``version``
field (``1.2.3`` or ``v1.2.3``) for a JSON body, else a substring. Smoke: every URL must
answer 2xx (seed 001 §3.5). Proxies from the environment are ignored (``trust_env=False``):
these are the deploy targets, not the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    #: The check was called off before its last attempt (the container exited).
    stopped: bool = False

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


#: The first pause (seconds) between quick health requests; each next one doubles.
FIRST_PAUSE = 0.05


def probe_schedule(
    attempts: int, interval: float, first_pause: float = FIRST_PAUSE
) -> list[tuple[float, int]]:
    """When each health request goes out: ``(seconds after the first request, attempt
    number)``, in order (pure).

    Attempt ``n`` is due at ``(n - 1) * interval``; inside the first interval quick
    requests (counted as attempt 1) follow at pauses of ``first_pause``, twice that, … as
    long as they fall before attempt 2. With one attempt, or a first pause not shorter than
    the interval, there are no quick requests.
    """
    schedule = [(0.0, 1)]
    if attempts > 1:
        pause, at = first_pause, first_pause
        while first_pause > 0 and at < interval:
            schedule.append((at, 1))
            pause *= 2
            at += pause
    schedule += [((n - 1) * interval, n) for n in range(2, attempts + 1)]
    return schedule


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
    stop: asyncio.Event | None = None,
) -> HealthReport:
    """Poll ``url`` on :func:`probe_schedule` until a request passes or the last attempt
    has failed.

    ``interval`` and ``attempt_timeout`` (per request) are seconds; ``expected_version`` is
    a version without ``v`` (``None``: any 2xx passes). ``on_attempt(n, attempts)`` is
    called once per numbered attempt, before its first request (for "🔍 Проверка health
    (попытка 1 из 3)..."), ``on_result`` after every request. Setting ``stop`` calls the
    check off at once (a report with ``stopped``; used when the container exited). Never
    raises for a failing service: the report says so.
    """
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    done: list[Attempt] = []
    announced = 0
    start = time.monotonic()
    try:
        for number, (offset, attempt_number) in enumerate(
            probe_schedule(attempts, interval), start=1
        ):
            wait = start + offset - time.monotonic()
            if stop is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, wait))
                if stop.is_set():
                    return HealthReport(url, False, tuple(done), expected_version, stopped=True)
            elif wait > 0:
                await asyncio.sleep(wait)
            if on_attempt is not None and attempt_number != announced:
                on_attempt(attempt_number, attempts)
            announced = attempt_number
            attempt = await probe(http, url, number, attempt_timeout, expected_version)
            done.append(attempt)
            if on_result is not None:
                on_result(attempt)
            if attempt.ok:
                return HealthReport(url, True, tuple(done), expected_version)
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
