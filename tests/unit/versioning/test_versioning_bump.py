"""The bump rule, as data: every kind, prerelease sequences, finalization, auto."""

from __future__ import annotations

import pytest
import semver

from relman.domain.errors import InvalidInput
from relman.versioning.bump import (
    ZERO,
    BumpKind,
    PreLabel,
    auto_kind,
    next_version,
    parse_version,
    split_prerelease,
)
from relman.versioning.commits import Commit, parse_commit
from relman.versioning.errors import ReleaseRefused

MAJOR, MINOR, PATCH, PRE = BumpKind.MAJOR, BumpKind.MINOR, BumpKind.PATCH, BumpKind.PRERELEASE
RC, BETA, ALPHA = PreLabel.RC, PreLabel.BETA, PreLabel.ALPHA

CASES = [
    # plain bumps from a final version
    ("1.2.3", PATCH, None, "1.2.4"),
    ("1.2.3", MINOR, None, "1.3.0"),
    ("1.2.3", MAJOR, None, "2.0.0"),
    # no tags yet: the base is 0.0.0
    ("0.0.0", PATCH, None, "0.0.1"),
    ("0.0.0", MINOR, None, "0.1.0"),
    ("0.0.0", MAJOR, None, "1.0.0"),
    ("0.0.0", PRE, None, "0.0.1-rc.1"),
    # prerelease sequences go forward
    ("1.2.3", PRE, None, "1.2.4-rc.1"),
    ("1.2.3", PRE, RC, "1.2.4-rc.1"),
    ("1.2.4-rc.1", PRE, RC, "1.2.4-rc.2"),
    ("1.2.4-rc.2", PRE, None, "1.2.4-rc.3"),
    ("1.2.4-rc.9", PRE, None, "1.2.4-rc.10"),
    ("1.2.3", PRE, BETA, "1.2.4-beta.1"),
    ("1.2.4-beta.1", PRE, None, "1.2.4-beta.2"),
    ("1.2.4-alpha.3", PRE, BETA, "1.2.4-beta.1"),
    ("1.2.4-beta.2", PRE, RC, "1.2.4-rc.1"),
    ("1.2.4-rc", PRE, None, "1.2.4-rc.1"),
    # a normal bump from a prerelease finalizes it when it is the same line
    ("1.2.4-rc.2", PATCH, None, "1.2.4"),
    ("1.3.0-rc.1", MINOR, None, "1.3.0"),
    ("1.3.0-rc.1", PATCH, None, "1.3.0"),
    ("2.0.0-rc.1", MAJOR, None, "2.0.0"),
    # … and bumps past it otherwise
    ("1.2.4-rc.2", MINOR, None, "1.3.0"),
    ("1.3.0-rc.1", MAJOR, None, "2.0.0"),
    # --pre with major/minor/patch starts (or continues) that release's prereleases
    ("1.2.3", MINOR, RC, "1.3.0-rc.1"),
    ("1.2.3", MAJOR, BETA, "2.0.0-beta.1"),
    ("1.3.0-rc.1", MINOR, RC, "1.3.0-rc.2"),
    ("1.2.4-rc.2", MINOR, RC, "1.3.0-rc.1"),
    ("1.2.4-rc.2", PATCH, RC, "1.2.4-rc.3"),
]


@pytest.mark.parametrize(("current", "kind", "pre", "expected"), CASES)
def test_next_version(current: str, kind: BumpKind, pre: PreLabel | None, expected: str) -> None:
    result = next_version(semver.Version.parse(current), kind, pre)
    assert str(result) == expected
    assert result > semver.Version.parse(current)


@pytest.mark.parametrize(
    ("current", "kind", "pre"),
    [
        ("1.2.4-rc.2", PRE, BETA),
        ("1.2.4-rc.2", PRE, ALPHA),
        ("1.2.4-beta.1", PATCH, ALPHA),
        ("1.3.0-rc.1", MINOR, BETA),
    ],
)
def test_switching_label_backwards_is_refused(current: str, kind: BumpKind, pre: PreLabel) -> None:
    with pytest.raises(ReleaseRefused, match="backwards"):
        next_version(semver.Version.parse(current), kind, pre)


def test_auto_must_be_resolved_first() -> None:
    with pytest.raises(InvalidInput):
        next_version(ZERO, BumpKind.AUTO)


def _commits(*messages: str) -> list[Commit]:
    return [parse_commit(f"{i:040x}", m) for i, m in enumerate(messages)]


@pytest.mark.parametrize(
    ("current", "messages", "expected"),
    [
        ("1.2.3", ["fix: a", "feat(api)!: b"], MAJOR),
        ("1.2.3", ["fix: a", "refactor: b\n\nBREAKING CHANGE: gone"], MAJOR),
        ("1.2.3", ["fix: a", "feat: b", "docs: c"], MINOR),
        ("1.2.3", ["fix: a", "chore: b"], PATCH),
        ("1.2.3", ["docs: only docs"], PATCH),
        ("1.2.3", ["Merge things", "WIP"], PATCH),
        # before 1.0.0: breaking → minor (release-please bump-minor-pre-major), feat → minor
        ("0.4.1", ["feat!: b"], MINOR),
        ("0.4.1", ["fix: a\n\nBREAKING-CHANGE: x"], MINOR),
        ("0.4.1", ["feat: b"], MINOR),
        ("0.4.1", ["fix: a"], PATCH),
        ("1.3.0-rc.1", ["feat: b"], MINOR),
    ],
)
def test_auto_kind(current: str, messages: list[str], expected: BumpKind) -> None:
    assert auto_kind(_commits(*messages), semver.Version.parse(current)) is expected


def test_split_prerelease() -> None:
    assert split_prerelease(semver.Version.parse("1.2.3")) is None
    assert split_prerelease(semver.Version.parse("1.2.3-rc.2")) == ("rc", 2)
    assert split_prerelease(semver.Version.parse("1.2.3-beta")) == ("beta", 0)
    assert split_prerelease(semver.Version.parse("1.2.3-rc.1.x")) == ("rc", 1)


def test_parse_version() -> None:
    assert parse_version("v1.2.3-rc.1") == semver.Version(1, 2, 3, "rc.1")
    assert parse_version("2.0.0") == semver.Version(2, 0, 0)
    with pytest.raises(InvalidInput, match="version"):
        parse_version("1.2")
