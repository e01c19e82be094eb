"""Version files rewritten without disturbing the rest, as data (whole texts compared)."""

from __future__ import annotations

import pytest
import semver

from relman.domain.errors import InvalidInput
from relman.versioning.errors import VersionFileError
from relman.versioning.files import (
    FileKind,
    kind_of,
    rewrite,
    rewrite_package_json,
    rewrite_pyproject,
    to_pep440,
)


@pytest.mark.parametrize(
    ("version", "pep440"),
    [
        ("1.2.4", "1.2.4"),
        ("1.2.4-rc.1", "1.2.4rc1"),
        ("1.2.4-beta.2", "1.2.4b2"),
        ("1.2.4-alpha.1", "1.2.4a1"),
        ("10.0.0-rc.12", "10.0.0rc12"),
    ],
)
def test_pep440(version: str, pep440: str) -> None:
    assert to_pep440(semver.Version.parse(version)) == pep440


@pytest.mark.parametrize("version", ["1.2.4-dev.1", "1.2.4-rc", "1.2.4-rc.1.2", "1.2.4+build.5"])
def test_pep440_refuses_what_it_cannot_spell(version: str) -> None:
    with pytest.raises(InvalidInput, match="version"):
        to_pep440(semver.Version.parse(version))


PYPROJECT = """\
# The service.
[build-system]
requires = ["hatchling"]

[project]
name = "svc"  # the name
version = '1.2.3'    # bumped by relman
dependencies = [
    "httpx>=0.27",  # http
]

[tool.ruff]
line-length = 100
"""


def test_pyproject_project_version_keeps_everything_else() -> None:
    assert rewrite_pyproject(PYPROJECT, "1.2.4rc1") == PYPROJECT.replace(
        "version = '1.2.3'", "version = '1.2.4rc1'"
    )


def test_pyproject_poetry_and_project_both_set() -> None:
    text = (
        '[project]\nname = "svc"\nversion = "0.1.0"\n\n'
        '[tool.poetry]\nname = "svc"\nversion = "0.1.0" # poetry\n'
    )
    assert rewrite_pyproject(text, "0.2.0") == text.replace("0.1.0", "0.2.0")


def test_pyproject_poetry_only_with_crlf() -> None:
    text = '[tool.poetry]\r\nname = "svc"\r\nversion = "0.1.0"\r\n'
    assert rewrite_pyproject(text, "0.1.1") == text.replace("0.1.0", "0.1.1")


def test_pyproject_dotted_keys() -> None:
    text = 'project.name = "svc"\nproject.version = "1.0.0"\n'
    assert rewrite_pyproject(text, "1.0.1") == text.replace("1.0.0", "1.0.1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[project]\nname = "svc"\ndynamic = ["version"]\n', "dynamic"),
        ('[project]\nname = "svc"\n', "no \\[project\\].version"),
        ("[tool.ruff]\nline-length = 1\n", "no \\[project\\].version"),
        ("[project]\nversion = 1\n", "not a string"),
        ("[project\n", "not valid TOML"),
    ],
)
def test_pyproject_refusals(text: str, message: str) -> None:
    with pytest.raises(VersionFileError, match=message):
        rewrite_pyproject(text, "1.0.0")


PACKAGE_JSON = """\
{
  "name": "frontend",
  "description": "a \\"quoted\\" version: \\"9.9.9\\"",
  "version" :  "1.2.3",
  "engines": {"node": ">=20", "version": "keep"},
  "dependencies": {
    "react": "^18.0.0"
  },
  "workspaces": [{"version": "0.0.1"}]
}
"""


def test_package_json_only_top_level_version_changes() -> None:
    assert rewrite_package_json(PACKAGE_JSON, "1.2.4-rc.1") == PACKAGE_JSON.replace(
        '"version" :  "1.2.3"', '"version" :  "1.2.4-rc.1"'
    )


def test_package_json_version_after_nested_objects_and_tabs() -> None:
    text = '{\n\t"scripts": {"version": "x"},\n\t"version": "0.0.1"\n}'
    assert rewrite_package_json(text, "0.1.0") == text.replace('"0.0.1"', '"0.1.0"')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "x"}', "no top-level"),
        ('{"name": "x", "nested": {"version": "1.0.0"}}', "no top-level"),
        ('{"version": 1}', "no top-level"),
        ("[1, 2]", "no top-level"),
        ("{not json", "not valid JSON"),
    ],
)
def test_package_json_refusals(text: str, message: str) -> None:
    with pytest.raises(VersionFileError, match=message):
        rewrite_package_json(text, "1.0.0")


def test_kinds_and_forms() -> None:
    assert kind_of("backend/pyproject.toml") is FileKind.PYPROJECT
    assert kind_of("frontend/package.json") is FileKind.PACKAGE_JSON
    with pytest.raises(InvalidInput, match="file"):
        kind_of("setup.py")
    version = semver.Version.parse("2.0.0-beta.3")
    assert rewrite(FileKind.PYPROJECT, '[project]\nversion = "1"\n', version, path="p") == (
        '[project]\nversion = "2.0.0b3"\n'
    )
    assert rewrite(FileKind.PACKAGE_JSON, '{"version": "1"}', version, path="p") == (
        '{"version": "2.0.0-beta.3"}'
    )
