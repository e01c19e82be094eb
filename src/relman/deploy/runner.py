"""The one runner: executes :class:`~relman.deploy.steps.Step` data through a transport.

A step runs alone (:meth:`StepRunner.run`) or with others in one remote command
(:meth:`StepRunner.run_batch`, joined by :func:`~relman.deploy.steps.join_steps`). For
every step, alone or joined, it writes the seed-log message, streams the output (redacted)
into the deploy log and the step's evidence log as it arrives, records the duration, and
turns a failed checked step into :class:`~relman.deploy.errors.CommandFailed` (DESIGN.md
§3: steps are data, the runner is the I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shlex
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from relman.deploy.errors import CommandFailed
from relman.deploy.evidence import Evidence, StepLog, iso
from relman.deploy.log import DeployLog, utc_now
from relman.deploy.redact import Redactor
from relman.deploy.steps import Step, join_steps
from relman.deploy.transport import TAIL_LINES, CommandResult, Transport


@dataclass(frozen=True)
class StepRecord:
    """A step that ran: name, start (ISO-8601 UTC), duration (seconds), exit status."""

    name: str
    started_at: str
    duration: float
    exit_status: int | None
    timed_out: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration, 3),
            "exit_status": self.exit_status,
            "timed_out": self.timed_out,
        }


@dataclass
class StepOutput:
    """What a step printed. ``lines`` is the raw output for the engine to parse (never
    logged by the engine); ``tail`` the redacted last lines."""

    result: CommandResult
    lines: list[str] = field(default_factory=list)
    tail: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def first(self) -> str:
        """The first non-empty output line, stripped ("" if none)."""
        return next((line.strip() for line in self.lines if line.strip()), "")

    def first_match(self, pattern: re.Pattern[str]) -> str:
        """The first output line (stripped) that ``pattern`` fully matches ("" if none).

        Output is stdout and stderr merged, and a host's login shell may add lines of its
        own (a profile's warning, a motd): parse with this, not :attr:`first`.
        """
        return next((line.strip() for line in self.lines if pattern.fullmatch(line.strip())), "")


def command_failed(host: str, step: str, output: StepOutput) -> CommandFailed:
    """The :class:`CommandFailed` for step ``step`` on ``host`` that gave ``output``."""
    return CommandFailed(
        host=host,
        step=step,
        exit_status=output.result.exit_status,
        timed_out=output.result.timed_out,
        tail=output.tail,
    )


class BatchOutput:
    """What :meth:`StepRunner.run_batch` got back: each step's output, in order.

    ``outputs`` maps the name of every step that started to its :class:`StepOutput`;
    ``failed`` is the ``check`` step that failed and stopped the batch (``None`` when all
    the checked steps passed). Use :meth:`raise_failed` when no failure is expected.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.outputs: dict[str, StepOutput] = {}
        self.failed: Step | None = None

    def __getitem__(self, name: str) -> StepOutput:
        return self.outputs[name]

    def get(self, name: str) -> StepOutput | None:
        """The output of step ``name``, or ``None`` when it did not run."""
        return self.outputs.get(name)

    def raise_failed(self) -> None:
        """Raise :class:`CommandFailed` for the step that failed, if one did."""
        if self.failed is not None:
            raise command_failed(self.host, self.failed.name, self.outputs[self.failed.name])


class _StepSink:
    """One step's output on its way to the deploy log and its evidence file."""

    def __init__(self, runner: StepRunner, step: Step) -> None:
        self.runner = runner
        self.step = step
        self.lines: list[str] = []
        self.started = time.monotonic()
        self.started_at = iso(utc_now())
        if runner.on_step is not None:
            runner.on_step(step)
        if step.message:
            runner.log.message(step.message, runner.host)
        self.evidence = runner.step_log(step.name)
        if self.evidence is not None:
            self.evidence.write(f"# {self.started_at} host {runner.host}")
            self.evidence.write(f"$ {shlex.join(step.argv)}")
            if step.cwd:
                self.evidence.write(f"# cwd: {step.cwd}")
            if step.env:
                self.evidence.write("# env: " + " ".join(sorted(step.env)))
            if step.sensitive:
                self.evidence.write("# (output withheld: it may hold secrets)")

    def line(self, line: str) -> None:
        self.lines.append(line)
        if self.step.sensitive:
            return
        if self.step.stream:
            self.runner.log.output(line, self.runner.host)
        if self.evidence is not None:
            self.evidence.write(line)

    def abort(self, exc: BaseException) -> None:
        if self.evidence is not None:
            self.evidence.write(f"# did not run to the end: {type(exc).__name__}: {exc}")
            self.evidence.close()

    def finish(self, result: CommandResult) -> StepOutput:
        """Record the step (duration, exit status) and close its evidence file."""
        self.runner.records.append(
            StepRecord(
                self.step.name,
                self.started_at,
                result.duration,
                result.exit_status,
                result.timed_out,
            )
        )
        if self.evidence is not None:
            shown = "timed out" if result.timed_out else f"exit status {result.exit_status}"
            self.evidence.write(f"# {shown} after {result.duration:.3f} s")
            self.evidence.close()
        redact = self.runner.redactor
        tail = () if self.step.sensitive else tuple(redact(line) for line in result.tail)
        return StepOutput(result, self.lines, tail)


class StepRunner:
    """Runs steps on one host and keeps their records.

    ``on_step(step)`` is called as each step starts (used for live progress); the step's
    seed-log ``message`` is written then too, also inside a batch.
    """

    def __init__(
        self,
        host: str,
        transport: Transport,
        *,
        log: DeployLog,
        redactor: Redactor,
        evidence: Evidence | None,
        default_timeout: float,
        on_step: Callable[[Step], None] | None = None,
    ) -> None:
        self.host = host
        self.transport = transport
        self.log = log
        self.redactor = redactor
        self.evidence = evidence
        self.default_timeout = default_timeout
        self.on_step = on_step
        self.records: list[StepRecord] = []
        #: Remote command executions so far (one per :meth:`run` or :meth:`run_batch`).
        self.executions = 0

    def step_log(self, name: str) -> StepLog | None:
        """The evidence log of step ``name`` on this host (``None`` without evidence)."""
        return self.evidence.step_log(self.host, name) if self.evidence else None

    def record(
        self, name: str, started: float, exit_status: int | None, timed_out: bool = False
    ) -> None:
        """Record a phase that is not a command (health, smoke) that began at ``started``
        (a :func:`time.monotonic` value)."""
        duration = time.monotonic() - started
        began = utc_now() - timedelta(seconds=duration)
        self.records.append(StepRecord(name, iso(began), duration, exit_status, timed_out))

    async def run(self, step: Step) -> StepOutput:
        """Run ``step`` alone; raises :class:`CommandFailed` when a ``check`` step fails and
        :class:`~relman.deploy.errors.TransportError` when the host cannot be used."""
        if step.only_if:
            raise ValueError(f"step {step.name}: only_if works in a batch only")
        sink = _StepSink(self, step)
        timeout = step.timeout if step.timeout is not None else self.default_timeout
        self.executions += 1
        try:
            result = await self.transport.run(
                step.argv, cwd=step.cwd, env=step.env, timeout=timeout, on_line=sink.line
            )
        except BaseException as exc:
            sink.abort(exc)
            raise
        output = sink.finish(result)
        if step.check and not result.ok:
            raise command_failed(self.host, step.name, output)
        return output

    async def run_batch(
        self,
        steps: Sequence[Step],
        *,
        on_begin: Callable[[Step], None] | None = None,
        on_done: Callable[[Step, StepOutput], None] | None = None,
    ) -> BatchOutput:
        """Run ``steps`` as one remote command (:func:`~relman.deploy.steps.join_steps`).

        Each step keeps what :meth:`run` gives it: its seed-log message when it starts, its
        output streamed to the deploy log and ``step_<name>.log``, its own exit status and
        duration (seconds, timed here between its markers) in :attr:`records`.
        ``on_begin(step)`` is called as each step starts and ``on_done(step, output)`` as it
        ends, while later steps still run.
        Returns a :class:`BatchOutput`; a failing ``check`` step is reported there (it
        stopped the batch), not raised. Raises
        :class:`~relman.deploy.errors.TransportError` when the host cannot be used. Step
        names must be unique within a batch.
        """
        if len({step.name for step in steps}) != len(steps):
            raise ValueError("step names must be unique within a batch")
        nonce = secrets.token_hex(12)
        joined = join_steps(steps, nonce)
        limits = [s.timeout if s.timeout is not None else self.default_timeout for s in steps]
        out = BatchOutput(self.host)
        demux = _Demux(self, steps, nonce, out, on_begin, on_done)
        self.executions += 1
        started = time.monotonic()
        command = asyncio.ensure_future(
            self.transport.run(
                joined.argv, cwd=None, env=None, timeout=sum(limits), on_line=demux.line
            )
        )
        try:
            result = await self._watch(command, demux, limits, started)
        except BaseException as exc:
            command.cancel()
            demux.abort(exc)
            raise
        demux.close(result)
        return out

    async def _watch(
        self,
        command: asyncio.Future[CommandResult],
        demux: _Demux,
        limits: Sequence[float],
        started: float,
    ) -> CommandResult:
        """Wait for the joined command, holding each step to its own timeout (seconds):
        a step that overruns it stops the command (the transport kills it) and is
        reported as timed out."""
        while True:
            index, since = demux.running(started)
            deadline = since + limits[index]
            demux.moved.clear()
            moved = asyncio.ensure_future(demux.moved.wait())
            waiting: set[asyncio.Future[Any]] = {command, moved}
            try:
                await asyncio.wait(
                    waiting,
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                moved.cancel()
            if command.done():
                return command.result()
            if demux.running(started) == (index, since) and time.monotonic() >= deadline:
                # the same step, past its own limit
                command.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await command
                return CommandResult(None, time.monotonic() - started, (), timed_out=True)


class _Demux:
    """Splits a joined script's output back into its steps by the nonce's marker lines."""

    def __init__(
        self,
        runner: StepRunner,
        steps: Sequence[Step],
        nonce: str,
        out: BatchOutput,
        on_begin: Callable[[Step], None] | None,
        on_done: Callable[[Step, StepOutput], None] | None,
    ) -> None:
        self.runner = runner
        self.steps = steps
        self.out = out
        self.on_begin = on_begin
        self.on_done = on_done
        self.markers = re.compile(re.escape(nonce) + r":(\d+):(begin|end)(?::(\d+))?")
        self.current: _StepSink | None = None
        self.current_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.before: list[str] = []  # what a login shell printed before the first step
        self.held_blank = 0  # blank lines held back: the last one before an end marker is ours
        self.last_end: float | None = None
        self.next_index = 0  # the step after the last one that ended
        #: Set whenever a step begins or ends (wakes the timeout watch).
        self.moved = asyncio.Event()

    def running(self, started: float) -> tuple[int, float]:
        """The index of the step running now and when it began (:func:`time.monotonic`);
        before the first marker, the first step since ``started``."""
        if self.current is None:  # between steps: the next one (a skipped one's limit is as good)
            return min(self.next_index, len(self.steps) - 1), self.last_end or started
        return self.steps.index(self.current.step), self.current.started

    def line(self, line: str) -> None:
        found = self.markers.search(line)
        if found is None:
            self._output(line)
            return
        if found.start() > 0:  # the step's last line had no newline of its own
            self._output(line[: found.start()])
        index, what, status = int(found[1]), found[2], found[3]
        self.moved.set()
        if what == "begin" and 0 <= index < len(self.steps):
            self._begin(self.steps[index])
        elif what == "end" and self.current is not None:
            self.held_blank = max(0, self.held_blank - 1)  # the newline the script added
            self._end(int(status) if status is not None else None)

    def _output(self, line: str) -> None:
        if self.current is None:
            self.before.append(line)
            return
        if line == "":
            self.held_blank += 1
            return
        for _ in range(self.held_blank):
            self._emit("")
        self.held_blank = 0
        self._emit(line)

    def _emit(self, line: str) -> None:
        assert self.current is not None
        self.current.line(line)
        self.current_tail.append(line)

    def _begin(self, step: Step) -> None:
        if self.on_begin is not None:
            self.on_begin(step)
        self.current = _StepSink(self.runner, step)
        self.current_tail = deque(maxlen=TAIL_LINES)
        self.held_blank = 0
        for line in self.before:  # a login shell's noise goes to the first step, as before
            self._emit(line)
        self.before = []

    def _end(self, status: int | None, *, timed_out: bool = False) -> None:
        sink, self.current = self.current, None
        assert sink is not None
        for _ in range(self.held_blank):
            sink.line("")
        self.held_blank = 0
        result = CommandResult(
            exit_status=status,
            duration=time.monotonic() - sink.started,
            tail=tuple(self.current_tail),
            timed_out=timed_out,
        )
        output = sink.finish(result)
        self.last_end = time.monotonic()
        self.next_index = self.steps.index(sink.step) + 1
        self.out.outputs[sink.step.name] = output
        if sink.step.check and not result.ok:
            self.out.failed = sink.step
        if self.on_done is not None:
            self.on_done(sink.step, output)

    def abort(self, exc: BaseException) -> None:
        if self.current is not None:
            self.current.abort(exc)
            self.current = None

    def close(self, result: CommandResult) -> None:
        """The command ended: a step still open ended with it (killed, timed out)."""
        if self.current is not None:
            status = None if result.timed_out else result.exit_status
            self._end(status if status != 0 else None, timed_out=result.timed_out)
        elif not self.out.outputs and not result.ok:
            # the script never started a step (no ``sh``?): the first step failed
            sink = _StepSink(self.runner, self.steps[0])
            for line in self.before:
                sink.line(line)
            output = sink.finish(result)
            self.out.outputs[self.steps[0].name] = output
            self.out.failed = self.steps[0]
