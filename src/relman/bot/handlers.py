"""The bot's aiogram router: ``/start`` and the inline buttons (seed 003).

Each handler parses the update (the button's signed :class:`~relman.bot.callbacks.Press`),
calls one service function, and renders a screen from :mod:`relman.bot.cards`. There is no
business logic here: who may approve, what may follow what, which tag production goes
back to — all of that is decided by :mod:`relman.services.pipeline`.

Callback queries are answered exactly once and before any message is edited or sent:

- navigation (menu, lists, cards, the rollback confirmation) answers at once, then reads
  and renders;
- a decision (approve, reject, confirmed rollback) first calls the service — a quick
  database transaction; the deploy itself runs later on the worker — because its answer
  *is* the outcome: the short refusal (Telegram's callback answer, ≤ 200 characters) or
  the acknowledgement; then the card is re-rendered.

A :class:`~relman.domain.errors.RelmanError` is translated into a short refusal here, at
the edge (:func:`refusal`); the services have already audited refusals of the policy.
Any other error still gets the press answered (or, once answered, a short message in the
chat: :attr:`Texts.failed`) and is then raised, so the update gate counts it as an error.
"Message is not modified" from an edit (🔄 Обновить on an unchanged card) is success.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandStart, Filter
from aiogram.types import (
    CallbackQuery,
    InaccessibleMessage,
    LinkPreviewOptions,
    Message,
    User,
)

from relman.bot import cards
from relman.bot.callbacks import Act, BadCallback, Lst, Press, decode
from relman.bot.context import BotContext
from relman.bot.texts import Texts
from relman.domain.errors import (
    Conflict,
    EnvironmentLocked,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RelmanError,
    StoreUnavailable,
)
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus
from relman.services.pipeline import ProductionMoved

log = logging.getLogger("relman.bot")

#: Telegram's answer to an edit that changes nothing (Bot API ``editMessageText``).
NOT_MODIFIED = "message is not modified"


def actor_of(user: User) -> Actor:
    """The acting identity of a Telegram user: ``tg:<user id>`` with their name. Always
    the user who pressed (``callback_query.from``), never the chat (DESIGN.md §5)."""
    return Actor(id=f"tg:{user.id}", name=user.full_name[:64])


def refusal(t: Texts, exc: RelmanError) -> str:
    """The short chat refusal for ``exc`` (at most 200 characters, plain text)."""
    if isinstance(exc, BadCallback):
        return t.bad_button
    if isinstance(exc, PermissionDenied):
        return t.no_permission
    if isinstance(exc, ProductionMoved):
        return t.rollback_moved
    if isinstance(exc, EnvironmentLocked):
        return t.busy
    if isinstance(exc, IllegalTransition):
        return t.no_longer.format(status=_status_name(t, exc.current))
    if isinstance(exc, Conflict) and "current" in exc.details:
        return t.no_longer.format(status=_status_name(t, str(exc.details["current"])))
    if isinstance(exc, NotFound):
        return t.not_found
    if isinstance(exc, InvalidInput):
        return t.no_rollback if exc.field == "to_tag" else t.bad_input
    if isinstance(exc, StoreUnavailable):
        return t.unavailable
    return t.failed


def _status_name(t: Texts, raw: str) -> str:
    try:
        return t.status(ReleaseStatus(raw))
    except ValueError:
        return raw


class Pressed(Filter):
    """Matches a callback query whose ``callback_data`` is a valid signed button of one
    of ``acts``; hands the decoded :class:`Press` to the handler as ``press``."""

    def __init__(self, *acts: Act) -> None:
        self.acts = frozenset(acts)

    async def __call__(self, query: CallbackQuery, bot_ctx: BotContext) -> bool | dict[str, Any]:
        try:
            press = decode(bot_ctx.key, query.data)
        except BadCallback:
            return False
        if press.act not in self.acts:
            return False
        if press.act is Act.LIST and press.lst is Lst.NONE:
            return False
        return {"press": press}


async def show(query: CallbackQuery, screen: cards.Screen) -> None:
    """Put ``screen`` in the message whose button was pressed (edit in place); when that
    message cannot be edited any more, send it as a new message to the same chat. An edit
    that changes nothing is success."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        chat_id = message.chat.id if message is not None else query.from_user.id
        await query.bot.send_message(chat_id, screen.text, reply_markup=screen.markup)  # type: ignore[union-attr]
        return
    try:
        await message.edit_text(screen.text, reply_markup=screen.markup)
    except TelegramBadRequest as exc:
        if NOT_MODIFIED not in exc.message:
            raise


