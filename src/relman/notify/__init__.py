"""Notifications: what happened to a release, delivered to every configured sink.

A :class:`Notice` is an event, not a message: each sink (the log, a Slack-compatible
webhook — seed 004 — and the Telegram bot) renders it in its own words. Delivery is best
effort: a sink that fails is logged and never fails the release's step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from relman.domain.release import Release

log = logging.getLogger("relman.notify")


class NoticeKind(StrEnum):
    """What a notice is about (the bot picks its chat and text from this)."""

    READY_FOR_TESTING = "ready_for_testing"  # manual_testing: ask QA (seed 003)
    STAGING_FAILED = "staging_failed"
    REJECTED = "rejected"
    DEPLOYED = "deployed"  # seed 000: tell the team about a successful deploy
    PRODUCTION_FAILED = "production_failed"
    ROLLBACK_DONE = "rollback_done"
    ROLLBACK_FAILED = "rollback_failed"
    INTERRUPTED = "interrupted"  # a worker died mid-job (DESIGN.md §5)
    DEV_DEPLOYED = "dev_deployed"
    DEV_DEPLOY_FAILED = "dev_deploy_failed"
    INCIDENT_OPENED = "incident_opened"  # a production incident opened (issue 14)
    INCIDENT_RESOLVED = "incident_resolved"  # ... and resolved: service restored
    #: an emergency release started: no manual testing (seed 004, issue 14 item 3);
    #: ``detail`` is its reason
    EMERGENCY = "emergency"
    #: The release moved (any transition, from any source): not a message of its own, a
    #: cue for sinks that keep messages about the release up to date (the bot, issue 16).
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Notice:
    """One event: ``release`` as it is now, a one-line ``detail`` (the failure reason, the
    skipped message) and the deploy ``log_path`` when there is one. Never holds a secret."""

    kind: NoticeKind
    release: Release | None
    detail: str = ""
    log_path: str = ""
    service: str = ""
    ref: str = ""


class Sink(Protocol):
    """Delivers a notice somewhere. May raise; :class:`Notifier` logs and carries on."""

    name: str

    async def send(self, notice: Notice) -> None: ...


class Notifier:
    """Sends each notice to every sink, concurrently; never raises."""

    def __init__(self, sinks: Sequence[Sink] = ()) -> None:
        self._sinks = list(sinks)

    def add(self, sink: Sink) -> None:
        """Register one more sink (the bot adds its own at start-up)."""
        self._sinks.append(sink)

    async def notify(self, notice: Notice) -> None:
        """Deliver ``notice`` to every sink; a failing sink is logged, not raised."""
        results = await asyncio.gather(
            *(sink.send(notice) for sink in self._sinks), return_exceptions=True
        )
        for sink, result in zip(self._sinks, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "notification %s via %s failed: %s",
                    notice.kind,
                    sink.name,
                    type(result).__name__,
                )
