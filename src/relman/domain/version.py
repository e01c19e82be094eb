"""Release tags: ``v`` + a SemVer 2.0.0 version (seed 004; seed 003 "v*" tags)."""

from __future__ import annotations

import semver

from relman.domain.errors import InvalidInput


def parse_release_tag(tag: str, *, field: str = "release_tag") -> semver.Version:
    """The SemVer version of a tag such as ``v1.2.3`` or ``v1.2.3-rc.1``.

    Raises :class:`InvalidInput` naming ``field`` when the tag is not ``v`` followed by a
    valid SemVer version (build metadata is allowed, a leading ``V`` or none is not).
    """
    if not tag.startswith("v"):
        raise InvalidInput(
            field,
            f"{tag!r} is not a version tag: expected v<MAJOR.MINOR.PATCH>, "
            "e.g. v1.2.3 or v1.2.3-rc.1",
        )
    try:
        return semver.Version.parse(tag[1:])
    except ValueError:
        raise InvalidInput(
            field,
            f"{tag!r} is not a SemVer version tag: expected "
            "v<MAJOR.MINOR.PATCH>[-PRERELEASE], e.g. v1.2.3 or v1.2.3-rc.1",
        ) from None


def is_release_tag(tag: str) -> bool:
    """True when ``tag`` is a valid release tag (see :func:`parse_release_tag`)."""
    try:
        parse_release_tag(tag)
    except InvalidInput:
        return False
    return True
