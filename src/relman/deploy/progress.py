"""Live progress of a deploy, per host, for a terminal or a chat (issue 3: live progress).

The engine calls a :data:`ProgressCallback` (given in
:attr:`relman.deploy.engine.DeployRequest.on_progress`) with a :class:`Progress` whenever a
host starts a step or writes one of its seed-log messages, and once more when the host is
done. Callbacks run on the deploy's event loop, between two awaits: they must be quick and
must not block. A callback that raises is ignored — a broken display never stops a deploy.
Messages have passed the deploy's redactor.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from relman.deploy.log import Kind, RefType
from relman.deploy.redact import Redactor

ProgressState = Literal["running", "ok", "failed"]

#: The step name of a host's last report.
DONE_STEP = "done"


@dataclass(frozen=True)
class Progress:
    """Where one host of a deploy is.

    * ``host``: relman's name of the host;
    * ``step``: the step running now (``lock``, ``fetch``, ``checkout``, ``restart``,
      ``health``, …; :data:`DONE_STEP` in the last report);
    * ``message``: the latest seed-log line of this host (redacted), or the error at the end;
    * ``elapsed``: seconds since this host's run began;
    * ``state``: ``running``, then ``ok`` or ``failed`` in the last report;
    * ``kind`` / ``ref`` / ``ref_type``: what is deployed (``deploy`` or ``rollback`` of a
      tag, or the branch of a developer deploy).
    """

    host: str
    step: str
    message: str
    elapsed: float
    state: ProgressState = "running"
    kind: Kind = "deploy"
    ref: str = ""
    ref_type: RefType = "tag"

    @property
    def done(self) -> bool:
        """True in a host's last report."""
        return self.state != "running"


ProgressCallback = Callable[[Progress], None]


class HostProgress:
    """Reports one host's progress to a callback (which may be ``None``: then nothing)."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        host: str,
        *,
        kind: Kind,
        ref: str,
        ref_type: RefType,
        redactor: Redactor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._host = host
        self._kind: Kind = kind
        self._ref = ref
        self._ref_type: RefType = ref_type
        self._redactor = redactor
        self._clock = clock
        self._started = clock()
        self.step_name = "start"
        self.message = ""

    def step(self, name: str, message: str | None = None) -> None:
        """The host starts step ``name`` (with its seed-log ``message``, if it has one)."""
        self.step_name = name
        if message:
            self.message = self._redactor(message)
        self._emit("running")

    def say(self, message: str) -> None:
        """The host wrote a seed-log line; the step stays the same (a line equal to the
        current message is not reported again)."""
        shown = self._redactor(message)
        if shown == self.message:
            return
        self.message = shown
        self._emit("running")

    def finish(self, ok: bool, message: str) -> None:
        """The host is done: ``ok`` or failed with ``message``."""
        self.step_name = DONE_STEP
        self.message = self._redactor(message)
        self._emit("ok" if ok else "failed")

    def _emit(self, state: ProgressState) -> None:
        if self._callback is None:
            return
        report = Progress(
            host=self._host,
            step=self.step_name,
            message=self.message,
            elapsed=self._clock() - self._started,
            state=state,
            kind=self._kind,
            ref=self._ref,
            ref_type=self._ref_type,
        )
        # A display's bug must not fail the deploy it displays.
        with contextlib.suppress(Exception):
            self._callback(report)
