"""Health and smoke checks against a real tiny HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relman.deploy.health import check_health, check_smoke, probe_schedule


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        # path -> list of (status, content type, body), served in turn; the last repeats
        self.script: dict[str, list[tuple[int, str, str]]] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()  # /slow answers only once this is set

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        count = self.server.hits.get(self.path, 0)
        self.server.hits[self.path] = count + 1
        if self.path == "/slow":
            self.server.release.wait(10)
        answers = self.server.script.get(self.path, [(404, "text/plain", "no")])
        status, ctype, body = answers[min(count, len(answers) - 1)]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join()


def js(**body: object) -> tuple[int, str, str]:
    return (200, "application/json", json.dumps(body))


async def test_passes_on_2xx_with_the_expected_version(server: Server) -> None:
    server.script["/health"] = [js(status="ok", version="1.2.3")]
    seen: list[tuple[int, int]] = []
    report = await check_health(
        server.url("/health"),
        attempts=3,
        interval=0.01,
        attempt_timeout=2,
        expected_version="1.2.3",
        on_attempt=lambda n, total: seen.append((n, total)),
    )
    assert report.ok
    assert seen == [(1, 3)]
    assert report.attempts[0].version_seen == "1.2.3"


async def test_wrong_version_fails_after_every_attempt(server: Server) -> None:
    server.script["/health"] = [js(status="ok", version="1.2.2")]
    report = await check_health(
        server.url("/health"),
        attempts=3,
        interval=0.01,
        attempt_timeout=2,
        expected_version="1.2.3",
    )
    assert not report.ok
    assert len(report.attempts) == 3
    assert server.hits["/health"] == 3
    last = report.last
    assert last is not None and last.error is not None and "1.2.2" in last.error


async def test_recovers_when_the_service_comes_up_late(server: Server) -> None:
    server.script["/health"] = [
        (503, "text/plain", "starting"),
        (503, "text/plain", "starting"),
        js(version="v2.0.0"),
    ]
    report = await check_health(
        server.url("/health"),
        attempts=5,
        interval=0.01,
        attempt_timeout=2,
        expected_version="2.0.0",
    )
    assert report.ok
    assert [a.status for a in report.attempts] == [503, 503, 200]


def test_the_first_request_is_at_once_then_quick_retries_until_the_interval() -> None:
    assert probe_schedule(3, 1.0, first_pause=0.1) == [
        (0.0, 1),
        (pytest.approx(0.1), 1),
        (pytest.approx(0.3), 1),
        (pytest.approx(0.7), 1),
        (1.0, 2),
        (2.0, 3),
    ]
    # the window is the configured one: the last attempt at (attempts - 1) * interval
    assert probe_schedule(60, 0.1)[-1] == (pytest.approx(5.9), 60)
    # a pause not shorter than the interval, or a single attempt: no quick requests
    assert probe_schedule(3, 0.01) == [(0.0, 1), (0.01, 2), (0.02, 3)]
    assert probe_schedule(1, 5.0) == [(0.0, 1)]
    assert probe_schedule(2, 0.0) == [(0.0, 1), (0.0, 2)]


async def test_a_service_up_quickly_passes_inside_the_first_interval(server: Server) -> None:
    server.script["/health"] = [(503, "text/plain", "starting"), js(version="1.0.0")]
    announced: list[tuple[int, int]] = []
    report = await check_health(
        server.url("/health"),
        attempts=3,
        interval=600.0,  # a whole interval would outlast the test's timeout
        attempt_timeout=2,
        expected_version="1.0.0",
        on_attempt=lambda n, total: announced.append((n, total)),
    )
    assert report.ok
    assert [a.status for a in report.attempts] == [503, 200]
    assert announced == [(1, 3)]  # both requests belong to attempt 1


async def test_500_never_passes_and_text_bodies_match_by_substring(server: Server) -> None:
    server.script["/broken"] = [(500, "application/json", '{"version": "1.0.0"}')]
    server.script["/text"] = [(200, "text/plain", "hello from hello 1.0.0\n")]
    broken = await check_health(
        server.url("/broken"),
        attempts=2,
        interval=0,
        attempt_timeout=2,
        expected_version="1.0.0",
    )
    assert not broken.ok and broken.last is not None and broken.last.status == 500
    text = await check_health(
        server.url("/text"), attempts=1, interval=0, attempt_timeout=2, expected_version="1.0.0"
    )
    assert text.ok
    any_version = await check_health(server.url("/text"), attempts=1, interval=0, attempt_timeout=2)
    assert any_version.ok


async def test_timeout_and_refused_connections_are_failed_attempts(server: Server) -> None:
    slow = await check_health(server.url("/slow"), attempts=1, interval=0, attempt_timeout=0.2)
    assert not slow.ok
    assert slow.last is not None and slow.last.status is None
    assert slow.last.error is not None and "Timeout" in slow.last.error
    server.release.set()
    # a port nobody listens on: bind, note it, close
    probe = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = probe.server_address[1]
    probe.server_close()
    refused = await check_health(
        f"http://127.0.0.1:{port}/health", attempts=2, interval=0, attempt_timeout=1
    )
    assert not refused.ok and len(refused.attempts) == 2
    assert refused.last is not None and "Connect" in (refused.last.error or "")


async def test_smoke_needs_2xx_on_every_url(server: Server) -> None:
    server.script["/a"] = [(200, "text/plain", "ok")]
    server.script["/b"] = [(204, "text/plain", "")]
    server.script["/c"] = [(302, "text/plain", "elsewhere")]
    reports = await check_smoke(
        [server.url("/a"), server.url("/b"), server.url("/c")], attempt_timeout=2
    )
    assert [r.ok for r in reports] == [True, True, False]
    assert reports[2].last is not None and reports[2].last.status == 302
