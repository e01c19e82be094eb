"""Release tags and the docker image tags of a release (seed 004 "Docker образы").

Pure functions; no git, no docker.
"""

from __future__ import annotations

import re

import semver

from relman.domain.errors import InvalidInput
from relman.domain.version import parse_release_tag
from relman.versioning.bump import parse_version

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def check_tag(tag: str) -> semver.Version:
    """The version of release tag ``tag`` (``v`` + SemVer, e.g. v1.2.3, v1.2.3-rc.1).

    Seed 004's troubleshooting "Workflow не запускается — проверить формат тега (должен быть
    v*.*.*)": the tag workflow runs this first. Raises :class:`InvalidInput` (field
    ``tag``) for anything else, via :func:`relman.domain.version.parse_release_tag`.
    """
    return parse_release_tag(tag, field="tag")


def image_tags(version: str, sha: str) -> list[str]:
    """The docker image tags of a release, in this order: ``VERSION``, ``MAJOR.MINOR``,
    ``MAJOR``, ``latest``, ``sha-XXXXXXX`` (seed 004's list).

    They match docker/metadata-action with ``type=semver`` patterns ``{{version}}``,
    ``{{major}}.{{minor}}``, ``{{major}}``, ``flavor: latest=auto`` and ``type=sha``:

    - ``version`` may carry a leading ``v``; the tags never do (``{{version}}`` drops it);
    - a prerelease (1.2.4-rc.1) gets only ``VERSION`` and the sha tag: metadata-action
      "will only extend {{version}} as tag" for prereleases and gives them no ``latest``,
      so a release candidate never moves ``1.2``, ``1`` or ``latest``;
    - 0.x versions do get ``0.MINOR`` and ``0``, as metadata-action does by default;
    - the sha tag is ``sha-`` and the first 7 hex digits, lower-case (``type=sha``'s
      default short format).

    Raises :class:`InvalidInput` for a version that is not SemVer, a version with build
    metadata (``+`` is not allowed in a docker tag), or a sha that is not 7-64 hex digits.
    """
    parsed = parse_version(version)
    if parsed.build:
        raise InvalidInput("version", f"{version}: build metadata (+…) cannot be a docker tag")
    if not _SHA.match(sha):
        raise InvalidInput("sha", f"{sha!r} is not a git commit sha (7-64 hex digits)")
    tags = [str(parsed)]
    if not parsed.prerelease:
        tags += [f"{parsed.major}.{parsed.minor}", str(parsed.major), "latest"]
    tags.append(f"sha-{sha[:7].lower()}")
    return tags
