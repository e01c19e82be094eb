"""Errors of the versioning tools; all are :class:`~relman.domain.errors.RelmanError` kinds.

The CLI turns each into a one-line message and exit code 2 (``relman.cli._common.fail``).
"""

from __future__ import annotations

from relman.domain.errors import ConfigError, Conflict, RelmanError


class GitError(RelmanError):
    """A git command failed, or the directory is not a git repository.

    The message names the git subcommand and git's own last line of stderr, never the
    environment (which may hold credentials for a remote).
    """

    code = "git_error"


class ReleaseRefused(Conflict):
    """A check before cutting a release failed, so nothing was written (seed 004's
    release script refusing a dirty tree, an existing tag, a version going backwards, a
    release off the release branch)."""

    code = "release_refused"


class PushFailed(GitError):
    """The release commit and tag exist locally but pushing them to the remote failed."""

    code = "push_failed"


class VersionFileError(ConfigError):
    """A version file (``pyproject.toml``, ``package.json``) cannot be read or updated."""

    code = "version_file"


class TargetExists(Conflict):
    """``relman init`` would overwrite existing files and ``--force`` was not given."""

    code = "target_exists"
