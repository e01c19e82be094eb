"""CI identities on the real Release API (DESIGN.md §5): GitHub OIDC tokens verified
against a local issuer double's JWKS over HTTP, HMAC-signed requests with replay
protection in the real database. Every refusal is a 401 naming what failed, and nothing
is written (checked through the API with the bearer secret and in the tables)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.store.tables import release_events, releases
from tests.conftest import SECRET, make_settings
from tests.support.api import PREFIX, release_body, service_toml
from tests.support.github_double import OidcIssuerDouble

AUDIENCE = "https://relman.example/ci"
HMAC_SECRET = "hmac-secret-for-the-tests-0123456789abcdef"

RELMAN_TOML = (
    service_toml("loom-content", 8004, github_repository="org/loom-content")
    + service_toml("loom-other", 8005, github_repository="org/loom-other")
    + service_toml("no-github", 8006)
)


@pytest.fixture
def issuer() -> Iterator[OidcIssuerDouble]:
    with OidcIssuerDouble(AUDIENCE) as double:
        yield double


@pytest.fixture
async def ci_container(
    database_url: str, tmp_path: Path, issuer: OidcIssuerDouble
) -> AsyncIterator[Container]:
    (tmp_path / "relman.toml").write_text(RELMAN_TOML, encoding="utf-8")
    settings = make_settings(
        database_url,
        tmp_path,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=issuer.jwks_url,
        oidc_repositories=["org/extra-tools"],
        hmac_secret=HMAC_SECRET,
    )
    container = build(settings)
    yield container
    await container.aclose()


@pytest.fixture
async def client(ci_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, with no credentials by default."""
    transport = httpx.ASGITransport(app=create_app(ci_container))
    async with httpx.AsyncClient(transport=transport, base_url="http://relman.test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listed_releases(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The releases, as the API lists them to the bearer-secret caller."""
    response = await client.get(f"{PREFIX}/releases", headers=bearer(SECRET))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["releases"]
    return found


async def row_counts(container: Container) -> tuple[int, int]:
    async with container.engine.connect() as conn:
        n_releases = (await conn.execute(select(func.count()).select_from(releases))).scalar()
        n_events = (await conn.execute(select(func.count()).select_from(release_events))).scalar()
    return int(n_releases or 0), int(n_events or 0)


# --- OIDC ------------------------------------------------------------------------------


async def test_a_valid_oidc_token_creates_a_release_and_acts_as_the_github_actor(
    client: httpx.AsyncClient, issuer: OidcIssuerDouble
) -> None:
    token = issuer.mint()
    created = await client.post(f"{PREFIX}/release", json=release_body(), headers=bearer(token))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]

    report = await client.patch(
        f"{PREFIX}/release/{rid}", json={"status": "building"}, headers=bearer(token)
    )
    assert report.status_code == 200, report.text
    detail = (await client.get(f"{PREFIX}/release/{rid}", headers=bearer(token))).json()
    # The initiator is the token's actor, whatever the body claims (four-eyes).
    assert created.json()["initiated_by"] == "octocat"
    assert [(e["to_status"], e["actor"]) for e in detail["events"]] == [
        ("initiated", "octocat"),
        ("building", "gh:octocat"),
    ]
    assert [r["id"] for r in await listed_releases(client)] == [rid]
    assert issuer.jwks_fetches == 1  # the keys were cached across the three requests


async def test_a_token_cannot_report_on_another_repositorys_release(
    client: httpx.AsyncClient, issuer: OidcIssuerDouble
) -> None:
    created = await client.post(
        f"{PREFIX}/release", json=release_body(), headers=bearer(issuer.mint())
    )
    rid = created.json()["id"]
    other = issuer.mint(repository="org/loom-other", ref="refs/heads/main")
    report = await client.patch(
        f"{PREFIX}/release/{rid}", json={"status": "building"}, headers=bearer(other)
    )
    assert report.status_code == 403
    assert "cannot report on loom-content" in report.json()["message"]
    detail = (await client.get(f"{PREFIX}/release/{rid}", headers=bearer(issuer.mint()))).json()
    assert detail["status"] == "initiated"
    assert [(e["kind"], e["to_status"]) for e in detail["events"]] == [
        ("transition", "initiated"),
        ("refused", "building"),
    ]


