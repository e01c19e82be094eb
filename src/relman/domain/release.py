"""The Release aggregate: the only place a release's status changes.

Columns follow seed 003's ``releases`` table; the status rules follow DESIGN.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from relman.domain.errors import IllegalTransition
from relman.domain.status import COMPLETING, STARTING, ReleaseStatus, allowed_next


class Source(StrEnum):
    """Where an action came from (written to every audit row)."""

    API = "api"
    BOT = "bot"
    CLI = "cli"
    WORKER = "worker"
    WEB = "web"


SYSTEM_ACTOR = "system"

#: The largest release id (``releases.id`` is a 32-bit integer on PostgreSQL).
MAX_RELEASE_ID = 2**31 - 1


def parse_release_id(text: str) -> int | None:
    """The release id written in ``text`` (``"12"``, as typed in a chat or a URL): ASCII
    digits naming an id relman can hold (1 … :data:`MAX_RELEASE_ID`), else ``None`` —
    never an error, whatever was written (``"²"`` and ``"١٢"`` are digits to Python, but
    no id)."""
    text = text.strip()
    if not (0 < len(text) <= len(str(MAX_RELEASE_ID)) and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_RELEASE_ID else None


@dataclass(frozen=True, slots=True)
class ReleaseEvent:
    """One row of the append-only audit trail.

    ``from_status`` is ``None`` for the event that records the release's creation.
    ``created_at`` is timezone-aware UTC. ``kind`` is ``transition`` (the status changed)
    or ``refused`` (someone asked for ``to_status`` and was denied; ``note`` says why).
    """

    release_id: int | None
    from_status: ReleaseStatus | None
    to_status: ReleaseStatus
    actor: str
    source: Source
    note: str
    created_at: datetime
    id: int | None = None
    kind: str = "transition"


@dataclass(slots=True)
class Release:
    """A version tag of one service on its way to production.

    Do not assign ``status`` directly; call :meth:`transition`.
    Times are timezone-aware UTC datetimes.
    """

    service_name: str
    release_tag: str
    initiated_by: str
    github_run_id: str
    github_action_link: str
    github_ref: str
    created_at: datetime
    status: ReleaseStatus = ReleaseStatus.INITIATED
    rollback_to_tag: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    id: int | None = None
    events: list[ReleaseEvent] = field(default_factory=list)
    #: Why this is an emergency release (seed 004's "Принудительный релиз", issue 14
    #: item 3: manual testing skipped); "" for an ordinary release. Stored apart from
    #: seed 003's columns, in ``emergency_releases``.
    emergency_reason: str = ""

    def allowed_next(self) -> frozenset[ReleaseStatus]:
        """Statuses this release may move to now."""
        return allowed_next(self.status)

    def refusal(
        self, wanted: ReleaseStatus, *, actor: str, source: Source, at: datetime, reason: str
    ) -> ReleaseEvent:
        """The audit event recording that ``actor`` asked for ``wanted`` and was refused
        for ``reason``; the release does not change."""
        return ReleaseEvent(
            release_id=self.id,
            from_status=self.status,
            to_status=wanted,
            actor=actor,
            source=source,
            note=reason,
            created_at=at,
            kind="refused",
        )

    def transition(
        self,
        to: ReleaseStatus,
        *,
        actor: str,
        source: Source,
        at: datetime,
        note: str = "",
        rollback_to_tag: str | None = None,
    ) -> ReleaseEvent:
        """Move to ``to`` and return the audit event for it.

        ``started_at`` is set when work starts (building, deploying, rollback) and
        ``completed_at`` when it ends in a successful or failed status; a rollback clears
        ``completed_at`` until the rollback itself ends. ``rollback_to_tag``, when given,
        records the tag a rollback puts the service back on.

        Raises :class:`IllegalTransition` (naming the allowed statuses) when the table
        refuses the move; the release is then left unchanged.
        """
        if to not in self.allowed_next():
            raise IllegalTransition(self.id, self.status, to, self.allowed_next())
        event = ReleaseEvent(
            release_id=self.id,
            from_status=self.status,
            to_status=to,
            actor=actor,
            source=source,
            note=note,
            created_at=at,
        )
        self.status = to
        if to in STARTING:
            self.started_at = at
            self.completed_at = None
        if to in COMPLETING:
            self.completed_at = at
        if rollback_to_tag is not None:
            self.rollback_to_tag = rollback_to_tag
        self.events.append(event)
        return event

    @classmethod
    def initiate(
        cls,
        *,
        service_name: str,
        release_tag: str,
        initiated_by: str,
        github_run_id: str,
        github_action_link: str,
        github_ref: str,
        source: Source,
        at: datetime,
    ) -> tuple[Release, ReleaseEvent]:
        """A new release in ``initiated`` and the audit event recording its creation."""
        release = cls(
            service_name=service_name,
            release_tag=release_tag,
            initiated_by=initiated_by,
            github_run_id=github_run_id,
            github_action_link=github_action_link,
            github_ref=github_ref,
            created_at=at,
            started_at=at,
        )
        event = ReleaseEvent(
            release_id=None,
            from_status=None,
            to_status=ReleaseStatus.INITIATED,
            actor=initiated_by,
            source=source,
            note="release created",
            created_at=at,
        )
        release.events.append(event)
        return release, event
