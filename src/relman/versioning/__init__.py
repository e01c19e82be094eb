"""Versioning tools: SemVer bumps, version files, Conventional-Commits changelog, release
tags, docker image tags, and the GitHub workflow templates (seed 004; seed 003's workflows).

Pure rules live in :mod:`.bump`, :mod:`.commits`, :mod:`.changelog`, :mod:`.files`,
:mod:`.tags`; git I/O in :mod:`.git`; the release cut in :mod:`.cut`; ``relman init
github`` in :mod:`.github`. The CLI (``relman version``, ``relman init``) calls the
functions exported here.
"""

from __future__ import annotations

from relman.versioning.bump import BumpKind, PreLabel
from relman.versioning.cut import (
    CutOptions,
    ReleasePlan,
    ReleaseResult,
    cut_release,
    describe_plan,
    next_release_version,
)
from relman.versioning.github import init_github
from relman.versioning.tags import check_tag, image_tags

__all__ = [
    "BumpKind",
    "CutOptions",
    "PreLabel",
    "ReleasePlan",
    "ReleaseResult",
    "check_tag",
    "cut_release",
    "describe_plan",
    "image_tags",
    "init_github",
    "next_release_version",
]
