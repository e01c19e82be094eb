"""Issue 16 against the Bot API double, with the real services and database: the QA notice
tells the truth after a decision from any source, a rejection asks why, the live release is
marked and its rollback offers earlier versions, a rollback's progress updates in place,
the stage link, commands, /help and deep links."""

from __future__ import annotations

from pathlib import Path

import pytest

from relman.config import Environment, Host, RelmanConfig
from relman.domain.errors import InvalidInput
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.store.bot_messages import BotMessageStore
from tests.integration.bot.bot_harness import (
    DEV_ID,
    POLICY,
    QA,
    QA_CHAT,
    QA_ID,
    RELEASER_ID,
    STRANGER_ID,
    TEAM_CHAT,
    Bot,
    running_bot,
)
from tests.integration.bot.test_bot_refusals import ran_healthy
from tests.support.telegram_double import TelegramDouble

S = ReleaseStatus


async def test_the_qa_notice_follows_an_approval_made_elsewhere(bot: Bot) -> None:
    release = await bot.release_in_testing("v1.4.0")
    assert release.id is not None
    notice = bot.double.last(QA_CHAT)
    before = notice.text
    assert notice.labels == ["✅ Подтвердить", "❌ Отклонить"]

    # Approved through the API (another replica, the CLI, the dashboard: the same service).
    await bot.container.pipeline.approve(release.id, actor=QA, source=Source.API)
    await bot.settle()
    after = notice.text
    assert notice.keyboard == []  # its buttons are gone
    assert after.startswith(before + "\n\n🔄 Статус: 👍 Тесты пройдены\n")
    assert "✅ Подтвердил: tg:111 (Анна Петрова) · " in after and " UTC" in after
    assert after.endswith("🚀 Идёт деплой на production…")

    await bot.report(release, S.DEPLOYING, S.DEPLOYED)
    assert "🔄 Статус: ✅ Задеплоен" in notice.text
    assert "✅ Задеплоен: в production v1.4.0 · заняло " in notice.text
    assert bot.double.errors() == []


async def test_a_rejection_asks_why_and_the_reason_reaches_everyone(bot: Bot) -> None:
    release = await bot.release_in_testing("v2.1.0")
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    notice = bot.double.last(QA_CHAT)
    before = notice.text

    await anna.press(notice, "❌ Отклонить")
    await bot.settle()
    assert "Почему релиз не прошёл тестирование?" in notice.text
    await anna.press(notice, "↩️ Отмена")  # changes nothing
    await bot.settle()
    assert notice.text == before and notice.labels == ["✅ Подтвердить", "❌ Отклонить"]
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING

    await anna.press(notice, "❌ Отклонить")
    await bot.settle()
    query_id = await anna.press(notice, "✍️ Другое…")
    await bot.settle()
    assert bot.double.query(query_id).answer_text == "✍️ Напишите причину ответом на сообщение"
    prompt = bot.double.last(QA_CHAT)
    assert prompt.force_reply is not None and prompt.force_reply.get("selective") is True
    assert prompt.text.startswith("✍️ Анна Петрова, напишите причину отклонения")

    await anna.send("Кнопка «Оплатить» падает с 500", chat=notice.chat, reply_to=prompt)
    await bot.settle()
    final = await bot.container.releases.get(release.id)
    assert final.status is S.MANUAL_TEST_FAILED
    assert final.events[-1].note == "rejected: Кнопка «Оплатить» падает с 500"
    assert notice.keyboard == []
    assert "❌ Отклонил: tg:111 (Анна Петрова) · " in notice.text
    assert "⚠️ Причина: Кнопка «Оплатить» падает с 500" in notice.text
    team = bot.double.last(TEAM_CHAT)
    assert team.text.startswith("👎 Релиз отклонён QA")
    assert "⚠️ Причина: Кнопка «Оплатить» падает с 500" in team.text
    assert bot.double.last(QA_CHAT).text == "❌ Релиз отклонён"  # the reply's answer
    assert bot.double.errors() == []


async def test_a_blank_reason_is_refused_by_the_service(bot: Bot) -> None:
    release = await bot.release_in_testing("v2.2.0")
    assert release.id is not None
    with pytest.raises(InvalidInput, match="say why") as refused:
        await bot.container.pipeline.reject(release.id, actor=QA, source=Source.CLI, reason=" ")
    assert refused.value.field == "reason"
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING


