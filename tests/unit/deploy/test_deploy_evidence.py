"""Evidence folders: layout, redaction, and SHA256SUMS that ``sha256sum -c`` accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relman.deploy.evidence import Evidence, iso, redact_data, stamp, verify_sums
from relman.deploy.redact import Redactor

STARTED = datetime(2024, 3, 15, 14, 30, 0, tzinfo=UTC)


def make(tmp_path: Path, redactor: Redactor | None = None) -> Evidence:
    return Evidence(
        tmp_path,
        service="hello",
        environment="dev:alice",
        tag="v1.0.0",
        started=STARTED,
        redactor=redactor or Redactor(),
    )


def test_folder_layout_is_unique_per_deploy(tmp_path: Path) -> None:
    first, second = make(tmp_path), make(tmp_path)
    assert first.dir == tmp_path / "hello" / "dev_alice" / "v1.0.0-20240315T143000Z"
    assert second.dir == tmp_path / "hello" / "dev_alice" / "v1.0.0-20240315T143000Z-2"
    assert stamp(STARTED) == "20240315T143000Z"
    assert iso(STARTED) == "2024-03-15T14:30:00Z"


def test_step_logs_summary_and_sums_verify_with_sha256sum(tmp_path: Path) -> None:
    evidence = make(tmp_path, Redactor(["p4ssw0rd!"]))
    log = evidence.step_log("web1", "fetch")
    log.write("$ git fetch origin --tags --force")
    log.write("remote said p4ssw0rd!")
    log.close()
    evidence.write_json("summary.json", {"ok": True, "error": "login p4ssw0rd! refused"})
    evidence.write_text("deploy.log", "line\n")
    sums = evidence.seal()
    listed = sums.read_text().splitlines()
    assert [line.split("  ", 1)[1] for line in listed] == [
        "deploy.log",
        "summary.json",
        "web1/step_fetch.log",
    ]
    assert verify_sums(evidence.dir) == []
    step_text = (evidence.dir / "web1" / "step_fetch.log").read_text()
    assert "p4ssw0rd!" not in step_text and "remote said ***" in step_text
    summary = json.loads((evidence.dir / "summary.json").read_text())
    assert summary == {"ok": True, "error": "login *** refused"}
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    checked = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"],
        cwd=evidence.dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_tampering_is_detected(tmp_path: Path) -> None:
    evidence = make(tmp_path)
    evidence.write_text("deploy.log", "original\n")
    evidence.seal()
    (evidence.dir / "deploy.log").write_text("edited\n")
    (evidence.dir / "extra.txt").write_text("sneaked in\n")
    assert sorted(verify_sums(evidence.dir)) == [
        "deploy.log: sha256 mismatch",
        "extra.txt: not listed",
    ]


def test_redact_data_walks_nested_values() -> None:
    redactor = Redactor(["tok-abc"])
    data = {"a": ["x tok-abc", {"b": "tok-abc"}], "n": 3, "none": None}
    assert redact_data(data, redactor) == {"a": ["x ***", {"b": "***"}], "n": 3, "none": None}
