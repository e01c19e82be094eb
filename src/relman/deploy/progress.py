"""Live progress of a deploy, per host, for a terminal or a chat (issue 3: live progress).

The engine calls a :data:`ProgressCallback` (given in
:attr:`relman.deploy.engine.DeployRequest.on_progress`) with a :class:`Progress` whenever a
host starts a step or writes one of its seed-log messages, and once more when the host is
done. Callbacks run on the deploy's event loop, between two awaits: they must be quick and
must not block. A callback that raises is ignored — a broken display never stops a deploy.
Messages have passed the deploy's redactor, in both languages: a report carries the seed's
Russian text (``message``, as the log file has it) and its English twin (``message_en``);
a display picks one with :meth:`Progress.text`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from relman.deploy.log import Kind, Language, Message, RefType, as_message
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
    * ``message_en``: its English twin (``None``: the same text in every language);
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
    message_en: str | None = None

    @property
    def done(self) -> bool:
        """True in a host's last report."""
        return self.state != "running"

    def text(self, language: Language) -> str:
        """The message in ``language`` (``ru``: the seed's text, ``en``: its twin)."""
        if language == "en" and self.message_en is not None:
            return self.message_en
        return self.message


ProgressCallback = Callable[[Progress], None]


class HostProgress:
    """Reports one host's progress to a callback (which may be ``None``: then nothing).

    Messages are given as :class:`~relman.deploy.log.Message` (both languages) or as a
    plain string (the same in both); either way both texts pass the redactor.
    """

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
        #: The latest message, redacted, in both languages.
        self.said = Message.plain("")

    @property
    def message(self) -> str:
        """The latest message's seed text (redacted)."""
        return self.said.ru

    def step(self, name: str, message: str | Message | None = None) -> None:
        """The host starts step ``name`` (with its seed-log ``message``, if it has one)."""
        self.step_name = name
        if message:
            self.said = as_message(message).map(self._redactor)
        self._emit("running")

    def say(self, message: str | Message) -> None:
        """The host wrote a seed-log line; the step stays the same (a line equal to the
        current message is not reported again)."""
        shown = as_message(message).map(self._redactor)
        if shown.same_as(self.said):
            return
        self.said = shown
        self._emit("running")

    def finish(self, ok: bool, message: str | Message) -> None:
        """The host is done: ``ok`` or failed with ``message``."""
        self.step_name = DONE_STEP
        self.said = as_message(message).map(self._redactor)
        self._emit("ok" if ok else "failed")

    def _emit(self, state: ProgressState) -> None:
        if self._callback is None:
            return
        report = Progress(
            host=self._host,
            step=self.step_name,
            message=self.said.ru,
            elapsed=self._clock() - self._started,
            state=state,
            kind=self._kind,
            ref=self._ref,
            ref_type=self._ref_type,
            message_en=None if self.said.en == self.said.ru else self.said.en,
        )
        # A display's bug must not fail the deploy it displays.
        with contextlib.suppress(Exception):
            self._callback(report)
