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


def service_toml(name: str, port: int, *, github_repository: str | None = None) -> str:
    """A relman.toml ``[services.<name>]`` block (a shell service at ``/srv/<name>``,
    healthy on ``port``), bound to ``github_repository`` when given (what an OIDC token
    from that repository may start releases of)."""
    block = (
        f"\n[services.{name}]\n"
        f'repo = "git@github.com:org/{name}.git"\n'
        f'workdir = "/srv/{name}"\n'
        'start_command = ["sh", "start.sh"]\n'
        f'health = {{ url = "http://{{address}}:{port}/health" }}\n'
    )
    if github_repository:
        block += f'github_repository = "{github_repository}"\n'
    return block