async def decide(
    query: CallbackQuery, t: Texts, action: Awaitable[Release], ok: str
) -> Release | None:
    """Await ``action`` (a decision: one service call) and answer the press with its
    outcome — ``ok``, or the refusal as an alert (then ``None``). The press is answered
    whatever happens: an unexpected error is answered with ``t.failed``, then raised."""
    try:
        release = await action
    except RelmanError as exc:
        await query.answer(refusal(t, exc), show_alert=True)
        return None
    except Exception:
        await query.answer(t.failed, show_alert=True)
        raise
    await query.answer(ok)
    return release


@asynccontextmanager
async def after_answer(query: CallbackQuery, t: Texts) -> AsyncIterator[None]:
    """For work done after the callback was answered: a refusal cannot go into the answer
    any more, so it is sent as a short message to the chat; an unexpected error is told
    as ``t.failed`` (best effort) and raised."""
    try:
        yield
    except RelmanError as exc:
        log.warning("bot action failed after answering: %s", exc.code)
        await _tell(query, refusal(t, exc))
    except Exception:
        with contextlib.suppress(TelegramAPIError):
            await _tell(query, t.failed)
        raise


async def _tell(query: CallbackQuery, text: str) -> None:
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    await query.bot.send_message(chat_id, text)  # type: ignore[union-attr]


