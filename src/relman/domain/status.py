"""Release statuses, the one transition table, and the status groups.

Source: DESIGN.md §1 (which refines seed 003's state diagram: ``production_failed`` may be
rolled back, ``initiated`` may fail straight to ``staging_failed``).
"""

from __future__ import annotations

from enum import StrEnum


class ReleaseStatus(StrEnum):
    """The 13 statuses a release can have, stored as these exact strings."""

    INITIATED = "initiated"
    BUILDING = "building"
    STAGE_DEPLOY = "stage_deploy"
    STAGING_FAILED = "staging_failed"
    MANUAL_TESTING = "manual_testing"
    MANUAL_TEST_PASSED = "manual_test_passed"
    MANUAL_TEST_FAILED = "manual_test_failed"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    PRODUCTION_FAILED = "production_failed"
    ROLLBACK = "rollback"
    ROLLBACK_DONE = "rollback_done"
    ROLLBACK_FAILED = "rollback_failed"


S = ReleaseStatus

#: Allowed next statuses for each status. Anything not listed is refused.
TRANSITIONS: dict[ReleaseStatus, frozenset[ReleaseStatus]] = {
    S.INITIATED: frozenset({S.BUILDING, S.STAGING_FAILED}),
    S.BUILDING: frozenset({S.STAGE_DEPLOY, S.STAGING_FAILED}),
    S.STAGE_DEPLOY: frozenset({S.MANUAL_TESTING, S.STAGING_FAILED}),
    S.STAGING_FAILED: frozenset(),
    S.MANUAL_TESTING: frozenset({S.MANUAL_TEST_PASSED, S.MANUAL_TEST_FAILED}),
    S.MANUAL_TEST_PASSED: frozenset({S.DEPLOYING}),
    S.MANUAL_TEST_FAILED: frozenset(),
    S.DEPLOYING: frozenset({S.DEPLOYED, S.PRODUCTION_FAILED}),
    S.DEPLOYED: frozenset({S.ROLLBACK}),
    S.PRODUCTION_FAILED: frozenset({S.ROLLBACK}),
    S.ROLLBACK: frozenset({S.ROLLBACK_DONE, S.ROLLBACK_FAILED}),
    S.ROLLBACK_DONE: frozenset(),
    S.ROLLBACK_FAILED: frozenset(),
}

#: Statuses with no way out.
TERMINAL: frozenset[ReleaseStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

#: The bot's three lists (DESIGN.md §1).
ACTIVE: frozenset[ReleaseStatus] = frozenset(
    {
        S.INITIATED,
        S.BUILDING,
        S.STAGE_DEPLOY,
        S.MANUAL_TESTING,
        S.MANUAL_TEST_PASSED,
        S.DEPLOYING,
        S.ROLLBACK,
    }
)
SUCCESSFUL: frozenset[ReleaseStatus] = frozenset({S.DEPLOYED, S.ROLLBACK_DONE})
FAILED: frozenset[ReleaseStatus] = frozenset(
    {S.STAGING_FAILED, S.MANUAL_TEST_FAILED, S.PRODUCTION_FAILED, S.ROLLBACK_FAILED}
)

GROUPS: dict[str, frozenset[ReleaseStatus]] = {
    "active": ACTIVE,
    "successful": SUCCESSFUL,
    "failed": FAILED,
}

#: Entering one of these ends a piece of work: ``completed_at`` is set.
COMPLETING: frozenset[ReleaseStatus] = SUCCESSFUL | FAILED

#: Entering one of these starts a piece of work: ``started_at`` is set and
#: ``completed_at`` cleared (a rollback reopens a finished release).
STARTING: frozenset[ReleaseStatus] = frozenset({S.BUILDING, S.DEPLOYING, S.ROLLBACK})


def allowed_next(status: ReleaseStatus) -> frozenset[ReleaseStatus]:
    """Statuses reachable in one step from ``status``."""
    return TRANSITIONS[status]


def can_transition(current: ReleaseStatus, new: ReleaseStatus) -> bool:
    """True when the table allows ``current`` → ``new``."""
    return new in TRANSITIONS[current]
