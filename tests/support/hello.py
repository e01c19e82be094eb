"""Run the sample hello-service locally and poll its ``/health``, for tests.

Plain Python (no pytest). Processes started by ``start.sh`` are not children of the test
(they are detached with nohup), so they are tracked through the pid file ``.hello.pid`` in
their working directory: :class:`ServiceReaper` stops what is still running at teardown.
HTTP goes through httpx with ``trust_env=False``, so no proxy is ever involved.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from relman.demo.sample_repo import SOURCE_FILES, hello_service_source
from tests.support.sshd import free_port, pid_running, wait_until_gone

PID_FILE = ".hello.pid"
LOG_FILE = "service.log"
HEALTH_TIMEOUT = 15.0  # seconds to wait for an expected /health answer
STOP_TIMEOUT = 10.0  # seconds to wait for SIGTERM before SIGKILL
POLL_INTERVAL = 0.05  # seconds between two /health probes


class HealthTimeout(AssertionError):
    """``/health`` did not give the expected answer before the deadline."""


@dataclass(frozen=True)
class HealthAnswer:
    """What one ``/health`` probe saw: the status code and the decoded JSON body."""

    status: int
    body: dict[str, object]

    @property
    def version(self) -> object:
        return self.body.get("version")


def copy_hello_service(dest: Path) -> Path:
    """Copy the hello-service sources (only the tracked files) into ``dest``; return it."""
    source = hello_service_source()
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copy2(source / name, dest / name)
    return dest


@dataclass
class HelloProcess:
    """A hello-service started by :func:`start_hello` as a child of the test process."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    workdir: Path
    log_path: Path = field(repr=False)

    def url(self, path: str = "/health") -> str:
        """``http://host:port`` + ``path``."""
        return f"http://{self.host}:{self.port}{path}"

    def log(self) -> str:
        """The process' output so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


def start_hello(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> HelloProcess:
    """Start ``workdir/hello_service.py`` on ``host:port`` (a free port by default).

    Does not wait for it: call :func:`wait_for_health`. ``env`` is added to a copy of the
    environment from which every ``HELLO_*`` variable was removed. Output goes to
    ``workdir/service.log``.
    """
    chosen = port if port is not None else free_port(host)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELLO_")}
    clean.update(env or {})
    log_path = workdir / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [python, "-u", "hello_service.py", "--host", host, "--port", str(chosen)],
            cwd=workdir,
            env=clean,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return HelloProcess(process, host, chosen, workdir, log_path)


def _answer(response: httpx.Response) -> HealthAnswer:
    try:
        body = response.json()
    except ValueError:
        body = {"raw": response.text}
    return HealthAnswer(response.status_code, body if isinstance(body, dict) else {"raw": body})


class _HealthPoll:
    """One wait of :func:`wait_for_health` (sync or async): judges each poll's outcome
    and gives up at the deadline or when ``pid`` exits."""

    def __init__(
        self, url: str, status: int, version: str | None, within: float, pid: int | None
    ) -> None:
        self.url = url
        self.status = status
        self.version = version
        self.within = within
        self.pid = pid
        self.deadline = time.monotonic() + within
        self.last = "no answer yet"

    def judge(self, outcome: httpx.Response | httpx.HTTPError) -> HealthAnswer | None:
        """The matching answer, or ``None`` to poll again; raises :class:`HealthTimeout`."""
        if isinstance(outcome, httpx.Response):
            answer = _answer(outcome)
            if answer.status == self.status and self.version in (None, answer.version):
                return answer
            self.last = f"HTTP {answer.status} {answer.body}"
        else:
            self.last = f"{type(outcome).__name__}: {outcome}"
        if self.pid is not None and not pid_running(self.pid):
            raise HealthTimeout(f"{self.url}: process {self.pid} exited; last: {self.last}")
        if time.monotonic() >= self.deadline:
            raise HealthTimeout(
                f"{self.url}: no HTTP {self.status} (version {self.version}) "
                f"in {self.within} s; last: {self.last}"
            )
        return None


def wait_for_health(
    url: str,
    *,
    status: int = 200,
    version: str | None = None,
    within: float = HEALTH_TIMEOUT,
    pid: int | None = None,
) -> HealthAnswer:
    """Poll ``url`` until it answers ``status`` (and reports ``version`` if given).

    Args:
        url: the ``/health`` URL (loopback only).
        status: the expected HTTP status.
        version: the expected ``"version"`` field, or None for any.
        within: seconds before giving up.
        pid: if given, give up at once when that process is no longer running.

    Returns:
        The matching answer.

    Raises:
        HealthTimeout: the deadline passed or ``pid`` exited; the message has the last
            answer or connection error seen.
    """
    poll = _HealthPoll(url, status, version, within, pid)
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                outcome: httpx.Response | httpx.HTTPError = client.get(url)
            except httpx.HTTPError as exc:
                outcome = exc
            answer = poll.judge(outcome)
            if answer is not None:
                return answer
            time.sleep(POLL_INTERVAL)


async def wait_for_health_async(
    url: str,
    *,
    status: int = 200,
    version: str | None = None,
    within: float = HEALTH_TIMEOUT,
    pid: int | None = None,
) -> HealthAnswer:
    """The same as :func:`wait_for_health`, without blocking the event loop."""
    poll = _HealthPoll(url, status, version, within, pid)
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                outcome: httpx.Response | httpx.HTTPError = await client.get(url)
            except httpx.HTTPError as exc:
                outcome = exc
            answer = poll.judge(outcome)
            if answer is not None:
                return answer
            await asyncio.sleep(POLL_INTERVAL)


def read_pid(workdir: Path) -> int | None:
    """The pid in ``workdir/.hello.pid``, or None when the file is missing or empty."""
    try:
        text = (workdir / PID_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """Stop process ``pid``: SIGTERM, wait up to ``timeout`` s, SIGKILL, wait again.

    Raises:
        AssertionError: the process still runs after SIGKILL.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not pid_running(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until_gone(pid, timeout):
            return
    raise AssertionError(f"process {pid} survived SIGKILL")


class ServiceReaper:
    """Remembers service working directories and stops what their pid files name.

    ``watch(dir)`` before starting a service there; ``reap()`` at teardown stops every
    still-running pid found in a watched ``.hello.pid`` (and any pid passed to
    ``watch_pid``) and returns a description of what it had to stop.
    """

    def __init__(self) -> None:
        self._dirs: list[Path] = []
        self._pids: set[int] = set()

    def watch(self, workdir: Path) -> Path:
        """Track ``workdir``; returns it."""
        self._dirs.append(workdir)
        return workdir

    def watch_pid(self, pid: int) -> int:
        """Track one process id (e.g. an instance a later start replaced); returns it."""
        self._pids.add(pid)
        return pid

    def running(self) -> dict[int, str]:
        """pid -> where it was recorded, for every tracked process still running."""
        found = {pid: "watched pid" for pid in self._pids if pid_running(pid)}
        for workdir in self._dirs:
            pid = read_pid(workdir)
            if pid is not None and pid_running(pid):
                found[pid] = str(workdir / PID_FILE)
        return found

    def reap(self) -> list[str]:
        """Stop every tracked process still running; return ``"pid N (source)"`` for each."""
        stopped = []
        for pid, source in self.running().items():
            stop_pid(pid)
            stopped.append(f"pid {pid} ({source})")
        return stopped
