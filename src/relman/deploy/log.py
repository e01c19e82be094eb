"""The deploy log in seed 003's format and layout ("Мониторинг и логирование").

Layout under a log root (DESIGN.md §4)::

    <root>/<service>/<tag>.log                       stage and dev deploys
    <root>/production/<service>/<tag>-prod.log       production deploys
    <root>/rollback/<service>/<tag>-rollback.log     rollbacks (any environment)

Every line is ``YYYY-MM-DD HH:MM:SS - <text>`` (UTC), e.g.
``2024-03-15 14:30:00 - 🚀 Начинаем деплой тега v1.2.3``. Remote output lines are written
as they arrive, marked ``│``; with several hosts every line is prefixed ``[host]``. Files are
appended to (a redeploy of a tag adds to its file, like ``tail -f`` in the seed expects) and
flushed line by line. Every line passes the deploy's :class:`~relman.deploy.redact.Redactor`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from relman.deploy.redact import Redactor

Kind = Literal["deploy", "rollback"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: A log line: timestamp, `` - ``, text.
LINE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - .*$")

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def safe_name(value: str) -> str:
    """``value`` usable as one path component: other characters than letters, digits,
    ``.``, ``_`` and ``-`` become ``_`` (``dev:alice`` → ``dev_alice``); never ``..``."""
    cleaned = _SAFE.sub("_", value).strip(".") or "_"
    return cleaned


def log_path(root: Path, service: str, tag: str, environment: str, kind: Kind) -> Path:
    """Where the deploy log of (service, tag, environment, kind) lives (seed 003 layout)."""
    service_dir, tag_name = safe_name(service), safe_name(tag)
    if kind == "rollback":
        return root / "rollback" / service_dir / f"{tag_name}-rollback.log"
    if environment == "production":
        return root / "production" / service_dir / f"{tag_name}-prod.log"
    return root / service_dir / f"{tag_name}.log"


def format_line(when: datetime, text: str) -> str:
    """``YYYY-MM-DD HH:MM:SS - text`` with ``when`` shown in UTC."""
    return f"{when.astimezone(UTC).strftime(TIME_FORMAT)} - {text}"


class DeployLog:
    """One deploy's log file; also keeps this deploy's lines for the evidence folder.

    ``multi_host`` adds a ``[host]`` prefix to every line that concerns one host.
    """

    def __init__(
        self,
        path: Path | None,
        redactor: Redactor,
        *,
        multi_host: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self.redactor = redactor
        self.multi_host = multi_host
        self._clock = clock
        self.lines: list[str] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def message(self, text: str, host: str | None = None) -> str:
        """Write one of relman's messages (seed wording); returns the line written."""
        return self._write(text, host)

    def output(self, line: str, host: str | None = None) -> str:
        """Write one line of a command's output; returns the line written."""
        return self._write(f"│ {line}", host)

    def _write(self, text: str, host: str | None) -> str:
        if host is not None and self.multi_host:
            text = f"[{host}] {text}"
        line = format_line(self._clock(), self.redactor(text.replace("\n", " ")))
        self.lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        return line

    def close(self) -> None:
        """Close the file (further lines are kept in memory only)."""
        if self._file is not None:
            self._file.close()
            self._file = None


# --- the seed's messages (seed 003 "Пример лога деплоя", "Troubleshooting") ------------


def msg_start(tag: str, kind: Kind) -> str:
    """First line of a deploy or a rollback."""
    if kind == "rollback":
        return f"⏪ Начинаем откат на тег {tag}"
    return f"🚀 Начинаем деплой тега {tag}"


MSG_UPDATING = "📥 Обновляем репозиторий и теги"
MSG_FETCHING = "📥 Получаем обновления из удаленного репозитория"
MSG_CLONING = "📦 Рабочей копии нет — клонируем репозиторий"
MSG_CLEANING = "🧹 Очищаем старые ветки"
MSG_LOCKED = "🔒 Блокировка деплоя получена"
MSG_UNLOCKED = "🔓 Блокировка деплоя снята"
MSG_BACKUP = "💾 Создаём резервную копию базы данных"
MSG_MIGRATE = "🗄️ Применяем миграции"
MSG_RESTORE = "♻️ Восстанавливаем базу данных из резервной копии"
MSG_HEALTH_OK = "✅ Health check пройден!"
MSG_SERVICE_LOG = "📋 Последние строки лога сервиса:"
MSG_ROLLBACK_FAILED = "❌ Ошибка при выполнении отката"


def msg_current_state(version: str) -> str:
    """``🔍 Текущее состояние: v1.2.2`` (a tag, a short sha, or "нет рабочей копии")."""
    return f"🔍 Текущее состояние: {version}"


def msg_dirty(count: int) -> str:
    """The checkout has local changes that ``checkout --force`` will overwrite."""
    return f"⚠️ В рабочей копии есть изменения ({count}) — checkout --force их перезапишет"


def msg_tag_found(tag: str) -> str:
    return f"✅ Тег {tag} найден и готов к использованию"


def msg_tag_not_found(tag: str) -> str:
    """The seed's error text exactly (Troubleshooting 1)."""
    return f"❌ Тег {tag} не найден в репозитории после обновления!"


def msg_switching(tag: str) -> str:
    return f"🏷️ Переключаемся на тег {tag}"


def msg_building(tag: str, strategy: str) -> str:
    if strategy == "compose":
        return f"🔨 Начинаем сборку контейнера для тега {tag}..."
    return f"🔨 Перезапускаем сервис для тега {tag}..."


def msg_backup_ok(sha256: str, size_bytes: int) -> str:
    return f"✅ Резервная копия проверена: {size_bytes} байт, sha256 {sha256}"


def msg_health_attempt(attempt: int, attempts: int) -> str:
    return f"🔍 Проверка health (попытка {attempt} из {attempts})..."


def msg_health_failed(attempts: int) -> str:
    """The seed's error text (Troubleshooting 2)."""
    return f"❌ Health check не пройден после {attempts} попыток"


def msg_smoke(url: str, outcome: str) -> str:
    return f"🧪 Smoke {url}: {outcome}"


def msg_success(tag: str, kind: Kind) -> str:
    if kind == "rollback":
        return f"✅ Откат на тег {tag} выполнен, приложение работает!"
    return f"✅ Тег {tag} успешно развернут и приложение работает!"


def msg_error(text: str) -> str:
    """An error line: ``❌ …`` (no double ❌ when the text already has one)."""
    return text if text.startswith("❌") else f"❌ {text}"
