"""Evidence of one deploy (seed 001 §5 "Evidence policy"; DESIGN.md §4).

A folder ``<evidence_root>/<service>/<environment>/<tag>-<UTC timestamp>/`` holding:

* ``<host>/step_<name>.log`` — the command, its output and exit status, per step and host
  (seed 001: "RAW: логи шагов");
* ``<host>/backup_manifest.json`` — the backup's manifest when one was taken;
* ``deploy.log`` — this deploy's lines of the seed-format deploy log;
* ``summary.json`` — the outcome (seed 001: "итог релиза (ok, время, версии, git head)");
* ``SHA256SUMS`` — ``sha256sum`` lines over every other file, checkable with
  ``sha256sum -c SHA256SUMS`` (seed 001: "DIGEST").

Everything written here has passed the deploy's redactor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from relman.deploy.log import safe_name
from relman.deploy.redact import Redactor

SUMS_NAME = "SHA256SUMS"


def stamp(when: datetime) -> str:
    """A compact UTC timestamp for folder names: ``20240315T143000Z``."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def iso(when: datetime) -> str:
    """ISO-8601 UTC with a ``Z``: ``2024-03-15T14:30:00.123456Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def redact_data(value: Any, redactor: Redactor) -> Any:
    """``value`` (JSON-like data) with every string passed through ``redactor``."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, Mapping):
        return {str(k): redact_data(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, redactor) for v in value]
    return value


class StepLog:
    """An open ``step_<name>.log``; lines are redacted and flushed as they arrive."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._redactor = redactor
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._file.write(self._redactor(line) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Evidence:
    """The evidence folder of one deploy; created (uniquely) on construction."""

    def __init__(
        self,
        root: Path,
        *,
        service: str,
        environment: str,
        tag: str,
        started: datetime,
        redactor: Redactor,
    ) -> None:
        base = root / safe_name(service) / safe_name(environment)
        base.mkdir(parents=True, exist_ok=True)
        name = f"{safe_name(tag)}-{stamp(started)}"
        suffix = 1
        while True:
            candidate = base / (name if suffix == 1 else f"{name}-{suffix}")
            try:
                candidate.mkdir()
            except FileExistsError:
                suffix += 1
                continue
            break
        self.dir = candidate
        self.redactor = redactor

    def step_log(self, host: str, step: str) -> StepLog:
        """Open (append) ``<host>/step_<step>.log``."""
        return StepLog(self.dir / safe_name(host) / f"step_{safe_name(step)}.log", self.redactor)

    def write_text(self, relative: str, text: str) -> Path:
        """Write a redacted text file at ``relative`` inside the folder."""
        path = self.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.redactor(text), encoding="utf-8")
        return path

    def write_json(self, relative: str, data: Mapping[str, Any]) -> Path:
        """Write redacted JSON (UTF-8, indented, sorted keys) at ``relative``."""
        text = json.dumps(
            redact_data(data, self.redactor), ensure_ascii=False, indent=2, sort_keys=True
        )
        path = self.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def seal(self) -> Path:
        """Write ``SHA256SUMS`` over every other file (sorted relative POSIX paths)."""
        return write_sums(self.dir)


def write_sums(folder: Path) -> Path:
    """Write ``folder/SHA256SUMS`` in ``sha256sum`` format over every other file in it
    (recursively); returns its path."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == SUMS_NAME:
            continue
        lines.append(f"{sha256_file(path)}  {relative}\n")
    target = folder / SUMS_NAME
    target.write_text("".join(lines), encoding="utf-8")
    return target


def verify_sums(folder: Path) -> list[str]:
    """Check ``folder/SHA256SUMS``; returns the problems (empty when every file matches and
    no file is unlisted)."""
    problems = []
    listed = set()
    for line in (folder / SUMS_NAME).read_text(encoding="utf-8").splitlines():
        digest, _, relative = line.partition("  ")
        listed.add(relative)
        path = folder / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{relative}: sha256 mismatch")
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != SUMS_NAME and relative not in listed:
            problems.append(f"{relative}: not listed")
    return problems


def evidence_digest(folder: Path | None) -> str:
    """``sha256:<hex>`` of ``folder/SHA256SUMS`` — one value that pins every evidence file
    of a deploy (what the server records for a runner's artifact) — or ``""`` when there
    is no sealed evidence."""
    if folder is None or not (folder / SUMS_NAME).is_file():
        return ""
    return f"sha256:{sha256_file(folder / SUMS_NAME)}"
