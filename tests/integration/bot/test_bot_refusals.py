"""Refusals at the bot's edge (issue "Telegram bot", item 2 and "Test it"): the initiator,
a user without a role, forged buttons, replayed updates, a missing or wrong webhook secret.
Every refusal changes nothing but what it must (an audit row for a policy refusal)."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot as AiogramBot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, User

from relman.bot.callbacks import Act, Lst, Press, decode, encode, signing_key
from relman.bot.handlers import after_answer, decide
from relman.bot.texts import RU
from relman.domain.errors import PermissionDenied
from relman.domain.release import Release
from relman.domain.status import ReleaseStatus
from relman.store.deployments import DeploymentStore
from relman.store.tables import jobs
from tests.integration.bot.bot_harness import DEV_ID, QA_CHAT, QA_ID, RELEASER_ID, STRANGER_ID, Bot
from tests.support.api import PREFIX
from tests.support.telegram_double import (
    SECRET_HEADER,
    TelegramDouble,
    via_telegram,
)

S = ReleaseStatus


async def test_the_initiator_cannot_approve_their_own_release(bot: Bot) -> None:
    release = await bot.release_in_testing(by="dev")  # dev is QA too, as tg:333
    assert release.id is not None
    dev = bot.user(DEV_ID, "Дмитрий")
    query_id = await dev.press(bot.double.last(QA_CHAT), "✅ Подтвердить")
    await bot.settle()

    query = bot.double.query(query_id)
    assert query.answer_text == "⛔ Недостаточно прав для этого действия"
    assert query.show_alert
    events = await bot.events(release.id)
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING
    refused = events[-1]
    assert refused.kind == "refused"
    assert refused.actor == "tg:333 (Дмитрий)"
    assert refused.to_status is S.MANUAL_TEST_PASSED
    assert "four-eyes" in refused.note
    assert "🔄 Статус" not in bot.double.last(QA_CHAT).text  # the notice was left alone
    assert bot.double.errors() == []


async def test_a_user_without_a_role_is_refused_and_audited(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    stranger = bot.user(STRANGER_ID, "Иван")
    for label in ("✅ Подтвердить", "❌ Отклонить"):
        query_id = await stranger.press(bot.double.last(QA_CHAT), label)
        await bot.settle()
        assert bot.double.query(query_id).answer_text == "⛔ Недостаточно прав для этого действия"
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING
    refusals = [e for e in await bot.events(release.id) if e.kind == "refused"]
    assert [(e.actor, e.to_status) for e in refusals] == [
        ("tg:444 (Иван)", S.MANUAL_TEST_PASSED),
        ("tg:444 (Иван)", S.MANUAL_TEST_FAILED),
    ]


async def test_the_chat_does_not_authorize_the_user_who_pressed_does(bot: Bot) -> None:
    # The stranger presses in Anna's private chat (a forwarded card, a shared screen): the
    # press is judged by callback_query.from, never by whose chat the message is in.
    release = await bot.release_in_testing()
    anna = bot.user(QA_ID, "Анна Петрова")
    await anna.send("/start")
    await bot.settle()
    menu = bot.double.last(QA_ID)
    await anna.press(menu, "🚀 Активные релизы")
    await bot.settle()
    stranger = bot.user(STRANGER_ID, "Иван")
    query_id = await stranger.press(bot.double.message(QA_ID, menu.message_id), "✅ Подтвердить")
    await bot.settle()
    assert bot.double.query(query_id).answer_text == "⛔ Недостаточно прав для этого действия"
    assert release.id is not None
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING


async def test_forged_callback_data_changes_nothing(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    notice = bot.double.last(QA_CHAT)
    real = notice.button("✅ Подтвердить").callback_data
    assert real is not None
    other_key = signing_key("999:another-bot-token")
    forged = [
        f"ap.{release.id}.n.0.AAAAAAAAAAA",  # the right shape, a made-up signature
        real.replace(f".{release.id}.", f".{release.id + 1}."),  # another release, old sig
        encode(other_key, Press(Act.APPROVE, release.id)),  # signed by another bot
        "approve:1",
        f"ap.{release.id}.n.0",
        "x" * 64,
    ]
    before = await bot.written()
    for data in forged:
        query_id = await anna.press(notice, data=data)
        await bot.settle()
        query = bot.double.query(query_id)
        assert query.answer_text == "⚠️ Эта кнопка устарела или недействительна", data
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING
    events, seen = await bot.written()
    assert events == before[0]  # no audit row, no status change
    assert seen == before[1] + len(forged)  # each update was processed (once)
    assert bot.double.errors() == []


async def test_a_replayed_update_takes_effect_once(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    update, query_id = anna.press_update(bot.double.last(QA_CHAT), "✅ Подтвердить")
    # Pressed on the notice as it was, before the approval (the notice has no buttons after).
    concurrent, concurrent_id = anna.press_update(bot.double.last(QA_CHAT), "❌ Отклонить")

    for _ in range(10):  # Telegram retrying, one after another
        assert (await bot.poster(update)) == 200
    await bot.settle()
    statuses = await asyncio.gather(*(bot.poster(concurrent) for _ in range(10)))
    await bot.settle()

    assert statuses == [200] * 10
    approvals = [e for e in await bot.events(release.id) if e.to_status is S.MANUAL_TEST_PASSED]
    assert len(approvals) == 1
    answers = [c for c in bot.double.calls("answerCallbackQuery") if c.params["callback_query_id"]]
    assert [c.params["callback_query_id"] for c in answers] == [query_id, concurrent_id]
    assert bot.double.query(concurrent_id).answer_text == (
        "⚠️ Уже неактуально: статус релиза — 👍 Тесты пройдены"
    )
    # No second answer and no second edit: the notice was edited once, by the approval.
    assert len(bot.double.calls("editMessageText")) == 1
    assert bot.double.errors() == []


async def test_concurrent_replays_of_an_approval_take_effect_once(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    update, _ = anna.press_update(bot.double.last(QA_CHAT), "✅ Подтвердить")
    statuses = await asyncio.gather(*(bot.poster(update) for _ in range(10)))
    await bot.settle()
    assert statuses == [200] * 10
    events = await bot.events(release.id)
    assert [e.to_status for e in events].count(S.MANUAL_TEST_PASSED) == 1
    assert len(bot.double.calls("answerCallbackQuery")) == 1
    assert bot.double.errors() == []


async def test_a_missing_or_wrong_secret_is_403_and_writes_nothing(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    update, query_id = anna.press_update(bot.double.last(QA_CHAT), "✅ Подтвердить")
    before = await bot.written()
    sent_before = len(bot.double.calls())
    url = f"{PREFIX}/update"
    for headers in (
        {},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: bot.runtime.secret + "x"},
        {SECRET_HEADER: ""},
        {"Authorization": "Bearer test-interserver-secret-Zq8"},  # the API's secret is not it
    ):
        response = await bot.client.post(url, json=update, headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["error"] == "forbidden"
    # Not even a body that is not JSON gets parsed without the secret.
    response = await bot.client.post(url, content=b"\x00not json", headers={SECRET_HEADER: "x"})
    assert response.status_code == 403
    await bot.settle()
    assert await bot.written() == before
    assert len(bot.double.calls()) == sent_before
    assert not bot.double.query(query_id).answered
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING


async def test_a_body_that_is_not_an_update_is_400(bot: Bot) -> None:
    headers = {SECRET_HEADER: bot.runtime.secret}
    url = f"{PREFIX}/update"
    for body in (b"not json", b"[1, 2]", b'{"no_update_id": true}'):
        response = await bot.client.post(url, content=body, headers=headers)
        assert response.status_code == 400, body
    before = await bot.written()
    assert before[1] == 0


async def test_a_refused_decision_is_200_to_telegram(bot: Bot) -> None:
    # A business refusal is an answer in the chat, never an error status for Telegram
    # (which would re-send the update).
    await bot.release_in_testing()
    stranger = bot.user(STRANGER_ID, "Иван")
    update, query_id = stranger.press_update(bot.double.last(QA_CHAT), "✅ Подтвердить")
    assert await bot.poster(update) == 200
    await bot.settle()
    assert bot.double.query(query_id).answer_text == "⛔ Недостаточно прав для этого действия"
    assert bot.double.errors() == []


async def test_an_already_decided_release_gets_a_short_answer(bot: Bot) -> None:
    release = await bot.release_in_testing()
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    notice = bot.double.last(QA_CHAT)
    stale, stale_id = anna.press_update(notice, "❌ Отклонить")  # pressed on the old message
    await anna.press(notice, "✅ Подтвердить")
    await bot.settle()
    assert await bot.poster(stale) == 200
    await bot.settle()
    assert bot.double.query(stale_id).answer_text == (
        "⚠️ Уже неактуально: статус релиза — 👍 Тесты пройдены"
    )
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TEST_PASSED


async def test_rollback_needs_the_releaser_role_and_a_healthy_target(bot: Bot) -> None:
    old = await bot.deployed(await bot.release_in_testing("v1.0.0"))
    new = await bot.deployed(await bot.release_in_testing("v1.1.0"))
    assert old.id is not None and new.id is not None

    async def confirm(user_id: int, name: str) -> str:
        user = bot.user(user_id, name)
        await user.send("/start")
        await bot.settle()
        screen = bot.double.last(user_id)
        for label in ("✅ Успешные релизы", "Старее ▶️", "⏪ Откатить", "✅ Да, откатить"):
            query_id = await user.press(screen, label)
            await bot.settle()
        return bot.double.query(query_id).answer_text or ""

    # QA may approve, not roll back: refused and audited on the release in production.
    assert await confirm(QA_ID, "Анна Петрова") == "⛔ Недостаточно прав для этого действия"
    refused = (await bot.events(new.id))[-1]
    assert (refused.kind, refused.actor, refused.to_status) == (
        "refused",
        "tg:111 (Анна Петрова)",
        S.ROLLBACK,
    )
    # A releaser may, but only to a tag relman deployed healthy (CI reported these).
    assert await confirm(RELEASER_ID, "Борис") == (
        "⚠️ Откатить на эту версию нельзя: её нет среди успешных деплоев production"
    )
    assert (await bot.container.releases.get(new.id)).status is S.DEPLOYED
    assert bot.double.errors() == []


async def ran_healthy(bot: Bot, *releases: Release) -> None:
    """Record each release as deployed healthy to production by relman (what makes its
    tag a rollback target; CI's reports alone do not)."""
    store = DeploymentStore(bot.container.engine)
    for release in releases:
        at = bot.container.clock()
        deployment = await store.start(
            release_id=release.id,
            service=release.service_name,
            environment="production",
            tag=release.release_tag,
            kind="deploy",
            actor="relman",
            hosts=["web1"],
            at=at,
        )
        await store.finish(deployment, ok=True, at=at)


async def test_a_stale_rollback_confirmation_changes_nothing(bot: Bot) -> None:
    # Борис opens "v1.1.0 → v1.0.0"; v1.2.0 ships before he presses ✅ Да, откатить. The
    # confirmation he saw named v1.1.0 as the current tag, so the old button must not roll
    # back v1.2.0.
    old = await bot.deployed(await bot.release_in_testing("v1.0.0"))
    mid = await bot.deployed(await bot.release_in_testing("v1.1.0"))
    await ran_healthy(bot, old, mid)
    boris = bot.user(RELEASER_ID, "Борис")
    await boris.send("/start")
    await bot.settle()
    screen = bot.double.last(RELEASER_ID)
    for label in ("✅ Успешные релизы", "Старее ▶️", "⏪ Откатить"):
        await boris.press(screen, label)
        await bot.settle()
    assert "🏷️ Текущий tag: v1.1.0\n⏪ Откатить на tag: v1.0.0" in screen.text
    stale = screen.button("✅ Да, откатить").callback_data
    assert stale is not None and len(stale.encode()) <= 64
    assert decode(signing_key(bot.double.token), stale).current_id == mid.id  # signed in

    new = await bot.deployed(await bot.release_in_testing("v1.2.0"))
    await ran_healthy(bot, new)
    assert new.id is not None and old.id is not None and mid.id is not None
    current = await bot.container.pipeline.current_deployed("loom-content")
    assert current is not None and current.id == new.id
    before = (await bot.written(), await bot.count(jobs), screen.text)

    query_id = await boris.press(screen, data=stale)  # the old confirmation's button
    await bot.settle()

    query = bot.double.query(query_id)
    assert query.answer_text == "⚠️ В продакшене уже другая версия — откройте откат заново"
    assert query.show_alert
    written, seen = await bot.written()
    assert written == before[0][0]  # no audit row: no transition, no refusal
    assert seen == before[0][1] + 1
    assert await bot.count(jobs) == before[1]  # no rollback queued
    assert screen.text == before[2]  # the screen was left as it was
    for release, tag in ((new, "v1.2.0"), (mid, "v1.1.0"), (old, "v1.0.0")):
        now = await bot.container.releases.get(release.id)
        assert (now.release_tag, now.status, now.rollback_to_tag) == (tag, S.DEPLOYED, "")
    assert bot.double.errors() == []

    # Opened again, the confirmation names v1.2.0 and its button does roll it back.
    await boris.press(screen, "Назад")
    await bot.settle()
    await boris.press(screen, "⏪ Откатить")
    await bot.settle()
    assert "🏷️ Текущий tag: v1.2.0\n⏪ Откатить на tag: v1.0.0" in screen.text
    query_id = await boris.press(screen, "✅ Да, откатить")
    await bot.settle()
    assert bot.double.query(query_id).answer_text == "⏪ Откат запущен"
    rolled = await bot.container.releases.get(new.id)
    assert (rolled.status, rolled.rollback_to_tag) == (S.ROLLBACK, "v1.0.0")


async def test_a_failure_after_the_answer_is_told_in_the_chat(bot: Bot) -> None:
    # A signed button for a release that does not exist (e.g. from a restored database):
    # the callback was already answered, so the refusal comes as a short message.
    anna = bot.user(QA_ID, "Анна Петрова")
    await anna.send("/start")
    await bot.settle()
    menu = bot.double.last(QA_ID)
    data = encode(signing_key(bot.double.token), Press(Act.CARD, 9999, Lst.ACTIVE, 0))
    query_id = await anna.press(menu, data=data)
    await bot.settle()
    assert bot.double.query(query_id).answer_text == "🔄 Обновлено"
    assert bot.double.last(QA_ID).text == "❓ Релиз не найден"
    assert menu.text.startswith("🤖 Release Bot")  # the menu was left as it was


def pressed(telegram: TelegramDouble, client: AiogramBot, user_id: int) -> CallbackQuery:
    """A callback query of ``user_id`` (known to the double), bound to ``client``."""
    telegram.user(user_id, "Анна", deliver=via_telegram(telegram))
    query_id = telegram.new_query(user_id, "c.1.n.0.AAAAAAAAAAA")
    return CallbackQuery(
        id=query_id,
        from_user=User(id=user_id, is_bot=False, first_name="Анна"),
        chat_instance="ci",
        data="c.1.n.0.AAAAAAAAAAA",
    ).as_(client)


async def test_an_unexpected_error_still_answers_the_press(telegram: TelegramDouble) -> None:
    # Whatever a decision raises, the button does not spin until Telegram gives up; a
    # RelmanError is a refusal, anything else "failed" and is raised for the gate to count.
    async def broken() -> Release:
        raise RuntimeError("a bug")

    async def refused() -> Release:
        raise PermissionDenied("no role")

    client = AiogramBot(
        telegram.token, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    )
    try:
        query = pressed(telegram, client, QA_ID)
        with pytest.raises(RuntimeError, match="a bug"):
            await decide(query, RU, broken(), RU.ok_approved)
        answered = telegram.query(query.id)
        assert (answered.answer_text, answered.show_alert) == (RU.failed, True)

        query = pressed(telegram, client, QA_ID)
        assert await decide(query, RU, refused(), RU.ok_approved) is None
        assert telegram.query(query.id).answer_text == RU.no_permission

        # After the answer (a list, a card), the chat is told instead.
        query = pressed(telegram, client, QA_ID)
        await query.answer()
        with pytest.raises(RuntimeError, match="a bug"):
            async with after_answer(query, RU):
                await broken()
        assert telegram.last(QA_ID).text == RU.failed
        assert telegram.errors() == []
    finally:
        await client.session.close()
