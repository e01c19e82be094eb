"""Conventional Commits 1.0.0 parsing, as data."""

from __future__ import annotations

import pytest

from relman.versioning.commits import Commit, parse_commit

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("feat: add login", Commit(SHA, "feat", None, "add login")),
        ("fix(api): handle 404\n", Commit(SHA, "fix", "api", "handle 404")),
        ("FEAT(Bot): Menu", Commit(SHA, "feat", "Bot", "Menu")),
        ("chore(deps)!: drop py3.10", Commit(SHA, "chore", "deps", "drop py3.10", True)),
        ("feat!: new API", Commit(SHA, "feat", None, "new API", True)),
        ("i18n: russian texts", Commit(SHA, "i18n", None, "russian texts")),
        ("Update README", Commit(SHA, None, None, "Update README")),
        ("feat:missing space", Commit(SHA, None, None, "feat:missing space")),
        ("feat(): empty scope", Commit(SHA, None, None, "feat(): empty scope")),
        ("feat : space before colon", Commit(SHA, None, None, "feat : space before colon")),
        ("", Commit(SHA, None, None, "")),
    ],
)
def test_header(message: str, expected: Commit) -> None:
    assert parse_commit(SHA, message) == expected


def test_breaking_change_footer_with_multiline_text() -> None:
    message = (
        "refactor(store): new schema\n"
        "\n"
        "Moves releases to a new table.\n"
        "\n"
        "BREAKING CHANGE: the releases table is renamed;\n"
        "  run relman db upgrade.\n"
        "Reviewed-by: Anna\n"
        "Refs #12\n"
    )
    commit = parse_commit(SHA, message)
    assert commit == Commit(
        SHA,
        "refactor",
        "store",
        "new schema",
        breaking=True,
        breaking_notes=("the releases table is renamed; run relman db upgrade.",),
    )


def test_breaking_change_hyphen_token_and_several_footers() -> None:
    message = "feat: x\n\nBREAKING-CHANGE: one\nBREAKING CHANGE: two\n"
    commit = parse_commit(SHA, message)
    assert commit.breaking
    assert commit.breaking_notes == ("one", "two")


def test_breaking_change_footer_must_be_upper_case() -> None:
    commit = parse_commit(SHA, "fix: y\n\nbreaking change: not a footer\n")
    assert not commit.breaking
    assert commit.breaking_notes == ()


def test_empty_breaking_footer_still_breaks() -> None:
    commit = parse_commit(SHA, "fix: y\n\nBREAKING CHANGE:\n")
    assert commit.breaking
    assert commit.breaking_notes == ()


def test_non_conventional_commit_is_never_breaking() -> None:
    commit = parse_commit(SHA, "Big rewrite\n\nBREAKING CHANGE: everything\n")
    assert commit == Commit(SHA, None, None, "Big rewrite")
    assert not commit.conventional


def test_short_sha() -> None:
    assert parse_commit(SHA, "docs: x").short_sha == "0123456"
