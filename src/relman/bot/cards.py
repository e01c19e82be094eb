"""Releases rendered as the bot's screens: HTML text plus an inline keyboard.

The layouts are seed 003's ("Telegram Bot интерфейс"): the main menu, a release card
(📦 service, 🏷️ Tag, 🔄 Статус, 👤 Инициатор, 📅 Создан ``dd.mm.yyyy HH:MM``, 🔗 GitHub
Action, ⏱️ В обработке: N мин), the rollback confirmation, and the notifications.

Safety and limits (Bot API, ``sendMessage``): the parse mode is HTML and every value that
comes from outside (service names, tags, user names, notes, URLs) is cut to a bounded
length and then passed through :func:`html.escape`, so a name such as ``<b>&co`` is shown
literally and a screen stays far below Telegram's 4096 characters (a card is at most about
1,300 characters whatever the data). Links are only made for ``http``/``https`` URLs.

Pure functions: no I/O; "now" and the time zone come from the caller.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from aiogram.types import InlineKeyboardMarkup

from relman.bot import keyboards
from relman.bot.callbacks import Lst
from relman.bot.texts import Texts
from relman.deploy.log import log_path
from relman.domain.release import Release
from relman.domain.status import ACTIVE, FAILED, ReleaseStatus
from relman.notify import Notice, NoticeKind

S = ReleaseStatus

#: Longest shown length, in characters, of each outside value (before escaping).
MAX_NAME = 80  # service names, user names, initiators
MAX_TAG = 64
MAX_REASON = 400
MAX_URL = 500
MAX_PATH = 200
DATE_FORMAT = "%d.%m.%Y %H:%M"  # seed 003: "15.03.2024 14:30"
_ROLLING_BACK = frozenset({S.ROLLBACK, S.ROLLBACK_DONE, S.ROLLBACK_FAILED})


@dataclass(frozen=True, slots=True)
class Screen:
    """What one message shows: ``text`` in Telegram HTML and its ``markup``."""

    text: str
    markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True, slots=True)
class View:
    """How to render: the language, the callback signing key, the current time (UTC) and
    the time zone dates are shown in."""

    texts: Texts
    key: bytes
    now: datetime
    tz: tzinfo


def clip(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters (the last one then ``…``)."""
    value = value.replace("\r", " ").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def esc(value: str, limit: int) -> str:
    """``value`` clipped to ``limit`` characters, then HTML-escaped for Telegram."""
    return html.escape(clip(value, limit))


def when(moment: datetime | None, tz: tzinfo) -> str:
    """``dd.mm.yyyy HH:MM`` in ``tz``, ``—`` for no time."""
    return "—" if moment is None else moment.astimezone(tz).strftime(DATE_FORMAT)


