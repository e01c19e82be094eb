"""Version files: where a release writes its version (seed 004: ``backend/pyproject.toml``,
``frontend/package.json``). Pure: old text and a version in, new text out.

Only the version value changes; comments, key order, quoting, indentation and line endings
stay as they were (tomlkit round-trips TOML; ``package.json`` is edited textually).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

import semver
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import String

from relman.domain.errors import InvalidInput
from relman.versioning.bump import split_prerelease
from relman.versioning.errors import VersionFileError

#: Files used when none are named, if they exist in the repository root.
DEFAULT_VERSION_FILES = ("pyproject.toml", "package.json")

_PEP440_LABELS = {"alpha": "a", "beta": "b", "rc": "rc"}


class FileKind(StrEnum):
    """How a version file is written."""

    PYPROJECT = "pyproject"
    PACKAGE_JSON = "package.json"


def kind_of(path: str) -> FileKind:
    """The kind of version file ``path`` is, by its name.

    Raises :class:`InvalidInput` (field ``file``) for other names.
    """
    name = PurePosixPath(path).name
    if name == "pyproject.toml":
        return FileKind.PYPROJECT
    if name == "package.json":
        return FileKind.PACKAGE_JSON
    raise InvalidInput(
        "file", f"{path}: relman writes versions into pyproject.toml and package.json files only"
    )


def to_pep440(version: semver.Version) -> str:
    """The PEP 440 spelling of a SemVer version (PEP 440 "Pre-releases"): 1.2.4-rc.1 →
    1.2.4rc1, 1.2.4-beta.2 → 1.2.4b2, 1.2.4-alpha.1 → 1.2.4a1, 1.2.4 → 1.2.4.

    Raises :class:`InvalidInput` (field ``version``) for build metadata or a prerelease that
    is not ``alpha.N``, ``beta.N`` or ``rc.N``: PEP 440 has no faithful spelling for them.
    """
    if version.build:
        raise InvalidInput("version", f"{version}: build metadata has no PEP 440 form here")
    base = f"{version.major}.{version.minor}.{version.patch}"
    pre = split_prerelease(version)
    if pre is None:
        return base
    label, number = pre
    if label not in _PEP440_LABELS or version.prerelease != f"{label}.{number}":
        raise InvalidInput(
            "version",
            f"{version}: only alpha.N, beta.N and rc.N prereleases "
            "can be written to pyproject.toml (PEP 440)",
        )
    return f"{base}{_PEP440_LABELS[label]}{number}"


def rewrite(kind: FileKind, text: str, version: semver.Version, *, path: str) -> str:
    """``text`` of a version file of ``kind`` with its version set to ``version``.

    ``path`` only names the file in errors. Raises :class:`VersionFileError` when the file
    cannot be parsed or has no version to set, :class:`InvalidInput` when the version has
    no form for this file.
    """
    if kind is FileKind.PYPROJECT:
        return rewrite_pyproject(text, to_pep440(version), path=path)
    return rewrite_package_json(text, str(version), path=path)


def rewrite_pyproject(text: str, version: str, *, path: str = "pyproject.toml") -> str:
    """Set ``[project].version`` (PEP 621) and/or ``[tool.poetry].version`` to ``version``.

    Both are set when both exist. Raises :class:`VersionFileError` when the TOML does not
    parse, when ``[project]`` declares the version ``dynamic`` (a build backend computes
    it, so there is nothing to write), or when neither key exists.
    """
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise VersionFileError(f"{path}: not valid TOML ({exc})") from None
    tables: list[MutableMapping[str, Any]] = []
    project = document.get("project")
    if isinstance(project, MutableMapping):
        dynamic = project.get("dynamic") or []
        if "version" in dynamic and "version" not in project:
            raise VersionFileError(
                f"{path}: [project] declares the version dynamic; "
                "set it where the build backend reads it"
            )
        if "version" in project:
            tables.append(project)
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, MutableMapping) else None
    if isinstance(poetry, MutableMapping) and "version" in poetry:
        tables.append(poetry)
    if not tables:
        raise VersionFileError(f"{path}: no [project].version or [tool.poetry].version to set")
    for table in tables:
        old = table["version"]
        if not isinstance(old, String):
            raise VersionFileError(f"{path}: the version is not a string")
        # Keep the author's quoting ('…' literal or "…" basic); the comment and spacing
        # after the value live in the item's trivia, which tomlkit keeps on replacement.
        table["version"] = tomlkit.string(version, literal=old.type.is_literal())
    return tomlkit.dumps(document)


def rewrite_package_json(text: str, version: str, *, path: str = "package.json") -> str:
    """Set the top-level ``"version"`` of a ``package.json`` to ``version``.

    Only the characters of the old value change, so indentation, key order and the
    ``version`` keys of nested objects stay. Raises :class:`VersionFileError` when the
    JSON does not parse or has no top-level string ``"version"``.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise VersionFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        raise VersionFileError(f'{path}: no top-level string "version" to set')
    start, end = _top_level_value_span(text, "version")
    new_text = text[:start] + json.dumps(version) + text[end:]
    if json.loads(new_text) != {**data, "version": version}:  # nothing else may change
        raise VersionFileError(f"{path}: could not set the version without changing more")
    return new_text


def _top_level_value_span(text: str, key: str) -> tuple[int, int]:
    """Start and end offsets of the string value of ``key`` in the top-level object of the
    (already validated) JSON ``text``; the last occurrence wins, as in ``json.loads``."""
    depth = 0
    previous = ""
    found: tuple[int, int] | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            end = _string_end(text, index)
            if depth == 1 and previous in ("{", ","):
                name = json.loads(text[index:end])
                colon = _skip_space(text, end)
                value = _skip_space(text, colon + 1)
                if name == key and text[value] == '"':
                    found = (value, _string_end(text, value))
                previous = ":"
                index = colon + 1
                continue
            previous = '"'
            index = end
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        if not char.isspace():
            previous = char
        index += 1
    if found is None:  # json.loads saw the key, so this is a bug
        raise VersionFileError(f'no top-level "{key}"')
    return found


def _string_end(text: str, start: int) -> int:
    """The offset just after the JSON string that opens at ``start``."""
    index = start + 1
    while text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _skip_space(text: str, index: int) -> int:
    while text[index].isspace():
        index += 1
    return index
