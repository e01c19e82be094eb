"""``relman version cut`` on real git repositories: files, changelog, commit, tag, push,
and every refusal leaving the repository untouched."""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relman.cli.version import app as version_app
from relman.domain.errors import InvalidInput
from relman.versioning import BumpKind, CutOptions, PreLabel, cut_release
from relman.versioning.cut import apply_release, plan_release
from relman.versioning.errors import GitError, PushFailed, ReleaseRefused
from tests.support.git_repo import GitRepo, git, init_bare, isolate_git_config

root = typer.Typer()
root.add_typer(version_app, name="version")
runner = CliRunner()
DAY = dt.date(2024, 3, 15)

PYPROJECT = """\
# backend of svc
[project]
name = "svc"
version = "1.2.3"  # set by relman version cut
dependencies = [
    "httpx",  # client
]

[tool.ruff]
line-length = 100
"""

PACKAGE_JSON = """\
{
  "name": "svc-frontend",
  "version": "1.2.3",
  "private": true,
  "dependencies": {
    "left-pad": "1.3.0"
  }
}
"""

OLD_CHANGELOG = """\
# Changelog

Notable changes of svc.

## v1.2.3 - 2024-01-10

### 🐛 Bug Fixes

- first fix (0000000)
"""


def _hook(repo: GitRepo, name: str, body: str) -> None:
    hook = repo.path / ".git" / "hooks" / name
    hook.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """v1.2.3 released, then a feature, a breaking change, a fix and docs on main."""
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "svc")
    repo.commit(
        "chore: bump version to 1.2.3",
        {"pyproject.toml": PYPROJECT, "package.json": PACKAGE_JSON, "CHANGELOG.md": OLD_CHANGELOG},
    )
    repo.tag("v1.2.3", "Release v1.2.3")
    return repo


def _history(repo: GitRepo) -> dict[str, str]:
    return {
        "feat": repo.commit("feat(bot): release cards"),
        "break": repo.commit("refactor(api)!: rename endpoints"),
        "fix": repo.commit("fix: handle empty tags\n\nBREAKING CHANGE: tags must start with v"),
        "docs": repo.commit("docs: rollback guide"),
    }


def _snapshot(repo: GitRepo) -> tuple[str, list[str], str, dict[str, str]]:
    files = {name: repo.read(name) for name in ("pyproject.toml", "package.json", "CHANGELOG.md")}
    return repo.head(), repo.tags(), repo.status(), files


def test_cut_writes_files_changelog_commit_and_annotated_tag(repo: GitRepo) -> None:
    shas = _history(repo)
    short = {key: sha[:7] for key, sha in shas.items()}
    result = cut_release(repo.path, CutOptions(bump=BumpKind.AUTO, today=DAY))

    assert str(result.plan.version) == "2.0.0"
    assert repo.read("pyproject.toml") == PYPROJECT.replace('"1.2.3"', '"2.0.0"')
    assert repo.read("package.json") == PACKAGE_JSON.replace(
        '"version": "1.2.3"', '"version": "2.0.0"'
    )
    section = (
        "## v2.0.0 - 2024-03-15\n"
        "\n"
        "### ⚠️ BREAKING CHANGES\n"
        "\n"
        f"- tags must start with v ({short['fix']})\n"
        f"- api: rename endpoints ({short['break']})\n"
        "\n"
        "### 🚀 Features\n"
        "\n"
        f"- bot: release cards ({short['feat']})\n"
        "\n"
        "### 🐛 Bug Fixes\n"
        "\n"
        f"- handle empty tags ({short['fix']})\n"
        "\n"
        "### 📄 Documentation\n"
        "\n"
        f"- rollback guide ({short['docs']})\n"
        "\n"
        "### ⚙️ Miscellaneous\n"
        "\n"
        f"- api: rename endpoints ({short['break']})\n"
    )
    assert repo.read("CHANGELOG.md") == OLD_CHANGELOG.replace("## v1.2.3", section + "\n## v1.2.3")
    assert repo.subject() == "chore: bump version to 2.0.0"
    assert repo.git("rev-parse", "v2.0.0^{commit}").strip() == repo.head() == result.commit
    assert repo.git("cat-file", "-t", "v2.0.0").strip() == "tag"
    assert repo.tag_message("v2.0.0") == "Release v2.0.0\n\n" + section
    assert repo.status() == ""
    assert repo.git("show", "--name-only", "--format=", "HEAD").split() == [
        "CHANGELOG.md",
        "package.json",
        "pyproject.toml",
    ]


