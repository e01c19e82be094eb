"""hello-service: the tiny HTTP app relman deploys in its demo and its tests.

Standard library only, Python >= 3.11. Endpoints:

* ``GET /health``  -> 200 ``{"status": "ok", "service": "hello", "version": "<VERSION>"}``
  (500 with ``"status": "error"`` when this release is broken, see ``HEALTHY``);
* ``GET /metrics`` -> Prometheus text format (``hello_requests_total{path=...}``,
  ``hello_build_info{version=...} 1``, ``hello_uptime_seconds``);
* ``GET /``        -> a one-line greeting with the version.

The version is the first line of the ``VERSION`` file next to this script. Settings, first
match wins: command line (``--host``, ``--port``), environment (``HELLO_HOST``,
``HELLO_PORT``, ``HELLO_HEALTH_DELAY``), then a ``hello.env`` file next to this script
(``KEY=VALUE`` lines, ``#`` comments), then defaults (127.0.0.1, 8004, no delay).
``HELLO_HEALTH_DELAY`` (seconds, float) makes every ``/health`` answer that much later; it is
read per request, so editing ``hello.env`` changes it without a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

SERVICE = "hello"
HERE = Path(__file__).resolve().parent
VERSION_FILE = HERE / "VERSION"
ENV_FILE = HERE / "hello.env"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8004

# A release flips this to False to be broken on purpose: /health then answers 500.
HEALTHY = True

KNOWN_PATHS = ("/", "/health", "/metrics")


def read_version() -> str:
    """Return the first line of ``VERSION`` (stripped), or ``"0.0.0"`` if it is missing."""
    try:
        lines = VERSION_FILE.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return "0.0.0"
    return lines[0].strip() if lines and lines[0].strip() else "0.0.0"


def read_env_file() -> dict[str, str]:
    """Parse ``hello.env`` next to this script into a dict; ``{}`` when it does not exist."""
    values: dict[str, str] = {}
    try:
        text = ENV_FILE.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def setting(name: str, default: str) -> str:
    """Look ``name`` up in the environment, then in ``hello.env``; else ``default``."""
    value = os.environ.get(name)
    if value is None or value == "":
        value = read_env_file().get(name, "")
    return value if value != "" else default


def health_delay() -> float:
    """Seconds to wait before answering ``/health`` (``HELLO_HEALTH_DELAY``; 0 if unset/bad)."""
    try:
        return max(0.0, float(setting("HELLO_HEALTH_DELAY", "0")))
    except ValueError:
        return 0.0


class Metrics:
    """Request counters, safe to use from the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys((*KNOWN_PATHS, "other"), 0)
        self.started = time.monotonic()

    def count(self, path: str) -> None:
        key = path if path in KNOWN_PATHS else "other"
        with self._lock:
            self._counts[key] += 1

    def render(self, version: str) -> str:
        with self._lock:
            counts = dict(self._counts)
        lines = [
            "# HELP hello_requests_total HTTP requests received, by path.",
            "# TYPE hello_requests_total counter",
        ]
        lines += [f'hello_requests_total{{path="{p}"}} {n}' for p, n in counts.items()]
        lines += [
            "# HELP hello_build_info The running version of hello-service.",
            "# TYPE hello_build_info gauge",
            f'hello_build_info{{version="{version}"}} 1',
            "# HELP hello_uptime_seconds Seconds since the process started.",
            "# TYPE hello_uptime_seconds gauge",
            f"hello_uptime_seconds {time.monotonic() - self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


class HelloServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], version: str) -> None:
        super().__init__(address, HelloHandler)
        self.version = version
        self.metrics = Metrics()


class HelloHandler(BaseHTTPRequestHandler):
    server: HelloServer
    server_version = "hello-service"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.metrics.count(path)
        version = self.server.version
        if path == "/health":
            delay = health_delay()
            if delay:
                time.sleep(delay)
            if HEALTHY:
                self._send_json(200, {"status": "ok", "service": SERVICE, "version": version})
            else:
                body = {
                    "status": "error",
                    "service": SERVICE,
                    "version": version,
                    "error": "this release is broken on purpose",
                }
                self._send_json(500, body)
        elif path == "/metrics":
            self._send(
                200, "text/plain; version=0.0.4; charset=utf-8", self.server.metrics.render(version)
            )
        elif path == "/":
            self._send(200, "text/plain; charset=utf-8", f"hello from {SERVICE} {version}\n")
        else:
            self._send_json(404, {"status": "error", "error": f"no route {path}"})

    def _send_json(self, status: int, body: dict[str, str]) -> None:
        self._send(status, "application/json", json.dumps(body) + "\n")

    def _send(self, status: int, content_type: str, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        sys.stderr.write(f"{stamp} {self.address_string()} {format % args}\n")
        sys.stderr.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="hello-service: a tiny versioned HTTP app")
    parser.add_argument("--host", default=None, help="address to bind (env HELLO_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (env HELLO_PORT)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; return the process exit code (2 on a bad setting)."""
    args = parse_args(argv)
    host = args.host or setting("HELLO_HOST", DEFAULT_HOST)
    try:
        port = args.port if args.port is not None else int(setting("HELLO_PORT", str(DEFAULT_PORT)))
    except ValueError:
        print("hello-service: HELLO_PORT must be an integer", file=sys.stderr)
        return 2
    version = read_version()
    try:
        server = HelloServer((host, port), version)
    except OSError as exc:
        print(f"hello-service: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever() returns, so it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{SERVICE} {version} listening on http://{host}:{port} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print(f"{SERVICE} {version} stopped (pid {os.getpid()})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
