"""Temporary git repositories for tests, driven through the real ``git`` CLI.

Generic on purpose (init, write files, commit, tag, branch, bare remotes) so any test can
build the history it needs. Each repository sets its own ``user.name``/``user.email`` and
starts on ``main``. Call :func:`isolate_git_config` in a fixture first so a developer's
global git config (signing, hooks, templates) cannot leak into the test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def isolate_git_config(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make every git process of the test (ours and the code's) ignore the user's and the
    system's git configuration."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "gitconfig"
    config.touch()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(home))


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``git <args>`` in ``cwd``; returns stdout, raises on a non-zero exit."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


class GitRepo:
    """A working repository at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> GitRepo:
        """A new repository at ``path`` (created if needed) on branch ``branch``."""
        path.mkdir(parents=True, exist_ok=True)
        git(path, "-c", f"init.defaultBranch={branch}", "init", "-q")
        git(path, "config", "user.name", "Test Author")
        git(path, "config", "user.email", "author@example.com")
        git(path, "config", "commit.gpgsign", "false")
        git(path, "config", "tag.gpgsign", "false")
        return cls(path)

    def git(self, *args: str, stdin: str | None = None) -> str:
        return git(self.path, *args, stdin=stdin)

    def write(self, relative: str, text: str) -> Path:
        """Write ``text`` to ``relative`` (exactly, no newline translation)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        return target

    def read(self, relative: str) -> str:
        with (self.path / relative).open(encoding="utf-8", newline="") as handle:
            return handle.read()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        """Write ``files``, stage everything and commit with ``message`` (empty commits
        allowed); returns the new sha."""
        for relative, text in (files or {}).items():
            self.write(relative, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-F", "-", stdin=message)
        return self.head()

    def tag(self, name: str, message: str | None = None) -> None:
        """Tag HEAD: annotated with ``message``, lightweight without."""
        if message is None:
            self.git("tag", name)
        else:
            self.git("tag", "-a", name, "-m", message)

    def checkout(self, branch: str, *, create: bool = False) -> None:
        self.git("checkout", "-q", *(["-b"] if create else []), branch)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def tags(self) -> list[str]:
        return self.git("tag", "--list").split()

    def tag_message(self, name: str) -> str:
        """The full message of annotated tag ``name``."""
        out = self.git("for-each-ref", f"refs/tags/{name}", "--format=%(contents)")
        return out.removesuffix("\n")  # for-each-ref ends each record with a newline

    def subject(self, revision: str = "HEAD") -> str:
        return self.git("log", "-1", "--format=%s", revision).strip()

    def status(self) -> str:
        return self.git("status", "--porcelain")

    def add_remote(self, name: str, url: Path) -> None:
        self.git("remote", "add", name, str(url))


def init_bare(path: Path, branch: str = "main") -> Path:
    """A bare repository at ``path`` (a local "remote")."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "-c", f"init.defaultBranch={branch}", "init", "-q", "--bare")
    return path
