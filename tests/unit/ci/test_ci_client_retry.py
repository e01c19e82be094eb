"""The Release API client's retry rule, against a real local HTTP server (stdlib).

Retried: only requests that got no HTTP answer (refused, dropped), with exponential
backoff, a bounded number of times. Never retried: any HTTP answer, 4xx or 5xx.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from relman.ci.client import (
    ApiBadAnswer,
    ApiRefused,
    ApiUnreachable,
    ReleaseApiClient,
    RetryNotice,
    RetryPolicy,
)
from relman.ci.github_env import ApiSettings

SECRET = "unit-secret-Qw3"
RELEASE = {
    "id": 7,
    "service_name": "loom-content",
    "release_tag": "v1.2.3",
    "status": "initiated",
    "allowed_next": ["building", "staging_failed"],
    "github_action_link": "https://github.com/org/loom-content/actions/runs/9001",
}


@dataclass
class Seen:
    method: str
    path: str
    authorization: str
    body: Any


@dataclass
class Script:
    """What the server does for each request, in order: ``(status, json)`` or ``"drop"``
    (read the request, close the connection without answering)."""

    actions: list[Any]
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, seen: Seen) -> Any:
        with self.lock:
            self.seen.append(seen)
            return self.actions.pop(0) if self.actions else (500, {"error": "script_empty"})


class ScriptedServer:
    """A ThreadingHTTPServer on 127.0.0.1:``port`` playing ``script``."""

    def __init__(self, script: Script, port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                action = script.next(
                    Seen(
                        self.command,
                        self.path,
                        self.headers.get("Authorization", ""),
                        json.loads(raw) if raw else None,
                    )
                )
                if action == "drop":
                    self.close_connection = True
                    return
                status, body = action
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                kind = "text/html" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        # A short poll interval only makes shutdown() quick; requests are served at once.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def servers() -> Iterator[list[ScriptedServer]]:
    started: list[ScriptedServer] = []
    yield started
    for server in started:
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(port: int) -> ApiSettings:
    return ApiSettings(
        url=f"http://127.0.0.1:{port}/api/tg-bot/",
        url_var="RELMAN_API_URL",
        secret=SECRET,
        secret_var="RELMAN_SECRET_KEY",
        timeout=5.0,
    )


class Waits:
    """A sleep that records the delays instead of waiting (our own port, not a mock)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(port: int, waits: Waits, attempts: int = 4, **kwargs: Any) -> ReleaseApiClient:
    return ReleaseApiClient(
        settings(port),
        retry=RetryPolicy(attempts=attempts, first_delay=0.5, factor=2.0, max_delay=30.0),
        sleep=waits,
        **kwargs,
    )


def serve(servers: list[ScriptedServer], *actions: Any, port: int = 0) -> Script:
    script = Script(list(actions))
    servers.append(ScriptedServer(script, port))
    return script


def test_backoff_doubles_and_is_capped() -> None:
    assert RetryPolicy(attempts=6, first_delay=1, factor=2, max_delay=3).delays() == [
        1,
        2,
        3,
        3,
        3,
    ]
    assert RetryPolicy(attempts=1).delays() == []


async def test_refused_connections_are_retried_until_the_server_is_up(
    servers: list[ScriptedServer],
) -> None:
    port = free_port()
    waits = Waits()
    notices: list[RetryNotice] = []
    script = Script([(201, RELEASE)])

    def on_retry(notice: RetryNotice) -> None:
        notices.append(notice)
        if notice.attempt == 2:  # the server comes up during the second wait
            servers.append(ScriptedServer(script, port))

    async with client(port, waits, on_retry=on_retry) as api:
        release, created = await api.create_release(
            service_name="loom-content",
            release_tag="v1.2.3",
            initiated_by="developer_name",
            github_run_id="9001",
            github_action_link=RELEASE["github_action_link"],
            github_ref="refs/tags/v1.2.3",
        )
    assert (release.id, release.status, created) == (7, "initiated", True)
    assert waits.delays == [0.5, 1.0]
    assert [(n.attempt, n.attempts, n.delay) for n in notices] == [(1, 4, 0.5), (2, 4, 1.0)]
    assert all(n.reason.startswith("ConnectError") for n in notices)
    # the one request that arrived, as the API expects it
    assert len(script.seen) == 1
    seen = script.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/tg-bot/release")
    assert seen.authorization == f"Bearer {SECRET}"
    assert seen.body == {
        "service_name": "loom-content",
        "release_tag": "v1.2.3",
        "initiated_by": "developer_name",
        "github_run_id": "9001",
        "github_action_link": RELEASE["github_action_link"],
        "github_ref": "refs/tags/v1.2.3",
    }


