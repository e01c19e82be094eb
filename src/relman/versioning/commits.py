"""A Conventional Commits 1.0.0 parser (https://www.conventionalcommits.org/en/v1.0.0/).

Pure: a commit message in, a :class:`Commit` out. What counts:

- the header ``type(scope)!: description`` — type and scope are case-insensitive (rule 15),
  so the type is lower-cased; a colon *and a space* must follow (rule 1); an empty scope
  ``feat(): x`` is not a valid header;
- ``!`` before the colon marks a breaking change (rule 13);
- a ``BREAKING CHANGE: text`` or ``BREAKING-CHANGE: text`` footer marks one too (rules 12,
  16); the token must be upper-case (rule 15); its text runs on, across lines, until the
  next footer token (``Token: `` or ``Token #``) (rule 10).

A message whose first line is not a valid header is *not conventional*: it keeps its first
line as the description and is never breaking, even with a ``BREAKING CHANGE:`` line, the
way release-please ignores commits it cannot parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(
    r"^(?P<type>[A-Za-z][\w-]*)"
    r"(?:\((?P<scope>[^()\r\n]+)\))?"
    r"(?P<bang>!)?"
    r": (?P<description>\S.*)$"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ?(?P<text>.*)$")
_FOOTER_TOKEN = re.compile(r"^(?:[\w-]+|BREAKING CHANGE)(?:: | #)")


@dataclass(frozen=True)
class Commit:
    """One parsed commit.

    ``type`` is ``None`` for a non-conventional commit. ``breaking_notes`` holds the texts of
    its ``BREAKING CHANGE`` footers (empty when the break is marked only by ``!``).
    """

    sha: str
    type: str | None
    scope: str | None
    description: str
    breaking: bool = False
    breaking_notes: tuple[str, ...] = ()

    @property
    def short_sha(self) -> str:
        """The first seven hex digits of the sha (the changelog's and docker's short form)."""
        return self.sha[:7]

    @property
    def conventional(self) -> bool:
        """True when the header follows Conventional Commits."""
        return self.type is not None


def parse_commit(sha: str, message: str) -> Commit:
    """Parse ``message`` (the full commit message: header, body, footers) of commit ``sha``.

    Never raises: anything that is not a Conventional Commits header becomes a
    non-conventional :class:`Commit` described by its first line.
    """
    lines = message.strip("\n").splitlines() or [""]
    header = lines[0].strip()
    match = _HEADER.match(header)
    if match is None:
        return Commit(sha=sha, type=None, scope=None, description=header)
    scope = match.group("scope")
    footers = _breaking_footers(lines[1:])
    return Commit(
        sha=sha,
        type=match.group("type").lower(),
        scope=scope.strip() if scope else None,
        description=match.group("description").strip(),
        breaking=bool(match.group("bang")) or bool(footers),
        breaking_notes=tuple(text for text in footers if text),
    )


def _breaking_footers(body: list[str]) -> list[str]:
    """The texts (maybe empty) of the ``BREAKING CHANGE`` footers in the lines after the
    header."""
    notes: list[list[str]] = []
    current: list[str] | None = None
    for line in body:
        footer = _BREAKING_FOOTER.match(line)
        if footer is not None:
            current = [footer.group("text").strip()]
            notes.append(current)
        elif _FOOTER_TOKEN.match(line):
            current = None
        elif current is not None:
            current.append(line.strip())
    # A note's continuation lines are one paragraph in the changelog; blank lines and the
    # trailing empty lines git keeps would only produce stray spaces.
    return [" ".join(part for part in note if part) for note in notes]
