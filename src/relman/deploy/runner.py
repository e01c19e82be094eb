"""The one runner: executes :class:`~relman.deploy.steps.Step` data through a transport.

For every step it writes the seed-log message, streams the output (redacted) into the deploy
log and the step's evidence log as it arrives, records the duration, and turns a failed
checked step into :class:`~relman.deploy.errors.CommandFailed` (DESIGN.md §3: steps are
data, the runner is the I/O).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from relman.deploy.errors import CommandFailed
from relman.deploy.evidence import Evidence, StepLog, iso
from relman.deploy.log import DeployLog, utc_now
from relman.deploy.redact import Redactor
from relman.deploy.steps import Step
from relman.deploy.transport import CommandResult, Transport


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


class StepRunner:
    """Runs steps on one host and keeps their records.

    ``on_step(step)`` is called as each step starts (used for live progress).
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
        """Run ``step``; raises :class:`CommandFailed` when a ``check`` step fails and
        :class:`~relman.deploy.errors.TransportError` when the host cannot be used."""
        if self.on_step is not None:
            self.on_step(step)
        if step.message:
            self.log.message(step.message, self.host)
        started_at = iso(utc_now())
        timeout = step.timeout if step.timeout is not None else self.default_timeout
        evidence = self.step_log(step.name)
        lines: list[str] = []
        if evidence is not None:
            evidence.write(f"# {started_at} host {self.host}")
            evidence.write(f"$ {shlex.join(step.argv)}")
            if step.cwd:
                evidence.write(f"# cwd: {step.cwd}")
            if step.env:
                evidence.write("# env: " + " ".join(sorted(step.env)))
            if step.sensitive:
                evidence.write("# (output withheld: it may hold secrets)")

        def on_line(line: str) -> None:
            lines.append(line)
            if step.sensitive:
                return
            if step.stream:
                self.log.output(line, self.host)
            if evidence is not None:
                evidence.write(line)

        try:
            result = await self.transport.run(
                step.argv, cwd=step.cwd, env=step.env, timeout=timeout, on_line=on_line
            )
        except BaseException as exc:
            if evidence is not None:
                evidence.write(f"# did not run to the end: {type(exc).__name__}: {exc}")
                evidence.close()
            raise
        self.records.append(
            StepRecord(step.name, started_at, result.duration, result.exit_status, result.timed_out)
        )
        if evidence is not None:
            shown = "timed out" if result.timed_out else f"exit status {result.exit_status}"
            evidence.write(f"# {shown} after {result.duration:.3f} s")
            evidence.close()
        tail = () if step.sensitive else tuple(self.redactor(line) for line in result.tail)
        output = StepOutput(result, lines, tail)
        if step.check and not result.ok:
            raise CommandFailed(
                host=self.host,
                step=step.name,
                exit_status=result.exit_status,
                timed_out=result.timed_out,
                tail=tail,
            )
        return output
