"""``relman init github``: the GitHub Actions workflows of a service repository.

Seed 003 names three workflows (a push to a work branch → dev server; a ``v*`` tag →
stage and QA; QA's approval → production); seed 000 adds ``ci.yml`` with the quality
gates. The templates ship in the package (``templates/github/``) and call the
``relman ci …`` and ``relman version check-tag`` commands; only the service name is
filled in.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from relman.domain.errors import InvalidInput
from relman.versioning.errors import TargetExists

WORKFLOWS_DIR = ".github/workflows"

#: Template file → the path it is written to, relative to the repository root.
TEMPLATES = {
    "on-push-in-work-branch.yaml": f"{WORKFLOWS_DIR}/on-push-in-work-branch.yaml",
    "on-create-version-tag.yaml": f"{WORKFLOWS_DIR}/on-create-version-tag.yaml",
    "on-approve-manual-testing.yaml": f"{WORKFLOWS_DIR}/on-approve-manual-testing.yaml",
    "ci.yml": f"{WORKFLOWS_DIR}/ci.yml",
}

_PLACEHOLDER = "__RELMAN_SERVICE__"
# The name lands unquoted in YAML and in env values read by shell steps; this set is safe
# in both and covers docker compose service names.
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def render_workflows(service: str) -> dict[str, str]:
    """The workflow files for ``service``: relative path → YAML text.

    Raises :class:`InvalidInput` (field ``service``) for a name that is not letters,
    digits, ``.``, ``_`` and ``-`` (starting with a letter or digit, at most 63 chars).
    """
    if not _SERVICE_NAME.match(service):
        raise InvalidInput(
            "service",
            f"{service!r} is not a valid service name (letters, "
            "digits, '.', '_', '-'; starting with a letter or digit)",
        )
    folder = resources.files("relman.versioning").joinpath("templates", "github")
    return {
        target: folder.joinpath(name).read_text(encoding="utf-8").replace(_PLACEHOLDER, service)
        for name, target in TEMPLATES.items()
    }


def init_github(path: Path, service: str | None = None, force: bool = False) -> list[Path]:
    """Write the workflows into the repository at ``path``; returns the written files.

    ``service`` defaults to the directory's name. Without ``force`` nothing is written if
    any target exists (:class:`TargetExists` lists them); with it they are overwritten.
    Raises :class:`InvalidInput` when ``path`` is not a directory, the name is invalid or
    a file cannot be written (e.g. ``.github`` is a file).
    """
    if not path.is_dir():
        raise InvalidInput("path", f"{path} is not a directory")
    root = path.resolve()
    files = render_workflows(service if service is not None else root.name)
    targets = {root / relative: text for relative, text in files.items()}
    existing = [target for target in targets if target.exists()]
    if existing and not force:
        shown = ", ".join(str(target.relative_to(root)) for target in existing)
        raise TargetExists(f"{shown} already exist(s); use --force to overwrite")
    written = []
    for target, text in targets.items():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                "path", f"cannot write {exc.filename or target}: {exc.strerror or exc}"
            ) from None
        written.append(target)
    return written
