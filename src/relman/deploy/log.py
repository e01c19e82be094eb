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

relman's own messages are :class:`Message` objects, each the seed's Russian text (what
the files hold, always) with its English twin next to it (what the CLI shows with
``RELMAN_LANGUAGE=en``); see the ``msg_*`` functions and ``MSG_*`` constants at the end.
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


Language = Literal["ru", "en"]
#: The languages a message is written in; ``ru`` is the seed's (the log files').
LANGUAGES: tuple[Language, ...] = ("ru", "en")


class Message(str):
    """One of relman's deploy messages in both languages: a ``str`` whose value is the
    seed's Russian text, carrying its English twin in :attr:`en`.

    Being the Russian string itself is the point: the log files, the evidence's
    ``deploy.log``, ``summary.json`` and every error or comparison built from a message keep
    exactly the seed's text, whatever the CLI shows. Only a display that asks for
    :meth:`text` in ``en`` sees the twin. ``Message(ru, en)``; a text that reads the same
    in both languages (one of relman's English error texts, a host's own words) is
    :meth:`plain`. Immutable like any ``str``; string operations (``+``, ``replace``,
    f-strings) give a plain ``str`` of the Russian text: use :meth:`map` to change both.
    """

    _en: str

    def __new__(cls, ru: str, en: str) -> Message:
        self = super().__new__(cls, ru)
        object.__setattr__(self, "_en", str(en))
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Message is immutable: cannot set {name}")

    def __repr__(self) -> str:
        return f"Message({self.ru!r}, en={self.en!r})"

    def __reduce__(self) -> tuple[type[Message], tuple[str, str]]:
        # str's own copy and pickle protocol would drop the twin
        return (Message, (self.ru, self.en))

    @classmethod
    def plain(cls, text: str) -> Message:
        """``text`` as a message that is the same in both languages."""
        return cls(text, text)

    @property
    def ru(self) -> str:
        """The seed's text, as a plain ``str``."""
        return str.__str__(self)

    @property
    def en(self) -> str:
        """The English twin."""
        return self._en

    def text(self, language: Language) -> str:
        """The text in ``language`` (``ru`` or ``en``), as a plain ``str``."""
        return self.en if language == "en" else self.ru

    def map(self, change: Callable[[str], str]) -> Message:
        """Both texts passed through ``change`` (e.g. a :class:`Redactor`)."""
        return Message(change(self.ru), change(self.en))

    def same_as(self, other: Message) -> bool:
        """Whether both texts are equal (``==`` compares only the Russian one, as for
        any ``str``)."""
        return self.ru == other.ru and self.en == other.en


