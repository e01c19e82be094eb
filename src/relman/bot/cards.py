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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from relman.bot import keyboards
from relman.bot.callbacks import Lst
from relman.bot.keyboards import Keyboard
from relman.bot.texts import Texts
from relman.deploy.log import log_path
from relman.domain.release import Release, ReleaseEvent
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
#: Statuses in which the release is what stage runs, so its card links stage (issue 16).
_ON_STAGE = frozenset({S.STAGE_DEPLOY, S.MANUAL_TESTING, S.MANUAL_TEST_PASSED})
_DECIDED = frozenset({S.MANUAL_TEST_PASSED, S.MANUAL_TEST_FAILED})


def _no_url(_environment: str, _service: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Screen:
    """What one message shows: ``text`` in Telegram HTML and its ``markup``."""

    text: str
    markup: Keyboard | None = None


@dataclass(frozen=True, slots=True)
class View:
    """How to render: the language, the callback signing key, the current time (UTC),
    the time zone dates are shown in, and where each environment is opened
    (``env_url(environment, service)``, from relman.toml's ``[environments.*] url``)."""

    texts: Texts
    key: bytes
    now: datetime
    tz: tzinfo
    env_url: Callable[[str, str], str | None] = field(default=_no_url)

    def when(self, moment: datetime | None) -> str:
        """``dd.mm.yyyy HH:MM <zone>`` in the view's zone and language."""
        return when(moment, self.tz, self.texts.tz_names)


def clip(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters (the last one then ``…``)."""
    value = value.replace("\r", " ").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def esc(value: str, limit: int) -> str:
    """``value`` clipped to ``limit`` characters, then HTML-escaped for Telegram."""
    return html.escape(clip(value, limit))


def when(moment: datetime | None, tz: tzinfo, names: Mapping[str, str] | None = None) -> str:
    """``dd.mm.yyyy HH:MM`` in ``tz`` followed by the zone (issue 16: ``15.03.2024 14:30
    МСК`` / ``UTC``) — its name in ``names`` (by IANA key), else its abbreviation; ``—``
    for no time."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    key = getattr(tz, "key", None)
    zone = (names or {}).get(key or "") or local.strftime("%Z") or "UTC"
    return f"{local.strftime(DATE_FORMAT)} {zone}"


def took(t: Texts, start: datetime | None, end: datetime | None) -> str:
    """How long from ``start`` to ``end``: ``12 с``, ``3 мин 5 с``."""
    if start is None or end is None:
        return "—"
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return t.took_seconds.format(s=seconds)
    return t.took_minutes.format(m=seconds // 60, s=seconds % 60)


def last_event(release: Release, *statuses: ReleaseStatus) -> ReleaseEvent | None:
    """The newest transition of ``release`` into one of ``statuses`` (``None``: none, or
    the events were not loaded)."""
    for event in reversed(release.events):
        if event.kind == "transition" and event.to_status in statuses:
            return event
    return None


def rejection_reason(note: str) -> str:
    """The reason inside a rejection's audit note (``rejected: <reason>``)."""
    return note.removeprefix("rejected").removeprefix(":").strip()


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
        Lst.NOTICE: t.head_release,
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


def live_line(t: Texts, release: Release, live: Release | None) -> str:
    """🟢 for the release now in production, ⚪ and the tag there for a superseded one;
    empty for a release that is not ``deployed`` or when production is unknown."""
    if release.status is not S.DEPLOYED or live is None:
        return ""
    if live.id == release.id:
        return t.card_live
    return t.card_superseded.format(tag=esc(live.release_tag, MAX_TAG))


def stage_line(view: View, release: Release) -> str:
    """🧪 Stage: the stage link of a release that stage runs (``""`` without a url)."""
    return _stage_link(view, release) if release.status in _ON_STAGE else ""


def _stage_link(view: View, release: Release) -> str:
    """🧪 Stage: the link to the release's service on stage (``""`` without a usable url)."""
    url = view.env_url("stage", release.service_name)
    shown = link(url, view.texts.link_stage) if url else "—"
    return "" if shown == "—" else view.texts.card_stage.format(link=shown)


def decision_line(view: View, release: Release) -> str:
    """Who approved or rejected the release and when (``""`` before QA decided)."""
    event = last_event(release, *_DECIDED)
    if event is None:
        return ""
    t = view.texts
    template = t.decided_approved if event.to_status is S.MANUAL_TEST_PASSED else t.decided_rejected
    return template.format(who=esc(event.actor, MAX_NAME), when=view.when(event.created_at))


def outcome_lines(view: View, release: Release) -> list[str]:
    """What came of a decision or a rollback, as far as it got (issue 16): the deploy or
    rollback under way, or its result with the version now live and the time it took."""
    t = view.texts
    approved = last_event(release, S.MANUAL_TEST_PASSED)
    started = last_event(release, S.ROLLBACK)
    ended = last_event(release, release.status)
    lines: list[str] = []
    if release.status in (S.MANUAL_TEST_PASSED, S.DEPLOYING):
        lines.append(t.outcome_deploying)
    elif release.status is S.DEPLOYED and approved is not None:
        span = took(t, approved.created_at, ended.created_at if ended else None)
        lines.append(t.outcome_deployed.format(tag=esc(release.release_tag, MAX_TAG), took=span))
    elif release.status is S.PRODUCTION_FAILED:
        since = approved.created_at if approved else None
        span = took(t, since, ended.created_at if ended else None)
        lines.append(t.outcome_production_failed.format(took=span))
    if release.status in _ROLLING_BACK and started is not None:
        target = esc(release.rollback_to_tag, MAX_TAG)
        lines.append(
            t.rollback_started.format(
                tag=target, who=esc(started.actor, MAX_NAME), when=view.when(started.created_at)
            )
        )
        span = took(t, started.created_at, ended.created_at if ended else None)
        if release.status is S.ROLLBACK:
            lines.append(t.outcome_rolling.format(tag=target))
        elif release.status is S.ROLLBACK_DONE:
            lines.append(t.outcome_rollback_done.format(tag=target, took=span))
        else:
            lines.append(t.outcome_rollback_failed.format(took=span))
    return lines


def card_lines(
    view: View,
    release: Release,
    *,
    failure: bool = True,
    live: Release | None = None,
    artifact: str = "",
) -> list[str]:
    """The body of a release card, one line per field (seed 003); with ``failure``, a
    failed release's reason and log file too. Issue 16 adds whether it is the release in
    production (``live``: the one there now), the stage link while stage runs it, and who
    decided it when; ``artifact`` is the link to a runner's uploaded deploy log and
    evidence (issue 12)."""
    t = view.texts
    lines = [
        t.card_service.format(service=esc(release.service_name, MAX_NAME)),
        t.card_tag.format(tag=esc(release.release_tag, MAX_TAG)),
        t.card_status.format(status=t.status(release.status)),
    ]
    if release.emergency_reason:  # on every card of it (issue 14 item 3)
        lines.append(t.card_emergency.format(reason=esc(release.emergency_reason, MAX_REASON)))
    lines += [line for line in (live_line(t, release, live),) if line]
    lines += [
        t.card_initiator.format(initiator=esc(release.initiated_by, MAX_NAME)),
        t.card_created.format(when=view.when(release.created_at)),
    ]
    if release.status is S.DEPLOYED:
        lines.append(t.card_deployed.format(when=view.when(release.completed_at)))
    elif release.completed_at is not None and release.status not in ACTIVE:
        lines.append(t.card_finished.format(when=view.when(release.completed_at)))
    if release.rollback_to_tag and release.status in _ROLLING_BACK:
        lines.append(t.card_rollback_to.format(tag=esc(release.rollback_to_tag, MAX_TAG)))
    lines.append(t.card_link.format(link=link(release.github_action_link, t.link_open)))
    lines += [line for line in (stage_line(view, release), decision_line(view, release)) if line]
    if release.status in ACTIVE:
        since = release.started_at or release.created_at
        minutes = max(0, int((view.now - since).total_seconds() // 60))
        lines.append(t.card_age.format(minutes=minutes))
    if failure and release.status in FAILED:
        reason = failure_reason(release)
        if release.status is S.MANUAL_TEST_FAILED:
            reason = rejection_reason(reason)
        if reason:
            lines.append(t.card_reason.format(reason=esc(reason, MAX_REASON)))
        path = log_file(release)
        if path:
            lines.append(t.card_log.format(path=f"<code>{esc(path, MAX_PATH)}</code>"))
    if artifact:
        lines.append(t.card_artifact.format(link=link(artifact, t.link_open)))
    return lines


def menu_screen(view: View, name: str) -> Screen:
    """``/start``: "🤖 Release Bot / 👋 Привет, {name}! …" with the three list buttons."""
    t = view.texts
    text = t.menu.format(name=esc(name or "👤", MAX_NAME))
    return Screen(text, keyboards.menu(view.key, t))


def card_screen(
    view: View,
    release: Release,
    *,
    lst: Lst,
    position: int,
    has_older: bool = False,
    total: int = 0,
    live: Release | None = None,
    artifact: str = "",
) -> Screen:
    """One release's card under the header of the list it was reached from, with its
    place in that list (``2/5``, issue 16) when ``total`` is known."""
    t = view.texts
    head = f"<b>{header(t, lst)}</b>"
    if lst in (Lst.ACTIVE, Lst.SUCCESSFUL, Lst.FAILED) and total > 0:
        place = t.card_position.format(position=min(position + 1, total), total=total)
        head = f"{head} · {place}"
    text = f"{head}\n\n" + "\n".join(card_lines(view, release, live=live, artifact=artifact))
    markup = keyboards.card(view.key, t, release, lst=lst, position=position, has_older=has_older)
    return Screen(text, markup)


def list_screen(
    view: View,
    lst: Lst,
    position: int,
    releases: list[Release],
    *,
    total: int = 0,
    live: Mapping[str, Release] | None = None,
) -> Screen:
    """The list ``lst`` at card number ``position`` (0 = newest), given the list's first
    ``position + 2`` releases (newest first), its size ``total`` and the release in
    production per service (``live``): the card there with ◀️ / ▶️ buttons, or the last
    card when the list got shorter, or "no releases"."""
    t = view.texts
    if not releases:
        text = f"<b>{header(t, lst)}</b>\n\n{t.empty}"
        return Screen(text, keyboards.back_to_menu(view.key, t))
    position = min(position, len(releases) - 1)
    has_older = len(releases) > position + 1
    release = releases[position]
    return card_screen(
        view,
        release,
        lst=lst,
        position=position,
        has_older=has_older,
        total=max(total, len(releases)),
        live=(live or {}).get(release.service_name),
    )


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
            when=view.when(release.completed_at),
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
        NoticeKind.INCIDENT_OPENED,
        NoticeKind.INCIDENT_RESOLVED,
        NoticeKind.EMERGENCY,
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
        return _bare_notice(view, notice, detail, log_root)
    if notice.kind is NoticeKind.READY_FOR_TESTING:
        return qa_notice_screen(view, release)
    head = t.notice_head.get(notice.kind.value)
    if head is None:
        return None
    lines = [f"<b>{head}</b>", "", *card_lines(view, release, failure=False)]
    if detail and notice.kind is not NoticeKind.EMERGENCY:  # the card shows the reason
        lines.append(t.card_reason.format(reason=detail))
    return Screen("\n".join([*lines, *_log_line(t, notice, log_root)]))


def _bare_notice(view: View, notice: Notice, detail: str, log_root: Path | None) -> Screen | None:
    """A team notice without a release — a deploy or rollback by hand (``relman deploy``,
    issue 15 item 5): the header, the service, the tag, the detail and the log."""
    t = view.texts
    head = t.notice_head.get(notice.kind.value)
    if head is None or not notice.service:
        return None
    lines = [
        f"<b>{head}</b>",
        "",
        t.card_service.format(service=esc(notice.service, MAX_NAME)),
        t.card_tag.format(tag=esc(notice.ref, MAX_TAG)),
    ]
    if detail:
        lines.append(t.card_reason.format(reason=detail))
    return Screen("\n".join([*lines, *_log_line(t, notice, log_root)]))


def _log_line(t: Texts, notice: Notice, log_root: Path | None) -> list[str]:
    """The notice's log path (relative to ``log_root``) as a card line, if it has one."""
    if not notice.log_path:
        return []
    shown = notice.log_path
    if log_root is not None and Path(shown).is_relative_to(log_root):
        shown = str(Path(shown).relative_to(log_root))
    return [t.card_log.format(path=f"<code>{esc(shown, MAX_PATH)}</code>")]


def ready_text(view: View, release: Release) -> str:
    """The QA notice's own lines (seed 003 "Получение уведомления") and, when stage has a
    url, the link to test on (issue 16)."""
    t = view.texts
    text = t.notice_ready.format(
        service=esc(release.service_name, MAX_NAME),
        tag=esc(release.release_tag, MAX_TAG),
        initiator=esc(release.initiated_by, MAX_NAME),
        link=link(release.github_action_link, t.link_word),
    )
    stage = _stage_link(view, release)
    return f"{text}\n{stage}" if stage else text


def qa_notice_screen(view: View, release: Release) -> Screen:
    """The QA chat's notice as the release is now (issue 16 item 1): in manual testing the
    seed's notice with [✅ Подтвердить] [❌ Отклонить]; once decided no buttons, and what
    happened — the status, who decided and when, the reason of a rejection, the deploy or
    rollback that followed and how it ended."""
    t = view.texts
    text = ready_text(view, release)
    if release.status is S.MANUAL_TESTING:
        return Screen(text, keyboards.ready_for_testing(view.key, t, release))
    lines = [text, "", t.card_status.format(status=t.status(release.status))]
    decided = decision_line(view, release)
    if decided:
        lines.append(decided)
    if release.status is S.MANUAL_TEST_FAILED:
        reason = rejection_reason(failure_reason(release))
        if reason:
            lines.append(t.card_reason.format(reason=esc(reason, MAX_REASON)))
    lines += outcome_lines(view, release)
    if release.status in (S.PRODUCTION_FAILED, S.ROLLBACK_FAILED, S.STAGING_FAILED):
        reason = failure_reason(release)
        if reason:
            lines.append(t.card_reason.format(reason=esc(reason, MAX_REASON)))
    return Screen("\n".join(lines))


def progress_screen(view: View, release: Release, live: Release | None = None) -> Screen:
    """A card that follows a deploy or rollback started from it (issue 16 item 4): the
    release's card and what came of it so far, with the card's buttons."""
    card = card_screen(view, release, lst=Lst.NONE, position=0, live=live)
    extra = outcome_lines(view, release)
    text = card.text + ("\n\n" + "\n".join(extra) if extra else "")
    return Screen(text, card.markup)


def tracked_screen(view: View, release: Release, purpose: str) -> Screen:
    """What a message relman follows shows now (``purpose`` as stored: ``qa_notice`` or
    ``progress``)."""
    if purpose == "qa_notice":
        return qa_notice_screen(view, release)
    return progress_screen(view, release)


def reason_screen(view: View, release: Release, *, lst: Lst, position: int, more: bool) -> Screen:
    """❌ Отклонить asks why (issue 16 item 2): common reasons, ✍️ Другое… and ↩️ Отмена."""
    t = view.texts
    text = t.reason_ask.format(
        service=esc(release.service_name, MAX_NAME), tag=esc(release.release_tag, MAX_TAG)
    )
    markup = keyboards.reasons(view.key, t, release, lst=lst, position=position, more=more)
    return Screen(text, markup)


def reason_reply_text(view: View, release: Release, user_id: int, name: str) -> str:
    """The ForceReply prompt for a reason of one's own, mentioning the person (so the
    reply field opens for them in a group: ForceReply ``selective``)."""
    who = f'<a href="tg://user?id={int(user_id)}">{esc(name or str(user_id), MAX_NAME)}</a>'
    return view.texts.reason_reply.format(
        who=who,
        service=esc(release.service_name, MAX_NAME),
        tag=esc(release.release_tag, MAX_TAG),
    )


def picker_screen(
    view: View,
    live: Release,
    targets: list[Release],
    *,
    lst: Lst,
    position: int,
    more: bool,
) -> Screen:
    """⏪ Откатить on the release in production (issue 16 item 3): the earlier healthy
    releases to go back to, newest first with their deploy dates; each leads to the seed's
    confirmation. Without any, says so (only [Назад])."""
    t = view.texts
    service = esc(live.service_name, MAX_NAME)
    current = esc(live.release_tag, MAX_TAG)
    template = t.pick_rollback if targets else t.pick_nothing
    labels = [
        t.btn_pick.format(tag=clip(r.release_tag, MAX_TAG), when=view.when(r.completed_at))
        for r in targets
    ]
    markup = keyboards.pick_rollback(
        view.key, t, live, targets, labels, lst=lst, position=position, more=more
    )
    return Screen(template.format(service=service, current=current), markup)


def help_screen(view: View, who: str, roles: frozenset[str]) -> Screen:
    """``/help``: what the bot does, its commands, and the person's own roles."""
    t = view.texts
    named = [t.role_names[r] for r in ("admin", "qa", "releaser") if r in roles]
    shown = ", ".join(named) if named else t.no_roles
    return Screen(t.help.format(who=esc(who, MAX_NAME), roles=shown))
