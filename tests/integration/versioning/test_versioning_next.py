"""``relman version next`` on real git repositories."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relman.cli.version import app as version_app
from relman.versioning import BumpKind, PreLabel, next_release_version
from relman.versioning.errors import GitError, ReleaseRefused
from tests.support.git_repo import GitRepo, isolate_git_config

root = typer.Typer()
root.add_typer(version_app, name="version")
runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "svc")
    repo.commit("chore: initial commit", {"README.md": "svc\n"})
    return repo


def next_of(repo: GitRepo, kind: str = "auto", pre: str | None = None) -> str:
    """What the CLI prints, asserting it succeeded."""
    args = ["version", "next", kind, "--repo", str(repo.path)]
    if pre:
        args += ["--pre", pre]
    result = runner.invoke(root, args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_without_tags_versioning_starts_at_zero(repo: GitRepo) -> None:
    assert next_of(repo, "patch") == "0.0.1"
    assert next_of(repo, "minor") == "0.1.0"
    assert next_of(repo, "major") == "1.0.0"
    assert next_of(repo, "prerelease") == "0.0.1-rc.1"
    assert next_of(repo, "auto") == "0.0.1"
    repo.commit("feat: first feature")
    assert next_of(repo) == "0.1.0"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["fix: a", "feat(api)!: remove v1", "docs: b"], "2.0.0"),
        (["fix: a", "refactor: store\n\nBREAKING CHANGE: new schema"], "2.0.0"),
        (["fix: a", "feat(bot): menu", "chore: deps"], "1.3.0"),
        (["fix: a", "chore: deps", "Plain message"], "1.2.4"),
        (["docs: only documentation"], "1.2.4"),
    ],
)
def test_auto_from_the_commits_since_the_latest_tag(
    repo: GitRepo, messages: list[str], expected: str
) -> None:
    repo.commit("feat!: something breaking before the tag")
    repo.tag("v1.2.3", "Release v1.2.3")
    for message in messages:
        repo.commit(message)
    assert next_of(repo, "auto") == expected


def test_auto_before_1_0_bumps_minor_for_breaking_changes(repo: GitRepo) -> None:
    repo.tag("v0.4.1")
    repo.commit("feat!: break it")
    assert next_of(repo) == "0.5.0"


def test_prerelease_sequence_and_finalization(repo: GitRepo) -> None:
    repo.tag("v1.2.3", "Release v1.2.3")
    repo.commit("fix: one")
    assert next_of(repo, "prerelease", "rc") == "1.2.4-rc.1"
    repo.tag("v1.2.4-rc.1", "rc 1")
    repo.commit("fix: two")
    assert next_of(repo, "prerelease", "rc") == "1.2.4-rc.2"
    repo.tag("v1.2.4-rc.2", "rc 2")
    assert next_of(repo, "prerelease") == "1.2.4-rc.3"
    assert next_of(repo, "patch") == "1.2.4"
    assert next_of(repo, "minor") == "1.3.0"
    assert next_of(repo, "minor", "rc") == "1.3.0-rc.1"
    result = runner.invoke(
        root, ["version", "next", "prerelease", "--pre", "beta", "--repo", str(repo.path)]
    )
    assert result.exit_code == 2
    assert "beta would go backwards from 1.2.4-rc.2" in result.stderr
    assert result.stdout == ""


def test_latest_tag_by_semver_precedence_ignoring_other_tags(repo: GitRepo) -> None:
    repo.tag("v1.9.0")
    repo.commit("fix: a")
    repo.tag("v1.10.0")
    repo.tag("v1.10.0-rc.1")
    repo.tag("v2")
    repo.tag("vnext")
    repo.tag("release-3.0.0")
    assert str(next_release_version(repo.path, BumpKind.PATCH)) == "1.10.1"
    assert str(next_release_version(repo.path, BumpKind.MINOR, PreLabel.BETA)) == "1.11.0-beta.1"


def test_auto_without_new_commits_is_refused(repo: GitRepo) -> None:
    repo.tag("v1.0.0")
    with pytest.raises(ReleaseRefused, match=re.escape("no commits since v1.0.0")):
        next_release_version(repo.path, BumpKind.AUTO)
    result = runner.invoke(root, ["version", "next", "--repo", str(repo.path)])
    assert result.exit_code == 2
    assert "nothing to release: no commits since v1.0.0" in result.stderr


def test_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git_config(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        next_release_version(plain, BumpKind.PATCH)
    result = runner.invoke(root, ["version", "next", "patch", "--repo", str(plain)])
    assert result.exit_code == 2
    assert "is not a git repository" in result.stderr
