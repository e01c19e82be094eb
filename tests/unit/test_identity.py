"""Identities compare as their source does (issue 15 item 1), property-tested over spellings.

GitHub logins are case-insensitive, Telegram ids are numbers, CLI users are case-sensitive
(as POSIX user names are), a bare name is a GitHub login; and whatever the spelling, the
policy's roles, people and four-eyes rule see one person.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from relman.domain.errors import PermissionDenied
from relman.domain.policy import Action, Actor, Roles, authorize, identity
from tests.unit.test_policy import release_by

#: GitHub logins: ASCII letters, digits and single hyphens, not at either end, ≤ 39 long.
logins = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}", fullmatch=True)
#: From 2: ``tg:1`` is another QA engineer in the policy test.
telegram_ids = st.integers(min_value=2, max_value=2**52)
spaces = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    """``text`` with each letter's case drawn at random."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def github_spellings(draw: st.DrawFn, login: str) -> str:
    """How ``login`` may arrive: bare (seed 003's ``initiated_by``) or ``gh:``-prefixed in
    any case, with any letter case, white space around, a display name after it."""
    prefix = draw(st.sampled_from(["", "gh:", "GH:", "Gh:"]))
    suffix = draw(st.sampled_from(["", " (Dev Three)"]))
    return f"{draw(spaces)}{prefix}{draw(recased(login))}{suffix}{draw(spaces)}"


@st.composite
def telegram_spellings(draw: st.DrawFn, user_id: int) -> str:
    zeros = "0" * draw(st.integers(min_value=0, max_value=3))
    prefix = draw(st.sampled_from(["tg:", "TG:", "Tg:"]))
    return f"{draw(spaces)}{prefix}{zeros}{user_id}{draw(spaces)}"


@given(st.data(), logins)
def test_every_spelling_of_a_github_login_is_one_identity(data: st.DataObject, login: str) -> None:
    spelling = data.draw(github_spellings(login))
    assert identity(spelling) == f"gh:{login.lower()}"


@given(logins, logins)
def test_different_github_logins_stay_different(a: str, b: str) -> None:
    assert (identity(f"gh:{a}") == identity(f"gh:{b}")) == (a.lower() == b.lower())


@given(st.data(), telegram_ids)
def test_a_telegram_id_is_compared_as_a_number(data: st.DataObject, user_id: int) -> None:
    assert identity(data.draw(telegram_spellings(user_id))) == f"tg:{user_id}"


@given(telegram_ids, telegram_ids)
def test_different_telegram_ids_stay_different(a: int, b: int) -> None:
    assert (identity(f"tg:{a}") == identity(f"tg:0{b}")) == (a == b)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}", fullmatch=True))
def test_cli_users_are_case_sensitive(user: str) -> None:
    assert identity(f" CLI:{user} ") == f"cli:{user}"
    if user != user.swapcase():
        assert identity(f"cli:{user}") != identity(f"cli:{user.swapcase()}")


@given(st.text())
@example("tg:0333 (Anna)")
@example("\u212a")  # KELVIN SIGN: str.lower() would make it "k"
@example("system")
def test_the_canonical_form_is_stable(raw: str) -> None:
    once = identity(raw)
    assert identity(once) == once


def test_only_ascii_letters_are_folded() -> None:
    # A look-alike (KELVIN SIGN, U+212A) must not become the login "kate".
    assert identity("gh:\u212aate") != identity("gh:kate")
    assert identity("tg:٣٣٣") == "tg:٣٣٣"  # Arabic-Indic digits: not a Telegram id
    assert identity("tg:@anna") == "tg:@anna"
    assert identity("system") == "system"
    assert identity("ci:hmac") == "ci:hmac"


@given(st.data(), logins, telegram_ids)
def test_the_policy_sees_one_person_whatever_the_spelling(
    data: st.DataObject, login: str, user_id: int
) -> None:
    # relman.toml as a person writes it, the release and the decision as they arrive.
    roles = Roles(
        qa=frozenset({data.draw(telegram_spellings(user_id)), "tg:1"}),
        releaser=frozenset({data.draw(github_spellings(login))}),
        people={
            "dev": frozenset(
                {data.draw(github_spellings(login)), data.draw(telegram_spellings(user_id))}
            )
        },
    )
    approver = Actor(data.draw(telegram_spellings(user_id)).strip())
    initiator = data.draw(github_spellings(login))

    assert roles.person(initiator) == roles.person(approver.id) == "dev"
    # Roles are held by an identity or by the person's name (not by a sibling identity).
    assert roles.roles_of(approver.id) == {"qa"}
    assert roles.roles_of(initiator) == {"releaser"}
    with pytest.raises(PermissionDenied, match="four-eyes"):
        authorize(roles, approver, Action.APPROVE, release_by(initiator))
    authorize(roles, Actor("tg:1"), Action.APPROVE, release_by(initiator))
    authorize(roles, Actor(f"gh:{login.upper()}"), Action.ROLLBACK)


def test_the_issue_scenario() -> None:
    # Issue 15: people.dev3 = ["gh:dev3", "tg:333"]; CI sent initiated_by "Dev3".
    roles = Roles(qa=frozenset({"tg:333"}), people={"dev3": frozenset({"gh:dev3", "tg:333"})})
    for initiator in ("Dev3", "gh:Dev3", "DEV3"):
        for approver in ("tg:333", "tg:0333"):
            with pytest.raises(PermissionDenied, match="four-eyes"):
                authorize(roles, Actor(approver), Action.APPROVE, release_by(initiator))


def test_a_bare_role_entry_is_a_person_if_declared_else_a_github_login() -> None:
    roles = Roles(qa=frozenset({"anna", "Oleg"}), people={"anna": frozenset({"tg:1", "gh:anna-k"})})
    assert roles.roles_of("tg:1") == {"qa"}  # anna, the person
    assert roles.roles_of("gh:oleg") == {"qa"}  # Oleg: no such person, a GitHub login
    assert roles.roles_of("gh:anna") == frozenset()  # the person anna is not gh:anna
    assert roles.roles_of("cli:Oleg") == frozenset()
