"""Release candidates and their final release on real git repositories (issue 15 item 11):
the final section gathers what its candidates shipped, and ``relman version next`` after
a candidate offers the final version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relman.cli.version import app as version_app
from relman.versioning import BumpKind, CutOptions, PreLabel, cut_release, next_release_version
from tests.support.git_repo import GitRepo, isolate_git_config

root = typer.Typer()
root.add_typer(version_app, name="version")
runner = CliRunner()
DAY = dt.date(2024, 3, 15)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """v1.2.2 released on main."""
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "svc")
    repo.commit("chore: initial commit", {"README.md": "svc\n"})
    repo.tag("v1.2.2", "Release v1.2.2")
    return repo


def _candidates(repo: GitRepo) -> dict[str, str]:
    """fix → v1.2.3-rc.1 → feat → v1.2.3-rc.2, cut by relman; the changes' short shas."""
    shas = {"fix": repo.commit("fix: empty tags")[:7]}
    cut_release(repo.path, CutOptions(version="1.2.3-rc.1", today=DAY))
    shas["feat"] = repo.commit("feat(bot): release cards")[:7]
    cut_release(repo.path, CutOptions(bump=BumpKind.PRERELEASE, today=DAY))
    return shas


def test_the_final_section_gathers_its_candidates_notes(repo: GitRepo) -> None:
    shas = _candidates(repo)
    result = cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, today=DAY))

    assert result.plan.tag == "v1.2.3"
    section = (
        "## v1.2.3 - 2024-03-15\n"
        "\n"
        "Includes the release candidates v1.2.3-rc.1, v1.2.3-rc.2.\n"
        "\n"
        "### 🚀 Features\n"
        "\n"
        f"- bot: release cards ({shas['feat']})\n"
        "\n"
        "### 🐛 Bug Fixes\n"
        "\n"
        f"- empty tags ({shas['fix']})\n"
    )
    assert result.plan.changelog_section == section  # no "No changes.", no rc bump commits
    changelog = repo.read("CHANGELOG.md")
    assert changelog.startswith("# Changelog\n\n" + section + "\n## v1.2.3-rc.2 - 2024-03-15\n")
    assert repo.tag_message("v1.2.3") == "Release v1.2.3\n\n" + section
    # Each candidate's own section still lists only what it added.
    rc2 = changelog.split("## v1.2.3-rc.2 - 2024-03-15\n", 1)[1].split("\n## ", 1)[0]
    assert f"- bot: release cards ({shas['feat']})" in rc2 and "empty tags" not in rc2


def test_a_final_release_with_a_fix_after_the_candidates_lists_it_too(repo: GitRepo) -> None:
    shas = _candidates(repo)
    late = repo.commit("fix: late fix")[:7]
    result = cut_release(repo.path, CutOptions(bump=BumpKind.AUTO, today=DAY))
    assert result.plan.tag == "v1.2.3"
    fixes = result.plan.changelog_section.split("### 🐛 Bug Fixes\n\n", 1)[1]
    assert fixes == f"- late fix ({late})\n- empty tags ({shas['fix']})\n"


def test_a_release_without_candidates_is_unchanged(repo: GitRepo) -> None:
    sha = repo.commit("fix: one")[:7]
    result = cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, today=DAY))
    assert result.plan.changelog_section == (
        f"## v1.2.3 - 2024-03-15\n\n### 🐛 Bug Fixes\n\n- one ({sha})\n"
    )


def test_next_after_a_candidate_offers_the_final_version(repo: GitRepo) -> None:
    _candidates(repo)
    # Nothing since v1.2.3-rc.2: the next release is its final version, not a refusal.
    assert str(next_release_version(repo.path, BumpKind.AUTO)) == "1.2.3"
    plain = runner.invoke(root, ["version", "next", "--repo", str(repo.path)])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.strip() == "1.2.3"

    listed = runner.invoke(root, ["version", "next", "--all", "--repo", str(repo.path)])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        "major 2.0.0",
        "minor 1.3.0",
        "patch 1.2.3",
        "prerelease 1.2.3-rc.3",
        "auto 1.2.3",
    ]
    beta = runner.invoke(
        root, ["version", "next", "--all", "--pre", "beta", "--repo", str(repo.path)]
    )
    assert beta.exit_code == 0, beta.output
    assert "prerelease -" in beta.stdout.splitlines()  # beta would go backwards from rc.2

    # A fix after the candidate: still the final version.
    repo.commit("fix: late")
    assert str(next_release_version(repo.path, BumpKind.AUTO)) == "1.2.3"
    assert str(next_release_version(repo.path, BumpKind.PRERELEASE, PreLabel.RC)) == "1.2.3-rc.3"


def test_next_after_a_final_release_without_commits_is_still_refused(repo: GitRepo) -> None:
    listed = runner.invoke(root, ["version", "next", "--all", "--repo", str(repo.path)])
    assert listed.exit_code == 0
    assert "auto -" in listed.stdout.splitlines()
    plain = runner.invoke(root, ["version", "next", "--repo", str(repo.path)])
    assert plain.exit_code == 2
    assert "nothing to release: no commits since v1.2.2" in plain.stderr
