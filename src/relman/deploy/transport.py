"""The one small interface every transport implements (DESIGN.md §4: ``ssh`` and ``local``).

A transport runs one argv on a host and streams its output (stdout and stderr merged) line
by line to a callback as it arrives. It never goes through a local shell; the ssh transport
quotes the argv with :func:`shlex.join` for the remote one.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: How many output lines a :class:`CommandResult` keeps.
TAIL_LINES = 50

#: After a command exits, how long (seconds) to keep reading output a background child may
#: still hold open (a service started with ``&`` that inherited stdout) before giving up.
DRAIN_GRACE = 1.0

LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class CommandResult:
    """What a command did.

    ``exit_status`` is the exit status (``None`` when there is none: killed by the timeout
    or a signal); ``duration`` is wall time in seconds; ``tail`` the last
    :data:`TAIL_LINES` output lines (stdout and stderr merged, without line ends).
    """

    exit_status: int | None
    duration: float
    tail: tuple[str, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0 and not self.timed_out


@runtime_checkable
class Transport(Protocol):
    """Runs commands on one host. One instance per host per deploy, reused across steps."""

    name: str

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        timeout: float,  # noqa: ASYNC109 (the transport interface: seconds per command)
        on_line: LineCallback,
    ) -> CommandResult:
        """Run ``argv`` in ``cwd`` with ``env`` added to the environment.

        Every output line is passed to ``on_line`` as it arrives. ``timeout`` is in
        seconds; when it passes the command is stopped and the result has ``timed_out``.
        Raises :class:`relman.deploy.errors.TransportError` (or its subclass
        :class:`~relman.deploy.errors.HostKeyRejected`) when the host cannot be used; a
        non-zero exit is not an error here (the runner decides).
        """
        ...

    async def close(self) -> None:
        """Release the connection; the transport may not be used afterwards."""
        ...


class LineSplitter:
    """Turns chunks of bytes into whole decoded lines for a callback, keeping a tail.

    Decodes UTF-8 incrementally (invalid bytes become U+FFFD), splits on ``\\n``, strips a
    trailing ``\\r``. Call :meth:`flush` at the end for a last line without a newline.
    """

    def __init__(self, on_line: LineCallback, tail: int = TAIL_LINES) -> None:
        self._on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self.tail: deque[str] = deque(maxlen=tail)

    def feed(self, data: bytes | str) -> None:
        """Add output; emits each completed line."""
        text = self._decoder.decode(data) if isinstance(data, bytes) else data
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._emit(line)

    def flush(self) -> None:
        """Emit what is left after the last newline."""
        self._buffer += self._decoder.decode(b"", final=True)
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self.tail.append(line)
        self._on_line(line)
