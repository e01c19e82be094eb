"""Deploy log lines and paths follow seed 003 ("Мониторинг и логирование")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from relman.deploy import log as msg
from relman.deploy.log import LINE_RE, DeployLog, format_line, log_path, safe_name
from relman.deploy.redact import Redactor

WHEN = datetime(2024, 3, 15, 14, 30, 0, tzinfo=UTC)


def test_paths_follow_the_seed_layout(tmp_path: Path) -> None:
    root = tmp_path / "deployments"
    assert log_path(root, "loom-content", "v1.2.3", "stage", "deploy") == (
        root / "loom-content" / "v1.2.3.log"
    )
    assert log_path(root, "loom-content", "v1.2.3", "dev:alice", "deploy") == (
        root / "loom-content" / "v1.2.3.log"
    )
    assert log_path(root, "loom-content", "v1.2.3", "production", "deploy") == (
        root / "production" / "loom-content" / "v1.2.3-prod.log"
    )
    assert log_path(root, "loom-content", "v1.2.2", "production", "rollback") == (
        root / "rollback" / "loom-content" / "v1.2.2-rollback.log"
    )
    assert safe_name("../../etc") == "_.._etc"
    assert safe_name("dev:alice") == "dev_alice"


def test_line_format_is_the_seeds() -> None:
    assert format_line(WHEN, msg.msg_start("v1.2.3", "deploy")) == (
        "2024-03-15 14:30:00 - 🚀 Начинаем деплой тега v1.2.3"
    )
    moscow = WHEN.astimezone(timezone(timedelta(hours=3)))
    assert format_line(moscow, "x") == "2024-03-15 14:30:00 - x"  # always shown in UTC


def test_seed_messages_are_word_for_word() -> None:
    assert msg.MSG_UPDATING == "📥 Обновляем репозиторий и теги"
    assert msg.msg_current_state("v1.2.2") == "🔍 Текущее состояние: v1.2.2"
    assert msg.MSG_FETCHING == "📥 Получаем обновления из удаленного репозитория"
    assert msg.msg_tag_found("v1.2.3") == "✅ Тег v1.2.3 найден и готов к использованию"
    assert msg.msg_switching("v1.2.3") == "🏷️ Переключаемся на тег v1.2.3"
    assert msg.MSG_CLEANING == "🧹 Очищаем старые ветки"
    assert msg.msg_building("v1.2.3", "compose") == (
        "🔨 Начинаем сборку контейнера для тега v1.2.3..."
    )
    assert msg.msg_health_attempt(1, 3) == "🔍 Проверка health (попытка 1 из 3)..."
    assert msg.MSG_HEALTH_OK == "✅ Health check пройден!"
    assert msg.msg_success("v1.2.3", "deploy") == (
        "✅ Тег v1.2.3 успешно развернут и приложение работает!"
    )
    assert msg.msg_tag_not_found("v1.2.3") == (
        "❌ Тег v1.2.3 не найден в репозитории после обновления!"
    )
    assert msg.msg_health_failed(3) == "❌ Health check не пройден после 3 попыток"
    assert msg.MSG_ROLLBACK_FAILED == "❌ Ошибка при выполнении отката"
    assert msg.msg_error("❌ x") == "❌ x"
    assert msg.msg_error("x") == "❌ x"


def test_log_appends_redacted_lines_with_host_prefixes(tmp_path: Path) -> None:
    path = log_path(tmp_path, "hello", "v1.0.0", "production", "deploy")
    first = DeployLog(path, Redactor(["hunter2-secret"]), multi_host=True, clock=lambda: WHEN)
    first.message(msg.msg_start("v1.0.0", "deploy"))
    first.message(msg.MSG_FETCHING, "web1")
    first.output("password is hunter2-secret\nsecond part", "web2")
    first.close()
    second = DeployLog(path, Redactor(), clock=lambda: WHEN)
    second.message("again", "web1")
    second.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "2024-03-15 14:30:00 - 🚀 Начинаем деплой тега v1.0.0",
        "2024-03-15 14:30:00 - [web1] 📥 Получаем обновления из удаленного репозитория",
        "2024-03-15 14:30:00 - [web2] │ password is *** second part",
        "2024-03-15 14:30:00 - again",
    ]
    assert all(LINE_RE.match(line) for line in lines)
    assert first.lines == lines[:3]


def test_a_log_without_a_file_keeps_lines_in_memory() -> None:
    log = DeployLog(None, Redactor(), clock=lambda: WHEN)
    log.message("x")
    assert log.lines == ["2024-03-15 14:30:00 - x"]
    log.close()
