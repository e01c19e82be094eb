"""``relman ci`` with only a GitHub OIDC token (no secret in its environment), as a
subprocess, against the real Release API served by uvicorn on a free port with OIDC
enabled (issuer: :class:`OidcIssuerDouble`'s JWKS over HTTP), and the runner's token
endpoint played by :class:`RunnerTokenEndpoint` (real HTTP)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from relman.api.app import create_app
from relman.bootstrap import build
from relman.config import Settings
from tests.conftest import SECRET, make_settings
from tests.support.api import PREFIX, service_toml
from tests.support.github_double import OidcIssuerDouble
from tests.unit.ci.oidc_doubles import REQUEST_TOKEN, RunnerTokenEndpoint

AUDIENCE = "https://relman.example/ci"
RELMAN = str(Path(sys.executable).with_name("relman"))

RELMAN_TOML = service_toml("loom-content", 8004, github_repository="org/loom-content")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """relman's API app (its own container and event loop) under uvicorn in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self._settings = settings
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def _main(self) -> None:
        container = build(self._settings)
        try:
            config = uvicorn.Config(
                create_app(container),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
            )
            self._server = uvicorn.Server(config)
            self._ready.set()
            await self._server.serve()
        finally:
            await container.aclose()

    def __enter__(self) -> ApiServer:
        self._thread.start()
        assert self._ready.wait(10)
        deadline = time.monotonic() + 20
        while self._server is None or not self._server.started:
            assert self._thread.is_alive(), "the API server stopped"
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=20)


@pytest.fixture
def issuer() -> Iterator[OidcIssuerDouble]:
    with OidcIssuerDouble(AUDIENCE) as double:
        yield double


@pytest.fixture
def endpoint(issuer: OidcIssuerDouble) -> Iterator[RunnerTokenEndpoint]:
    # The token a tag push of org/loom-content by octocat gets (the double's defaults).
    with RunnerTokenEndpoint(issuer) as server:
        yield server


@pytest.fixture
def server(database_url: str, tmp_path: Path, issuer: OidcIssuerDouble) -> Iterator[ApiServer]:
    (tmp_path / "relman.toml").write_text(RELMAN_TOML, encoding="utf-8")
    settings = make_settings(
        database_url, tmp_path, oidc_audience=AUDIENCE, oidc_jwks_url=issuer.jwks_url
    )
    with ApiServer(settings) as running:
        yield running


def runner_env(api_url: str, request_url: str, **extra: str) -> dict[str, str]:
    """A runner's environment: GitHub's variables, the OIDC request — and no secret."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELMAN_", "LOOM_", "ACTIONS_", "GITHUB_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "LOOM_RELEASE_TG_BOT_API_URL": api_url,
            "RELMAN_OIDC_AUDIENCE": AUDIENCE,
            "ACTIONS_ID_TOKEN_REQUEST_URL": request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
            "RELMAN_API_ATTEMPTS": "2",
            "RELMAN_API_BACKOFF": "0",
            "GITHUB_RUN_ID": "9001",
            "GITHUB_REF": "refs/tags/v1.2.3",
            "GITHUB_ACTOR": "someone-else",  # the token's actor wins on the server
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "org/loom-content",
            **extra,
        }
    )
    return env


def ci(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RELMAN, "ci", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def release(server: ApiServer, release_id: int) -> dict[str, Any]:
    """The release as the API shows it to the bearer-secret caller."""
    response = httpx.get(
        f"{server.api_url}/release/{release_id}",
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_release_start_and_report_with_only_an_oidc_token(
    server: ApiServer, endpoint: RunnerTokenEndpoint, tmp_path: Path
) -> None:
    env = runner_env(server.api_url, endpoint.request_url)
    started = ci(["release-start", "--service", "loom-content", "--tag", "v1.2.3"], env, tmp_path)
    assert started.returncode == 0, started.stderr
    release_id = int(started.stdout.strip())
    assert "authenticating with a GitHub OIDC token" in started.stderr

    reported = ci(["report", "building", "--release-id", str(release_id)], env, tmp_path)
    assert reported.returncode == 0, reported.stderr
    assert reported.stdout.strip() == (f"release {release_id} (loom-content v1.2.3): building")

    detail = release(server, release_id)
    assert detail["initiated_by"] == "octocat"  # the token's actor, not GITHUB_ACTOR
    # Report attribution comes from the token too (the server ignores the body's actor).
    assert [(e["to_status"], e["actor"]) for e in detail["events"]] == [
        ("initiated", "octocat"),
        ("building", "gh:octocat"),
    ]
    # one token per command run, each asked for the configured audience
    assert endpoint.audiences == [AUDIENCE, AUDIENCE]
    for result in (started, reported):
        for token in (REQUEST_TOKEN, *endpoint.minted):
            assert token not in result.stdout + result.stderr


def test_a_token_endpoint_answering_401_is_a_one_line_error_and_exit_1(
    server: ApiServer, endpoint: RunnerTokenEndpoint, tmp_path: Path
) -> None:
    endpoint.status = 401
    env = runner_env(server.api_url, endpoint.request_url)
    result = ci(["release-start", "--service", "loom-content", "--tag", "v1.2.3"], env, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if "OIDC token for" in line]
    assert len(errors) == 1, result.stderr
    assert (
        f"cannot get a GitHub OIDC token for audience '{AUDIENCE}' from "
        f"ACTIONS_ID_TOKEN_REQUEST_URL ({endpoint.url}): 401 Unauthorized" in errors[0]
    )
    assert REQUEST_TOKEN not in result.stderr
    assert len(endpoint.seen) == 1  # an HTTP answer is not retried


def test_a_token_the_server_refuses_names_the_audience_to_check(
    server: ApiServer, issuer: OidcIssuerDouble, tmp_path: Path
) -> None:
    """The runner mints for whatever audience is asked; relman expects its own."""
    with RunnerTokenEndpoint(issuer) as endpoint:
        env = runner_env(
            server.api_url, endpoint.request_url, RELMAN_OIDC_AUDIENCE="https://elsewhere"
        )
        result = ci(["report", "building", "--release-id", "1"], env, tmp_path)
    assert result.returncode == 2
    assert "401 unauthenticated: wrong audience" in result.stderr
    assert "check RELMAN_OIDC_AUDIENCE (asked for 'https://elsewhere')" in result.stderr
    for token in (REQUEST_TOKEN, *endpoint.minted):
        assert token not in result.stderr
