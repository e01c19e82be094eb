"""``relman version`` / ``relman init`` as real processes: exit codes, stdout, stderr.

The sub-apps are mounted on a root the way ``relman.cli`` mounts them (``version``,
``init``), in a separate Python process, so exit codes and streams are the real ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.git_repo import GitRepo, isolate_git_config

RELMAN = str(Path(sys.executable).with_name("relman"))


def relman(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RELMAN, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("tag", ["v1.2.3", "v1.2.3-rc.1", "v0.1.0-beta.2"])
def test_check_tag_accepts_release_tags(tag: str) -> None:
    result = relman("version", "check-tag", tag)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tag}: release tag of version {tag[1:]}\n"


@pytest.mark.parametrize("tag", ["1.2.3", "v1.2", "release-1", "main", "V1.2.3"])
def test_check_tag_refuses_other_tags_with_exit_code_2(tag: str) -> None:
    result = relman("version", "check-tag", tag)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: tag: '{tag}' is not")
    assert "Traceback" not in result.stderr


def test_image_tags() -> None:
    sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
    final = relman("version", "image-tags", "v1.4.2", "--sha", sha)
    assert final.returncode == 0, final.stderr
    assert final.stdout == "1.4.2\n1.4\n1\nlatest\nsha-0f1e2d3\n"
    pre = relman("version", "image-tags", "1.5.0-rc.2", "--sha", sha)
    assert pre.stdout == "1.5.0-rc.2\nsha-0f1e2d3\n"
    bad = relman("version", "image-tags", "1.5", "--sha", sha)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: version: '1.5' is not a SemVer version")


def test_next_and_cut_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git_config(monkeypatch, tmp_path / "home")
    repo = GitRepo.init(tmp_path / "svc")
    repo.commit("feat: first", {"package.json": '{\n  "version": "0.0.0"\n}\n'})
    assert relman("version", "next", cwd=repo.path).stdout == "0.1.0\n"
    # stdin is not a terminal here, so cut asks nothing and needs its flags
    refused = relman("version", "cut", cwd=repo.path)
    assert refused.returncode == 2
    assert "choose the bump" in refused.stderr
    cut = relman("version", "cut", "--bump", "auto", cwd=repo.path)
    assert cut.returncode == 0, cut.stderr
    assert repo.tags() == ["v0.1.0"]
    assert repo.read("package.json") == '{\n  "version": "0.1.0"\n}\n'
    again = relman("version", "cut", "--version", "0.1.0", cwd=repo.path)
    assert again.returncode == 2
    assert again.stderr == "error: tag v0.1.0 already exists\n"


def test_init_github_process(tmp_path: Path) -> None:
    result = relman("init", "github", "--service", "svc", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".github" / "workflows" / "ci.yml").is_file()
    again = relman("init", "github", cwd=tmp_path)
    assert again.returncode == 2
    assert "use --force to overwrite" in again.stderr
