"""Changelog sections from Conventional Commits. Pure: commits in, Markdown out.

The groups and their emoji are seed 004's changelog categories ("🚀 Features, 🐛 Bug Fixes,
📄 Documentation, 🧪 Testing, ⚙️ Miscellaneous"), with a "⚠️ BREAKING CHANGES" group first
as release-please and conventional-changelog write it. A breaking commit is listed under
BREAKING CHANGES (with its footer's text when it has one) *and* under its own type, as
release-please does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from enum import Enum

from relman.versioning.commits import Commit

CHANGELOG_HEADING = "# Changelog"


class Group(Enum):
    """A changelog group, in the order the section lists them; the value is its heading."""

    BREAKING = "### ⚠️ BREAKING CHANGES"
    FEATURES = "### 🚀 Features"
    FIXES = "### 🐛 Bug Fixes"
    DOCS = "### 📄 Documentation"
    TESTS = "### 🧪 Testing"
    MISC = "### ⚙️ Miscellaneous"


_GROUP_OF_TYPE = {
    "feat": Group.FEATURES,
    "fix": Group.FIXES,
    "docs": Group.DOCS,
    "test": Group.TESTS,
}


def group_of(commit: Commit) -> Group:
    """The type group of ``commit``: feat, fix, docs, test have their own; every other type
    (chore, refactor, perf, ci, build, style, …) and every non-conventional commit is
    Miscellaneous."""
    return _GROUP_OF_TYPE.get(commit.type or "", Group.MISC)


def entry(commit: Commit, text: str | None = None) -> str:
    """``- scope: description (abc1234)``; without a scope ``- description (abc1234)``."""
    body = text if text is not None else commit.description
    prefix = f"{commit.scope}: " if commit.scope else ""
    return f"- {prefix}{body} ({commit.short_sha})"


def render_section(
    tag: str, day: dt.date, commits: Iterable[Commit], candidates: Sequence[str] = ()
) -> str:
    """The changelog section of release ``tag`` dated ``day``.

    ``commits`` come newest first (``git log`` order) and keep that order within a group;
    empty groups are left out; a release without commits says so. ``candidates`` are the
    release candidates (prerelease tags, oldest first) whose changes a final release
    gathers (issue 15 item 11); the section names them under its heading. The text ends
    with one newline.
    """
    groups: dict[Group, list[str]] = {group: [] for group in Group}
    for commit in commits:
        if commit.breaking:
            notes = commit.breaking_notes or (commit.description,)
            groups[Group.BREAKING].extend(entry(commit, note) for note in notes)
        groups[group_of(commit)].append(entry(commit))
    parts = [f"## {tag} - {day.isoformat()}"]
    if candidates:
        parts.append("Includes the release candidates " + ", ".join(candidates) + ".")
    for group, entries in groups.items():
        if entries:
            parts.append(group.value + "\n\n" + "\n".join(entries))
    if len(parts) == 1 + bool(candidates):
        parts.append("No changes.")
    return "\n\n".join(parts) + "\n"


def insert_section(existing: str | None, section: str) -> str:
    """``existing`` changelog text (``None`` when there is no file) with ``section`` on top.

    The new section goes right before the first ``## `` section, so the ``# Changelog``
    heading and any introduction stay above it; with no section yet it goes at the end. A
    file without a level-1 heading gets ``# Changelog`` first. Nothing else changes.
    """
    if not existing or not existing.strip():
        return f"{CHANGELOG_HEADING}\n\n{section}"
    lines = existing.splitlines(keepends=True)
    has_title = any(line.startswith("# ") for line in lines)
    for index, line in enumerate(lines):
        if line.startswith("## "):
            before = "".join(lines[:index])
            after = "".join(lines[index:])
            if not has_title:
                before = f"{CHANGELOG_HEADING}\n\n{before}"
            return f"{before}{section}\n{after}"
    if not has_title:
        return f"{CHANGELOG_HEADING}\n\n{section}\n{existing}"
    text = existing if existing.endswith("\n") else existing + "\n"
    if not text.endswith("\n\n"):
        text += "\n"
    return text + section
