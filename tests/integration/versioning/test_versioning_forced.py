"""``relman version cut --force`` off the release branch (issue 14 item 3, seed 004's
"Принудительный релиз"): the tag is cut where HEAD is, and the release branch gets the
same version files and changelog section in a commit of its own — without touching the
working tree — so main stays in step with the tag, pushed with it on ``--push``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relman.cli.version import app as version_app
from relman.versioning import BumpKind, CutOptions, cut_release
from tests.support.git_repo import GitRepo, git, init_bare, isolate_git_config

root = typer.Typer()
root.add_typer(version_app, name="version")
runner = CliRunner()
DAY = dt.date(2024, 3, 15)
PYPROJECT = '[project]\nname = "svc"\nversion = "1.2.3"\n'
CHANGELOG = "# Changelog\n\n## v1.2.3 - 2024-01-10\n\n### 🐛 Bug Fixes\n\n- first (0000000)\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """v1.2.3 on main; main moves on with a feature; a hotfix branch from v1.2.3."""
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "svc")
    repo.commit(
        "chore: bump version to 1.2.3", {"pyproject.toml": PYPROJECT, "CHANGELOG.md": CHANGELOG}
    )
    repo.tag("v1.2.3", "Release v1.2.3")
    repo.commit("feat: on main, not released yet", {"main.txt": "main\n"})
    repo.git("checkout", "-q", "-b", "hotfix/pay", "v1.2.3")
    return repo


def _on_main(repo: GitRepo, path: str) -> str:
    return repo.git("show", f"main:{path}")


def test_a_forced_cut_keeps_main_in_step_with_the_tag(repo: GitRepo) -> None:
    fix = repo.commit("fix: card payments")[:7]
    main_before = repo.git("rev-parse", "main").strip()
    result = cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, force=True, today=DAY))

    assert result.plan.tag == "v1.2.4"
    assert repo.git("rev-parse", "v1.2.4^{commit}").strip() == repo.head()  # tag on the hotfix
    # main: one new commit on top of what it had, with the version and the section.
    assert repo.git("rev-parse", "main~1").strip() == main_before
    assert repo.git("log", "-1", "--format=%s", "main").strip() == (
        "chore: record forced release v1.2.4"
    )
    assert _on_main(repo, "pyproject.toml") == PYPROJECT.replace("1.2.3", "1.2.4")
    changelog = _on_main(repo, "CHANGELOG.md")
    assert changelog.startswith(
        "# Changelog\n\n## v1.2.4 - 2024-03-15\n\n### 🐛 Bug Fixes\n\n"
        f"- card payments ({fix})\n\n## v1.2.3"
    )
    assert _on_main(repo, "main.txt") == "main\n"  # main's own work kept
    # The working tree and the index are the hotfix branch's, untouched and clean.
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "hotfix/pay"
    assert repo.status() == ""
    assert [c.path for c in result.plan.release_branch_changes] == [
        "pyproject.toml",
        "CHANGELOG.md",
    ]


def test_a_cut_on_main_does_not_commit_twice(repo: GitRepo) -> None:
    repo.checkout("main")
    cut_release(repo.path, CutOptions(bump=BumpKind.MINOR, today=DAY))
    assert repo.git("log", "-1", "--format=%s", "main").strip() == "chore: bump version to 1.3.0"
    assert repo.git("log", "-2", "--format=%s", "main").splitlines()[1] == (
        "feat: on main, not released yet"
    )


def test_cli_forced_push_sends_main_too(repo: GitRepo, tmp_path: Path) -> None:
    remote = init_bare(tmp_path / "origin.git")
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    repo.commit("fix: card payments")
    done = runner.invoke(
        root,
        [
            "version",
            "cut",
            "--bump",
            "patch",
            "--force",
            "--push",
            "--yes",
            "--no-interactive",
            "--repo",
            str(repo.path),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "main kept in step: pyproject.toml, CHANGELOG.md" in done.stdout
    pushed = git(remote, "show", "main:pyproject.toml")
    assert 'version = "1.2.4"' in pushed
    assert git(remote, "rev-parse", "main").strip() == repo.git("rev-parse", "main").strip()
    assert git(remote, "tag", "--list").split() == ["v1.2.4"]