def link(url: str, label: str) -> str:
    """An HTML link to ``url`` labelled ``label`` (already safe text); ``—`` unless
    ``url`` is an http(s) URL of sane length."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > MAX_URL or " " in url:
        return "—"
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def header(t: Texts, lst: Lst) -> str:
    return {
        Lst.ACTIVE: t.head_active,
        Lst.SUCCESSFUL: t.head_successful,
        Lst.FAILED: t.head_failed,
        Lst.NONE: t.head_release,
    }[lst]


def failure_reason(release: Release) -> str:
    """The note of the audit event that moved ``release`` into its current (failed)
    status; empty when the events were not loaded or the note is empty."""
    for event in reversed(release.events):
        if event.to_status == release.status and event.kind == "transition":
            return event.note
    return ""


def log_file(release: Release) -> str:
    """The deploy log of a failed release, relative to the log root (seed 003 layout:
    ``<service>/<tag>.log``, ``production/<service>/<tag>-prod.log``,
    ``rollback/<service>/<tag>-rollback.log``); empty when the failure has no log."""
    name = release.service_name
    if release.status is S.STAGING_FAILED:
        return str(log_path(Path(), name, release.release_tag, "stage", "deploy"))
    if release.status is S.PRODUCTION_FAILED:
        return str(log_path(Path(), name, release.release_tag, "production", "deploy"))
    if release.status is S.ROLLBACK_FAILED:
        tag = release.rollback_to_tag or release.release_tag
        return str(log_path(Path(), name, tag, "production", "rollback"))
    return ""


def card_lines(view: View, release: Release, *, failure: bool = True) -> list[str]:
    """The body of a release card, one line per field (seed 003); with ``failure``, a
    failed release's reason and log file too."""
    t, tz = view.texts, view.tz
    lines = [
        t.card_service.format(service=esc(release.service_name, MAX_NAME)),
        t.card_tag.format(tag=esc(release.release_tag, MAX_TAG)),
        t.card_status.format(status=t.status(release.status)),
        t.card_initiator.format(initiator=esc(release.initiated_by, MAX_NAME)),
        t.card_created.format(when=when(release.created_at, tz)),
    ]
    if release.status is S.DEPLOYED:
        lines.append(t.card_deployed.format(when=when(release.completed_at, tz)))
    elif release.completed_at is not None and release.status not in ACTIVE:
        lines.append(t.card_finished.format(when=when(release.completed_at, tz)))
    if release.rollback_to_tag and release.status in _ROLLING_BACK:
        lines.append(t.card_rollback_to.format(tag=esc(release.rollback_to_tag, MAX_TAG)))
    lines.append(t.card_link.format(link=link(release.github_action_link, t.link_open)))
    if release.status in ACTIVE:
        since = release.started_at or release.created_at
        minutes = max(0, int((view.now - since).total_seconds() // 60))
        lines.append(t.card_age.format(minutes=minutes))
    if failure and release.status in FAILED:
        reason = failure_reason(release)
        if reason:
            lines.append(t.card_reason.format(reason=esc(reason, MAX_REASON)))
        path = log_file(release)
        if path:
            lines.append(t.card_log.format(path=f"<code>{esc(path, MAX_PATH)}</code>"))
    return lines


def menu_screen(view: View, name: str) -> Screen:
    """``/start``: "🤖 Release Bot / 👋 Привет, {name}! …" with the three list buttons."""
    t = view.texts
    text = t.menu.format(name=esc(name or "👤", MAX_NAME))
    return Screen(text, keyboards.menu(view.key, t))


def card_screen(
    view: View, release: Release, *, lst: Lst, position: int, has_older: bool = False
) -> Screen:
    """One release's card under the header of the list it was reached from."""
    t = view.texts
    text = f"<b>{header(t, lst)}</b>\n\n" + "\n".join(card_lines(view, release))
    markup = keyboards.card(view.key, t, release, lst=lst, position=position, has_older=has_older)
    return Screen(text, markup)


def list_screen(view: View, lst: Lst, position: int, releases: list[Release]) -> Screen:
    """The list ``lst`` at card number ``position`` (0 = newest), given the list's first
    ``position + 2`` releases (newest first): the card there with ◀️ / ▶️ buttons, or the
    last card when the list got shorter, or "no releases"."""
    t = view.texts
    if not releases:
        text = f"<b>{header(t, lst)}</b>\n\n{t.empty}"
        return Screen(text, keyboards.back_to_menu(view.key, t))
    position = min(position, len(releases) - 1)
    has_older = len(releases) > position + 1
    return card_screen(view, releases[position], lst=lst, position=position, has_older=has_older)


def confirm_screen(
    view: View,
    release: Release,
    current: Release | None,
    *,
    lst: Lst,
    position: int,
    more: bool = False,
) -> Screen:
    """The rollback confirmation (seed 003, "Процесс отката") for putting
    ``release.service_name`` back on ``release.release_tag`` while ``current`` is in
    production; without a current release, or when it already runs that tag, a note and
    only [Назад]. ✅ Да, откатить is bound to ``current`` (its id is signed into the
    button)."""
    t = view.texts
    service = esc(release.service_name, MAX_NAME)
    target = esc(release.release_tag, MAX_TAG)
    current_id = 0
    if current is None:
        text = t.confirm_nothing.format(service=service)
    elif current.release_tag == release.release_tag:
        text = t.confirm_same.format(service=service, tag=target)
    else:
        text = t.confirm.format(
            service=service,
            current=esc(current.release_tag, MAX_TAG),
            target=target,
            when=when(release.completed_at, view.tz),
        )
        current_id = current.id or 0
    markup = keyboards.confirm_rollback(
        view.key, t, release, lst=lst, position=position, more=more, current_id=current_id
    )
    return Screen(text, markup)


#: Notices for the QA chat; the other kinds the bot sends go to the team chat.
QA_KINDS = frozenset({NoticeKind.READY_FOR_TESTING})
TEAM_KINDS = frozenset(
    {
        NoticeKind.DEPLOYED,
        NoticeKind.PRODUCTION_FAILED,
        NoticeKind.ROLLBACK_DONE,
        NoticeKind.ROLLBACK_FAILED,
        NoticeKind.STAGING_FAILED,
        NoticeKind.REJECTED,
        NoticeKind.INTERRUPTED,
        NoticeKind.DEV_DEPLOYED,
        NoticeKind.DEV_DEPLOY_FAILED,
    }
)


def notice_screen(view: View, notice: Notice, log_root: Path | None = None) -> Screen | None:
    """The chat message for ``notice``; ``None`` for a notice the bot does not post.

    - ``READY_FOR_TESTING`` (to QA): "🚀 Новый релиз готов к тестированию / 📦 Сервис /
      🏷️ Версия / 👤 Инициатор / 🔗 GitHub Action" with [✅ Подтвердить] [❌ Отклонить];
    - the team's notices: a header ("✅ Релиз задеплоен на production", …), the release
      card, the reason (``detail``) and the log path (relative to ``log_root``);
    - developer deploys: service, branch and detail.
    """
    t = view.texts
    release = notice.release
    detail = esc(notice.detail, MAX_REASON) if notice.detail else ""
    if notice.kind in (NoticeKind.DEV_DEPLOYED, NoticeKind.DEV_DEPLOY_FAILED):
        template = t.notice_dev if notice.kind is NoticeKind.DEV_DEPLOYED else t.notice_dev_failed
        service = release.service_name if release else notice.service
        return Screen(
            template.format(
                service=esc(service, MAX_NAME),
                ref=esc(notice.ref, MAX_TAG),
                detail=f"\n{t.card_reason.format(reason=detail)}" if detail else "",
            )
        )
    if release is None:
        return None
    if notice.kind is NoticeKind.READY_FOR_TESTING:
        text = t.notice_ready.format(
            service=esc(release.service_name, MAX_NAME),
            tag=esc(release.release_tag, MAX_TAG),
            initiator=esc(release.initiated_by, MAX_NAME),
            link=link(release.github_action_link, t.link_word),
        )
        return Screen(text, keyboards.ready_for_testing(view.key, t, release))
    head = t.notice_head.get(notice.kind.value)
    if head is None:
        return None
    lines = [f"<b>{head}</b>", "", *card_lines(view, release, failure=False)]
    if detail:
        lines.append(t.card_reason.format(reason=detail))
    if notice.log_path:
        shown = notice.log_path
        if log_root is not None and Path(shown).is_relative_to(log_root):
            shown = str(Path(shown).relative_to(log_root))
        lines.append(t.card_log.format(path=f"<code>{esc(shown, MAX_PATH)}</code>"))
    return Screen("\n".join(lines))
