"""The approval policy: who may do what to a release (DESIGN.md §5, issue "pipeline" item 2).

Deny by default. Identities are strings with a prefix: ``tg:<telegram user id>``,
``gh:<github login>``, ``cli:<user>``; ``system`` is relman itself. A person with several
identities is declared once under ``[policy.people]`` so that "the initiator cannot approve
their own release" holds across Telegram, GitHub and the CLI.

Identities are compared in their canonical form (:func:`identity`, issue 15 item 1), the
way their source compares them: role lists, people, the initiator and the actor all go
through it, so ``Dev3``, ``gh:Dev3`` and ``gh:dev3`` are one GitHub user.
"""

from __future__ import annotations

import re
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
    INCIDENT = "update incidents"  # add a note, the impact, the postmortem; close one
    #: start an emergency release: stage, then production without manual testing (seed
    #: 004 "Принудительный релиз", issue 14 item 3)
    EMERGENCY = "start an emergency release"
    #: ``relman deploy`` by hand, outside a release, to production (issue 15 item 5)
    DEPLOY = "deploy to production"


#: The roles that may take each action (``admin`` may take all of them).
ROLES_FOR: Mapping[Action, frozenset[str]] = {
    Action.START: frozenset({"releaser", "admin"}),
    Action.APPROVE: frozenset({"qa", "admin"}),
    Action.REJECT: frozenset({"qa", "admin"}),
    Action.ROLLBACK: frozenset({"releaser", "admin"}),
    Action.RETRY: frozenset({"releaser", "admin"}),
    # the on-call person who rolls back also writes the incident up (issue 14 item 2)
    Action.INCIDENT: frozenset({"releaser", "admin"}),
    # skipping QA is admin's alone unless [policy] emergency names more roles
    # (Roles.emergency)
    Action.EMERGENCY: frozenset({"admin"}),
    # a deploy by hand skips QA like a rollback does: the roles that may roll back
    Action.DEPLOY: frozenset({"releaser", "admin"}),
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


#: A Telegram user id as text: ASCII digits only (``int()`` would also take ``"٣"``,
#: ``"1_0"`` or ``" 1"``, none of which Telegram sends).
_TELEGRAM_ID = re.compile(r"[0-9]+")
#: ASCII upper case → lower case, nothing else (see :func:`identity` for why not ``lower()``).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def identity(raw: str) -> str:
    """The canonical form of an identity, for comparing: two spellings name the same
    account exactly when their canonical forms are equal. Pure; never raises.

    In: an identity as written in ``[policy]``, sent as ``initiated_by``/``actor``, or stored
    in an audit row (``tg:1 (Anna)``: the display name after `` (`` is dropped). Out:

    * surrounding white space is dropped and the scheme is lower case (``GH:x`` → ``gh:x``);
    * ``gh:<login>``: the login in lower case — GitHub logins are ASCII letters, digits and
      hyphens, matched case-insensitively by GitHub, and ``GITHUB_ACTOR`` / the OIDC
      ``actor`` claim keep the account's capitalisation. Only ASCII letters are folded:
      ``str.lower()`` would also turn the Kelvin sign ``K`` (U+212A) into ``k``, letting a
      look-alike name match a real login;
    * a bare name (no ``:``) is a GitHub login, as seed 003's CI sends ``initiated_by``:
      ``Dev3`` → ``gh:dev3``;
    * ``tg:<id>``: Telegram user ids are integers (Bot API ``User.id``), so a decimal id is
      compared as a number: ``tg:0333`` → ``tg:333``; anything else after ``tg:`` is kept
      as written (it never equals a real presser's numeric id);
    * ``cli:<user>`` and any other scheme (``ci:hmac``): kept as written, case-sensitive,
      as POSIX user names are;
    * ``system`` (relman itself) is kept.
    """
    text = raw.strip().split(" (", 1)[0].strip()
    if text == SYSTEM_ACTOR:
        return text
    scheme, sep, rest = text.partition(":")
    if not sep:
        scheme, rest = "gh", text
    scheme = scheme.strip().translate(_ASCII_LOWER)
    rest = rest.strip()
    if scheme == "gh":
        rest = rest.translate(_ASCII_LOWER)
    elif scheme == "tg" and _TELEGRAM_ID.fullmatch(rest):
        rest = str(int(rest))
    return f"{scheme}:{rest}"


@dataclass(frozen=True, slots=True)
class Roles:
    """Role membership from ``relman.toml``'s ``[policy]``.

    Role lists hold identities or person names; ``people`` maps a person to their
    identities. Every identity is kept in its canonical form (:func:`identity`), whoever
    builds the value; a bare role entry is the person of that name when ``people`` declares
    one, else a GitHub login (as everywhere else).
    """

    qa: frozenset[str] = frozenset()
    releaser: frozenset[str] = frozenset()
    admin: frozenset[str] = frozenset()
    people: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allow_self_approval: bool = False
    #: Roles that may start an emergency release besides ``admin`` (``[policy]
    #: emergency``, issue 14 item 3).
    emergency: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Canonical once here, so lookups compare canonical forms on both sides whether the
        # value came from relman.toml (config.Policy.roles) or was built by hand.
        people = {name: frozenset(identity(i) for i in ids) for name, ids in self.people.items()}
        object.__setattr__(self, "people", people)
        for role in ("qa", "releaser", "admin"):
            members = frozenset(
                m.strip() if m.strip() in people else identity(m) for m in getattr(self, role)
            )
            object.__setattr__(self, role, members)

    def person(self, actor_id: str) -> str:
        """The person an identity belongs to (its canonical form when undeclared)."""
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
    only start a release (never an emergency one); the role must be one of
    :data:`ROLES_FOR` (for :attr:`Action.EMERGENCY` also one of ``roles.emergency``); the
    initiator may not
    approve their own release unless ``allow_self_approval`` — "the initiator" is the
    person :meth:`Roles.person` finds for the actor and for ``release.initiated_by``, both
    in canonical form (:func:`identity`), so no spelling of an identity dodges four-eyes.
    """
    if actor.id == SYSTEM_ACTOR:
        return
    if actor.ci:
        # CI creates releases (the tag event) and reports; it never decides (DESIGN.md §5).
        if action is Action.START:
            return
        raise PermissionDenied(f"{actor.id}: a CI identity cannot {action.value}")
    needed = ROLES_FOR[action]
    if action is Action.EMERGENCY:
        needed |= roles.emergency
    if not roles.roles_of(actor.id) & needed:
        wanted = " or ".join(sorted(needed))
        raise PermissionDenied(f"{actor.id} may not {action.value}: needs role {wanted}")
    if action is not Action.APPROVE or release is None or roles.allow_self_approval:
        return
    person = roles.person(actor.id)
    if person == roles.person(release.initiated_by):
        # Name the person when it is not the identity itself, so "tg:333" refused for a
        # release "Dev3" started is understandable (issue 15 item 1).
        who = actor.id if person == identity(actor.id) else f"{actor.id} ({person})"
        raise PermissionDenied(
            f"{who} started release {release.id} (initiated by {release.initiated_by}) "
            "and cannot approve it (four-eyes: allow_self_approval is off)"
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
