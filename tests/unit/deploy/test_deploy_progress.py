"""Live progress reports and the result's git sha, as data (no deploy runs here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from relman.cli.deploy import ProgressView
from relman.deploy import DeployResult, HostResult
from relman.deploy.log import DeployLog
from relman.deploy.progress import HostProgress, Progress
from relman.deploy.redact import Redactor


class Clock:
    """A hand-moved monotonic clock (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_host_progress_reports_steps_messages_and_the_end_redacted() -> None:
    seen: list[Progress] = []
    clock = Clock()
    progress = HostProgress(
        seen.append,
        "web1",
        kind="deploy",
        ref="v1.2.3",
        ref_type="tag",
        redactor=Redactor(["hunter2-secret"]),
        clock=clock,
    )
    clock.now += 1.5
    progress.step("fetch", "📥 Получаем обновления")
    progress.say("📥 Получаем обновления")  # the same line again: not reported twice
    clock.now += 2.0
    progress.say("password hunter2-secret leaked?")
    progress.step("restart")
    clock.now += 0.5
    progress.finish(False, "❌ boom on web1")
    assert [(p.step, p.message, p.elapsed, p.state) for p in seen] == [
        ("fetch", "📥 Получаем обновления", 1.5, "running"),
        ("fetch", "password *** leaked?", 3.5, "running"),
        ("restart", "password *** leaked?", 3.5, "running"),
        ("done", "❌ boom on web1", 4.0, "failed"),
    ]
    assert all(p.host == "web1" and p.ref == "v1.2.3" and p.kind == "deploy" for p in seen)
    assert seen[-1].done and not seen[0].done


def test_a_raising_callback_is_ignored() -> None:
    def broken(_report: Progress) -> None:
        raise RuntimeError("display bug")

    progress = HostProgress(
        broken, "web1", kind="rollback", ref="v1.0.0", ref_type="tag", redactor=Redactor()
    )
    progress.step("lock")
    progress.finish(True, "ok")  # no exception


def test_deploy_log_forwards_host_messages_not_output(tmp_path: Path) -> None:
    heard: list[tuple[str, str]] = []
    log = DeployLog(
        tmp_path / "x.log",
        Redactor(["s3cret-value"]),
        multi_host=True,
        on_message=lambda host, text: heard.append((host, text)),
    )
    log.message("🚀 start")  # not about one host
    log.message("token s3cret-value", "web1")
    log.output("remote line", "web1")
    log.close()
    assert heard == [("web1", "token ***")]
    assert "[web1] token ***" in (tmp_path / "x.log").read_text()


def test_progress_view_counts_running_hosts_and_freezes_finished_ones() -> None:
    clock = Clock()
    view = ProgressView("deploying hello v1.2.3 to stage", clock=clock)
    view.update(Progress("web1", "fetch", "📥", 1.0, ref="v1.2.3"))
    view.update(Progress("web2", "done", "✅", 2.0, state="ok", ref="v1.2.3"))
    clock.now += 3.0
    assert view.elapsed("web1") == 4.0
    assert view.elapsed("web2") == 2.0
    table = view.table()
    assert [c.header for c in table.columns] == ["host", "what", "step", "seconds", "latest"]
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    assert cells[0] == ["web1", "web2"]
    assert cells[1] == ["deploy v1.2.3", "deploy v1.2.3"]
    assert cells[2] == ["fetch", "ok"]
    assert cells[3] == ["4.0", "2.0"]


def _result(*shas: str | None) -> DeployResult:
    now = datetime(2024, 3, 15, tzinfo=UTC)
    hosts = {f"h{i}": HostResult(host=f"h{i}", target_sha=sha) for i, sha in enumerate(shas)}
    return DeployResult(
        ok=True,
        kind="deploy",
        service="hello",
        tag="v1.2.3",
        environment="stage",
        actor="cli:alice",
        deploy_id="x",
        started_at=now,
        finished_at=now,
        hosts=hosts,
        log_path=None,
        evidence_dir=None,
    )


def test_git_sha_is_the_commit_all_hosts_agree_on() -> None:
    assert _result("abc", "abc").git_sha == "abc"
    assert _result("abc", "def").git_sha is None
    assert _result("abc", None).git_sha is None
    assert _result(None).git_sha is None
    summary = _result("abc").summary()
    assert summary["git_sha"] == "abc"
    assert (summary["ref_type"], summary["branch"], summary["version"]) == ("tag", None, "1.2.3")
