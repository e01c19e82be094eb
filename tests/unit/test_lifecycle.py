"""The transition table, checked pair by pair against DESIGN.md §1, and the groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from relman.domain.errors import IllegalTransition, RelmanError
from relman.domain.release import MAX_RELEASE_ID, Release, Source, parse_release_id
from relman.domain.status import ACTIVE, FAILED, GROUPS, SUCCESSFUL, TERMINAL, ReleaseStatus

# DESIGN.md §1, written out by hand so the table in code is checked, not restated.
ALLOWED = {
    ("initiated", "building"),
    ("initiated", "staging_failed"),
    ("building", "stage_deploy"),
    ("building", "staging_failed"),
    ("stage_deploy", "manual_testing"),
    ("stage_deploy", "staging_failed"),
    ("manual_testing", "manual_test_passed"),
    ("manual_testing", "manual_test_failed"),
    ("manual_test_passed", "deploying"),
    ("deploying", "deployed"),
    ("deploying", "production_failed"),
    ("deployed", "rollback"),
    ("production_failed", "rollback"),
    ("rollback", "rollback_done"),
    ("rollback", "rollback_failed"),
}
T0 = datetime(2024, 3, 15, 14, 30, tzinfo=UTC)


def release_in(status: ReleaseStatus) -> Release:
    return Release(
        service_name="loom-content",
        release_tag="v1.2.3",
        initiated_by="dev",
        github_run_id="1",
        github_action_link="",
        github_ref="refs/tags/v1.2.3",
        created_at=T0,
        status=status,
        id=7,
    )


def test_exactly_thirteen_statuses_with_the_seed_strings() -> None:
    assert [s.value for s in ReleaseStatus] == [
        "initiated",
        "building",
        "stage_deploy",
        "staging_failed",
        "manual_testing",
        "manual_test_passed",
        "manual_test_failed",
        "deploying",
        "deployed",
        "production_failed",
        "rollback",
        "rollback_done",
        "rollback_failed",
    ]


@pytest.mark.parametrize(("current", "new"), list(product(ReleaseStatus, ReleaseStatus)))
def test_every_pair_of_statuses(current: ReleaseStatus, new: ReleaseStatus) -> None:
    release = release_in(current)
    if (current.value, new.value) in ALLOWED:
        event = release.transition(new, actor="qa", source=Source.API, at=T0)
        assert release.status is new
        assert (event.from_status, event.to_status) == (current, new)
    else:
        with pytest.raises(IllegalTransition) as info:
            release.transition(new, actor="qa", source=Source.API, at=T0)
        assert release.status is current
        assert release.events == []
        expected = sorted(b for a, b in ALLOWED if a == current.value)
        assert info.value.allowed == expected
        assert isinstance(info.value, RelmanError)
        assert current.value in str(info.value) and new.value in str(info.value)


def test_groups_match_the_design() -> None:
    assert {s.value for s in GROUPS["active"]} == {
        "initiated",
        "building",
        "stage_deploy",
        "manual_testing",
        "manual_test_passed",
        "deploying",
        "rollback",
    }
    assert {s.value for s in SUCCESSFUL} == {"deployed", "rollback_done"}
    assert {s.value for s in FAILED} == {
        "staging_failed",
        "manual_test_failed",
        "production_failed",
        "rollback_failed",
    }
    assert set(ReleaseStatus) == ACTIVE | SUCCESSFUL | FAILED
    assert {s.value for s in TERMINAL} == {
        "staging_failed",
        "manual_test_failed",
        "rollback_done",
        "rollback_failed",
    }


def test_times_follow_the_work() -> None:
    release, created = Release.initiate(
        service_name="svc",
        release_tag="v1.0.0",
        initiated_by="dev",
        github_run_id="9",
        github_action_link="",
        github_ref="",
        source=Source.API,
        at=T0,
    )
    assert created.from_status is None and release.started_at == T0
    path = [
        "building",
        "stage_deploy",
        "manual_testing",
        "manual_test_passed",
        "deploying",
        "deployed",
        "rollback",
        "rollback_done",
    ]
    times = {}
    for i, name in enumerate(path, start=1):
        at = T0 + timedelta(minutes=i)
        times[name] = at
        release.transition(
            ReleaseStatus(name),
            actor="x",
            source=Source.WORKER,
            at=at,
            rollback_to_tag="v0.9.0" if name == "rollback" else None,
        )
        if name == "deployed":
            assert release.completed_at == at
        if name == "rollback":
            assert release.completed_at is None and release.started_at == at
    assert release.completed_at == times["rollback_done"]
    assert release.rollback_to_tag == "v0.9.0"
    assert [e.to_status.value for e in release.events] == ["initiated", *path]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        (str(MAX_RELEASE_ID), MAX_RELEASE_ID),
        (str(MAX_RELEASE_ID + 1), None),
        ("0", None),
        ("-1", None),
        ("²", None),
        ("١٢", None),
        ("1e3", None),
        ("9" * 40, None),
        ("", None),
    ],
)
def test_a_written_release_id_is_ascii_digits_in_range(text: str, expected: int | None) -> None:
    assert parse_release_id(text) == expected
