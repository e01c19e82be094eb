"""Four-eyes over the real Release API whatever the spelling of an identity (issue 15 item 1).

Policy ``people.dev3 = ["gh:dev3", "tg:333"]``: a release whose initiator is spelt
``Dev3`` (GITHUB_ACTOR keeps capitalisation), ``gh:Dev3`` or comes from an OIDC token of
``Dev3`` may not be approved by ``tg:333`` (nor ``tg:0333``): 403, an audit row of kind
``refused``, the release still in manual testing. Another QA engineer still may.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Settings
from tests.conftest import OPERATOR_SECRET, make_settings
from tests.support.api import PREFIX, create_release, release_body, service_toml
from tests.support.github_double import OidcIssuerDouble

POLICY = """
[policy]
qa = ["tg:333", "tg:77"]

[policy.people]
dev3 = ["gh:dev3", "tg:333"]
"""
OPERATOR = {"Authorization": f"Bearer {OPERATOR_SECRET}"}
AUDIENCE = "https://relman.example/ci"


@pytest.fixture(autouse=True)
def dev3_policy(settings: Settings) -> None:
    settings.config_file.write_text(POLICY, encoding="utf-8")


async def to_manual_testing(
    api: httpx.AsyncClient, rid: int, headers: dict[str, str] | None = None
) -> None:
    """CI reports the stage statuses (the service is not deployed by relman's worker)."""
    for status in ("building", "stage_deploy", "manual_testing"):
        response = await api.patch(
            f"{PREFIX}/release/{rid}", json={"status": status}, headers=headers
        )
        assert response.status_code == 200, response.text


async def approve(api: httpx.AsyncClient, rid: int, actor: str) -> httpx.Response:
    return await api.post(
        f"{PREFIX}/release/{rid}/approve", json={"actor": actor}, headers=OPERATOR
    )


def assert_refused_and_audited(
    response: httpx.Response, detail: dict[str, Any], rid: int, approver: str
) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "permission_denied"
    assert "four-eyes" in body["message"], body
    assert detail["status"] == "manual_testing"
    last = detail["events"][-1]
    assert (last["kind"], last["actor"], last["to_status"]) == (
        "refused",
        approver,
        "manual_test_passed",
    )
    assert "four-eyes" in last["note"]


@pytest.mark.parametrize("initiated_by", ["Dev3", "gh:Dev3", "GH:DEV3", " dev3 "])
@pytest.mark.parametrize("approver", ["tg:333", "tg:0333"])
async def test_the_initiator_in_any_spelling_cannot_approve(
    api: httpx.AsyncClient, initiated_by: str, approver: str
) -> None:
    rid = (await create_release(api, initiated_by=initiated_by))["id"]
    await to_manual_testing(api, rid)

    response = await approve(api, rid, approver)

    detail = (await api.get(f"{PREFIX}/release/{rid}")).json()
    assert_refused_and_audited(response, detail, rid, approver)
    # The initiator is shown as CI sent it; only the comparison is canonical.
    assert detail["initiated_by"] == initiated_by
    # Another QA engineer may approve it.
    other = await approve(api, rid, "tg:77")
    assert other.status_code == 200, other.text
    assert other.json()["status"] == "manual_test_passed"


# --- the OIDC actor ----------------------------------------------------------------------


@pytest.fixture
def issuer() -> Iterator[OidcIssuerDouble]:
    with OidcIssuerDouble(AUDIENCE) as double:
        yield double


@pytest.fixture
async def oidc_api(
    database_url: str, tmp_path: Path, issuer: OidcIssuerDouble
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with OIDC on, the service bound to ``org/loom-content``."""
    toml = service_toml("loom-content", 8004, github_repository="org/loom-content") + POLICY
    (tmp_path / "relman.toml").write_text(toml, encoding="utf-8")
    settings = make_settings(
        database_url, tmp_path, oidc_audience=AUDIENCE, oidc_jwks_url=issuer.jwks_url
    )
    container: Container = build(settings)
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://relman.test") as client:
        yield client
    await container.aclose()


async def test_an_oidc_actor_in_capitals_cannot_approve_from_telegram(
    oidc_api: httpx.AsyncClient, issuer: OidcIssuerDouble
) -> None:
    token = {"Authorization": f"Bearer {issuer.mint(actor='Dev3')}"}
    created = await oidc_api.post(
        f"{PREFIX}/release", json=release_body(initiated_by="someone-else"), headers=token
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["initiated_by"] == "Dev3"  # the token's actor, not the body's
    await to_manual_testing(oidc_api, rid, token)

    response = await approve(oidc_api, rid, "tg:333")

    detail = (await oidc_api.get(f"{PREFIX}/release/{rid}", headers=token)).json()
    assert_refused_and_audited(response, detail, rid, "tg:333")
