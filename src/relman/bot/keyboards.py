"""Inline keyboards of the bot's screens (seed 003, "Telegram Bot интерфейс").

Every button's ``callback_data`` is made by :func:`relman.bot.callbacks.encode` (signed,
at most 64 bytes); button labels come from :class:`~relman.bot.texts.Texts`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from relman.bot.callbacks import MAX_POSITION, Act, Lst, Press, encode
from relman.bot.texts import Texts
from relman.domain.release import Release
from relman.domain.status import ReleaseStatus


@dataclass(frozen=True, slots=True)
class Button:
    """A button that sends ``callback_data`` (1–64 bytes) when pressed (Bot API
    ``InlineKeyboardButton``)."""

    text: str
    callback_data: str


@dataclass(frozen=True, slots=True)
class Keyboard:
    """Bot API ``InlineKeyboardMarkup`` as plain data, rows of :class:`Button`: screens are
    built without the Telegram library, which a one-shot process (a CLI command posting a
    notice) must not pay seconds to import."""

    inline_keyboard: list[list[Button]]

    def to_api(self) -> dict[str, Any]:
        """The JSON object the Bot API takes as ``reply_markup``."""
        return {
            "inline_keyboard": [
                [{"text": b.text, "callback_data": b.callback_data} for b in row]
                for row in self.inline_keyboard
            ]
        }


def _button(key: bytes, label: str, press: Press) -> Button:
    return Button(text=label, callback_data=encode(key, press))


def menu(key: bytes, t: Texts) -> Keyboard:
    """[🚀 Активные релизы] [✅ Успешные релизы] [❌ Провальные релизы], one per row."""
    return Keyboard(
        inline_keyboard=[
            [_button(key, t.btn_active, Press(Act.LIST, lst=Lst.ACTIVE))],
            [_button(key, t.btn_successful, Press(Act.LIST, lst=Lst.SUCCESSFUL))],
            [_button(key, t.btn_failed, Press(Act.LIST, lst=Lst.FAILED))],
        ]
    )


def back_to_menu(key: bytes, t: Texts) -> Keyboard:
    """Only [⬅️ Назад в меню] (an empty list)."""
    return Keyboard(inline_keyboard=[[_button(key, t.btn_menu, Press(Act.MENU))]])


def card(
    key: bytes,
    t: Texts,
    release: Release,
    *,
    lst: Lst,
    position: int,
    has_older: bool,
) -> Keyboard:
    """A release card's buttons (seed 003):

    - ``manual_testing``: [✅ Подтвердить] [❌ Отклонить];
    - ``deployed``: [⏪ Откатить] ("put the service back on this version");
    - always [🔄 Обновить];
    - in a list: [◀️ Новее] / [Старее ▶️] where there is a newer / older card;
    - [⬅️ Назад в меню].
    """
    here = Press(Act.CARD, release.id or 0, lst, position, has_older)
    rows: list[list[Button]] = []
    if release.status is ReleaseStatus.MANUAL_TESTING:
        rows.append(
            [
                _button(key, t.btn_approve, replace(here, act=Act.APPROVE)),
                _button(key, t.btn_reject, replace(here, act=Act.REJECT)),
            ]
        )
    if release.status is ReleaseStatus.DEPLOYED:
        rows.append([_button(key, t.btn_rollback, replace(here, act=Act.ROLLBACK_ASK))])
    rows.append([_button(key, t.btn_refresh, here)])
    if lst is not Lst.NONE:
        nav = []
        if position > 0:
            nav.append(_button(key, t.btn_newer, Press(Act.LIST, 0, lst, position - 1)))
        if has_older and position < MAX_POSITION:
            nav.append(_button(key, t.btn_older, Press(Act.LIST, 0, lst, position + 1)))
        if nav:
            rows.append(nav)
    rows.append([_button(key, t.btn_menu, Press(Act.MENU))])
    return Keyboard(inline_keyboard=rows)


def confirm_rollback(
    key: bytes,
    t: Texts,
    release: Release,
    *,
    lst: Lst,
    position: int,
    more: bool,
    current_id: int,
) -> Keyboard:
    """[✅ Да, откатить] [Назад] (seed 003, "Процесс отката"); only [Назад] when there is
    nothing to confirm (``current_id`` 0). [Назад] returns to the release's card.

    ✅ Да, откатить carries ``current_id``, the release in production the confirmation
    names, so a press after production has moved on is refused (not applied to another
    release than the one confirmed)."""
    here = Press(Act.CARD, release.id or 0, lst, position, more)
    row = [_button(key, t.btn_back, here)]
    if current_id > 0:
        yes = replace(here, act=Act.ROLLBACK_YES, current_id=current_id)
        row.insert(0, _button(key, t.btn_confirm_yes, yes))
    return Keyboard(inline_keyboard=[row])


def ready_for_testing(key: bytes, t: Texts, release: Release) -> Keyboard:
    """The QA notification's [✅ Подтвердить] [❌ Отклонить] (seed 003, "Принятие
    решения"); their list is :attr:`Lst.NOTICE`, so the notice stays a notice."""
    rid = release.id or 0
    return Keyboard(
        inline_keyboard=[
            [
                _button(key, t.btn_approve, Press(Act.APPROVE, rid, Lst.NOTICE, 0)),
                _button(key, t.btn_reject, Press(Act.REJECT, rid, Lst.NOTICE, 0)),
            ]
        ]
    )


def reasons(
    key: bytes, t: Texts, release: Release, *, lst: Lst, position: int, more: bool
) -> Keyboard:
    """The rejection's reasons, one per row (``rr`` with the reason's number), then
    [✍️ Другое…] and [↩️ Отмена] (back to the card or notice, nothing changed)."""
    here = Press(Act.CARD, release.id or 0, lst, position, more)
    rows = [
        [_button(key, label, replace(here, act=Act.REJECT_REASON, reason=number))]
        for number, label in enumerate(t.reasons, start=1)
    ]
    rows.append([_button(key, t.btn_reason_other, replace(here, act=Act.REJECT_OTHER))])
    rows.append([_button(key, t.btn_cancel, here)])
    return Keyboard(inline_keyboard=rows)


def pick_rollback(
    key: bytes,
    t: Texts,
    live: Release,
    targets: list[Release],
    labels: list[str],
    *,
    lst: Lst,
    position: int,
    more: bool,
) -> Keyboard:
    """One button per rollback target (to its confirmation), then [Назад] to the card."""
    here = Press(Act.CARD, live.id or 0, lst, position, more)
    rows = [
        [_button(key, label, replace(here, act=Act.ROLLBACK_ASK, release_id=target.id or 0))]
        for target, label in zip(targets, labels, strict=True)
    ]
    rows.append([_button(key, t.btn_back, here)])
    return Keyboard(inline_keyboard=rows)