def build_router() -> Router:
    """A fresh router with the bot's handlers (a router joins one dispatcher only)."""
    router = Router(name="relman")

    @router.message(CommandStart())
    async def start(message: Message, bot_ctx: BotContext, texts: Texts) -> None:
        """``/start`` → the main menu (seed 003, "Главное меню")."""
        user = message.from_user
        name = user.full_name if user is not None else ""
        screen = cards.menu_screen(bot_ctx.view(texts), name)
        await message.answer(screen.text, reply_markup=screen.markup)

    @router.message(Command("web"))
    async def web(message: Message, bot_ctx: BotContext, texts: Texts) -> None:
        """``/web``: a one-time link (5 minutes) signing the sender in to the dashboard as
        ``tg:<id>`` (issue 13); sent only in a private chat, where nobody else sees it."""
        from relman.web.signin import settings_link
        from relman.web.texts import WEB_LANGUAGES

        words = WEB_LANGUAGES[texts.language]
        user = message.from_user
        if user is None or message.chat.type != "private":
            await message.answer(words["bot_private"])
            return
        actor = actor_of(user)
        url = settings_link(bot_ctx.container.settings, actor.id, actor.name, now=bot_ctx.clock())
        text = words["bot_link"].format(
            who=cards.esc(actor.id, cards.MAX_NAME),
            link=f'<a href="{html.escape(url, quote=True)}">{words["bot_link_open"]}</a>',
        )
        await message.answer(text, link_preview_options=LinkPreviewOptions(is_disabled=True))

    @router.callback_query(Pressed(Act.MENU))
    async def menu(query: CallbackQuery, bot_ctx: BotContext, texts: Texts) -> None:
        """⬅️ Назад в меню."""
        await query.answer()
        await show(query, cards.menu_screen(bot_ctx.view(texts), query.from_user.full_name))

    @router.callback_query(Pressed(Act.LIST))
    async def releases_list(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """🚀 Активные / ✅ Успешные / ❌ Провальные релизы, and ◀️ / ▶️: the card at
        ``press.position`` of the list."""
        await query.answer()
        async with after_answer(query, texts):
            page = await bot_ctx.container.releases.list(
                group=press.lst.group, limit=press.position + 2
            )
            screen = cards.list_screen(
                bot_ctx.view(texts), press.lst, press.position, page.releases
            )
            await show(query, screen)

    @router.callback_query(Pressed(Act.CARD))
    async def card(query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts) -> None:
        """🔄 Обновить (and [Назад] from the rollback confirmation): the card again, with
        the release as it is now (and its failure reason)."""
        await query.answer(texts.ok_refreshed)
        async with after_answer(query, texts):
            release = await bot_ctx.container.releases.get(press.release_id)
            await show(query, _card(bot_ctx, texts, release, press))

    @router.callback_query(Pressed(Act.APPROVE))
    async def approve(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """✅ Подтвердить: QA passes the release; production deploy follows."""
        approval = bot_ctx.container.pipeline.approve(
            press.release_id, actor=actor_of(query.from_user), source=Source.BOT
        )
        release = await decide(query, texts, approval, texts.ok_approved)
        if release is not None:
            await show(query, _card(bot_ctx, texts, release, press))

    @router.callback_query(Pressed(Act.REJECT))
    async def reject(query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts) -> None:
        """❌ Отклонить: QA fails the release (``manual_test_failed``)."""
        rejection = bot_ctx.container.pipeline.reject(
            press.release_id,
            actor=actor_of(query.from_user),
            source=Source.BOT,
            reason="rejected in Telegram",
        )
        release = await decide(query, texts, rejection, texts.ok_rejected)
        if release is not None:
            await show(query, _card(bot_ctx, texts, release, press))

    @router.callback_query(Pressed(Act.ROLLBACK_ASK))
    async def rollback_ask(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """⏪ Откатить: the confirmation screen (seed 003, "Процесс отката") naming the
        tag now in production and the chosen one."""
        await query.answer()
        async with after_answer(query, texts):
            preview = await bot_ctx.container.pipeline.rollback_preview(press.release_id)
            screen = cards.confirm_screen(
                bot_ctx.view(texts),
                preview.chosen,
                preview.current,
                lst=press.lst,
                position=press.position,
                more=press.more,
            )
            await show(query, screen)

    @router.callback_query(Pressed(Act.ROLLBACK_YES))
    async def rollback_yes(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """✅ Да, откатить: put the service back on the chosen release's tag; the card of
        the release being rolled back replaces the confirmation.

        The button carries the release that was in production when the confirmation was
        shown (``press.current_id``); when another one is there now (a newer release was
        deployed meanwhile), the confirmation is stale — it named another "current tag" —
        and the press is refused without changing anything."""

        rollback = bot_ctx.container.pipeline.rollback_to_release(
            press.release_id,
            actor=actor_of(query.from_user),
            source=Source.BOT,
            expected_current=press.current_id,
        )
        moved = await decide(query, texts, rollback, texts.ok_rollback)
        if moved is not None:
            screen = cards.card_screen(bot_ctx.view(texts), moved, lst=Lst.NONE, position=0)
            await show(query, screen)

    @router.callback_query()
    async def unknown_button(query: CallbackQuery, texts: Texts) -> None:
        """Any other ``callback_data`` (forged, truncated, from an old relman): a short
        refusal and a log line, nothing else (there is no release to audit it on)."""
        log.warning("refused a button relman did not sign, pressed by tg:%s", query.from_user.id)
        await query.answer(texts.bad_button, show_alert=True)

    return router


def _card(bot_ctx: BotContext, texts: Texts, release: Release, press: Press) -> cards.Screen:
    return cards.card_screen(
        bot_ctx.view(texts),
        release,
        lst=press.lst,
        position=press.position,
        has_older=press.more,
    )
