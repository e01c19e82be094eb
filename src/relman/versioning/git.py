"""A thin runner of the ``git`` CLI for the versioning tools: argv lists, never a shell.

Each method is one git command; parsing stays next to it. Errors become
:class:`~relman.versioning.errors.GitError` with git's own last line of stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import semver

from relman.domain.errors import InvalidInput
from relman.domain.version import is_release_tag, parse_release_tag
from relman.versioning.errors import GitError

# Names a user passes for a remote or a branch end up in argv; refusing a leading "-" keeps
# them from being read as options, and the character set matches what git itself allows
# for sane names.
_REF_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")

# What "%x1e" and "%x00" in the log format print (git writes them; argv cannot hold NUL).
_RECORD_END = "\x1e"
_FIELD_END = "\x00"


@dataclass(frozen=True)
class ReleaseTag:
    """A ``v``-SemVer tag and its version."""

    name: str
    version: semver.Version


@dataclass(frozen=True)
class RawCommit:
    """A commit as ``git log`` gives it: full sha and full message."""

    sha: str
    message: str


def check_ref_name(field: str, name: str) -> str:
    """``name`` if it is usable as a remote or branch name, else :class:`InvalidInput`."""
    if not _REF_NAME.match(name) or ".." in name or name.endswith((".", "/", ".lock")):
        raise InvalidInput(field, f"{name!r} is not a valid name")
    return name


class Git:
    """git in one repository (its top-level directory, see :meth:`open`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, path: Path) -> Git:
        """The repository containing ``path``; :class:`GitError` when there is none."""
        if not path.is_dir():
            raise GitError(f"{path} is not a directory")
        top = cls(path).run("rev-parse", "--show-toplevel", what=f"{path} is not a git repository")
        return cls(Path(top.strip()))

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        what: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run ``git <args>`` in the repository (with ``env`` added to the environment)
        and return its stdout.

        Raises :class:`GitError` when git exits non-zero: ``what`` (or ``git <subcommand>
        failed``) plus git's last line of stderr.
        """
        result = self._run(args, stdin, env)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"exit code {result.returncode}"
            raise GitError(f"{what or 'git ' + args[0] + ' failed'}: {reason}")
        return result.stdout

    def succeeds(self, *args: str) -> bool:
        """True when ``git <args>`` exits 0 (for yes/no questions such as "does it exist")."""
        return self._run(args, None).returncode == 0

    def _run(
        self, args: Sequence[str], stdin: str | None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # Never prompt for credentials: a release must fail, not hang, without them.
        full_env = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"}
        try:
            return subprocess.run(
                ["git", "-c", "core.quotepath=off", *args],
                cwd=self.root,
                input=stdin,
                capture_output=True,
                text=True,
                env=full_env,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git is not installed (no git executable on PATH)") from None

    # -- reading ---------------------------------------------------------------------

    def head(self) -> str | None:
        """The sha of HEAD, or ``None`` in a repository without commits."""
        result = self._run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], None)
        return result.stdout.strip() if result.returncode == 0 else None

    def current_branch(self) -> str | None:
        """The checked-out branch, or ``None`` on a detached HEAD."""
        result = self._run(["symbolic-ref", "--short", "-q", "HEAD"], None)
        return result.stdout.strip() if result.returncode == 0 else None

    def status(self) -> list[str]:
        """``git status --porcelain`` lines: changed, staged and untracked files (ignored
        files are not listed)."""
        out = self.run("status", "--porcelain=v1", "--untracked-files=normal")
        return [line for line in out.splitlines() if line]

    def release_tags(self) -> list[ReleaseTag]:
        """All ``v``-SemVer tags (see :func:`relman.domain.version.parse_release_tag`),
        lowest to highest by SemVer precedence; other tags are ignored."""
        names = self.run("tag", "--list", "v*").split()
        tags = [ReleaseTag(name, parse_release_tag(name)) for name in names if is_release_tag(name)]
        return sorted(tags, key=lambda tag: tag.version)

    def latest_release_tag(self) -> ReleaseTag | None:
        """The release tag with the highest SemVer precedence, or ``None``."""
        tags = self.release_tags()
        return tags[-1] if tags else None

    def branch_head(self, branch: str) -> str | None:
        """The sha local branch ``branch`` points at, ``None`` when there is no such branch."""
        result = self._run(["rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}"], None)
        return result.stdout.strip() if result.returncode == 0 else None

    def show_file(self, revision: str, path: str) -> str | None:
        """The text of ``path`` at ``revision``, ``None`` when it has no such file."""
        result = self._run(["show", f"{revision}:{path}"], None)
        return result.stdout if result.returncode == 0 else None

    def tag_exists(self, tag: str) -> bool:
        """True when the local repository has tag ``tag``."""
        return self.succeeds("rev-parse", "-q", "--verify", f"refs/tags/{tag}")

    def commits_since(self, tag: str | None) -> list[RawCommit]:
        """Commits reachable from HEAD and not from ``tag`` (all when ``tag`` is ``None``),
        newest first, merge commits left out (their "Merge branch …" subjects are not
        changes; the merged commits themselves are listed)."""
        if self.head() is None:
            return []
        revision = f"refs/tags/{tag}..HEAD" if tag else "HEAD"
        out = self.run("log", "--no-merges", "--format=%H%x00%B%x1e", revision, "--")
        commits = []
        for record in out.split(_RECORD_END):
            record = record.lstrip("\n")
            if not record:
                continue
            sha, _, message = record.partition(_FIELD_END)
            commits.append(RawCommit(sha.strip(), message))
        return commits

    def remote_url(self, remote: str) -> str | None:
        """The URL of ``remote``, or ``None`` when there is no such remote."""
        result = self._run(["remote", "get-url", "--", remote], None)
        return result.stdout.strip() if result.returncode == 0 else None

    def remote_has_tag(self, remote: str, tag: str) -> bool:
        """True when ``remote`` already has ``tag`` (asks the remote)."""
        out = self.run(
            "ls-remote", "--tags", remote, f"refs/tags/{tag}", what=f"cannot reach remote {remote}"
        )
        return bool(out.strip())

    # -- writing ---------------------------------------------------------------------

    def add(self, paths: Sequence[str]) -> None:
        """Stage ``paths`` (relative to the root)."""
        self.run("add", "--", *paths)

    def commit(self, message: str) -> str:
        """Commit the index with ``message``; returns the new HEAD sha."""
        self.run("commit", "-q", "-F", "-", stdin=message, what="git commit failed")
        head = self.head()
        assert head is not None
        return head

    def create_annotated_tag(self, tag: str, message: str) -> None:
        """Create annotated tag ``tag`` on HEAD. The message is kept as written except for
        surrounding blank lines: git's default cleanup would drop its ``#`` heading lines
        as comments."""
        self.run(
            "tag",
            "-a",
            "--cleanup=whitespace",
            "-F",
            "-",
            "--",
            tag,
            stdin=message,
            what=f"cannot create tag {tag}",
        )

    def push(self, remote: str, refspecs: Sequence[str]) -> None:
        """Push ``refspecs`` to ``remote`` atomically (all or none are updated)."""
        self.run("push", "--atomic", "-q", remote, *refspecs, what=f"git push to {remote} failed")

    def commit_on_branch(
        self, branch: str, parent: str, files: Mapping[str, str], message: str
    ) -> str:
        """Commit ``files`` (path → text) on top of ``parent`` and move local ``branch`` to
        it — only if it still points at ``parent`` — without touching the working tree or
        the index (a temporary index file); returns the new commit's sha. Raises
        :class:`GitError` when git refuses (e.g. the branch moved)."""
        with tempfile.TemporaryDirectory() as folder:
            env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
            self.run("read-tree", parent, env=env)
            for path, text in files.items():
                blob = self.run("hash-object", "-w", "--stdin", stdin=text).strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.run("write-tree", env=env).strip()
        commit = self.run("commit-tree", tree, "-p", parent, stdin=message).strip()
        self.run(
            "update-ref",
            f"refs/heads/{branch}",
            commit,
            parent,
            what=f"cannot move branch {branch}",
        )
        return commit

    def unstage(self, paths: Sequence[str]) -> None:
        """Take ``paths`` out of the index again (back to HEAD's state)."""
        self.run("reset", "-q", "--", *paths)

    def reset_soft(self, revision: str) -> None:
        """Move the branch back to ``revision``, keeping the index and the files."""
        self.run("reset", "-q", "--soft", revision)
