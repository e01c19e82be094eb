"""Git branch names a developer deploy accepts (seed 003 "on-push-in-work-branch").

:func:`validate_branch` applies the rules of ``git check-ref-format --branch`` in pure Python
(no git needed), plus relman's own: no name that looks like a command-line option. A branch
name reaches ``git`` only as part of a ref (``refs/remotes/origin/<name>``), never as a bare
argument, but it also names the deploy log file and shows in messages, so it is checked
before anything runs.
"""

from __future__ import annotations

from relman.domain.errors import InvalidInput

#: Longest branch name accepted, in characters (git has no limit; file names do).
MAX_BRANCH_LENGTH = 200

#: Characters ``git check-ref-format`` refuses anywhere in a ref name.
_FORBIDDEN = frozenset(" ~^:?*[\\\x7f")


def branch_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable branch name, or ``None`` when it is.

    The rules of ``git check-ref-format --branch`` (``git help check-ref-format``): no
    component starting with ``.`` or ending with ``.lock``; no ``..``; no control
    characters, space, ``~ ^ : ? * [ \\``; no leading, trailing or doubled ``/``; no
    trailing ``.``; no ``@{``; not ``@`` and not ``HEAD``. relman also refuses a leading
    ``-`` (an option to git) and names longer than :data:`MAX_BRANCH_LENGTH` characters.
    """
    if not name:
        return "empty"
    if len(name) > MAX_BRANCH_LENGTH:
        return f"longer than {MAX_BRANCH_LENGTH} characters"
    if name.startswith("-"):
        return "starts with '-' (it would read as an option)"
    if name in ("@", "HEAD"):
        return f"{name!r} is not a branch name"
    bad = sorted({c for c in name if c in _FORBIDDEN or ord(c) < 0x20})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"contains characters git does not allow in a ref ({shown})"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has a leading, trailing or doubled '/'"
    if ".." in name:
        return "contains '..'"
    if "@{" in name:
        return "contains '@{'"
    if name.endswith("."):
        return "ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return f"component {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"component {component!r} ends with '.lock'"
    return None


def validate_branch(name: str, *, field: str = "branch") -> str:
    """Return the branch name to deploy, or raise :class:`InvalidInput` naming ``field``.

    A leading ``refs/heads/`` (as in ``GITHUB_REF``) is removed first; the rest must pass
    :func:`branch_problem`.
    """
    branch = name.removeprefix("refs/heads/")
    problem = branch_problem(branch)
    if problem is not None:
        raise InvalidInput(field, f"{name!r} is not a valid branch name: {problem}")
    return branch


def docker_tag(value: str) -> str:
    """``value`` as a Docker image tag: ``[A-Za-z0-9_.-]``, first character not ``.``/``-``,
    at most 128 characters (``feature/login`` → ``feature-login``)."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "-" for c in value)
    cleaned = cleaned.lstrip(".-") or "branch"
    return cleaned[:128]
