"""The ``local`` transport: commands run as subprocesses on the relman machine (DESIGN.md §4).

For single-box installs and the demo. Argv lists only, never a shell. Each command gets its
own process group, so a timeout stops the command and its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from relman.deploy.errors import TransportError
from relman.deploy.transport import DRAIN_GRACE, CommandResult, LineCallback, LineSplitter

#: relman's own settings may hold secrets (API secret, bot token, database DSN); commands
#: run for a service must not inherit them.
_PRIVATE_PREFIXES = ("RELMAN_", "LOOM_")
_PRIVATE_NAMES = frozenset({"DATABASE_URL"})


def child_environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The environment for a local command: relman's own, minus relman's settings
    (``RELMAN_*``, ``LOOM_*``, ``DATABASE_URL``), plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_PRIVATE_PREFIXES) and key not in _PRIVATE_NAMES
    }
    if extra:
        env.update(extra)
    return env


class LocalTransport:
    """Runs argv lists as subprocesses of relman (``loop.subprocess_exec``, no shell)."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        self._closed = False

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        timeout: float,  # noqa: ASYNC109 (the transport interface: seconds per command)
        on_line: LineCallback,
    ) -> CommandResult:
        """See :meth:`relman.deploy.transport.Transport.run`.

        Raises :class:`TransportError` when the program cannot be started (not found, ``cwd``
        missing) — the host is fine but the command never ran.
        """
        if self._closed:
            raise TransportError(f"host {self.name}: transport is closed", host=self.name)
        if not argv:
            raise ValueError("empty argv")
        started = time.monotonic()
        splitter = LineSplitter(on_line)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(splitter),
                *argv,
                cwd=cwd,
                env=child_environment(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(
                f"host {self.name}: cannot start {argv[0]!r}: {exc.strerror or exc}",
                host=self.name,
            ) from None
        timed_out = False
        try:
            try:
                await asyncio.wait_for(protocol.exited.wait(), timeout)
            except TimeoutError:
                timed_out = True
                _kill_group(transport.get_pid())
                await protocol.exited.wait()
            # A child started in the background may still hold the pipe (a start script
            # that did not redirect its daemon's output): read what is there, then stop
            # waiting for an end of file that may never come.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.closed.wait(), DRAIN_GRACE)
        finally:
            if transport.get_returncode() is None:  # cancelled: do not leave it running
                _kill_group(transport.get_pid())
            transport.close()
        splitter.flush()
        status = transport.get_returncode()
        return CommandResult(
            exit_status=None if timed_out or status is None or status < 0 else status,
            duration=time.monotonic() - started,
            tail=tuple(splitter.tail),
            timed_out=timed_out,
        )

    async def close(self) -> None:
        """Nothing to release; later :meth:`run` calls are refused."""
        self._closed = True


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds output to the splitter; tells apart "the process exited" from "the pipe
    closed" (asyncio's ``Process.wait()`` waits for both)."""

    def __init__(self, splitter: LineSplitter) -> None:
        self.splitter = splitter
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.splitter.feed(data)

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.exited.set()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
