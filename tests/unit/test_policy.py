"""The approval policy (domain/policy.py): deny by default, roles, four-eyes, CI never decides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relman.domain.errors import PermissionDenied
from relman.domain.policy import SYSTEM, Action, Actor, Roles, authorize, identity
from relman.domain.release import Release, Source

ROLES = Roles(
    qa=frozenset({"anna", "tg:3"}),
    releaser=frozenset({"tg:2"}),
    admin=frozenset({"gh:boss"}),
    people={"anna": frozenset({"tg:1", "gh:anna"})},
)


def release_by(initiator: str) -> Release:
    release, _ = Release.initiate(
        service_name="hello",
        release_tag="v1.0.0",
        initiated_by=initiator,
        github_run_id="1",
        github_action_link="",
        github_ref="refs/tags/v1.0.0",
        source=Source.API,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    release.id = 7
    return release


@pytest.mark.parametrize(
    ("actor", "action", "allowed"),
    [
        ("tg:1", Action.APPROVE, True),  # anna, through her person
        ("tg:3", Action.REJECT, True),
        ("tg:2", Action.APPROVE, False),  # a releaser is not QA
        ("tg:2", Action.ROLLBACK, True),
        ("tg:3", Action.ROLLBACK, False),
        ("gh:boss", Action.ROLLBACK, True),  # admin may do everything
        ("gh:boss", Action.APPROVE, True),
        ("tg:999", Action.APPROVE, False),  # unknown: deny by default
        ("tg:999", Action.START, False),
        ("cli:root", Action.RETRY, False),
    ],
)
def test_roles(actor: str, action: Action, allowed: bool) -> None:
    release = release_by("someone-else")
    if allowed:
        authorize(ROLES, Actor(actor), action, release)
    else:
        with pytest.raises(PermissionDenied, match="needs role"):
            authorize(ROLES, Actor(actor), action, release)


def test_the_initiator_cannot_approve_across_identities() -> None:
    # CI recorded the bare GitHub login; anna approves from Telegram.
    with pytest.raises(PermissionDenied, match="four-eyes"):
        authorize(ROLES, Actor("tg:1", "Anna"), Action.APPROVE, release_by("anna"))
    # She may still reject her own release.
    authorize(ROLES, Actor("tg:1"), Action.REJECT, release_by("anna"))
    relaxed = Roles(qa=ROLES.qa, people=ROLES.people, allow_self_approval=True)
    authorize(relaxed, Actor("tg:1"), Action.APPROVE, release_by("anna"))


def test_a_ci_identity_starts_but_never_decides() -> None:
    ci = Actor("gh:boss", ci=True)  # even an admin's login, when it comes as CI
    authorize(ROLES, ci, Action.START)
    for action in (Action.APPROVE, Action.REJECT, Action.ROLLBACK, Action.RETRY):
        with pytest.raises(PermissionDenied, match="CI identity"):
            authorize(ROLES, ci, action, release_by("x"))


def test_system_and_identity_normalization() -> None:
    authorize(Roles(), SYSTEM, Action.ROLLBACK)
    assert identity("alice") == "gh:alice"
    assert identity("tg:1 (Anna)") == "tg:1"
    assert identity("system") == "system"
    assert Actor("tg:1", "Anna").audit_name == "tg:1 (Anna)"
