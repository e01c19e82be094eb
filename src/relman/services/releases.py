"""Release use cases: create from CI, report a status, read and list.

Every edge (API, CLI, bot, worker) calls these; none of them changes a release itself.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace

from relman.domain.clock import Clock, utcnow
from relman.domain.errors import IllegalTransition, InvalidInput
from relman.domain.release import Release, Source, parse_release_id
from relman.domain.status import GROUPS, ReleaseStatus
from relman.domain.text import text_problem
from relman.domain.version import parse_release_tag
from relman.store.releases import ReleaseStore, StaleRelease

MAX_PAGE = 200

#: The longest emergency reason (characters): one or two sentences for the chat and the
#: audit row, like a rejection reason.
MAX_EMERGENCY_REASON = 500


@dataclass(frozen=True, slots=True)
class NewRelease:
    """What CI reports when a version tag is pushed (seed 003, ``POST /release``)."""

    service_name: str
    release_tag: str
    initiated_by: str
    github_run_id: str
    github_action_link: str
    github_ref: str
    #: An emergency release: stage, then production without manual testing (seed 004's
    #: "Принудительный релиз", issue 14 item 3), for ``emergency_reason`` (mandatory,
    #: checked by :func:`check_emergency_reason`).
    emergency: bool = False
    emergency_reason: str = ""


def check_emergency_reason(reason: str) -> str:
    """The reason of an emergency release, stripped (seed 004's "Принудительный релиз";
    issue 14 item 3: it is mandatory). Raises :class:`InvalidInput` (field ``reason``) when
    it is blank, longer than :data:`MAX_EMERGENCY_REASON` characters or holds a character
    a free text may not (:func:`relman.domain.text.text_problem`)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "reason", "an emergency release needs a reason: say why manual testing is skipped"
        )
    if len(reason) > MAX_EMERGENCY_REASON:
        raise InvalidInput("reason", f"at most {MAX_EMERGENCY_REASON} characters")
    problem = text_problem(reason, free_text=True)
    if problem is not None:
        raise InvalidInput("reason", problem)
    return reason


@dataclass(frozen=True, slots=True)
class ReleasePage:
    """One page of a release list; ``next_cursor`` is ``None`` on the last page."""

    releases: list[Release]
    next_cursor: str | None


class ReleaseService:
    """Creates, moves and reads releases. Times come from ``clock`` (UTC)."""

    def __init__(self, store: ReleaseStore, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    async def create(self, new: NewRelease, *, source: Source) -> tuple[Release, bool]:
        """Record a release in ``initiated`` with its creation audit row.

        Returns ``(release, created)``; ``created`` is False when the same
        (service_name, release_tag, github_run_id) was already recorded (idempotent retry).
        An emergency release (``new.emergency_reason``) is recorded in
        ``emergency_releases`` in the same transaction, and its creation audit row says so
        with the reason. Raises :class:`InvalidInput` for a tag that is not ``v`` + SemVer
        (seed 004), an empty service name or a bad emergency reason.
        """
        if not new.service_name.strip():
            raise InvalidInput("service_name", "must not be empty")
        parse_release_tag(new.release_tag)
        release, event = Release.initiate(
            service_name=new.service_name,
            release_tag=new.release_tag,
            initiated_by=new.initiated_by,
            github_run_id=new.github_run_id,
            github_action_link=new.github_action_link,
            github_ref=new.github_ref,
            source=source,
            at=self._clock(),
        )
        if new.emergency:
            release.emergency_reason = check_emergency_reason(new.emergency_reason)
            event = replace(
                event,
                note=f"⚠️ emergency release, manual testing skipped: {release.emergency_reason}",
            )
            release.events = [event]
        return await self._store.add(release, event)

    async def report_status(
        self,
        release_id: int,
        status: ReleaseStatus,
        *,
        actor: str,
        source: Source,
        note: str = "",
        rollback_to_tag: str | None = None,
    ) -> Release:
        """Move a release to ``status`` and audit it (seed 003 ``PATCH /release``).

        Raises :class:`ReleaseNotFound`, :class:`InvalidInput` (a rollback_to_tag that is
        not a version tag) or :class:`IllegalTransition` — also when another writer changed
        the release first, in which case the error shows the status it changed to.
        """
        if rollback_to_tag:
            parse_release_tag(rollback_to_tag, field="rollback_to_tag")
        release = await self._store.get(release_id)
        expected = release.status
        event = release.transition(
            status,
            actor=actor,
            source=source,
            at=self._clock(),
            note=note,
            rollback_to_tag=rollback_to_tag,
        )
        try:
            await self._store.save_transition(release, event, expected=expected)
        except StaleRelease:
            current = await self._store.get(release_id)
            raise IllegalTransition(
                release_id, current.status, status, current.allowed_next()
            ) from None
        return release

    async def get(self, release_id: int) -> Release:
        """The release with its audit events. Raises :class:`ReleaseNotFound`."""
        return await self._store.get(release_id, with_events=True)

    async def list(
        self,
        *,
        service: str | None = None,
        status: ReleaseStatus | None = None,
        group: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ReleasePage:
        """Releases newest first, by service, status and/or group (active, successful,
        failed — DESIGN.md §1), ``limit`` per page (1..200), continuing from ``cursor``.

        Raises :class:`InvalidInput` for an unknown group, a bad limit or a bad cursor.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        statuses: frozenset[ReleaseStatus] | None = None
        if group is not None:
            if group not in GROUPS:
                raise InvalidInput(
                    "group", f"unknown group {group!r}; use one of " + ", ".join(GROUPS)
                )
            statuses = GROUPS[group]
        if status is not None:
            statuses = (statuses or frozenset(ReleaseStatus)) & {status}
        before_id = decode_cursor(cursor) if cursor else None
        rows = await self._store.list(
            service=service, statuses=statuses, limit=limit + 1, before_id=before_id
        )
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1].id) if more and page[-1].id is not None else None
        return ReleasePage(page, next_cursor)


def encode_cursor(last_id: int) -> str:
    """An opaque page cursor pointing after the release ``last_id``."""
    return base64.urlsafe_b64encode(f"r:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The release id inside a cursor; raises :class:`InvalidInput` for a forged one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        # the database's id range, ASCII digits: a bigger id overflowed the driver
        last_id = parse_release_id(value) if kind == "r" and value == value.strip() else None
        if last_id is None:
            raise ValueError
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor", "not a cursor returned by this API") from None