async def test_a_server_that_never_comes_up_is_a_bounded_clear_failure() -> None:
    port = free_port()
    waits = Waits()
    async with client(port, waits, attempts=4) as api:
        with pytest.raises(ApiUnreachable) as caught:
            await api.get_release(7)
    assert waits.delays == [0.5, 1.0, 2.0]
    message = str(caught.value)
    assert message.startswith(f"cannot reach the relman API at http://127.0.0.1:{port}/api/tg-bot")
    assert "(GET /release/7) after 4 attempts: ConnectError" in message
    assert caught.value.exit_code == 1
    assert SECRET not in message


async def test_an_existing_release_answers_200_and_is_not_created(
    servers: list[ScriptedServer],
) -> None:
    script = serve(servers, (200, RELEASE))
    async with client(servers[0].port, Waits()) as api:
        _, created = await api.create_release(
            service_name="s",
            release_tag="v1.2.3",
            initiated_by="a",
            github_run_id="1",
            github_action_link="",
            github_ref="",
        )
    assert created is False and len(script.seen) == 1


@pytest.mark.parametrize(
    ("status", "body", "exit_code", "shown"),
    [
        (
            422,
            {
                "error": "invalid_input",
                "message": "release_tag: '1.2.3' is not a version tag",
                "field": "release_tag",
            },
            2,
            "relman API refused GET /release/7: 422 invalid_input: release_tag: '1.2.3' is not "
            "a version tag (field: release_tag)",
        ),
        (
            401,
            {"error": "unauthenticated", "message": "wrong credentials"},
            2,
            "relman API refused GET /release/7: 401 unauthenticated: wrong credentials",
        ),
        (
            503,
            {"error": "store_unavailable", "message": "database unreachable: OSError"},
            1,
            "503 store_unavailable: database unreachable: OSError",
        ),
        (502, "<html><body>\n<h1>Bad Gateway</h1>\n</body></html>", 1, "502 Bad Gateway: <html>"),
    ],
)
async def test_an_http_answer_is_never_retried(
    servers: list[ScriptedServer], status: int, body: Any, exit_code: int, shown: str
) -> None:
    script = serve(servers, (status, body), (200, RELEASE))
    waits = Waits()
    async with client(servers[0].port, waits) as api:
        with pytest.raises(ApiRefused) as caught:
            await api.get_release(7)
    assert len(script.seen) == 1 and waits.delays == []
    assert (caught.value.status, caught.value.exit_code) == (status, exit_code)
    assert shown in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_report_whose_answer_was_lost_is_recognised_on_the_retry(
    servers: list[ScriptedServer],
) -> None:
    """The first PATCH reached the server but the connection broke before the answer;
    the retry is refused as "already building" — which is what was asked for."""
    conflict = {
        "error": "illegal_transition",
        "message": "release 7: cannot go from building to building; allowed: stage_deploy",
        "current_status": "building",
        "allowed": ["stage_deploy", "staging_failed"],
    }
    script = serve(servers, "drop", (409, conflict), (200, {**RELEASE, "status": "building"}))
    waits = Waits()
    async with client(servers[0].port, waits) as api:
        release = await api.report_status(7, "building", note="n", actor="gh:alice")
    assert release.status == "building"
    assert [(s.method, s.path) for s in script.seen] == [
        ("PATCH", "/api/tg-bot/release/7"),
        ("PATCH", "/api/tg-bot/release/7"),
        ("GET", "/api/tg-bot/release/7"),
    ]
    assert script.seen[0].body == {"status": "building", "note": "n", "actor": "gh:alice"}
    assert waits.delays == [0.5]


async def test_a_first_time_conflict_is_a_refusal(servers: list[ScriptedServer]) -> None:
    conflict = {
        "error": "illegal_transition",
        "message": "release 7: cannot go from building to building; allowed: stage_deploy",
        "current_status": "building",
    }
    script = serve(servers, (409, conflict))
    async with client(servers[0].port, Waits()) as api:
        with pytest.raises(ApiRefused) as caught:
            await api.report_status(7, "building")
    assert caught.value.status == 409 and caught.value.exit_code == 2
    assert len(script.seen) == 1


async def test_a_success_without_a_release_body_is_a_bad_answer(
    servers: list[ScriptedServer],
) -> None:
    serve(servers, (200, "<html>captive portal</html>"))
    async with client(servers[0].port, Waits()) as api:
        with pytest.raises(
            ApiBadAnswer, match="answered GET /release/7 with 200 but not a release"
        ):
            await api.get_release(7)
