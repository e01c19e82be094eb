"""The deploy engine over the local transport, deploying the real sample repository.

hello-service is started by its own ``start.sh`` from the checkout the engine made and is
checked over HTTP; nothing here is faked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest
from deploy_support import (
    dead_pid,
    files_containing,
    git_branches,
    git_head,
    hello_service,
    host_file,
    messages,
    plant_lock,
    served_version,
    sha256sum_check,
    wait_for,
)
from pydantic import SecretStr

from relman.config import Host, Service
from relman.demo.sample_repo import SampleRepo
from relman.deploy import (
    DeployRequest,
    DeployResult,
    deploy,
    lock_status,
    release_lock,
)
from relman.deploy.errors import LockHeld
from relman.deploy.log import LINE_RE
from tests.support.hello import ServiceReaper
from tests.support.sshd import free_port


class Box:
    """One local "host": its root folder, the service config, where logs go."""

    def __init__(
        self, tmp_path: Path, repo: SampleRepo, reaper: ServiceReaper, **service: object
    ) -> None:
        self.tmp = tmp_path
        self.port = free_port("127.0.0.1")
        self.root = tmp_path / "host"
        self.host = Host(transport="local", address="127.0.0.1", root=str(self.root))
        self.service: Service = hello_service(repo, self.port, **service)
        self.workdir = self.root / "hello"
        self.logs = tmp_path / "logs"
        self.evidence = tmp_path / "evidence"
        reaper.watch(self.workdir)

    def request(self, tag: str, **extra: object) -> DeployRequest:
        values: dict[str, object] = {
            "service_name": "hello",
            "service": self.service,
            "tag": tag,
            "environment": "stage",
            "hosts": {"box": self.host},
            "actor": "cli:alice",
            "log_root": self.logs,
            "evidence_root": self.evidence,
        }
        values.update(extra)
        return DeployRequest(**values)  # type: ignore[arg-type]

    async def deploy(self, tag: str, **extra: object) -> DeployResult:
        return await deploy(self.request(tag, **extra))

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"


@pytest.fixture
def box(tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper) -> Box:
    return Box(tmp_path, sample_repo, service_reaper)


async def test_first_deploy_and_upgrade_serve_the_new_version(
    box: Box, sample_repo: SampleRepo
) -> None:
    first = await box.deploy("v1.0.0")
    assert first.ok, first.error
    assert await served_version(box.health_url) == "1.0.0"
    host = first.hosts["box"]
    assert (host.version_before, host.sha_before) == (None, None)
    assert host.version_after == "v1.0.0"
    assert host.sha_after == sample_repo.commits["v1.0.0"] == git_head(box.workdir)
    assert host.changed and not host.migrated and host.backup is None
    assert host.health is not None and host.health.ok

    second = await box.deploy("v1.1.0")
    assert second.ok, second.error
    assert await served_version(box.health_url) == "1.1.0"
    upgraded = second.hosts["box"]
    assert upgraded.version_before == "v1.0.0"
    assert upgraded.sha_before == sample_repo.commits["v1.0.0"]
    assert upgraded.sha_after == sample_repo.commits["v1.1.0"] == git_head(box.workdir)
    # clean old branches: only tags are left on the host
    assert git_branches(box.workdir) == []

    # the seed's log, in the seed's order (seed 003 "Пример лога деплоя")
    log = box.logs / "hello" / "v1.1.0.log"
    assert second.log_path == log
    lines = log.read_text(encoding="utf-8").splitlines()
    assert all(LINE_RE.match(line) for line in lines)
    said = messages(lines)
    expected = [
        "🚀 Начинаем деплой тега v1.1.0",
        "📥 Обновляем репозиторий и теги",
        "🔍 Текущее состояние: v1.0.0",
        "📥 Получаем обновления из удаленного репозитория",
        "✅ Тег v1.1.0 найден и готов к использованию",
        "🏷️ Переключаемся на тег v1.1.0",
        "🧹 Очищаем старые ветки",
        "🔨 Перезапускаем сервис для тега v1.1.0...",
        "🔍 Проверка health (попытка 1 из 60)...",
        "✅ Health check пройден!",
        "✅ Тег v1.1.0 успешно развернут и приложение работает!",
    ]
    positions = [said.index(m) for m in expected]
    assert positions == sorted(positions)
    assert any("hello-service started" in m for m in said)  # remote output, streamed

    # evidence (seed 001 §5)
    folder = second.evidence_dir
    assert folder is not None and folder.parent == box.evidence / "hello" / "stage"
    assert folder.name.startswith("v1.1.0-")
    for step in (
        "lock",
        "preflight_status",
        "fetch",
        "verify_tag",
        "checkout",
        "restart",
        "health",
        "unlock",
    ):
        assert (folder / "box" / f"step_{step}.log").is_file(), step
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] is True and summary["kind"] == "deploy"
    assert summary["service"] == "hello" and summary["tag"] == "v1.1.0"
    assert summary["environment"] == "stage" and summary["actor"] == "cli:alice"
    assert summary["hosts"] == ["box"]
    result = summary["results"]["box"]
    assert result["version_before"] == "v1.0.0" and result["version_after"] == "v1.1.0"
    assert result["sha_after"] == sample_repo.commits["v1.1.0"]
    assert {s["name"] for s in result["steps"]} >= {"lock", "fetch", "checkout", "health"}
    assert all(s["duration_seconds"] >= 0 for s in result["steps"])
    assert summary["started_at"].endswith("Z") and summary["duration_seconds"] > 0
    checked = sha256sum_check(folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "summary.json: OK" in checked.stdout


async def test_broken_release_fails_its_health_check_naming_the_host(box: Box) -> None:
    assert (await box.deploy("v1.0.0")).ok
    box.service = box.service.model_copy(
        update={"health": box.service.health.model_copy(update={"attempts": 5})}
    )
    result = await box.deploy("v1.2.0")
    assert not result.ok
    assert result.failed_hosts == ["box"]
    host = result.hosts["box"]
    assert host.error_code == "health_check_failed"
    assert host.error is not None
    assert "Health check не пройден после 5 попыток" in host.error and "box" in host.error
    assert "HTTP 500" in host.error
    assert host.changed and host.version_after == "v1.2.0"  # the caller must roll back
    assert any("starting hello-service 1.2.0" in line for line in host.service_log)
    said = messages((box.logs / "hello" / "v1.2.0.log").read_text().splitlines())
    assert "❌ Health check не пройден после 5 попыток" in said
    assert "📋 Последние строки лога сервиса:" in said


async def test_missing_tag_is_the_seeds_error_and_changes_nothing(box: Box) -> None:
    assert (await box.deploy("v1.0.0")).ok
    before = git_head(box.workdir)
    result = await box.deploy("v9.9.9")
    assert not result.ok
    host = result.hosts["box"]
    assert host.error == "❌ Тег v9.9.9 не найден в репозитории после обновления!"
    assert host.error_code == "tag_not_found"
    assert not host.changed and host.version_after == "v1.0.0"
    assert git_head(box.workdir) == before
    assert await served_version(box.health_url) == "1.0.0"
    said = messages((box.logs / "hello" / "v9.9.9.log").read_text().splitlines())
    assert "❌ Тег v9.9.9 не найден в репозитории после обновления!" in said
    assert not any(m.startswith("🏷️") for m in said)
    state = await lock_status(box.host, box.service, host_name="box", service_name="hello")
    assert not state.held  # unlocked after the failure too


async def test_a_second_deploy_is_refused_while_the_first_holds_the_lock(box: Box) -> None:
    gate = box.tmp / "gate"
    # the first deploy's restart waits for the gate, so it holds the lock meanwhile
    box.service = box.service.model_copy(
        update={
            "start_command": [
                "sh",
                "-c",
                'while [ ! -e "$1" ]; do sleep 0.02; done; exec sh start.sh',
                "sh",
                str(gate),
            ]
        }
    )
    first = asyncio.create_task(box.deploy("v1.0.0", actor="tg:42 Alice"))
    details = box.root / ".relman-hello" / "lock" / "details.json"
    await wait_for(lambda: details.is_file() and details.stat().st_size > 0, "the first lock")
    second = await box.deploy("v1.1.0", actor="cli:bob")
    gate.touch()
    first_result = await first
    assert first_result.ok, first_result.error
    assert not second.ok
    refused = second.hosts["box"]
    assert refused.error_code == "lock_held"
    assert refused.error is not None
    assert "locked by tg:42 Alice since" in refused.error and "tag v1.0.0" in refused.error
    assert f"pid {os.getpid()}" in refused.error
    assert not refused.changed and not refused.lock_acquired
    assert await served_version(box.health_url) == "1.0.0"
    assert not details.exists()


async def test_a_stale_lock_is_reported_and_can_be_released(box: Box) -> None:
    dead = dead_pid()
    lock_dir = box.root / ".relman-hello" / "lock"
    plant_lock(lock_dir, actor="cli:carol", pid=dead, deploy_id="old", reason="crashed")
    state = await lock_status(box.host, box.service, host_name="box", service_name="hello")
    assert state.held and state.stale is True
    assert state.holder == "cli:carol" and state.pid == dead
    assert state.age is not None and state.age > 3600
    refused = await box.deploy("v1.0.0")
    assert not refused.ok
    assert refused.hosts["box"].error is not None and "stale" in refused.hosts["box"].error

    before = await release_lock(box.host, box.service, host_name="box", service_name="hello")
    assert before.holder == "cli:carol"
    assert not lock_dir.exists()
    assert (await box.deploy("v1.0.0")).ok


async def test_a_live_lock_is_not_released_without_force(box: Box) -> None:
    lock_dir = box.root / ".relman-hello" / "lock"
    plant_lock(lock_dir, actor="cli:dave", pid=os.getpid(), deploy_id="live", reason="running")
    with pytest.raises(LockHeld, match="cli:dave") as caught:
        await release_lock(box.host, box.service, host_name="box", service_name="hello")
    assert not caught.value.stale
    assert lock_dir.is_dir()
    await release_lock(box.host, box.service, host_name="box", service_name="hello", force=True)
    assert not lock_dir.exists()


def _db_service(box: Box, **extra: object) -> Service:
    db = box.root / "db.txt"
    values: dict[str, object] = {
        "backup_command": ["cp", "--", str(db), "{backup_file}"],
        "migrate_command": [
            "sh",
            "-c",
            'echo "schema $RELMAN_VERSION" > "$1"',
            "sh",
            "{root}/db.txt",
        ],
        "restore_command": ["cp", "--", "{backup_file}", "{root}/db.txt"],
    }
    values.update(extra)
    return box.service.model_copy(update=values)


async def test_backup_migrate_then_rollback_restores_the_database(box: Box) -> None:
    box.root.mkdir(parents=True)
    db = box.root / "db.txt"
    db.write_text("schema 0\n")
    box.service = _db_service(box)
    assert (await box.deploy("v1.0.0")).ok
    assert db.read_text() == "schema 1.0.0\n"

    upgrade = await box.deploy("v1.1.0")
    assert upgrade.ok, upgrade.error
    assert db.read_text() == "schema 1.1.0\n"
    assert upgrade.migrated
    backup = upgrade.hosts["box"].backup
    assert backup is not None
    dump = host_file(backup.dump)
    assert dump.read_text() == "schema 1.0.0\n"
    assert backup.sha256 == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert backup.size_bytes == dump.stat().st_size
    manifest = json.loads((dump.parent / "manifest.json").read_text())
    assert manifest["sha256"] == backup.sha256 and manifest["version_before"] == "v1.0.0"
    assert manifest["deploying"] == "v1.1.0"
    assert sha256sum_check(dump.parent).returncode == 0
    assert upgrade.evidence_dir is not None
    assert (upgrade.evidence_dir / "box" / "backup_manifest.json").is_file()
    said = messages((box.logs / "hello" / "v1.1.0.log").read_text().splitlines())
    backup_at = said.index("💾 Создаём резервную копию базы данных")
    assert backup_at < said.index("🗄️ Применяем миграции")  # seed 002: backup, then migrate

    rollback = await box.deploy(
        "v1.0.0",
        kind="rollback",
        restore_backup=True,
        restore_from=upgrade.backups,
        environment="production",
    )
    assert rollback.ok, rollback.error
    assert db.read_text() == "schema 1.0.0\n"
    assert await served_version(box.health_url) == "1.0.0"
    host = rollback.hosts["box"]
    assert host.restored and not host.migrated
    assert rollback.log_path == box.logs / "rollback" / "hello" / "v1.0.0-rollback.log"
    said = messages(rollback.log_path.read_text().splitlines())
    assert said[0] == "⏪ Начинаем откат на тег v1.0.0"
    assert "♻️ Восстанавливаем базу данных из резервной копии" in said
    assert rollback.evidence_dir is not None
    summary = json.loads((rollback.evidence_dir / "summary.json").read_text())
    assert summary["kind"] == "rollback" and summary["environment"] == "production"


async def test_an_empty_dump_stops_the_deploy_before_anything_changes(box: Box) -> None:
    assert (await box.deploy("v1.0.0")).ok
    box.service = box.service.model_copy(update={"backup_command": ["true"]})
    before = git_head(box.workdir)
    result = await box.deploy("v1.1.0")
    assert not result.ok
    host = result.hosts["box"]
    assert host.error_code == "backup_invalid"
    assert host.error is not None and "wrote no dump" in host.error
    assert not host.changed and git_head(box.workdir) == before


async def test_a_tampered_backup_is_not_restored(box: Box) -> None:
    box.root.mkdir(parents=True)
    db = box.root / "db.txt"
    db.write_text("schema 0\n")
    box.service = _db_service(box)
    assert (await box.deploy("v1.0.0")).ok
    upgrade = await box.deploy("v1.1.0")
    assert upgrade.ok
    backup = upgrade.hosts["box"].backup
    assert backup is not None
    host_file(backup.dump).write_text("schema evil\n")
    rollback = await box.deploy(
        "v1.0.0", kind="rollback", restore_backup=True, restore_from=upgrade.backups
    )
    assert not rollback.ok
    host = rollback.hosts["box"]
    assert host.error_code == "backup_invalid" and not host.restored and not host.changed
    assert db.read_text() == "schema 1.1.0\n"
    said = messages(rollback.log_path.read_text().splitlines())  # type: ignore[union-attr]
    assert "❌ Ошибка при выполнении отката" in said


async def test_secrets_appear_in_no_log_summary_evidence_or_error(box: Box) -> None:
    password = "pw-Ultra-Secret-42"
    token = "tok_9f8e7d6c5b4a3210"
    box.host = box.host.model_copy(update={"password": SecretStr(password)})
    assert (await box.deploy("v1.0.0")).ok
    (box.workdir / "hello.env").write_text(f"API_TOKEN={token}\nHELLO_GREETING=hi\n")
    box.service = box.service.model_copy(
        update={
            "start_command": [
                "sh",
                "-c",
                'cat hello.env; echo "password=$1"; exec sh start.sh',
                "sh",
                password,
            ],
            # fails with the token in its last output line, so the error quotes it
            "migrate_command": [
                "sh",
                "-c",
                "cat hello.env; echo TOKEN=$(grep -o 'tok_.*' hello.env); exit 1",
            ],
        }
    )
    result = await box.deploy("v1.1.0")
    assert not result.ok
    error = result.hosts["box"].error
    assert error is not None and "***" in error
    assert token not in error and password not in error
    assert result.error is not None and token not in result.error

    box.service = box.service.model_copy(update={"migrate_command": None})
    good = await box.deploy("v1.1.0")
    assert good.ok, good.error
    for secret in (token, password):
        assert files_containing([box.logs, box.evidence], secret) == []
    assert "***" in (box.logs / "hello" / "v1.1.0.log").read_text()
    assert good.evidence_dir is not None
    assert "password=***" in (good.evidence_dir / "box" / "step_restart.log").read_text()


async def test_an_env_file_secret_is_masked_in_the_same_remote_command_that_read_it(
    box: Box,
) -> None:
    # git status (preflight) runs in the same remote command as the env file read and
    # prints an untracked file named like the token: it must be masked already there
    token = "tok_SameBatch0123456789"
    assert (await box.deploy("v1.0.0")).ok
    (box.workdir / "hello.env").write_text(f"API_TOKEN={token}\n")
    (box.workdir / token).write_text("left behind by hand\n")
    result = await box.deploy("v1.1.0")
    assert result.ok, result.error
    assert result.hosts["box"].dirty  # git status did report the file
    assert files_containing([box.logs, box.evidence], token) == []
    assert result.evidence_dir is not None
    assert "?? ***" in (result.evidence_dir / "box" / "step_preflight_status.log").read_text()


async def test_credentials_in_the_repo_url_reach_no_log_or_evidence(box: Box) -> None:
    token = "ghp_UrlPlantedToken0123456789"
    # nothing listens on port 9: the clone fails at once, after its argv was recorded
    box.service = box.service.model_copy(
        update={"repo": f"https://deploy:{token}@127.0.0.1:9/hello.git"}
    )
    result = await box.deploy("v1.0.0")
    assert not result.ok and result.hosts["box"].error_code == "command_failed"
    assert result.evidence_dir is not None
    clone_log = (result.evidence_dir / "box" / "step_clone.log").read_text()
    assert "https://deploy:***@127.0.0.1:9/hello.git" in clone_log
    assert result.error is not None and token not in result.error
    assert files_containing([box.logs, box.evidence], token) == []


async def test_a_busy_host_stops_every_host_before_any_change_and_a_retry_deploys_both(
    tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> None:
    port = free_port("127.0.0.1")
    service = hello_service(sample_repo, port)
    hosts = {
        "alpha": Host(transport="local", address="127.0.0.1", root=str(tmp_path / "alpha")),
        "beta": Host(transport="local", address="127.0.0.2", root=str(tmp_path / "beta")),
    }
    for name in hosts:
        service_reaper.watch(tmp_path / name / "hello")
    # beta is busy: someone else's live deploy holds its lock
    lock_dir = tmp_path / "beta" / ".relman-hello" / "lock"
    plant_lock(lock_dir, actor="gh:erin", pid=os.getpid())
    request = DeployRequest(
        service_name="hello",
        service=service,
        tag="v1.0.0",
        environment="stage",
        hosts=hosts,
        actor="cli:alice",
        log_root=tmp_path / "logs",
        evidence_root=tmp_path / "evidence",
    )
    result = await deploy(request)
    assert not result.ok and result.stopped
    # every host is checked before any changes: alpha was fine, and is left alone too
    alpha = result.hosts["alpha"]
    assert not alpha.ok and alpha.skipped and not alpha.changed
    assert alpha.error_code == "not_started"
    assert alpha.error == "not changed: beta failed before any host changed"
    assert not (tmp_path / "alpha" / ".relman-hello" / "lock").exists()  # its lock freed
    assert lock_dir.is_dir()  # erin's lock is erin's
    assert result.failed_hosts == ["alpha", "beta"]
    assert result.error is not None and "gh:erin" in result.error
    assert not (tmp_path / "alpha" / "hello" / "start.sh").exists()  # nothing checked out
    lines = (tmp_path / "logs" / "hello" / "v1.0.0.log").read_text().splitlines()
    said = messages(lines)
    assert not any("успешно развернут" in m for m in said)
    assert any(m.startswith("[beta] ❌ host beta: hello is locked by gh:erin") for m in said)

    await release_lock(hosts["beta"], service, host_name="beta", service_name="hello", force=True)
    retry = await deploy(
        DeployRequest(
            **{**request.__dict__, "only_hosts": result.failed_hosts, "deploy_id": "retry-1"}
        )
    )
    assert retry.ok, retry.error
    assert list(retry.hosts) == ["alpha", "beta"]
    assert await served_version(f"http://127.0.0.1:{port}/health") == "1.0.0"
    assert await served_version(f"http://127.0.0.2:{port}/health") == "1.0.0"