def test_prerelease_cut_uses_pep440_in_pyproject(repo: GitRepo) -> None:
    repo.commit("fix: one")
    cut_release(repo.path, CutOptions(bump=BumpKind.PRERELEASE, pre=PreLabel.RC, today=DAY))
    assert 'version = "1.2.4rc1"  # set by' in repo.read("pyproject.toml")
    assert '"version": "1.2.4-rc.1"' in repo.read("package.json")
    repo.commit("fix: two")
    cut_release(repo.path, CutOptions(bump=BumpKind.PRERELEASE, today=DAY))
    assert 'version = "1.2.4rc2"  # set by' in repo.read("pyproject.toml")
    cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, today=DAY))
    assert repo.read("pyproject.toml") == PYPROJECT.replace('"1.2.3"', '"1.2.4"')
    assert repo.tags() == ["v1.2.3", "v1.2.4", "v1.2.4-rc.1", "v1.2.4-rc.2"]
    changelog = repo.read("CHANGELOG.md")
    headings = [line for line in changelog.splitlines() if line.startswith("## ")]
    assert headings == [
        "## v1.2.4 - 2024-03-15",
        "## v1.2.4-rc.2 - 2024-03-15",
        "## v1.2.4-rc.1 - 2024-03-15",
        "## v1.2.3 - 2024-01-10",
    ]


def test_named_files_in_subdirectories_and_a_new_changelog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "mono")
    sha = repo.commit(
        "feat: first",
        {"backend/pyproject.toml": PYPROJECT, "frontend/package.json": PACKAGE_JSON},
    )
    cut_release(
        repo.path,
        CutOptions(
            version="v1.3.0-beta.1",
            files=("backend/pyproject.toml", "frontend/package.json"),
            today=DAY,
        ),
    )
    assert repo.read("backend/pyproject.toml") == PYPROJECT.replace('"1.2.3"', '"1.3.0b1"')
    assert '"version": "1.3.0-beta.1"' in repo.read("frontend/package.json")
    assert repo.read("CHANGELOG.md") == (
        f"# Changelog\n\n## v1.3.0-beta.1 - 2024-03-15\n\n### 🚀 Features\n\n- first ({sha[:7]})\n"
    )
    assert repo.tags() == ["v1.3.0-beta.1"]


def test_repository_without_version_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "plain")
    repo.commit("fix: x", {"app.sh": "echo hi\n"})
    result = cut_release(repo.path, CutOptions(bump=BumpKind.MINOR, today=DAY))
    assert [change.path for change in result.plan.changes] == ["CHANGELOG.md"]
    assert repo.tags() == ["v0.1.0"]


def _assert_untouched(repo: GitRepo, before: tuple[str, list[str], str, dict[str, str]]) -> None:
    assert _snapshot(repo) == before


def test_dirty_tree_is_refused(repo: GitRepo) -> None:
    repo.commit("fix: one")
    repo.write("package.json", PACKAGE_JSON + "\n")
    before = _snapshot(repo)
    with pytest.raises(ReleaseRefused, match=re.escape("not clean (package.json)")):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH))
    _assert_untouched(repo, before)

    repo.git("checkout", "--", "package.json")
    repo.write("notes.txt", "untracked\n")
    before = _snapshot(repo)
    with pytest.raises(ReleaseRefused, match=re.escape("not clean (notes.txt)")):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH))
    _assert_untouched(repo, before)


def test_existing_tag_is_refused(repo: GitRepo) -> None:
    repo.commit("fix: one")
    before = _snapshot(repo)
    with pytest.raises(ReleaseRefused, match=re.escape("tag v1.2.3 already exists")):
        cut_release(repo.path, CutOptions(version="1.2.3"))
    _assert_untouched(repo, before)


def test_version_not_greater_than_the_latest_tag_is_refused(repo: GitRepo) -> None:
    repo.commit("fix: one")
    before = _snapshot(repo)
    with pytest.raises(
        ReleaseRefused, match=re.escape("v1.2.0 is not greater than the latest tag v1.2.3")
    ):
        cut_release(repo.path, CutOptions(version="1.2.0"))
    with pytest.raises(ReleaseRefused, match="not greater"):
        cut_release(repo.path, CutOptions(version="1.2.3-rc.9"))
    _assert_untouched(repo, before)


def test_off_the_release_branch_is_refused_unless_forced(repo: GitRepo) -> None:
    repo.checkout("hotfix/urgent", create=True)
    repo.commit("fix: urgent")
    before = _snapshot(repo)
    with pytest.raises(ReleaseRefused, match="on branch hotfix/urgent, not on the release branch"):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH))
    _assert_untouched(repo, before)

    result = cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, force=True, today=DAY))
    assert result.plan.forced == ("cut on branch hotfix/urgent, not on the release branch main",)
    message = repo.tag_message("v1.2.4")
    assert message.startswith(
        "Release v1.2.4\n\n"
        "Forced release (Принудительный релиз): cut on branch hotfix/urgent, "
        "not on the release branch main.\n\n"
        "## v1.2.4 - 2024-03-15\n"
    )


