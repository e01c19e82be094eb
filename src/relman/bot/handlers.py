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

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InaccessibleMessage,
    InlineKeyboardMarkup,
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
from relman.domain.release import Release, Source, parse_release_id
from relman.domain.status import ReleaseStatus
from relman.services.pipeline import Browse, ProductionMoved
from relman.store.bot_messages import Purpose, TrackedMessage

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


def markup_of(screen: cards.Screen) -> InlineKeyboardMarkup | None:
    """``screen``'s keyboard as aiogram's type (screens are plain data, see
    :class:`relman.bot.keyboards.Keyboard`); ``None`` without one."""
    if screen.markup is None:
        return None
    return InlineKeyboardMarkup.model_validate(screen.markup.to_api())


async def show(query: CallbackQuery, screen: cards.Screen) -> None:
    """Put ``screen`` in the message whose button was pressed (edit in place); when that
    message cannot be edited any more, send it as a new message to the same chat. An edit
    that changes nothing is success."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        chat_id = message.chat.id if message is not None else query.from_user.id
        await query.bot.send_message(chat_id, screen.text, reply_markup=markup_of(screen))  # type: ignore[union-attr]
        return
    try:
        await message.edit_text(screen.text, reply_markup=markup_of(screen))
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
    async def start(
        message: Message, command: CommandObject, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """``/start`` → the main menu (seed 003, "Главное меню"); ``/start release_12`` (a
        ``t.me/<bot>?start=release_12`` deep link, Bot API "Deep linking") → release 12's
        card (issue 16)."""
        payload = (command.args or "").strip()
        if payload.startswith(DEEP_LINK_PREFIX):
            wanted = parse_release_id(payload.removeprefix(DEEP_LINK_PREFIX))
            if wanted is None:
                await message.answer(texts.not_found)
                return
            await _open_release(message, bot_ctx, texts, wanted)
            return
        user = message.from_user
        name = user.full_name if user is not None else ""
        screen = cards.menu_screen(bot_ctx.view(texts), name)
        await message.answer(screen.text, reply_markup=markup_of(screen))

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

    @router.message(Command("help"))
    async def help_command(message: Message, bot_ctx: BotContext, texts: Texts) -> None:
        """``/help``: what the bot does, its commands, and the sender's own roles."""
        user = message.from_user
        if user is None:
            return
        actor = actor_of(user)
        roles = bot_ctx.container.pipeline.roles_of(actor)
        screen = cards.help_screen(bot_ctx.view(texts), actor.audit_name, roles)
        await message.answer(screen.text)

    @router.message(Command("release"))
    async def release_command(
        message: Message, command: CommandObject, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """``/release 12``: release 12's card."""
        wanted = parse_release_id(command.args or "")
        if wanted is None:
            await message.answer(texts.release_usage)
            return
        await _open_release(message, bot_ctx, texts, wanted)

    @router.message(Command("releases"))
    async def releases_command(message: Message, bot_ctx: BotContext, texts: Texts) -> None:
        """``/releases``: 🚀 Активные релизы, from the newest."""
        try:
            found = await bot_ctx.container.pipeline.browse("active", limit=2)
        except RelmanError as exc:
            await message.answer(refusal(texts, exc))
            return
        screen = cards.list_screen(
            bot_ctx.view(texts), Lst.ACTIVE, 0, found.releases, total=found.total, live=found.live
        )
        await message.answer(screen.text, reply_markup=markup_of(screen))

    @router.message(F.reply_to_message, ReplyToPrompt())
    async def reason_reply(
        message: Message, prompt: TrackedMessage, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """A reply to the ✍️ prompt (ForceReply): reject the release with the text as the
        reason (issue 16 item 2); the notice and the card follow through ``CHANGED``."""
        user = message.from_user
        reason = (message.text or "").strip()
        if user is None:
            return
        if not prompt.is_for(user.id):  # ForceReply is selective, but anyone can reply
            await message.reply(texts.reason_not_yours)
            return
        if not reason:
            await message.reply(texts.reason_missing)
            return
        try:
            await bot_ctx.container.pipeline.reject(
                prompt.release_id, actor=actor_of(user), source=Source.BOT, reason=reason
            )
        except RelmanError as exc:
            await message.reply(refusal(texts, exc))
            return
        await message.reply(texts.ok_rejected)

    @router.message(F.chat.type == "private")
    async def anything_else(message: Message, texts: Texts) -> None:
        """Free text or a command the bot does not know, in a private chat: a pointer to
        ``/help`` (in groups the bot stays quiet: the text is meant for people)."""
        await message.answer(texts.unknown)

    @router.callback_query(Pressed(Act.MENU))
    async def menu(query: CallbackQuery, bot_ctx: BotContext, texts: Texts) -> None:
        """⬅️ Назад в меню."""
        await query.answer()
        async with after_answer(query, texts):
            await _forget(query, bot_ctx)
            await show(query, cards.menu_screen(bot_ctx.view(texts), query.from_user.full_name))

    @router.callback_query(Pressed(Act.LIST))
    async def releases_list(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """🚀 Активные / ✅ Успешные / ❌ Провальные релизы, and ◀️ / ▶️: the card at
        ``press.position`` of the list."""
        await query.answer()
        async with after_answer(query, texts):
            found = await bot_ctx.container.pipeline.browse(
                press.lst.group, limit=press.position + 2
            )
            screen = cards.list_screen(
                bot_ctx.view(texts),
                press.lst,
                press.position,
                found.releases,
                total=found.total,
                live=found.live,
            )
            await _forget(query, bot_ctx)
            await show(query, screen)

    @router.callback_query(Pressed(Act.CARD))
    async def card(query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts) -> None:
        """🔄 Обновить (and [Назад] from the rollback confirmation, ↩️ Отмена of a
        rejection): the card again, with the release as it is now (and its failure
        reason); on the QA chat's notice, the notice as it is now."""
        await query.answer(texts.ok_refreshed)
        async with after_answer(query, texts):
            found = await bot_ctx.container.pipeline.show(press.release_id, group=press.lst.group)
            await _forget(query, bot_ctx, keep=press.release_id)
            await show(query, _card(bot_ctx, texts, found, press))

    @router.callback_query(Pressed(Act.APPROVE))
    async def approve(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """✅ Подтвердить: QA passes the release; production deploy follows. The message
        pressed on follows the release from here (issue 16 items 1 and 4): the QA notice
        says who approved and how the deploy went, a card becomes the deploy's progress —
        both edited by the sink on every ``CHANGED``, whoever moves the release."""
        await _follow(query, bot_ctx, texts, press, press.release_id)
        approval = bot_ctx.container.pipeline.approve(
            press.release_id, actor=actor_of(query.from_user), source=Source.BOT
        )
        await decide(query, texts, approval, texts.ok_approved)

    @router.callback_query(Pressed(Act.REJECT))
    async def reject(query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts) -> None:
        """❌ Отклонить: first asks why (issue 16 item 2) — the message shows common
        reasons, ✍️ Другое… and ↩️ Отмена; nothing changes yet. Who may reject is checked
        now (a refusal is audited), so nobody without the role is asked."""
        check = bot_ctx.container.pipeline.check_reject(
            press.release_id, actor=actor_of(query.from_user), source=Source.BOT
        )
        release = await decide(query, texts, check, "")
        if release is not None:
            screen = cards.reason_screen(
                bot_ctx.view(texts),
                release,
                lst=press.lst,
                position=press.position,
                more=press.more,
            )
            await show(query, screen)

    @router.callback_query(Pressed(Act.REJECT_REASON))
    async def reject_reason(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """A common reason chosen: QA fails the release (``manual_test_failed``) with it in
        the audit note and the notices; the message follows the release."""
        if not 0 < press.reason <= len(texts.reasons):
            await query.answer(texts.bad_button, show_alert=True)
            return
        await _follow(query, bot_ctx, texts, press, press.release_id)
        rejection = bot_ctx.container.pipeline.reject(
            press.release_id,
            actor=actor_of(query.from_user),
            source=Source.BOT,
            reason=texts.reasons[press.reason - 1],
        )
        await decide(query, texts, rejection, texts.ok_rejected)

    @router.callback_query(Pressed(Act.REJECT_OTHER))
    async def reject_other(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """✍️ Другое…: a ForceReply prompt (Bot API ``ForceReply``, ``selective``, the
        person mentioned) whose reply is the reason; recorded in ``bot_messages`` so any
        replica takes the reply."""
        check = bot_ctx.container.pipeline.check_reject(
            press.release_id, actor=actor_of(query.from_user), source=Source.BOT
        )
        release = await decide(query, texts, check, texts.ok_write_reason)
        if release is None:
            return
        async with after_answer(query, texts):
            await _follow(query, bot_ctx, texts, press, press.release_id)
            user = query.from_user
            text = cards.reason_reply_text(bot_ctx.view(texts), release, user.id, user.full_name)
            chat_id = query.message.chat.id if query.message is not None else user.id
            prompt = await query.bot.send_message(  # type: ignore[union-attr]
                chat_id,
                text,
                reply_markup=ForceReply(
                    force_reply=True,
                    selective=True,
                    input_field_placeholder=texts.reason_placeholder[:64],
                ),
            )
            await bot_ctx.messages.track(
                chat_id=chat_id,
                message_id=prompt.message_id,
                release_id=press.release_id,
                purpose="reason_prompt",
                at=bot_ctx.clock(),
                user_id=user.id,
                language=texts.language,
            )

    @router.callback_query(Pressed(Act.ROLLBACK_ASK))
    async def rollback_ask(
        query: CallbackQuery, press: Press, bot_ctx: BotContext, texts: Texts
    ) -> None:
        """⏪ Откатить: the confirmation screen (seed 003, "Процесс отката") naming the
        tag now in production and the chosen one."""
        await query.answer()
        async with after_answer(query, texts):
            preview = await bot_ctx.container.pipeline.rollback_preview(press.release_id)
            if preview.picks:
                # The live release itself: choose which earlier version (issue 16 item 3).
                screen = cards.picker_screen(
                    bot_ctx.view(texts),
                    preview.chosen,
                    preview.targets,
                    lst=press.lst,
                    position=press.position,
                    more=press.more,
                )
            else:
                screen = cards.confirm_screen(
                    bot_ctx.view(texts),
                    preview.chosen,
                    preview.current,
                    lst=press.lst,
                    position=press.position,
                    more=press.more,
                )
            await _forget(query, bot_ctx)
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
        and the press is refused without changing anything.

        The confirmation then follows the rollback (issue 16 item 4): edited by the sink on
        every ``CHANGED`` of the release rolled back, it ends with ✅ or ❌, the version
        now live and the time it took."""
        await _follow(query, bot_ctx, texts, press, press.current_id, lst=Lst.NONE)
        rollback = bot_ctx.container.pipeline.rollback_to_release(
            press.release_id,
            actor=actor_of(query.from_user),
            source=Source.BOT,
            expected_current=press.current_id,
        )
        await decide(query, texts, rollback, texts.ok_rollback)

    @router.callback_query()
    async def unknown_button(query: CallbackQuery, texts: Texts) -> None:
        """Any other ``callback_data`` (forged, truncated, from an old relman): a short
        refusal and a log line, nothing else (there is no release to audit it on)."""
        log.warning("refused a button relman did not sign, pressed by tg:%s", query.from_user.id)
        await query.answer(texts.bad_button, show_alert=True)

    return router


#: ``/start release_12``: the deep-link payload opening a card (1-64 characters of
#: ``A-Za-z0-9_-``, Bot API "Deep linking").
DEEP_LINK_PREFIX = "release_"


class ReplyToPrompt(Filter):
    """Matches a message replying to a ✍️ reason prompt relman recorded; hands the
    recorded row to the handler as ``prompt``."""

    async def __call__(self, message: Message, bot_ctx: BotContext) -> bool | dict[str, Any]:
        replied = message.reply_to_message
        if replied is None:
            return False
        prompt = await bot_ctx.messages.find(message.chat.id, replied.message_id)
        if prompt is None or prompt.purpose != "reason_prompt":
            return False
        return {"prompt": prompt}


def _card(bot_ctx: BotContext, texts: Texts, found: Browse, press: Press) -> cards.Screen:
    view = bot_ctx.view(texts)
    release = found.releases[0]
    if press.lst is Lst.NOTICE:
        return cards.qa_notice_screen(view, release)
    live = found.live.get(release.service_name)
    if press.lst is Lst.NONE:
        return cards.progress_screen(view, release, live)
    return cards.card_screen(
        view,
        release,
        lst=press.lst,
        position=press.position,
        has_older=press.more,
        total=found.total,
        live=live,
        artifact=found.artifacts.get(release.id or 0, ""),
    )


async def _open_release(message: Message, bot_ctx: BotContext, texts: Texts, rid: int) -> None:
    """Answer ``message`` with release ``rid``'s card (or a short refusal)."""
    try:
        found = await bot_ctx.container.pipeline.show(rid)
    except RelmanError as exc:
        await message.answer(refusal(texts, exc))
        return
    screen = _card(bot_ctx, texts, found, Press(Act.CARD, rid))
    await message.answer(screen.text, reply_markup=markup_of(screen))


async def _follow(
    query: CallbackQuery,
    bot_ctx: BotContext,
    texts: Texts,
    press: Press,
    release_id: int,
    *,
    lst: Lst | None = None,
) -> None:
    """Before a decision: the message pressed on follows ``release_id`` from now on — as
    the QA notice when it is one, else as a progress card (issue 16)."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage) or release_id <= 0:
        return
    store, at = bot_ctx.messages, bot_ctx.clock()
    if (lst or press.lst) is Lst.NOTICE:
        await store.follow(
            chat_id=message.chat.id, message_id=message.message_id, release_id=release_id, at=at
        )
        return
    purpose: Purpose = "progress"
    await store.track(
        chat_id=message.chat.id,
        message_id=message.message_id,
        release_id=release_id,
        purpose=purpose,
        at=at,
        language=texts.language,
    )


async def _forget(query: CallbackQuery, bot_ctx: BotContext, *, keep: int = 0) -> None:
    """The pressed message shows something else now: it stops following a release (unless
    it still shows ``keep``'s card; a QA notice always stays)."""
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return
    await bot_ctx.messages.forget(message.chat.id, message.message_id, keep_release=keep)
