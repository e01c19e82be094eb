"""Helpers for talking to the Release API in tests."""

from __future__ import annotations

from typing import Any

import httpx

PREFIX = "/api/tg-bot"


def release_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /release`` body as the on-create-version-tag workflow sends it."""
    body: dict[str, Any] = {
        "service_name": "loom-content",
        "release_tag": "v1.2.3",
        "initiated_by": "developer_name",
        "github_run_id": "9001",
        "github_action_link": "https://github.com/org/loom-content/actions/runs/9001",
        "github_ref": "refs/tags/v1.2.3",
    }
    body.update(overrides)
    return body


async def create_release(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(f"{PREFIX}/release", json=release_body(**overrides))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def patch_status(
    api: httpx.AsyncClient, release_id: int, status: str, **extra: Any
) -> httpx.Response:
    return await api.patch(
        f"{PREFIX}/release", json={"release_id": release_id, "status": status, **extra}
    )


async def release_detail(api: httpx.AsyncClient, release_id: int) -> dict[str, Any]:
    response = await api.get(f"{PREFIX}/release/{release_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
