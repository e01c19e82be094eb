"""The bump rule: which version comes next. Pure functions over ``semver.Version``.

Sources: SemVer 2.0.0 (https://semver.org) for precedence; python-semver's
``Version.next_version`` (the node-semver ``inc`` rules) for leaving a prerelease; seed 004
for the kinds ``major | minor | patch | prerelease`` and the ``-rc.N``/``-beta.N`` forms;
release-please (https://github.com/googleapis/release-please) for ``auto``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

import semver

from relman.domain.errors import InvalidInput
from relman.versioning.commits import Commit
from relman.versioning.errors import ReleaseRefused

#: Where versioning starts when a repository has no release tag yet: the first ``minor``
#: is 0.1.0, the first ``patch`` 0.0.1, the first ``major`` 1.0.0.
ZERO = semver.Version(0, 0, 0)

_PRERELEASE = re.compile(r"^(?P<label>[0-9A-Za-z-]+?)(?:\.(?P<number>0|[1-9]\d*))?(?:\..*)?$")


class BumpKind(StrEnum):
    """What to bump (seed 004's release script choices, plus ``auto``)."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    PRERELEASE = "prerelease"
    AUTO = "auto"


class PreLabel(StrEnum):
    """Prerelease labels relman writes. Their ASCII order is SemVer precedence
    (alpha < beta < rc), and each has a PEP 440 spelling (a, b, rc)."""

    ALPHA = "alpha"
    BETA = "beta"
    RC = "rc"


def split_prerelease(version: semver.Version) -> tuple[str, int] | None:
    """``("rc", 2)`` for ``1.2.4-rc.2``; ``None`` for a final version.

    A prerelease without a numeric second identifier (``1.2.4-rc``) counts as number 0, so
    the next one is ``rc.1``, which SemVer orders after it.
    """
    if not version.prerelease:
        return None
    match = _PRERELEASE.match(version.prerelease)
    if match is None:
        return version.prerelease, 0
    return match.group("label"), int(match.group("number") or 0)


def next_version(
    current: semver.Version, kind: BumpKind, pre: PreLabel | None = None
) -> semver.Version:
    """The version after ``current`` for an explicit ``kind`` (not ``auto``).

    - ``major``/``minor``/``patch`` follow python-semver's ``next_version`` (node-semver's
      ``inc``): from a final version they bump (1.2.3 + minor = 1.3.0); from a prerelease
      they first finalize when the prerelease already belongs to that release line
      (1.2.4-rc.2 + patch = 1.2.4, 1.3.0-rc.1 + minor = 1.3.0, 2.0.0-rc.1 + major = 2.0.0;
      but 1.2.4-rc.2 + minor = 1.3.0).
    - ``prerelease`` is ``patch`` with a label: 1.2.3 → 1.2.4-rc.1; on a prerelease of the
      same line it counts on: 1.2.4-rc.1 → 1.2.4-rc.2. Without ``pre`` it keeps the current
      label (``rc`` from a final version).
    - ``pre`` with ``major``/``minor``/``patch`` makes the first prerelease of that release
      (1.2.3 + minor --pre beta = 1.3.0-beta.1), or continues it when ``current`` is already
      a prerelease of it.
    - Switching label moves forward only: rc.2 → beta would sort *before* rc.2 (SemVer §11:
      beta < rc), so it raises :class:`ReleaseRefused` instead of going to the next patch
      silently; finalize first (``patch``) or keep the label.

    Raises :class:`InvalidInput` for ``auto`` (decide it with :func:`auto_kind` first).
    """
    if kind is BumpKind.AUTO:
        raise InvalidInput("bump", "auto must be resolved from the commits first")
    current_pre = split_prerelease(current)
    if kind is BumpKind.PRERELEASE:
        kind = BumpKind.PATCH
        if pre is not None:
            label = pre.value
        elif current_pre is not None:
            label = current_pre[0]
        else:
            label = PreLabel.RC.value
    elif pre is None:
        return current.next_version(kind.value)
    else:
        label = pre.value
    final = current.next_version(kind.value)
    if current_pre is not None and final == current.finalize_version():
        current_label, number = current_pre
        if label == current_label:
            candidate = final.replace(prerelease=f"{label}.{number + 1}")
        else:
            candidate = final.replace(prerelease=f"{label}.1")
            if candidate <= current:
                raise ReleaseRefused(
                    f"{label} would go backwards from {current} ({label}.1 sorts before "
                    f"{current.prerelease}); keep -{current_label} or finalize with patch"
                )
        return candidate
    return final.replace(prerelease=f"{label}.1")


def auto_kind(commits: Iterable[Commit], current: semver.Version) -> BumpKind:
    """The bump release-please would choose for ``commits`` since ``current``.

    From 1.0.0 on: any breaking change (``!`` or a ``BREAKING CHANGE`` footer) → major,
    else any ``feat`` → minor, else patch (fix, docs, chores, non-conventional commits).

    Before 1.0.0 (``current.major == 0``) a breaking change bumps *minor*, as release-please
    does with ``bump-minor-pre-major: true`` — the setting its docs give for projects that
    are not yet stable (its plain default would jump to 1.0.0). ``feat`` still bumps minor
    (release-please's default ``bump-patch-for-minor-pre-major: false``), so before 1.0.0
    breaking and feat both give minor and everything else patch. Leaving 0.x is a
    deliberate ``major`` (or ``--version 1.0.0``).
    """
    commits = list(commits)
    if any(commit.breaking for commit in commits):
        return BumpKind.MINOR if current.major == 0 else BumpKind.MAJOR
    if any(commit.type == "feat" for commit in commits):
        return BumpKind.MINOR
    return BumpKind.PATCH


def parse_version(text: str, *, field: str = "version") -> semver.Version:
    """A SemVer version from ``1.2.4``, ``v1.2.4`` or ``1.2.4-rc.1``.

    Raises :class:`InvalidInput` naming ``field`` for anything else.
    """
    raw = text[1:] if text.startswith("v") else text
    try:
        return semver.Version.parse(raw)
    except ValueError:
        raise InvalidInput(
            field,
            f"{text!r} is not a SemVer version: expected MAJOR.MINOR.PATCH[-PRERELEASE], "
            "e.g. 1.2.4 or 1.2.4-rc.1",
        ) from None
