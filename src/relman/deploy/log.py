"""The deploy log in seed 003's format and layout ("Мониторинг и логирование").

Layout under a log root (DESIGN.md §4)::

    <root>/<service>/<tag>.log                       stage and dev deploys
    <root>/<service>/<branch>.log                    developer deploys of a branch
    <root>/production/<service>/<tag>-prod.log       production deploys
    <root>/rollback/<service>/<tag>-rollback.log     rollbacks (any environment)

Every line is ``YYYY-MM-DD HH:MM:SS - <text>`` (UTC), e.g.
``2024-03-15 14:30:00 - 🚀 Начинаем деплой тега v1.2.3``. Remote output lines are written
as they arrive, marked ``│``; with several hosts every line is prefixed ``[host]``. Files are
appended to (a redeploy of a tag adds to its file, like ``tail -f`` in the seed expects) and
flushed line by line. Every line passes the deploy's :class:`~relman.deploy.redact.Redactor`.
A branch name's ``/`` becomes ``_`` in its file name (``feature/login`` →
``feature_login.log``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from relman.deploy.redact import Redactor

Kind = Literal["deploy", "rollback"]
#: What a deploy checks out: a release tag, or the head of a branch (developer deploys).
RefType = Literal["tag", "branch"]

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
    ``on_message(host, text)`` is called for every message (not command output) about one
    host, with the redacted text (used for live progress).
    """

    def __init__(
        self,
        path: Path | None,
        redactor: Redactor,
        *,
        multi_host: bool = False,
        clock: Callable[[], datetime] = utc_now,
        on_message: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = path
        self.redactor = redactor
        self.multi_host = multi_host
        self._clock = clock
        self._on_message = on_message
        self.lines: list[str] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def message(self, text: str, host: str | None = None) -> str:
        """Write one of relman's messages (seed wording); returns the line written."""
        line = self._write(text, host)
        if host is not None and self._on_message is not None:
            self._on_message(host, self.redactor(text.replace("\n", " ")))
        return line

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


def msg_start(tag: str, kind: Kind, ref_type: RefType = "tag") -> str:
    """First line of a deploy or a rollback (of a branch: ``tag`` is the branch name)."""
    if kind == "rollback":
        return f"⏪ Начинаем откат на тег {tag}"
    if ref_type == "branch":
        return f"🚀 Начинаем деплой ветки {tag}"
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


def msg_branch_found(branch: str, sha: str) -> str:
    return f"✅ Ветка {branch} найдена: коммит {sha[:12]}"


def msg_branch_not_found(branch: str) -> str:
    """A branch that is not on origin (the tag's seed text, for a branch)."""
    return f"❌ Ветка {branch} не найдена в репозитории после обновления (нет origin/{branch})!"


def msg_switching(tag: str) -> str:
    return f"🏷️ Переключаемся на тег {tag}"


def msg_switching_branch(branch: str, sha: str) -> str:
    return f"🌿 Переключаемся на ветку {branch} (коммит {sha[:12]})"


def msg_building(
    tag: str, strategy: str, ref_type: RefType = "tag", *, reuse_image: bool = False
) -> str:
    what = "ветки" if ref_type == "branch" else "тега"
    if strategy == "compose" and reuse_image:
        return f"🐳 Запускаем контейнер из образа тега {tag} (сборка — только если образа нет)..."
    if strategy == "compose":
        return f"🔨 Начинаем сборку контейнера для {what} {tag}..."
    return f"🔨 Перезапускаем сервис для {what} {tag}..."


def msg_image(present: bool, ref: str) -> str:
    """What a compose rollback found: the tag's image on the host, or not (then built)."""
    if present:
        return f"♻️ Образ {ref} есть на хосте — запускаем без сборки"
    return f"🔨 Образа {ref} нет на хосте — собираем его"


def msg_pulled(ref: str, built: bool) -> str:
    """Registry mode: where the image came from."""
    if built:
        return f"📦 Образа {ref} нет в реестре — собран на этом хосте и отправлен в реестр"
    return f"📥 Образ {ref} получен из реестра"


def msg_digest(digest: str) -> str:
    """Registry mode: the digest of the image this deploy runs."""
    return f"🔏 Образ: {digest}"


def msg_container_exited(code: str) -> str:
    """The container stopped during the health check (no point polling it further)."""
    return f"💥 Контейнер остановился (код выхода {code}) — health check прерван"


def msg_backup_ok(sha256: str, size_bytes: int) -> str:
    return f"✅ Резервная копия проверена: {size_bytes} байт, sha256 {sha256}"


def msg_health_attempt(attempt: int, attempts: int) -> str:
    return f"🔍 Проверка health (попытка {attempt} из {attempts})..."


def msg_health_failed(attempts: int) -> str:
    """The seed's error text (Troubleshooting 2)."""
    return f"❌ Health check не пройден после {attempts} попыток"


def msg_batch(number: int, total: int, hosts: list[str]) -> str:
    """A rolling batch starts (issue "Fast relman" item 4)."""
    return f"📦 Партия {number} из {total}: {', '.join(hosts)}"


def msg_rollout_stopped(number: int, total: int, failed: int) -> str:
    """The rollout stopped after a failed batch; the later batches stay untouched."""
    return (
        f"⛔ Раскатка остановлена после партии {number} из {total} "
        f"(хостов с ошибкой: {failed}); остальные хосты не тронуты"
    )


def msg_smoke(url: str, outcome: str) -> str:
    return f"🧪 Smoke {url}: {outcome}"


def msg_success(tag: str, kind: Kind, ref_type: RefType = "tag") -> str:
    if kind == "rollback":
        return f"✅ Откат на тег {tag} выполнен, приложение работает!"
    if ref_type == "branch":
        return f"✅ Ветка {tag} успешно развернута и приложение работает!"
    return f"✅ Тег {tag} успешно развернут и приложение работает!"


def msg_error(text: str) -> str:
    """An error line: ``❌ …`` (no double ❌ when the text already has one)."""
    return text if text.startswith("❌") else f"❌ {text}"