def test_release_branch_option(repo: GitRepo) -> None:
    repo.checkout("release", create=True)
    repo.commit("fix: one")
    cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, release_branch="release"))
    assert repo.tags() == ["v1.2.3", "v1.2.4"]
    assert "Forced" not in repo.tag_message("v1.2.4")


def test_failed_commit_restores_everything(repo: GitRepo) -> None:
    (repo.path / "CHANGELOG.md").unlink()
    repo.commit("chore: drop the changelog")
    _hook(repo, "pre-commit", "echo 'refused by hook' >&2\nexit 1\n")
    head, tags = repo.head(), repo.tags()
    with pytest.raises(GitError, match="git commit failed: refused by hook"):
        cut_release(repo.path, CutOptions(bump=BumpKind.MINOR))
    assert (repo.head(), repo.tags(), repo.status()) == (head, tags, "")
    assert not (repo.path / "CHANGELOG.md").exists()
    assert repo.read("pyproject.toml") == PYPROJECT
    assert repo.read("package.json") == PACKAGE_JSON


def test_failed_tag_undoes_the_commit(repo: GitRepo) -> None:
    repo.commit("fix: one")
    # A reference-transaction hook that vetoes new tags: the commit succeeds, the tag fails.
    _hook(
        repo,
        "reference-transaction",
        '[ "$1" = prepared ] || exit 0\n'
        "if grep -q ' refs/tags/'; then echo 'tags are frozen' >&2; exit 1; fi\n",
    )
    before = _snapshot(repo)
    with pytest.raises(GitError, match=re.escape("cannot create tag v1.2.4")):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH))
    _assert_untouched(repo, before)


def test_push_to_a_bare_remote(repo: GitRepo, tmp_path: Path) -> None:
    remote = init_bare(tmp_path / "remote.git")
    repo.add_remote("origin", remote)
    repo.git("push", "-q", "origin", "main")
    repo.commit("feat: pushed")
    result = cut_release(repo.path, CutOptions(bump=BumpKind.AUTO, push=True))
    assert result.pushed
    assert git(remote, "rev-parse", "refs/tags/v1.3.0^{commit}").strip() == repo.head()
    assert git(remote, "rev-parse", "refs/heads/main").strip() == repo.head()
    assert git(remote, "cat-file", "-t", "refs/tags/v1.3.0").strip() == "tag"


def test_push_refusals_happen_before_any_write(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("fix: one")
    before = _snapshot(repo)
    with pytest.raises(ReleaseRefused, match="no git remote 'upstream'"):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, push=True, remote="upstream"))
    _assert_untouched(repo, before)

    remote = init_bare(tmp_path / "remote.git")
    repo.add_remote("origin", remote)
    repo.git("push", "-q", "origin", "main")
    other = GitRepo.init(tmp_path / "other")
    other.add_remote("origin", remote)
    other.commit("fix: someone else's release")
    other.tag("v1.2.4", "theirs")
    other.git("push", "-q", "origin", "v1.2.4")
    with pytest.raises(
        ReleaseRefused, match=re.escape("tag v1.2.4 already exists on remote origin")
    ):
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, push=True))
    _assert_untouched(repo, before)


def test_failed_push_keeps_the_local_release(repo: GitRepo, tmp_path: Path) -> None:
    remote = init_bare(tmp_path / "remote.git")
    repo.add_remote("origin", remote)
    repo.git("push", "-q", "origin", "main")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    repo.commit("fix: one")
    with pytest.raises(
        PushFailed, match=re.escape("v1.2.4 was created locally but not pushed")
    ) as info:
        cut_release(repo.path, CutOptions(bump=BumpKind.PATCH, push=True))
    assert "push it with: git push origin main v1.2.4" in str(info.value)
    assert "v1.2.4" in repo.tags()
    assert git(remote, "tag", "--list").strip() == ""


def test_option_mistakes(repo: GitRepo) -> None:
    repo.commit("fix: one")
    before = _snapshot(repo)
    for options, field in [
        (CutOptions(), "bump"),
        (CutOptions(bump=BumpKind.PATCH, version="1.3.0"), "version"),
        (CutOptions(version="1.3.0", pre=PreLabel.RC), "version"),
        (CutOptions(version="1.3"), "version"),
        (CutOptions(version="1.3.0-dev.1"), "version"),
        (CutOptions(bump=BumpKind.PATCH, files=("missing/package.json",)), "file"),
        (CutOptions(bump=BumpKind.PATCH, files=("setup.cfg",)), "file"),
        (CutOptions(bump=BumpKind.PATCH, files=("../package.json",)), "file"),
        (CutOptions(bump=BumpKind.PATCH, remote="--upload-pack=x"), "remote"),
    ]:
        with pytest.raises(InvalidInput) as info:
            cut_release(repo.path, options)
        assert info.value.field == field, options
    _assert_untouched(repo, before)


