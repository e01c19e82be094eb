"""Build the sample git repository of hello-service that the demo and the tests deploy.

:func:`build_sample_repo` turns the one copy of the service's sources
(``examples/hello-service`` in the relman checkout, found by :func:`hello_service_source`)
into a bare repository ``<dest>/hello.git`` -- the "origin" hosts clone and fetch from --
with one commit and one annotated tag per release:

========  =========  ====================================================
tag       VERSION    behaviour
========  =========  ====================================================
v1.0.0    1.0.0      healthy: ``/health`` is 200 and reports 1.0.0
v1.1.0    1.1.0      healthy: ``/health`` is 200 and reports 1.1.0
v1.2.0    1.2.0      broken on purpose: ``/health`` answers 500
========  =========  ====================================================

The broken release is a code change (``HEALTHY = True`` becomes ``HEALTHY = False`` in
``hello_service.py``), so a deploy of it starts fine and then fails its health check on the
HTTP status. Commit and tag dates are fixed, so the same sources always give the same shas.

Only the ``git`` command line is used (argument lists, no shell); the user's and the
system's git configuration are ignored so that signing or hooks settings cannot interfere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from relman.domain.errors import ConfigError, Conflict, RelmanError

#: Environment variable that points at a hello-service source directory explicitly.
SOURCE_ENV = "RELMAN_HELLO_SERVICE_DIR"

#: Files copied from the source directory into the repository (all must exist there).
SOURCE_FILES: tuple[str, ...] = (
    "hello_service.py",
    "start.sh",
    "stop.sh",
    "VERSION",
    "README.md",
    ".gitignore",
)
_EXECUTABLE = ("hello_service.py", "start.sh", "stop.sh")

_HEALTHY_LINE = "HEALTHY = True\n"
_BROKEN_LINE = "HEALTHY = False\n"

_GIT_TIMEOUT = 60.0  # seconds, per git command
_AUTHOR_NAME = "relman demo"
_AUTHOR_EMAIL = "demo@relman.invalid"


@dataclass(frozen=True)
class _Release:
    tag: str
    version: str
    healthy: bool
    date: str  # ISO 8601, used as author, committer and tagger date
    message: str


_RELEASES: tuple[_Release, ...] = (
    _Release(
        "v1.0.0",
        "1.0.0",
        True,
        "2024-03-15T14:30:00+00:00",
        "feat: hello-service with /health and /metrics",
    ),
    _Release("v1.1.0", "1.1.0", True, "2024-03-22T14:30:00+00:00", "feat: hello-service 1.1.0"),
    _Release(
        "v1.2.0",
        "1.2.0",
        False,
        "2024-03-29T14:30:00+00:00",
        "feat: hello-service 1.2.0 (health check broken on purpose)",
    ),
)


class SampleRepoError(RelmanError):
    """A git command failed while the sample repository was being built."""

    code = "sample_repo_error"


@dataclass(frozen=True)
class SampleRepo:
    """The result of :func:`build_sample_repo`.

    Attributes:
        path: the bare repository (``<dest>/hello.git``); usable as a git remote URL as is.
        tags: the release tags, oldest first (``v1.0.0``, ``v1.1.0``, ``v1.2.0``).
        commits: tag -> full sha of the commit the tag points to.
        versions: tag -> the version its ``VERSION`` file and ``/health`` report.
        healthy_tags: the tags whose ``/health`` answers 200.
        broken_tags: the tags whose ``/health`` answers 500.
        branch: the branch the repository's HEAD points to (its tip is the newest tag).
    """

    path: Path
    tags: tuple[str, ...]
    commits: Mapping[str, str] = field(hash=False)
    versions: Mapping[str, str] = field(hash=False)
    healthy_tags: tuple[str, ...]
    broken_tags: tuple[str, ...]
    branch: str = "main"

    @property
    def url(self) -> str:
        """The repository as a git remote URL (its absolute path)."""
        return str(self.path)


def hello_service_source() -> Path:
    """Find the hello-service source directory (the one copy of its files).

    Looks, in order, at ``$RELMAN_HELLO_SERVICE_DIR``, at ``examples/hello-service`` in the
    relman checkout this module runs from (an editable install: ``src/relman/demo`` ->
    three levels up), and at ``examples/hello-service`` under the current directory.

    Returns:
        The absolute path of a directory holding every file in :data:`SOURCE_FILES`.

    Raises:
        ConfigError: no candidate holds the files (the message lists where it looked), or
            ``$RELMAN_HELLO_SERVICE_DIR`` is set to a directory that does not.
    """
    explicit = os.environ.get(SOURCE_ENV, "").strip()
    if explicit:
        candidate = Path(explicit).expanduser().resolve()
        missing = _missing_files(candidate)
        if missing:
            raise ConfigError(
                f"{SOURCE_ENV}={candidate} is not a hello-service source directory "
                f"(missing: {', '.join(missing)})",
                path=str(candidate),
                missing=missing,
            )
        return candidate

    candidates: list[Path] = []
    here = Path(__file__).resolve()
    if len(here.parents) > 3:
        candidates.append(here.parents[3] / "examples" / "hello-service")
    candidates.append(Path.cwd().resolve() / "examples" / "hello-service")
    for candidate in candidates:
        if not _missing_files(candidate):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        "cannot find the hello-service sources (examples/hello-service); looked in "
        f"{looked}. Run from a relman checkout or set {SOURCE_ENV} to the directory.",
        looked_in=[str(c) for c in candidates],
    )


def build_sample_repo(dest: Path, *, source: Path | None = None) -> SampleRepo:
    """Create the bare sample repository ``dest/hello.git`` with tags v1.0.0, v1.1.0, v1.2.0.

    Args:
        dest: a directory (created if missing) to put ``hello.git`` in. A scratch working
            tree is used in a temporary directory and removed afterwards.
        source: the hello-service source directory; default :func:`hello_service_source`.

    Returns:
        A :class:`SampleRepo` describing the repository, its tags and their commits.

    Raises:
        ConfigError: the sources cannot be found or lack a file, the ``git`` executable is
            missing, or ``hello_service.py`` has no ``HEALTHY = True`` line to break.
        Conflict: ``dest/hello.git`` already exists (it is never overwritten).
        SampleRepoError: a git command failed or timed out (the message has its stderr).
    """
    src = (source if source is not None else hello_service_source()).resolve()
    missing = _missing_files(src)
    if missing:
        raise ConfigError(
            f"{src} is not a hello-service source directory (missing: {', '.join(missing)})",
            path=str(src),
            missing=missing,
        )
    git = shutil.which("git")
    if git is None:
        raise ConfigError("the sample repository needs the git command line, not found on PATH")
    code = (src / "hello_service.py").read_text(encoding="utf-8")
    if code.count(_HEALTHY_LINE) != 1:
        raise ConfigError(
            f"{src / 'hello_service.py'} must contain exactly one line {_HEALTHY_LINE.strip()!r}"
            " (the switch the broken release flips)"
        )

    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    bare = dest / "hello.git"
    if bare.exists():
        raise Conflict(
            f"{bare} already exists; remove it or choose another directory", path=str(bare)
        )

    with tempfile.TemporaryDirectory(prefix="relman-sample-") as scratch:
        work = Path(scratch) / "hello"
        work.mkdir()
        _git(git, ["init", "-q", str(work)])
        for name in SOURCE_FILES:
            shutil.copyfile(src / name, work / name)
        for release in _RELEASES:
            (work / "VERSION").write_text(release.version + "\n", encoding="utf-8")
            broken = code.replace(_HEALTHY_LINE, _BROKEN_LINE)
            (work / "hello_service.py").write_text(
                code if release.healthy else broken, encoding="utf-8"
            )
            dates = {"GIT_AUTHOR_DATE": release.date, "GIT_COMMITTER_DATE": release.date}
            _git(git, ["-C", str(work), "add", "--", *SOURCE_FILES])
            _git(git, ["-C", str(work), "update-index", "--chmod=+x", "--", *_EXECUTABLE])
            _git(git, ["-C", str(work), "commit", "-q", "-m", release.message], env=dates)
            _git(
                git,
                ["-C", str(work), "tag", "-a", release.tag, "-m", f"Release {release.tag}"],
                env=dates,
            )
        _git(git, ["init", "-q", "--bare", str(bare)])
        _git(
            git,
            [
                "-C",
                str(work),
                "push",
                "-q",
                str(bare),
                "refs/heads/main:refs/heads/main",
                "refs/tags/*:refs/tags/*",
            ],
        )
    _git(git, ["-C", str(bare), "symbolic-ref", "HEAD", "refs/heads/main"])

    commits = {
        r.tag: _git(git, ["-C", str(bare), "rev-parse", f"{r.tag}^{{commit}}"]).strip()
        for r in _RELEASES
    }
    return SampleRepo(
        path=bare,
        tags=tuple(r.tag for r in _RELEASES),
        commits=MappingProxyType(commits),
        versions=MappingProxyType({r.tag: r.version for r in _RELEASES}),
        healthy_tags=tuple(r.tag for r in _RELEASES if r.healthy),
        broken_tags=tuple(r.tag for r in _RELEASES if not r.healthy),
    )


def _missing_files(directory: Path) -> list[str]:
    return [name for name in SOURCE_FILES if not (directory / name).is_file()]


def _git_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """A clean environment for git: no GIT_* from the caller, no user or system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=_AUTHOR_NAME,
        GIT_AUTHOR_EMAIL=_AUTHOR_EMAIL,
        GIT_COMMITTER_NAME=_AUTHOR_NAME,
        GIT_COMMITTER_EMAIL=_AUTHOR_EMAIL,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
    )
    if extra:
        env.update(extra)
    return env


def _git(git: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run ``git <args>`` and return its stdout; raise SampleRepoError on failure/timeout."""
    argv = [
        git,
        "-c",
        "init.defaultBranch=main",
        "-c",
        f"user.name={_AUTHOR_NAME}",
        "-c",
        f"user.email={_AUTHOR_EMAIL}",
        "-c",
        "commit.gpgSign=false",
        "-c",
        "tag.gpgSign=false",
        "-c",
        "core.autocrlf=false",
        "-c",
        "core.hooksPath=" + os.devnull,
        *args,
    ]
    shown = " ".join(["git", *args])
    try:
        done = subprocess.run(
            argv,
            env=_git_env(env),
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SampleRepoError(f"{shown}: no answer after {_GIT_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        raise SampleRepoError(
            f"{shown} failed with exit code {done.returncode}: {done.stderr.strip()}",
            returncode=done.returncode,
        )
    return done.stdout
