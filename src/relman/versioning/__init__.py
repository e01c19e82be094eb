"""Versioning tools: SemVer bumps, version files, Conventional-Commits changelog, release
tags, docker image tags, and the GitHub workflow templates (seed 004; seed 003's workflows).

Pure rules live in :mod:`.bump`, :mod:`.commits`, :mod:`.changelog`, :mod:`.files`,
:mod:`.tags`; git I/O in :mod:`.git`; the release cut in :mod:`.cut`; ``relman init
github`` in :mod:`.github`. The CLI (``relman version``, ``relman init``) calls the
functions exported here.
"""

# The names below are loaded on first use (PEP 562), so that the CLI can import an option
# type such as relman.versioning.bump.BumpKind without loading git, tomlkit and templates.

from __future__ import annotations

from typing import TYPE_CHECKING

from relman._lazy import lazy_names

if TYPE_CHECKING:
    from relman.versioning.bump import BumpKind, PreLabel
    from relman.versioning.cut import (
        CutOptions,
        ReleasePlan,
        ReleaseResult,
        cut_release,
        describe_plan,
        next_release_choices,
        next_release_version,
    )
    from relman.versioning.github import init_github
    from relman.versioning.tags import check_tag, image_tags

#: Where each public name lives.
_HOME = {
    "BumpKind": "relman.versioning.bump",
    "PreLabel": "relman.versioning.bump",
    "CutOptions": "relman.versioning.cut",
    "ReleasePlan": "relman.versioning.cut",
    "ReleaseResult": "relman.versioning.cut",
    "cut_release": "relman.versioning.cut",
    "describe_plan": "relman.versioning.cut",
    "next_release_choices": "relman.versioning.cut",
    "next_release_version": "relman.versioning.cut",
    "init_github": "relman.versioning.github",
    "check_tag": "relman.versioning.tags",
    "image_tags": "relman.versioning.tags",
}


__getattr__ = lazy_names(__name__, _HOME)


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
    "next_release_choices",
    "next_release_version",
]