def test_unreadable_changelog_or_version_file_is_invalid_input(repo: GitRepo) -> None:
    (repo.path / "latin1").mkdir()
    (repo.path / "latin1" / "package.json").write_bytes(b'{"version": "1.0.0", "n": "\xe9"}')
    repo.commit("fix: a latin-1 file")
    before = _snapshot(repo)
    for options, field, message in [
        (CutOptions(bump=BumpKind.PATCH, changelog="."), "changelog", "cannot read ."),
        (
            CutOptions(bump=BumpKind.PATCH, files=("latin1/package.json",)),
            "file",
            "latin1/package.json is not UTF-8 text",
        ),
    ]:
        with pytest.raises(InvalidInput, match=re.escape(message)) as info:
            cut_release(repo.path, options)
        assert info.value.field == field
    _assert_untouched(repo, before)


def test_failed_write_is_refused_and_restores_everything(repo: GitRepo) -> None:
    """A directory where the new changelog goes (git does not list empty directories, so
    the tree is clean): the write fails, the version files are put back."""
    (repo.path / "CHANGELOG.md").unlink()
    repo.commit("docs: drop the changelog")
    plan = plan_release(repo.path, CutOptions(bump=BumpKind.PATCH))
    head = repo.head()
    (repo.path / "CHANGELOG.md").mkdir()
    with pytest.raises(
        ReleaseRefused, match=r"cannot write .*CHANGELOG\.md: .*nothing was released"
    ):
        apply_release(plan)
    assert (repo.head(), repo.tags(), repo.status()) == (head, ["v1.2.3"], "")
    assert (repo.path / "CHANGELOG.md").is_dir()
    assert repo.read("pyproject.toml") == PYPROJECT
    assert repo.read("package.json") == PACKAGE_JSON


# -- through the CLI --------------------------------------------------------------------


def test_cli_cut_with_flags(repo: GitRepo) -> None:
    repo.commit("feat: one")
    result = runner.invoke(
        root, ["version", "cut", "--bump", "minor", "--no-interactive", "--repo", str(repo.path)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Released v1.3.0 (commit ")
    assert repo.tags() == ["v1.2.3", "v1.3.0"]


def test_cli_refusal_is_one_line_with_exit_code_2(repo: GitRepo) -> None:
    repo.write("pyproject.toml", "[project]\nname = 'x'\n")
    repo.commit("chore: lose the version")
    result = runner.invoke(
        root, ["version", "cut", "--bump", "patch", "--no-interactive", "--repo", str(repo.path)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: pyproject.toml: no [project].version or [tool.poetry].version to set"
    )
    assert repo.tags() == ["v1.2.3"]


def test_cli_needs_a_bump_when_not_interactive(repo: GitRepo) -> None:
    repo.commit("fix: one")
    result = runner.invoke(root, ["version", "cut", "--no-interactive", "--repo", str(repo.path)])
    assert result.exit_code == 2
    assert "choose the bump" in result.stderr


def test_cli_interactive_asks_the_bump_and_confirmation(repo: GitRepo) -> None:
    repo.commit("feat: asked")
    args = ["version", "cut", "--interactive", "--repo", str(repo.path)]
    declined = runner.invoke(root, args, input="minor\nn\n")
    assert declined.exit_code == 2
    assert "Release v1.3.0 (after v1.2.3; 1 commit(s)) on main" in declined.stdout
    assert "release cancelled; nothing was written" in declined.stderr
    assert repo.tags() == ["v1.2.3"]
    assert repo.status() == ""

    accepted = runner.invoke(root, args, input="minor\ny\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Released v1.3.0" in accepted.stdout
    assert repo.tags() == ["v1.2.3", "v1.3.0"]


def test_cli_forced_release_says_so(repo: GitRepo) -> None:
    repo.checkout("feature/x", create=True)
    repo.commit("fix: one")
    args = ["version", "cut", "--bump", "patch", "--no-interactive", "--repo", str(repo.path)]
    refused = runner.invoke(root, args)
    assert refused.exit_code == 2
    assert "on branch feature/x, not on the release branch main" in refused.stderr
    forced = runner.invoke(root, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "forced: cut on branch feature/x, not on the release branch main" in forced.stdout
