"""The Release API against a real database (SQLite, or PostgreSQL in CI's second run)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from relman.bootstrap import Container
from relman.config import Settings
from relman.store.tables import release_events, releases
from tests.conftest import OPERATOR_SECRET, SECRET
from tests.support.api import PREFIX, create_release, patch_status, release_body, release_detail

HAPPY_PATH = [
    "building",
    "stage_deploy",
    "manual_testing",
    "manual_test_passed",
    "deploying",
    "deployed",
]
QA = "tg:77"


@pytest.fixture(autouse=True)
def qa_policy(settings: Settings) -> None:
    """relman.toml with a QA engineer: the approval is a decision, not a status report."""
    settings.config_file.write_text(f'[policy]\nqa = ["{QA}"]\n', encoding="utf-8")


async def row_counts(container: Container) -> tuple[int, int]:
    async with container.engine.connect() as conn:
        n_releases = (await conn.execute(select(func.count()).select_from(releases))).scalar()
        n_events = (await conn.execute(select(func.count()).select_from(release_events))).scalar()
    return int(n_releases or 0), int(n_events or 0)


async def test_happy_path_then_rollback_with_every_audit_row(api: httpx.AsyncClient) -> None:
    created = await create_release(api)
    rid = created["id"]
    assert created["status"] == "initiated"
    assert created["rollback_to_tag"] == "" and created["completed_at"] is None

    for status in HAPPY_PATH:
        if status == "manual_test_passed":
            response = await api.post(
                f"{PREFIX}/release/{rid}/approve",
                json={"actor": QA},
                headers={"Authorization": f"Bearer {OPERATOR_SECRET}"},
            )
        else:
            response = await patch_status(
                api, rid, status, note=f"ci says {status}", actor="github-actions"
            )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    deployed = await release_detail(api, rid)
    assert deployed["completed_at"] is not None
    assert deployed["allowed_next"] == ["rollback"]

    response = await api.patch(
        f"{PREFIX}/release/{rid}", json={"status": "rollback", "rollback_to_tag": "v1.2.2"}
    )
    assert response.status_code == 200
    assert response.json()["rollback_to_tag"] == "v1.2.2"
    assert response.json()["completed_at"] is None
    response = await patch_status(api, rid, "rollback_done")
    assert response.status_code == 200

    detail = await release_detail(api, rid)
    assert detail["status"] == "rollback_done"
    assert detail["completed_at"] is not None
    events = detail["events"]
    chain = ["initiated", *HAPPY_PATH, "rollback", "rollback_done"]
    assert [e["to_status"] for e in events] == chain
    assert [e["from_status"] for e in events] == [None, *chain[:-1]]
    assert events[0]["actor"] == "developer_name"
    assert [e["actor"] for e in events[1:7]] == [
        "github-actions", "github-actions", "github-actions", QA, "github-actions",
        "github-actions",
    ]  # fmt: skip
    assert [e["actor"] for e in events[7:]] == ["ci", "ci"]  # bearer caller, no actor given
    assert {e["source"] for e in events} == {"api"}
    assert events[1]["note"] == "ci says building"
    assert events[4]["note"] == "approved"
    stamps = [e["created_at"] for e in events]
    assert stamps == sorted(stamps)


async def test_create_is_idempotent_per_run(api: httpx.AsyncClient, container: Container) -> None:
    first = await create_release(api)
    again = await api.post(f"{PREFIX}/release", json=release_body())
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    rerun = await api.post(f"{PREFIX}/release", json=release_body(github_run_id="9002"))
    assert rerun.status_code == 201 and rerun.json()["id"] != first["id"]
    assert await row_counts(container) == (2, 2)


async def test_illegal_transition_is_409_with_allowed(
    api: httpx.AsyncClient, container: Container
) -> None:
    rid = (await create_release(api))["id"]
    response = await patch_status(api, rid, "deployed")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "illegal_transition"
    assert body["current_status"] == "initiated"
    assert body["allowed"] == ["building", "staging_failed"]
    assert "building, staging_failed" in body["message"]
    assert (await release_detail(api, rid))["status"] == "initiated"
    assert await row_counts(container) == (1, 1)


BAD_CREATES: list[tuple[dict[str, Any], str, str]] = [
    (release_body(release_tag="1.2.3"), "release_tag", "not a version tag"),
    (release_body(release_tag="v1.2"), "release_tag", "SemVer"),
    (release_body(github_run_id=9001), "github_run_id", "valid string"),
    (release_body(service_name=""), "service_name", "at least 1"),
    (release_body(service_name="   "), "service_name", "must not be empty"),
    (release_body(unknown_field=1), "unknown_field", "not permitted"),
    ({k: v for k, v in release_body().items() if k != "initiated_by"}, "initiated_by", "required"),
    (release_body(service_name="x" * 201), "service_name", "at most 200"),
    # Valid JSON that no text column takes (PostgreSQL refuses NUL): a 422, not a 503.
    (release_body(service_name="loom\x00content"), "service_name", "NUL"),
    (release_body(initiated_by="dev\x00"), "initiated_by", "NUL"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_CREATES)
async def test_bad_create_names_the_field_and_writes_nothing(
    api: httpx.AsyncClient, container: Container, body: dict[str, Any], field: str, message: str
) -> None:
    response = await api.post(f"{PREFIX}/release", json=body)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["error"] == "invalid_input"
    assert data["field"] == field
    assert message in data["message"]
    assert await row_counts(container) == (0, 0)


async def test_bad_patches_write_nothing(api: httpx.AsyncClient, container: Container) -> None:
    rid = (await create_release(api))["id"]
    cases: list[tuple[Any, int, str]] = [
        ({"release_id": rid, "status": "buildin"}, 422, "status"),
        ({"release_id": str(rid), "status": "building"}, 422, "release_id"),
        ({"release_id": 0, "status": "building"}, 422, "release_id"),
        ({"status": "building"}, 422, "release_id"),
        (
            {"release_id": rid, "status": "building", "rollback_to_tag": "latest"},
            422,
            "rollback_to_tag",
        ),
        ({"release_id": 999_999, "status": "building"}, 404, ""),
        ({"release_id": rid, "status": "building", "note": "a\x00b"}, 422, "note"),
        ({"release_id": rid, "status": "building", "actor": "gh:\x00"}, 422, "actor"),
        ([1, 2], 422, "body"),
    ]
    for body, status, field in cases:
        response = await api.patch(f"{PREFIX}/release", json=body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["field"] == field, response.text
    not_json = await api.patch(
        f"{PREFIX}/release",
        content=b"status=building",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 422
    assert "JSON" in not_json.json()["message"]
    broken = await api.patch(
        f"{PREFIX}/release",
        content=b'{"release_id": 1,',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 422
    assert (await api.get(f"{PREFIX}/release/abc")).json()["field"] == "release_id"
    assert (await api.get(f"{PREFIX}/release/424242")).status_code == 404
    for query in ("service=a%00", "cursor=%00"):
        nul = await api.get(f"{PREFIX}/releases?{query}")
        assert nul.status_code == 422, nul.text
        assert nul.json()["field"] == query.split("=")[0]
    assert await row_counts(container) == (1, 1)
    assert (await release_detail(api, rid))["status"] == "initiated"


async def test_oversized_body_is_413(api: httpx.AsyncClient, container: Container) -> None:
    body = release_body(github_action_link="x" * 70_000)
    response = await api.post(f"{PREFIX}/release", json=body)
    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert await row_counts(container) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": "Bearer "},
    ],
)
async def test_auth_is_required_and_nothing_is_written(
    api: httpx.AsyncClient, container: Container, headers: dict[str, str]
) -> None:
    api.headers.pop("Authorization")
    api.headers.update(headers)
    for method, path, body in [
        ("POST", "/release", release_body()),
        ("PATCH", "/release", {"release_id": 1, "status": "building"}),
        ("GET", "/releases", None),
        ("GET", "/release/1", None),
    ]:
        response = await api.request(method, PREFIX + path, json=body)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthenticated"
        assert SECRET not in response.text
    assert await row_counts(container) == (0, 0)
    assert (await api.get(f"{PREFIX}/health")).status_code == 200


async def test_list_filters_groups_and_pages(api: httpx.AsyncClient) -> None:
    ids = []
    for n in range(7):
        ids.append(
            (
                await create_release(
                    api,
                    release_tag=f"v1.0.{n}",
                    github_run_id=str(n),
                    service_name="a" if n % 2 else "b",
                )
            )["id"]
        )
    await patch_status(api, ids[0], "staging_failed")
    await patch_status(api, ids[1], "building")

    async def listing(**params: Any) -> dict[str, Any]:
        response = await api.get(f"{PREFIX}/releases", params=params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    assert [r["id"] for r in (await listing(group="failed"))["releases"]] == [ids[0]]
    assert len((await listing(group="active"))["releases"]) == 6
    assert [r["id"] for r in (await listing(service="a"))["releases"]] == [ids[5], ids[3], ids[1]]
    assert [r["id"] for r in (await listing(status="building"))["releases"]] == [ids[1]]
    assert (await listing(group="successful"))["releases"] == []

    seen: list[int] = []
    cursor = None
    while True:
        page = await listing(limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [r["id"] for r in page["releases"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)

    for params, field in [
        ({"group": "old"}, "group"),
        ({"limit": 0}, "limit"),
        ({"limit": 500}, "limit"),
        ({"status": "nope"}, "status"),
        ({"cursor": "forged!"}, "cursor"),
    ]:
        response = await api.get(f"{PREFIX}/releases", params=params)
        assert response.status_code == 422, params
        assert response.json()["field"] == field


async def test_update_path_is_reserved(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{PREFIX}/update", json={"update_id": 1})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_metrics_use_the_seed_names(api: httpx.AsyncClient) -> None:
    await api.get(f"{PREFIX}/health")
    await api.get(f"{PREFIX}/release/31337")
    text = (await api.get("/metrics")).text
    for name in (
        "http_server_request_duration_seconds_bucket",
        "http_server_active_requests",
        "http_server_ok_request_total",
        "http_server_error_request_total",
    ):
        assert name in text, name
    assert 'http_response_status_code="404"' in text
    assert 'http_route="/api/tg-bot/release/{release_id}"' in text


async def test_health_is_503_when_the_database_is_down(tmp_path: Any) -> None:
    from relman.api.app import create_app
    from relman.bootstrap import build
    from tests.conftest import make_settings

    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/nothing", tmp_path)
    container = build(settings)
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(f"{PREFIX}/health")
        assert response.status_code == 503
        assert response.json() == {
            "status": "error",
            "database": "unreachable",
            "version": response.json()["version"],
        }
        listing = await client.get(
            f"{PREFIX}/releases", headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert listing.status_code == 503
        assert "127.0.0.1:1" not in listing.text
    await container.aclose()
