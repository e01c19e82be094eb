"""The pieces behind the API's CI identities, each against its real counterpart: the JWKS
cache and OIDC verifier over HTTP against the issuer double, the HMAC verifier with the
real ``seen_keys`` table, and the front door's choice between them."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers

from relman.api.ci_auth import HmacAuthenticator, JwksCache, OidcAuthenticator
from relman.api.guard import ApiAuthenticator
from relman.domain.errors import Unauthenticated
from relman.store.db import create_engine
from relman.store.seen import SeenStore
from tests.support.github_double import OidcIssuerDouble, unused_url

AUDIENCE = "https://relman.example/ci"
SECRET = "h" * 40
T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Iterator[OidcIssuerDouble]:
    with OidcIssuerDouble(AUDIENCE) as double:
        yield double


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


# --- JWKS cache ------------------------------------------------------------------------


async def test_keys_are_cached_for_the_ttl_then_refetched(issuer: OidcIssuerDouble) -> None:
    clock = Clock()
    cache = JwksCache(issuer.jwks_url, ttl=300, monotonic=clock)
    assert (await cache.key(issuer.kid)).key_id == issuer.kid
    clock.now += 299
    await cache.key(issuer.kid)
    assert issuer.jwks_fetches == 1
    clock.now += 1
    await cache.key(issuer.kid)
    assert issuer.jwks_fetches == 2


async def test_an_unknown_kid_refetches_once_then_is_throttled(issuer: OidcIssuerDouble) -> None:
    clock = Clock()
    cache = JwksCache(issuer.jwks_url, ttl=300, min_refetch_interval=5, monotonic=clock)
    await cache.key(issuer.kid)
    clock.now += 6
    new_kid = issuer.rotate()
    assert (await cache.key(new_kid)).key_id == new_kid  # rotation: one refetch
    assert issuer.jwks_fetches == 2
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="unknown signing key"):
            await cache.key("random-kid")
    assert issuer.jwks_fetches == 2  # within 5 s of the last fetch: no more
    clock.now += 5
    with pytest.raises(Unauthenticated, match="unknown signing key"):
        await cache.key("random-kid")
    assert issuer.jwks_fetches == 3


async def test_cached_keys_survive_an_issuer_outage(issuer: OidcIssuerDouble) -> None:
    clock = Clock()
    cache = JwksCache(issuer.jwks_url, ttl=10, min_refetch_interval=0, monotonic=clock)
    await cache.key(issuer.kid)
    issuer.fail_jwks = True
    clock.now += 11
    assert (await cache.key(issuer.kid)).key_id == issuer.kid
    assert issuer.jwks_fetches == 2  # the refresh was tried and failed


async def test_no_keys_at_all_is_a_clear_refusal(issuer: OidcIssuerDouble) -> None:
    issuer.fail_jwks = True
    cache = JwksCache(issuer.jwks_url, min_refetch_interval=0)
    with pytest.raises(Unauthenticated, match="keys could not be fetched"):
        await cache.key(issuer.kid)
    nobody = JwksCache(unused_url() + "/.well-known/jwks", min_refetch_interval=0)
    with pytest.raises(Unauthenticated, match="keys could not be fetched"):
        await nobody.key(issuer.kid)


@pytest.mark.parametrize("body", [[{"kty": "RSA"}], "keys", {"keys": "x"}, {"issuer": "x"}])
async def test_a_jwks_url_answering_something_else_is_a_clear_refusal(
    issuer: OidcIssuerDouble, body: object
) -> None:
    issuer.jwks_body = body  # e.g. RELMAN_OIDC_JWKS_URL pointing at another JSON endpoint
    cache = JwksCache(issuer.jwks_url, min_refetch_interval=0)
    with pytest.raises(Unauthenticated, match="key set is not usable"):
        await cache.key(issuer.kid)


async def test_the_oidc_verifier_accepts_a_rotated_key_and_names_the_principal(
    issuer: OidcIssuerDouble,
) -> None:
    clock = Clock()
    verifier = OidcAuthenticator(
        issuer="https://token.actions.githubusercontent.com",
        audience=AUDIENCE,
        jwks=JwksCache(issuer.jwks_url, min_refetch_interval=5, monotonic=clock),
        allowed_repositories=["org/loom-content", "99"],
    )
    principal = await verifier.verify(issuer.mint())
    assert (principal.kind, principal.name, principal.method) == ("ci", "gh:octocat", "oidc")
    assert (principal.repository, principal.ref) == ("org/loom-content", "refs/tags/v1.2.3")
    clock.now += 10
    issuer.rotate(keep_old=False)
    rotated = await verifier.verify(issuer.mint(repository="org/renamed", repository_id="99"))
    assert rotated.repository == "org/renamed"  # allowed by its repository_id
    assert issuer.jwks_fetches == 2


# --- HMAC ------------------------------------------------------------------------------


def _headers(body: bytes, request_id: str, timestamp: datetime) -> Headers:
    ts = str(int(timestamp.timestamp()))
    message = f"{request_id}\n{ts}\n".encode() + body
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    return Headers(
        {
            "x-relman-request-id": request_id,
            "x-relman-timestamp": ts,
            "x-relman-signature": f"sha256={digest.upper()}",
        }
    )


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False)],
)
async def test_the_hmac_window_is_five_minutes_both_ways(
    engine: AsyncEngine, skew: int, accepted: bool
) -> None:
    verifier = HmacAuthenticator(SECRET, SeenStore(engine), clock=lambda: T0)
    headers = _headers(b"{}", "req-1", T0 + timedelta(seconds=skew))
    if accepted:
        principal = await verifier.authenticate(headers, b"{}")
        assert (principal.kind, principal.name, principal.method) == ("ci", "ci:hmac", "hmac")
    else:
        with pytest.raises(Unauthenticated, match="stale timestamp"):
            await verifier.authenticate(headers, b"{}")
    # A refused request did not record its id; an accepted one did.
    assert await SeenStore(engine).first_time("hmac:req-1", at=T0) is not accepted


# --- the front door --------------------------------------------------------------------


async def test_the_front_door_routes_by_credential(
    engine: AsyncEngine, issuer: OidcIssuerDouble
) -> None:
    oidc = OidcAuthenticator(
        issuer="https://token.actions.githubusercontent.com",
        audience=AUDIENCE,
        jwks=JwksCache(issuer.jwks_url),
        allowed_repositories=["org/loom-content"],
    )
    signed = HmacAuthenticator(SECRET, SeenStore(engine), clock=lambda: T0)
    door = ApiAuthenticator("the-secret", oidc=oidc, signed=signed)

    service = await door.authenticate(Headers({"authorization": "Bearer the-secret"}), b"")
    assert (service.kind, service.name, service.method) == ("service", "ci", "bearer")
    ci = await door.authenticate(Headers({"authorization": f"bearer {issuer.mint()}"}), b"")
    assert (ci.kind, ci.method) == ("ci", "oidc")
    hmac_ci = await door.authenticate(_headers(b"", "req-2", T0), b"")
    assert (hmac_ci.kind, hmac_ci.method) == ("ci", "hmac")

    for headers, message in [
        ({}, "missing credentials"),
        ({"authorization": "Basic the-secret"}, "missing credentials"),
        ({"authorization": "Bearer wrong"}, "wrong credentials"),
        ({"authorization": "Bearer the-secret", "x-relman-timestamp": "1"}, "X-Relman-Request-Id"),
    ]:
        with pytest.raises(Unauthenticated, match=message):
            await door.authenticate(Headers(headers), b"")