async def test_telegram_limits_on_edits_are_not_fatal(bot: Bot) -> None:
    old = await bot.release_in_testing("v3.0.0", service="old-svc")
    fresh = await bot.release_in_testing("v3.0.1", service="new-svc")
    assert old.id is not None and fresh.id is not None
    old_notice, fresh_notice = bot.double.messages(QA_CHAT)[-2:]
    bot.double.age(QA_CHAT, old_notice.message_id, hours=49)  # bots cannot edit it now
    bot.double.rate_limit("editMessageText", times=1, retry_after=1)

    await bot.container.pipeline.approve(old.id, actor=QA, source=Source.API)
    await bot.container.pipeline.approve(fresh.id, actor=QA, source=Source.API)
    await bot.settle()

    assert "✅ Подтвердить" in old_notice.labels  # left alone, and no longer followed
    assert fresh_notice.keyboard == [] and "👍 Тесты пройдены" in fresh_notice.text
    assert await BotMessageStore(bot.container.engine).following(old.id) == []
    assert {(c.error_code, c.description) for c in bot.double.errors()} == {
        (429, "Too Many Requests: retry after 1"),  # waited out, then edited
        (400, "Bad Request: message can't be edited"),  # the old one: given up on
    }


async def test_commands_help_and_deep_links(bot: Bot) -> None:
    await bot.double.until(lambda: len(bot.double.calls("setMyCommands")) == 3)
    assert [c["command"] for c in bot.double.commands("ru")] == [
        "start",
        "releases",
        "release",
        "web",
        "help",
    ]
    assert bot.double.commands("en")[0]["description"] == "Main menu"
    assert bot.double.commands("")[0]["description"] == "Главное меню"  # the default (ru)

    release = await bot.release_in_testing("v4.0.0")
    anna = bot.user(QA_ID, "Анна Петрова")
    await anna.send("/help")
    await bot.settle()
    assert "🔑 Ваши роли: QA (подтверждать и отклонять)" in bot.double.last(QA_ID).text
    stranger = bot.user(STRANGER_ID, "Иван")
    await stranger.send("/help")
    await bot.settle()
    assert "🔑 Ваши роли: нет — только просмотр" in bot.double.last(STRANGER_ID).text

    await anna.send(f"/start release_{release.id}")
    await bot.settle()
    card = bot.double.last(QA_ID)
    assert card.text.startswith("📦 Релиз\n\n📦 loom-content\n🏷️ Tag: v4.0.0")
    assert card.labels[:2] == ["✅ Подтвердить", "❌ Отклонить"]
    await anna.send(f"/release {release.id}")
    await bot.settle()
    assert "🏷️ Tag: v4.0.0" in bot.double.last(QA_ID).text
    await anna.send("/release 99999")
    await bot.settle()
    assert bot.double.last(QA_ID).text == "❓ Релиз не найден"
    for text in ("привет", "/nonsense"):
        await anna.send(text)
        await bot.settle()
        assert bot.double.last(QA_ID).text == "🤷 Не понимаю это сообщение. Что я умею — /help"
    assert bot.double.errors() == []


async def test_the_live_release_is_marked_and_rolls_back_to_a_chosen_version(bot: Bot) -> None:
    old = await bot.deployed(await bot.release_in_testing("v1.0.0"))
    mid = await bot.deployed(await bot.release_in_testing("v1.1.0"))
    new = await bot.deployed(await bot.release_in_testing("v1.2.0"))
    await ran_healthy(bot, old, mid, new)
    boris = bot.user(RELEASER_ID, "Борис")
    await boris.send("/start")
    await bot.settle()
    screen = bot.double.last(RELEASER_ID)
    await boris.press(screen, "✅ Успешные релизы")
    await bot.settle()
    assert screen.text.startswith("✅ Успешные релизы · 1/3")
    assert "🟢 Сейчас в production" in screen.text

    await boris.press(screen, "⏪ Откатить")  # on the live one: not a dead end
    await bot.settle()
    assert "🟢 Сейчас в production: v1.2.0" in screen.text
    assert [label.split(" · ")[0] for label in screen.labels] == ["v1.1.0", "v1.0.0", "Назад"]
    assert screen.labels[0].endswith(" UTC")
    await boris.press(screen, screen.labels[1])  # v1.0.0 → the seed's confirmation
    await bot.settle()
    assert "🏷️ Текущий tag: v1.2.0\n⏪ Откатить на tag: v1.0.0" in screen.text

    await boris.press(screen, "✅ Да, откатить")
    await bot.settle()
    assert "🔄 Статус: ⏪ Выполняется откат" in screen.text
    assert "⏪ Идёт откат на v1.0.0…" in screen.text
    # The worker runs it; loom-content is not in relman.toml, so the rollback fails — and
    # the confirmation, now the rollback's progress, says so without a press.
    await bot.container.worker().run_until_idle()
    await bot.settle()
    assert "🔄 Статус: 🔥 Ошибка отката" in screen.text
    assert "❌ Откат не удался · заняло " in screen.text
    assert bot.double.errors() == []


