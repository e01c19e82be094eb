"""Helpers of the pipeline tests: writing relman.toml, receiving webhook notifications,
walking a release to a status through the real service functions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tomlkit

from relman.bootstrap import Container
from relman.config import RelmanConfig
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus
from relman.services.releases import NewRelease

CI = Actor("gh:dev", ci=True)


def write_config(path: Path, config: RelmanConfig) -> Path:
    """Write ``config`` as the relman.toml at ``path`` (so ``build(settings)`` loads it)."""
    data = config.model_dump(mode="json", exclude_none=True)
    path.write_text(tomlkit.dumps(data), encoding="utf-8")
    return path


def new_release(tag: str, *, service: str = "hello", by: str = "dev", run: str = "") -> NewRelease:
    """What CI sends for a pushed ``tag`` (seed 003 ``POST /release``)."""
    return NewRelease(
        service_name=service,
        release_tag=tag,
        initiated_by=by,
        github_run_id=run or f"run-{tag}",
        github_action_link=f"https://github.com/acme/{service}/actions/runs/1",
        github_ref=f"refs/tags/{tag}",
    )


async def walk_to_manual_testing(container: Container, release: Release) -> Release:
    """Report building → stage_deploy → manual_testing as CI would (github executor)."""
    assert release.id is not None
    for status in (
        ReleaseStatus.BUILDING,
        ReleaseStatus.STAGE_DEPLOY,
        ReleaseStatus.MANUAL_TESTING,
    ):
        if status in release.allowed_next():
            release = await container.pipeline.report_status(
                release.id, status, actor=CI, source=Source.API
            )
    return release


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def kinds(self) -> list[str]:
        """The ``kind`` of every notice received, in order."""
        return [str(body.get("kind")) for body in self.bodies]

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