async def test_a_repository_from_the_settings_list_is_accepted(
    client: httpx.AsyncClient, issuer: OidcIssuerDouble
) -> None:
    token = issuer.mint(repository="ORG/Extra-Tools", ref="refs/heads/main")
    response = await client.get(f"{PREFIX}/releases", headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_a_branch_token_may_read_but_not_start_a_release(
    client: httpx.AsyncClient, ci_container: Container, issuer: OidcIssuerDouble
) -> None:
    token = issuer.mint(ref="refs/heads/main")
    assert (await client.get(f"{PREFIX}/releases", headers=bearer(token))).status_code == 200
    response = await client.post(f"{PREFIX}/release", json=release_body(), headers=bearer(token))
    assert response.status_code == 401
    assert "ref not a version tag" in response.json()["message"]
    assert await listed_releases(client) == []
    assert await row_counts(ci_container) == (0, 0)


REFUSED_TOKENS: list[tuple[str, Callable[[OidcIssuerDouble], str], dict[str, Any], str]] = [
    ("expired", lambda i: i.mint_expired(), {}, "expired"),
    ("wrong audience", lambda i: i.mint_wrong_audience(), {}, "wrong audience"),
    ("wrong issuer", lambda i: i.mint_wrong_issuer(), {}, "wrong issuer"),
    (
        "repository not allowed",
        lambda i: i.mint(repository="evil/loom-content"),
        {},
        "repository not allowed",
    ),
    (
        "another service's repository",
        lambda i: i.mint(repository="org/loom-other"),
        {},
        "repository not allowed for service 'loom-content'",
    ),
    (
        "a service without github_repository",
        lambda i: i.mint(),
        {"service_name": "no-github"},
        "no github_repository",
    ),
    ("branch ref", lambda i: i.mint(ref="refs/heads/main"), {}, "ref not a version tag"),
    ("tag not SemVer", lambda i: i.mint(ref="refs/tags/v1.2"), {}, "ref not a version tag"),
    ("another tag", lambda i: i.mint(ref="refs/tags/v9.9.9"), {}, "ref does not match"),
    ("bad signature", lambda i: i.mint_forged(), {}, "bad signature"),
    ("alg none", lambda i: i.mint_alg_none(), {}, "'none' is not accepted"),
    ("HS256 with the public key", lambda i: i.mint_hs256_with_public_key(), {}, "'HS256'"),
    ("unknown key", lambda i: i.mint_unknown_kid(), {}, "unknown signing key"),
    ("no exp", lambda i: i.mint(exp=None), {}, "no exp claim"),
    ("no iat", lambda i: i.mint(iat=None), {}, "no iat claim"),
    ("not yet valid", lambda i: i.mint(iat=int(time.time()) + 3600), {}, "not valid yet"),
    ("no repository", lambda i: i.mint(repository=None), {}, "no repository claim"),
    (
        "tampered payload",
        lambda i: _tamper(i.mint(), i.claims(actor="mallory")),
        {},
        "bad signature",
    ),
]


def _tamper(token: str, claims: dict[str, Any]) -> str:
    """``token`` with its payload swapped for other (validly encoded) ``claims``."""
    header, _payload, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize(
    ("mint", "body", "message"),
    [pytest.param(m, b, msg, id=name) for name, m, b, msg in REFUSED_TOKENS],
)
async def test_a_refused_token_is_401_naming_why_and_writes_nothing(
    client: httpx.AsyncClient,
    ci_container: Container,
    issuer: OidcIssuerDouble,
    mint: Callable[[OidcIssuerDouble], str],
    body: dict[str, Any],
    message: str,
) -> None:
    token = mint(issuer)
    response = await client.post(
        f"{PREFIX}/release", json=release_body(**body), headers=bearer(token)
    )
    assert response.status_code == 401, response.text
    data = response.json()
    assert data["error"] == "unauthenticated"
    assert message in data["message"]
    assert token not in response.text
    assert token.split(".")[1] not in response.text
    assert await listed_releases(client) == []
    assert await row_counts(ci_container) == (0, 0)


async def test_jwks_unreachable_is_401_and_writes_nothing(
    client: httpx.AsyncClient, ci_container: Container, issuer: OidcIssuerDouble
) -> None:
    issuer.fail_jwks = True
    response = await client.post(
        f"{PREFIX}/release", json=release_body(), headers=bearer(issuer.mint())
    )
    assert response.status_code == 401
    assert "keys could not be fetched" in response.json()["message"]
    assert await row_counts(ci_container) == (0, 0)


async def test_oidc_off_without_an_audience(
    database_url: str, tmp_path: Path, issuer: OidcIssuerDouble
) -> None:
    (tmp_path / "relman.toml").write_text(RELMAN_TOML, encoding="utf-8")
    settings = make_settings(database_url, tmp_path, oidc_jwks_url=issuer.jwks_url)
    container = build(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://relman.test") as c:
            response = await c.post(
                f"{PREFIX}/release", json=release_body(), headers=bearer(issuer.mint())
            )
            assert response.status_code == 401
            assert "OIDC tokens are not enabled" in response.json()["message"]
            signed = await c.get(f"{PREFIX}/releases", headers=signed_headers(b""))
            assert signed.status_code == 401
            assert "HMAC-signed requests are not enabled" in signed.json()["message"]
            assert await listed_releases(c) == []
        assert issuer.jwks_fetches == 0
    finally:
        await container.aclose()


# --- HMAC ------------------------------------------------------------------------------


def signed_headers(
    body: bytes,
    *,
    request_id: str | None = None,
    timestamp: int | None = None,
    secret: str = HMAC_SECRET,
) -> dict[str, str]:
    """Headers of an HMAC-signed request, computed here independently of relman."""
    request_id = request_id or str(uuid.uuid4())
    ts = str(int(time.time()) if timestamp is None else timestamp)
    message = request_id.encode() + b"\n" + ts.encode() + b"\n" + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Relman-Request-Id": request_id,
        "X-Relman-Timestamp": ts,
        "X-Relman-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def body_bytes(**overrides: Any) -> bytes:
    return json.dumps(release_body(**overrides)).encode()


async def test_a_signed_request_creates_a_release_as_ci_hmac(client: httpx.AsyncClient) -> None:
    body = body_bytes()
    created = await client.post(f"{PREFIX}/release", content=body, headers=signed_headers(body))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    patch = b'{"status": "building"}'
    report = await client.patch(
        f"{PREFIX}/release/{rid}", content=patch, headers=signed_headers(patch)
    )
    assert report.status_code == 200, report.text
    detail = await client.get(f"{PREFIX}/release/{rid}", headers=signed_headers(b""))
    assert detail.status_code == 200
    assert [e["actor"] for e in detail.json()["events"]] == ["developer_name", "ci:hmac"]


async def test_a_replayed_request_id_is_refused(
    client: httpx.AsyncClient, ci_container: Container
) -> None:
    body = body_bytes()
    headers = signed_headers(body)
    first = await client.post(f"{PREFIX}/release", content=body, headers=headers)
    assert first.status_code == 201
    again = await client.post(f"{PREFIX}/release", content=body, headers=headers)
    assert again.status_code == 401
    assert "replayed request id" in again.json()["message"]
    # The same id re-signed for another body is a replay too.
    other = body_bytes(github_run_id="9002")
    reused = signed_headers(other, request_id=headers["X-Relman-Request-Id"])
    third = await client.post(f"{PREFIX}/release", content=other, headers=reused)
    assert third.status_code == 401
    assert "replayed request id" in third.json()["message"]
    assert len(await listed_releases(client)) == 1
    assert await row_counts(ci_container) == (1, 1)


HMAC_REFUSALS: list[tuple[str, Callable[[bytes], dict[str, str]], str]] = [
    ("bad signature", lambda b: signed_headers(b, secret="x" * 40), "bad signature"),
    ("body changed", lambda b: signed_headers(b + b" "), "bad signature"),
    ("stale", lambda b: signed_headers(b, timestamp=int(time.time()) - 400), "stale timestamp"),
    ("future", lambda b: signed_headers(b, timestamp=int(time.time()) + 400), "stale timestamp"),
    (
        "no signature",
        lambda b: {k: v for k, v in signed_headers(b).items() if k != "X-Relman-Signature"},
        "X-Relman-Signature missing",
    ),
    (
        "not hex",
        lambda b: {**signed_headers(b), "X-Relman-Signature": "sha256=" + "z" * 64},
        "X-Relman-Signature missing or malformed",
    ),
    (
        "id with a newline",
        lambda b: {**signed_headers(b), "X-Relman-Request-Id": "a b"},
        "X-Relman-Request-Id missing or malformed",
    ),
    (
        "timestamp not a number",
        lambda b: {**signed_headers(b), "X-Relman-Timestamp": "soon"},
        "X-Relman-Timestamp missing or malformed",
    ),
]


@pytest.mark.parametrize(
    ("make_headers", "message"),
    [pytest.param(h, m, id=name) for name, h, m in HMAC_REFUSALS],
)
async def test_a_refused_signature_is_401_and_writes_nothing(
    client: httpx.AsyncClient,
    ci_container: Container,
    make_headers: Callable[[bytes], dict[str, str]],
    message: str,
) -> None:
    body = body_bytes()
    headers = make_headers(body)
    response = await client.post(f"{PREFIX}/release", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert message in response.json()["message"]
    assert HMAC_SECRET not in response.text
    assert await listed_releases(client) == []
    assert await row_counts(ci_container) == (0, 0)


async def test_a_refused_signature_does_not_burn_its_request_id(
    client: httpx.AsyncClient,
) -> None:
    body = body_bytes()
    good = signed_headers(body)
    forged = signed_headers(body, request_id=good["X-Relman-Request-Id"], secret="y" * 40)
    assert (await client.post(f"{PREFIX}/release", content=body, headers=forged)).status_code == 401
    assert (await client.post(f"{PREFIX}/release", content=body, headers=good)).status_code == 201


async def test_a_short_hmac_secret_is_a_config_error(database_url: str, tmp_path: Path) -> None:
    # Refused when the settings load (issue 15 item 7), before anything is built.
    with pytest.raises(ValidationError, match="too short: use at least 32 characters"):
        make_settings(database_url, tmp_path, hmac_secret="short")
