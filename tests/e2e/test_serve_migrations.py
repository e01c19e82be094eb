"""``relman serve`` migrates by default; ``--no-migrate`` leaves the schema alone and
``/health`` then says so (issue 15 item 6). Real processes, real HTTP."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.test_serve import PREFIX, RELMAN, clean_env, free_port


def serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [RELMAN, "serve", "--no-worker", "--port", str(port), *args],
        cwd=tmp_path,
        env=clean_env(LOOM_INTERSERVER_SECRET_KEY="e2e-secret-for-the-health-test"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}{PREFIX}/health"


def first_health(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> httpx.Response:
    """The first answer of ``url`` (any status), polled until the server listens."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "relman serve exited early"
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError(f"{url} did not answer within {deadline_s}s")


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    return proc.communicate(timeout=15)[0].decode()


def test_serve_migrates_a_new_database_by_default(tmp_path: Path) -> None:
    proc, url = serve(tmp_path)
    try:
        response = first_health(url, proc)
    finally:
        output = stop(proc)
    assert response.status_code == 200, (response.text, output)
    assert response.json()["schema"] == "current"


def test_serve_no_migrate_warns_and_health_is_503_schema_missing(tmp_path: Path) -> None:
    proc, url = serve(tmp_path, "--no-migrate")
    try:
        response = first_health(url, proc)
    finally:
        output = stop(proc)
    assert response.status_code == 503, response.text
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "schema": "missing",
        "version": response.json()["version"],
    }
    assert (
        "warning: database schema missing: run `relman db upgrade` (or start without "
        "--no-migrate); /health answers 503 until then"
    ) in " ".join(output.split())


def test_serve_still_accepts_migrate(tmp_path: Path) -> None:
    proc, url = serve(tmp_path, "--migrate")
    try:
        response = first_health(url, proc)
    finally:
        stop(proc)
    assert response.status_code == 200, response.text
