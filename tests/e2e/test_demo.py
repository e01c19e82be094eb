"""`relman demo` as a user runs it: the README's first command (issue "pipeline" item 8)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_serve import relman


def test_demo_runs_the_whole_lifecycle_and_leaves_its_evidence(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = relman(["demo", "--dir", str(folder)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "production answers" in out and "version 1.0.0" in out and "version 1.1.0" in out
    assert "staging_failed" in out and "rollback_done" in out and "demo done in" in out

    with sqlite3.connect(folder / "relman.db") as db:
        statuses = dict(db.execute("SELECT release_tag, status FROM releases").fetchall())
        events = db.execute("SELECT COUNT(*) FROM release_events").fetchone()[0]
    assert statuses == {
        "v1.0.0": "deployed",
        "v1.1.0": "rollback_done",
        "v1.2.0": "staging_failed",
    }
    assert events == 7 + 9 + 4
    for log in (
        "hello/v1.0.0.log",
        "hello/v1.2.0.log",
        "production/hello/v1.1.0-prod.log",
        "rollback/hello/v1.0.0-rollback.log",
    ):
        assert (folder / "logs" / log).is_file(), log
    assert len(list((folder / "evidence").rglob("SHA256SUMS"))) >= 6
    # No hello-service instance is left running, and the demo can run again in place.
    assert not list(folder.glob("hosts/*/hello/.hello.pid"))
    again = relman(["demo", "--dir", str(folder)], cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = relman(["demo", "--dir", str(tmp_path)], cwd=tmp_path)
    assert done.returncode == 2
    assert "not a relman demo folder" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