def as_message(text: str | Message) -> Message:
    """``text`` as a :class:`Message` (a plain string reads the same in both languages)."""
    return text if isinstance(text, Message) else Message.plain(text)


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

    ``multi_host`` adds a ``[host]`` prefix to every line that concerns one host. For
    every message (not command output) about one host, ``on_message(host, text)`` is called
    with its redacted seed text (the line's text as the file has it) and
    ``on_said(host, message)`` with the redacted :class:`Message`, both languages (used
    for live progress).
    """

    def __init__(
        self,
        path: Path | None,
        redactor: Redactor,
        *,
        multi_host: bool = False,
        clock: Callable[[], datetime] = utc_now,
        on_message: Callable[[str, str], None] | None = None,
        on_said: Callable[[str, Message], None] | None = None,
    ) -> None:
        self.path = path
        self.redactor = redactor
        self.multi_host = multi_host
        self._clock = clock
        self._on_message = on_message
        self._on_said = on_said
        self.lines: list[str] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def message(self, text: str | Message, host: str | None = None) -> str:
        """Write one of relman's messages: its seed (Russian) text goes to the file, both
        texts to ``on_said``; returns the line written."""
        said = as_message(text).map(lambda t: self.redactor(t.replace("\n", " ")))
        line = self._write(said.ru, host)
        if host is not None:
            if self._on_message is not None:
                self._on_message(host, said.ru)
            if self._on_said is not None:
                self._on_said(host, said)
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
#
# Every message is a :class:`Message`: the seed's Russian text, written to the log files,
# and its English twin, shown by the CLI with ``RELMAN_LANGUAGE=en``. Both texts of a
# message are built in the same function (or constant), from the same values, so they
# cannot drift apart; tests/unit/deploy/test_deploy_messages.py checks every one has a
# twin with the same values in it.


def msg_start(tag: str, kind: Kind, ref_type: RefType = "tag") -> Message:
    """First line of a deploy or a rollback (of a branch: ``tag`` is the branch name)."""
    if kind == "rollback":
        return Message(f"⏪ Начинаем откат на тег {tag}", f"⏪ Starting the rollback to tag {tag}")
    if ref_type == "branch":
        return Message(f"🚀 Начинаем деплой ветки {tag}", f"🚀 Starting the deploy of branch {tag}")
    return Message(f"🚀 Начинаем деплой тега {tag}", f"🚀 Starting the deploy of tag {tag}")


MSG_UPDATING = Message("📥 Обновляем репозиторий и теги", "📥 Updating the repository and tags")
MSG_FETCHING = Message(
    "📥 Получаем обновления из удаленного репозитория",
    "📥 Fetching updates from the remote repository",
)
MSG_CLONING = Message(
    "📦 Рабочей копии нет — клонируем репозиторий", "📦 No working copy — cloning the repository"
)
MSG_CLEANING = Message("🧹 Очищаем старые ветки", "🧹 Cleaning up old branches")
MSG_LOCKED = Message("🔒 Блокировка деплоя получена", "🔒 Deploy lock acquired")
MSG_UNLOCKED = Message("🔓 Блокировка деплоя снята", "🔓 Deploy lock released")
MSG_BACKUP = Message("💾 Создаём резервную копию базы данных", "💾 Backing up the database")
MSG_MIGRATE = Message("🗄️ Применяем миграции", "🗄️ Applying migrations")
MSG_RESTORE = Message(
    "♻️ Восстанавливаем базу данных из резервной копии",
    "♻️ Restoring the database from the backup",
)
MSG_HEALTH_OK = Message("✅ Health check пройден!", "✅ Health check passed!")
MSG_SERVICE_LOG = Message("📋 Последние строки лога сервиса:", "📋 Last lines of the service log:")
MSG_ROLLBACK_FAILED = Message("❌ Ошибка при выполнении отката", "❌ The rollback failed")


def msg_current_state(version: str | None, *, has_checkout: bool = True) -> Message:
    """``🔍 Текущее состояние: v1.2.2``: the checkout's tag or short sha; ``version=None``:
    a checkout without commits, or (``has_checkout=False``) no checkout at all."""
    if not has_checkout:
        return Message(
            "🔍 Текущее состояние: нет рабочей копии", "🔍 Current state: no working copy"
        )
    if version is None:
        return Message("🔍 Текущее состояние: нет коммитов", "🔍 Current state: no commits")
    return Message(f"🔍 Текущее состояние: {version}", f"🔍 Current state: {version}")


def msg_dirty(count: int) -> Message:
    """The checkout has local changes that ``checkout --force`` will overwrite."""
    return Message(
        f"⚠️ В рабочей копии есть изменения ({count}) — checkout --force их перезапишет",
        f"⚠️ The working copy has local changes ({count}) — checkout --force will overwrite them",
    )


def msg_tag_found(tag: str) -> Message:
    """The tag exists after the fetch."""
    return Message(
        f"✅ Тег {tag} найден и готов к использованию", f"✅ Tag {tag} found and ready to use"
    )


def msg_tag_not_found(tag: str) -> Message:
    """The seed's error text exactly (Troubleshooting 1); the text of
    :class:`~relman.deploy.errors.TagNotFound`."""
    return Message(
        f"❌ Тег {tag} не найден в репозитории после обновления!",
        f"❌ Tag {tag} not found in the repository after the update!",
    )


def msg_branch_found(branch: str, sha: str) -> Message:
    """The branch exists on origin, at commit ``sha`` (shown to 12 characters)."""
    return Message(
        f"✅ Ветка {branch} найдена: коммит {sha[:12]}",
        f"✅ Branch {branch} found: commit {sha[:12]}",
    )


def msg_branch_not_found(branch: str) -> Message:
    """A branch that is not on origin (the tag's seed text, for a branch); the text of
    :class:`~relman.deploy.errors.BranchNotFound`."""
    return Message(
        f"❌ Ветка {branch} не найдена в репозитории после обновления (нет origin/{branch})!",
        f"❌ Branch {branch} not found in the repository after the update (no origin/{branch})!",
    )


def msg_switching(tag: str) -> Message:
    """The checkout of the tag starts."""
    return Message(f"🏷️ Переключаемся на тег {tag}", f"🏷️ Switching to tag {tag}")


def msg_switching_branch(branch: str, sha: str) -> Message:
    """The checkout of a branch's commit starts."""
    return Message(
        f"🌿 Переключаемся на ветку {branch} (коммит {sha[:12]})",
        f"🌿 Switching to branch {branch} (commit {sha[:12]})",
    )


def msg_building(
    tag: str, strategy: str, ref_type: RefType = "tag", *, reuse_image: bool = False
) -> Message:
    """The build / restart starts (compose: a build, or a start of the tag's image)."""
    what, what_en = ("ветки", "branch") if ref_type == "branch" else ("тега", "tag")
    if strategy == "compose" and reuse_image:
        return Message(
            f"🐳 Запускаем контейнер из образа тега {tag} (сборка — только если образа нет)...",
            f"🐳 Starting the container from the image of tag {tag} "
            "(a build only if there is no image)...",
        )
    if strategy == "compose":
        return Message(
            f"🔨 Начинаем сборку контейнера для {what} {tag}...",
            f"🔨 Building the container for {what_en} {tag}...",
        )
    return Message(
        f"🔨 Перезапускаем сервис для {what} {tag}...",
        f"🔨 Restarting the service for {what_en} {tag}...",
    )


def msg_image(present: bool, ref: str) -> Message:
    """What a compose rollback found: the tag's image on the host, or not (then built)."""
    if present:
        return Message(
            f"♻️ Образ {ref} есть на хосте — запускаем без сборки",
            f"♻️ Image {ref} is on the host — starting it without a build",
        )
    return Message(
        f"🔨 Образа {ref} нет на хосте — собираем его",
        f"🔨 Image {ref} is not on the host — building it",
    )


def msg_pulled(ref: str, built: bool) -> Message:
    """Registry mode: where the image came from."""
    if built:
        return Message(
            f"📦 Образа {ref} нет в реестре — собран на этом хосте и отправлен в реестр",
            f"📦 Image {ref} was not in the registry — built on this host and pushed to it",
        )
    return Message(f"📥 Образ {ref} получен из реестра", f"📥 Image {ref} pulled from the registry")


def msg_digest(digest: str) -> Message:
    """Registry mode: the digest of the image this deploy runs."""
    return Message(f"🔏 Образ: {digest}", f"🔏 Image: {digest}")


def msg_container_exited(code: str) -> Message:
    """The container stopped during the health check (no point polling it further)."""
    return Message(
        f"💥 Контейнер остановился (код выхода {code}) — health check прерван",
        f"💥 The container stopped (exit code {code}) — health check aborted",
    )


def msg_backup_ok(sha256: str, size_bytes: int) -> Message:
    """The pre-deploy backup's dump was verified against its sum."""
    return Message(
        f"✅ Резервная копия проверена: {size_bytes} байт, sha256 {sha256}",
        f"✅ Backup verified: {size_bytes} bytes, sha256 {sha256}",
    )


def msg_health_attempt(attempt: int, attempts: int) -> Message:
    """A numbered health check attempt starts (seed: "попытка 1 из 3")."""
    return Message(
        f"🔍 Проверка health (попытка {attempt} из {attempts})...",
        f"🔍 Health check (attempt {attempt} of {attempts})...",
    )


def msg_health_failed(attempts: int) -> Message:
    """The seed's error text (Troubleshooting 2)."""
    return Message(
        f"❌ Health check не пройден после {attempts} попыток",
        f"❌ Health check failed after {attempts} attempts",
    )


def msg_health_failed_on(attempts: int, host: str, url: str, detail: str) -> Message:
    """The error of a host whose health check failed: :func:`msg_health_failed` with the
    host, the URL and the last attempt's problem (``detail``, relman's English words)."""
    suffix = f" (host {host}, {url}: {detail})"
    failed = msg_health_failed(attempts)
    return Message(failed.ru + suffix, failed.en + suffix)


def msg_batch(number: int, total: int, hosts: list[str]) -> Message:
    """A rolling batch starts (issue "Fast relman" item 4)."""
    names = ", ".join(hosts)
    return Message(
        f"📦 Партия {number} из {total}: {names}", f"📦 Batch {number} of {total}: {names}"
    )


def msg_rollout_stopped(number: int, total: int, failed: int) -> Message:
    """The rollout stopped after a failed batch; the later batches stay untouched."""
    return Message(
        f"⛔ Раскатка остановлена после партии {number} из {total} "
        f"(хостов с ошибкой: {failed}); остальные хосты не тронуты",
        f"⛔ The rollout stopped after batch {number} of {total} "
        f"(hosts failed: {failed}); the other hosts were not touched",
    )


def msg_smoke(url: str, outcome: str) -> Message:
    """One smoke URL's answer (``outcome``: the status and ``ok`` or the problem)."""
    return Message(f"🧪 Smoke {url}: {outcome}", f"🧪 Smoke {url}: {outcome}")


def msg_smoke_failed(host: str, urls: list[str]) -> Message:
    """The error of a host where smoke URLs failed."""
    shown = ", ".join(urls)
    return Message(
        f"❌ Smoke не пройден на хосте {host}: {shown}",
        f"❌ Smoke check failed on host {host}: {shown}",
    )


def msg_success(tag: str, kind: Kind, ref_type: RefType = "tag") -> Message:
    """The last line of a healthy host (seed: "Тег v1.2.3 успешно развернут…")."""
    if kind == "rollback":
        return Message(
            f"✅ Откат на тег {tag} выполнен, приложение работает!",
            f"✅ Rolled back to tag {tag}, the application is working!",
        )
    if ref_type == "branch":
        return Message(
            f"✅ Ветка {tag} успешно развернута и приложение работает!",
            f"✅ Branch {tag} deployed successfully, the application is working!",
        )
    return Message(
        f"✅ Тег {tag} успешно развернут и приложение работает!",
        f"✅ Tag {tag} deployed successfully, the application is working!",
    )


def msg_error(text: str | Message) -> Message:
    """An error line: ``❌ …`` (no double ❌ when the text already has one); a plain
    ``text`` (relman's English error texts, a host's words) is the same in both languages."""
    return as_message(text).map(lambda t: t if t.startswith("❌") else f"❌ {t}")
