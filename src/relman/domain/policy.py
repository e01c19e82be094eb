"""The approval policy: who may do what to a release (DESIGN.md §5, issue "pipeline" item 2).

Deny by default. Identities are strings with a prefix: ``tg:<telegram user id>``,
``gh:<github login>``, ``cli:<user>``; ``system`` is relman itself. A person with several
identities is declared once under ``[policy.people]`` so that "the initiator cannot approve
their own release" holds across Telegram, GitHub and the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from relman.domain.errors import PermissionDenied
from relman.domain.release import SYSTEM_ACTOR, Release


class Action(StrEnum):
    """What an actor asks to do."""

    START = "start"  # start a release by hand (CLI, API)
    APPROVE = "approve"  # QA passed on stage: promote to production
    REJECT = "reject"  # QA failed on stage
    ROLLBACK = "rollback"  # put production back on an earlier version
    RETRY = "retry"  # re-run a failed stage or production deploy


#: The roles that may take each action (``admin`` may take all of them).
ROLES_FOR: Mapping[Action, frozenset[str]] = {
    Action.START: frozenset({"releaser", "admin"}),
    Action.APPROVE: frozenset({"qa", "admin"}),
    Action.REJECT: frozenset({"qa", "admin"}),
    Action.ROLLBACK: frozenset({"releaser", "admin"}),
    Action.RETRY: frozenset({"releaser", "admin"}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: ``id`` (``tg:123``, ``gh:alice``, ``cli:bob``, ``system``), a display
    ``name`` for the audit trail, ``ci`` for a CI identity (may create and report, never
    decide — DESIGN.md §5) and, for a repository-bound CI identity, its ``repository``."""

    id: str
    name: str = ""
    ci: bool = False
    #: A CI identity bound to one repository (GitHub OIDC ``repository`` claim).
    repository: str | None = None

    @property
    def audit_name(self) -> str:
        """What the audit row's actor column holds: ``tg:123 (Anna)`` or ``gh:alice``."""
        return f"{self.id} ({self.name})" if self.name else self.id


SYSTEM = Actor(SYSTEM_ACTOR)


def identity(raw: str) -> str:
    """Normalize a stored actor: ``alice`` (a bare GitHub login, as seed 003's CI sends
    ``initiated_by``) becomes ``gh:alice``; ``tg:1 (Anna)`` becomes ``tg:1``."""
    raw = raw.strip().split(" (", 1)[0]
    if raw == SYSTEM_ACTOR or ":" in raw:
        return raw
    return f"gh:{raw}"


@dataclass(frozen=True, slots=True)
class Roles:
    """Role membership from ``relman.toml``'s ``[policy]``.

    Role lists hold identities or person names; ``people`` maps a person to their
    identities.
    """

    qa: frozenset[str] = frozenset()
    releaser: frozenset[str] = frozenset()
    admin: frozenset[str] = frozenset()
    people: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allow_self_approval: bool = False

    def person(self, actor_id: str) -> str:
        """The person an identity belongs to (the identity itself when undeclared)."""
        actor_id = identity(actor_id)
        for name, ids in self.people.items():
            if actor_id in ids:
                return name
        return actor_id

    def roles_of(self, actor_id: str) -> frozenset[str]:
        """The roles held by ``actor_id`` directly or through its person."""
        keys = {identity(actor_id), self.person(actor_id)}
        held = {
            role
            for role, members in (
                ("qa", self.qa),
                ("releaser", self.releaser),
                ("admin", self.admin),
            )
            if keys & members
        }
        return frozenset(held)


def authorize(roles: Roles, actor: Actor, action: Action, release: Release | None = None) -> None:
    """Allow ``actor`` to take ``action`` on ``release`` or raise :class:`PermissionDenied`
    with the reason (for the caller to audit and show).

    Rules (issue "pipeline" item 2, DESIGN.md §5): deny by default; a CI identity may
    only start a release; the role must be one of :data:`ROLES_FOR`; the initiator may not
    approve their own release unless ``allow_self_approval``.
    """
    if actor.id == SYSTEM_ACTOR:
        return
    if actor.ci:
        # CI creates releases (the tag event) and reports; it never decides (DESIGN.md §5).
        if action is Action.START:
            return
        raise PermissionDenied(f"{actor.id}: a CI identity cannot {action.value} a release")
    needed = ROLES_FOR[action]
    if not roles.roles_of(actor.id) & needed:
        wanted = " or ".join(sorted(needed))
        raise PermissionDenied(f"{actor.id} may not {action.value}: needs role {wanted}")
    if (
        action is Action.APPROVE
        and release is not None
        and not roles.allow_self_approval
        and roles.person(actor.id) == roles.person(release.initiated_by)
    ):
        raise PermissionDenied(
            f"{actor.id} started release {release.id} and cannot approve it "
            "(four-eyes: allow_self_approval is off)"
        )


def authorize_report(actor: Actor, service_repository: str | None, release: Release) -> None:
    """A repository-bound CI identity may only report on releases of a service whose
    ``github_repository`` is that repository; raises :class:`PermissionDenied`."""
    if actor.repository is None:
        return
    if (service_repository or "").lower() != actor.repository.lower():
        raise PermissionDenied(
            f"{actor.id}: a token of {actor.repository} cannot report on "
            f"{release.service_name} (its repository is {service_repository or 'not configured'})"
        )