async def test_the_stage_link_is_on_the_notice_and_the_card(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    config = RelmanConfig(
        policy=POLICY,
        hosts={"stage-box": Host(transport="local", root=str(tmp_path), address="10.0.0.5")},
        environments={
            "stage": Environment(
                hosts=["stage-box"], executor="github", url="https://{address}/{service}/"
            )
        },
    )
    async with running_bot(database_url, tmp_path, telegram, config=config) as bot:
        await bot.release_in_testing("v5.0.0")
        notice = bot.double.last(QA_CHAT)
        assert notice.text.endswith("🔗 GitHub Action: ссылка\n🧪 Stage: открыть")
        assert "https://10.0.0.5/loom-content/" in notice.links
        anna = bot.user(QA_ID, "Анна Петрова")
        await anna.send("/releases")
        await bot.settle()
        card = bot.double.last(QA_ID)
        assert "🧪 Stage: открыть" in card.text
        assert "https://10.0.0.5/loom-content/" in card.links
        assert bot.double.errors() == []


async def test_a_typed_release_number_is_refused_shortly_whatever_it_is(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    anna = bot.user(QA_ID, "Анна Петрова")
    usage, not_found = "⚠️ Укажите номер релиза: /release 12", "❓ Релиз не найден"
    for text, answer in (
        ("/release abc", usage),
        ("/release 99999999999999999999", usage),
        ("/release 2147483648", usage),  # over what the releases table holds
        ("/release ²", usage),  # a digit to str.isdigit, but not to int()
        ("/release ١٢", usage),  # Arabic-Indic digits: not a number relman shows
        ("/start release_x", not_found),  # a deep link to no release: not the menu
        ("/start release_2147483648", not_found),  # PostgreSQL's int4 would overflow
        ("/start release_99999", not_found),
    ):
        sent = len(bot.double.messages(QA_ID))
        await anna.send(text)
        await bot.settle()
        assert len(bot.double.messages(QA_ID)) == sent + 1, f"no answer to {text}"
        assert bot.double.last(QA_ID).text == answer, text
    assert not [r for r in caplog.records if "telegram update" in r.getMessage()]
    assert bot.double.errors() == []


async def test_a_reason_prompt_is_answered_only_by_the_person_it_asks(bot: Bot) -> None:
    release = await bot.release_in_testing("v6.0.0")
    assert release.id is not None
    anna = bot.user(QA_ID, "Анна Петрова")
    notice = bot.double.last(QA_CHAT)
    await anna.press(notice, "❌ Отклонить")
    await bot.settle()
    await anna.press(notice, "✍️ Другое…")
    await bot.settle()
    prompt = bot.double.last(QA_CHAT)

    # Another QA replies to Анна's prompt: refused, nothing changes.
    other = bot.user(DEV_ID, "Дмитрий")
    await other.send("не моя причина", chat=notice.chat, reply_to=prompt)
    await bot.settle()
    assert bot.double.last(QA_CHAT).text == (
        "⚠️ Этот вопрос не вам: чтобы отклонить, нажмите ❌ Отклонить сами"
    )
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING

    await anna.send("Падает вход", chat=notice.chat, reply_to=prompt)
    await bot.settle()
    final = await bot.container.releases.get(release.id)
    assert final.status is S.MANUAL_TEST_FAILED
    assert final.events[-1].note == "rejected: Падает вход"
    assert final.events[-1].actor.startswith("tg:111")
