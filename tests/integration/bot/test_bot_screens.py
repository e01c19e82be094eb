"""The seed's screens (seed 003, "Telegram Bot интерфейс"), walked by a QA user through the
real webhook, with the real services and database, against the Bot API double."""

from __future__ import annotations

import re
from datetime import UTC

from relman.domain.release import Release
from relman.domain.status import ReleaseStatus
from tests.integration.bot.bot_harness import (
    QA_CHAT,
    QA_ID,
    RELEASER_ID,
    TEAM_CHAT,
    Bot,
)
from tests.support.telegram_double import ChatMessage, TelegramUser

S = ReleaseStatus

MENU_TEXT = (
    "🤖 Release Bot\n\n"
    "👋 Привет, Анна Петрова!\n\n"
    "Я помогу тебе отслеживать и управлять релизами.\n"
    "Здесь ты можешь просматривать активные релизы и управлять ими.\n\n"
    "Выбери действие:"
)
MENU_BUTTONS = ["🚀 Активные релизы", "✅ Успешные релизы", "❌ Провальные релизы"]


def created(release: Release) -> str:
    return release.created_at.astimezone(UTC).strftime("%d.%m.%Y %H:%M UTC")


async def open_menu(bot: Bot, user: TelegramUser) -> ChatMessage:
    await user.send("/start")
    await bot.settle()
    return bot.double.last(user.id)


async def press(bot: Bot, user: TelegramUser, message: ChatMessage, label: str) -> str:
    """Press ``label`` and wait for relman; returns what the callback was answered with."""
    query_id = await user.press(message, label)
    await bot.settle()
    query = bot.double.query(query_id)
    assert query.answered, f"{label}: the callback query was not answered"
    return query.answer_text or ""


async def test_start_shows_the_seed_main_menu(bot: Bot) -> None:
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)
    assert menu.text == MENU_TEXT
    assert [row[0].text for row in menu.keyboard] == MENU_BUTTONS  # one per row
    assert bot.double.errors() == []


async def test_english_and_default_language(bot: Bot) -> None:
    john = bot.user(501, "John Smith", language="en-GB")
    menu = await open_menu(bot, john)
    assert menu.text.startswith("🤖 Release Bot\n\n👋 Hi, John Smith!")
    assert menu.labels == ["🚀 Active releases", "✅ Successful releases", "❌ Failed releases"]
    hans = bot.user(502, "Hans", language="de")  # neither ru nor en: the default (ru)
    assert (await open_menu(bot, hans)).text.startswith("🤖 Release Bot\n\n👋 Привет, Hans!")


async def test_active_release_card_and_approve(bot: Bot) -> None:
    release = await bot.release_in_testing("v1.2.3")
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)

    assert await press(bot, anna, menu, "🚀 Активные релизы") == ""
    card = bot.double.message(QA_ID, menu.message_id)  # the menu became the card
    assert card.text.split("\n") == [
        "🚀 Активные релизы · 1/1",
        "",
        "📦 loom-content",
        "🏷️ Tag: v1.2.3",
        "🔄 Статус: 🧪 Ручное тестирование",
        "👤 Инициатор: dev",
        f"📅 Создан: {created(release)}",
        "🔗 GitHub Action: Открыть",
        "⏱️ В обработке: 0 мин",
    ]
    assert card.links == ["https://github.com/acme/loom-content/actions/runs/1"]
    assert [[b.text for b in row] for row in card.keyboard] == [
        ["✅ Подтвердить", "❌ Отклонить"],
        ["🔄 Обновить"],
        ["⬅️ Назад в меню"],
    ]

    answer = await press(bot, anna, card, "✅ Подтвердить")
    assert answer == "✅ Подтверждено: запускаю деплой на production"
    assert release.id is not None
    events = await bot.events(release.id)
    assert events[-1].to_status is S.MANUAL_TEST_PASSED
    assert events[-1].actor == "tg:111 (Анна Петрова)"
    assert events[-1].source.value == "bot"
    card = bot.double.message(QA_ID, menu.message_id)
    assert "🔄 Статус: 👍 Тесты пройдены" in card.text
    assert "✅ Подтвердить" not in card.labels  # decided: no more decision buttons
    # The card follows the deploy now (issue 16): who approved, and what is under way.
    assert "✅ Подтвердил: tg:111 (Анна Петрова) · " in card.text
    assert card.text.endswith("🚀 Идёт деплой на production…")

    # Anna's chat: answerCallbackQuery, then the edit, for every press.
    mine = [
        c.method
        for c in bot.double.calls()
        if c.method in ("answerCallbackQuery", "editMessageText")
        and c.params.get("chat_id") in (None, QA_ID, str(QA_ID))
    ]
    assert mine == ["answerCallbackQuery", "editMessageText"] * 2
    assert bot.double.errors() == []


async def test_refresh_of_an_unchanged_card_is_success(bot: Bot) -> None:
    await bot.release_in_testing()
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)
    await press(bot, anna, menu, "🚀 Активные релизы")
    card = bot.double.message(QA_ID, menu.message_id)
    before = card.text

    assert await press(bot, anna, card, "🔄 Обновить") == "🔄 Обновлено"
    assert card.text == before
    not_modified = [c for c in bot.double.errors() if "message is not modified" in c.description]
    assert len(not_modified) == 1  # Telegram said so, and relman took it as success
    metrics = await bot.metrics()
    assert "telegram_server_error_message_total" not in metrics
    assert re.search(
        r'^telegram_server_ok_message_total\{[^}]*outcome="handled",'
        r'telegram_update_type="callback_query"\} 2\.0$',
        metrics,
        re.MULTILINE,
    )
    assert "telegram_server_message_duration_seconds_bucket" in metrics


async def test_reject_shows_under_failed_releases(bot: Bot) -> None:
    release = await bot.release_in_testing("v2.0.0")
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)
    await press(bot, anna, menu, "🚀 Активные релизы")
    card = bot.double.message(QA_ID, menu.message_id)

    assert await press(bot, anna, card, "❌ Отклонить") == ""  # asks why first (issue 16)
    assert release.id is not None
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TESTING
    assert card.labels == [
        "Не работает функционал",
        "Ошибки или падения",
        "Проблемы с вёрсткой / UI",
        "Не то, что просили",
        "✍️ Другое…",
        "↩️ Отмена",
    ]
    assert await press(bot, anna, card, "Ошибки или падения") == "❌ Релиз отклонён"
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TEST_FAILED
    assert "🔄 Статус: 👎 Тесты не пройдены" in card.text

    await press(bot, anna, card, "⬅️ Назад в меню")
    assert card.text == MENU_TEXT
    await press(bot, anna, card, "❌ Провальные релизы")
    lines = card.text.split("\n")
    assert lines[:5] == [
        "❌ Провальные релизы · 1/1",
        "",
        "📦 loom-content",
        "🏷️ Tag: v2.0.0",
        "🔄 Статус: 👎 Тесты не пройдены",
    ]
    await press(bot, anna, card, "🔄 Обновить")  # the card with the audit trail: the reason
    assert "⚠️ Причина: Ошибки или падения" in card.text
    team = bot.double.last(TEAM_CHAT)
    assert team.text.startswith("👎 Релиз отклонён QA\n\n📦 loom-content\n🏷️ Tag: v2.0.0")
    assert "⚠️ Причина: Ошибки или падения" in team.text  # the developer learns why
    assert bot.double.errors() == []


async def test_successful_card_and_rollback_confirmation(bot: Bot) -> None:
    old = await bot.release_in_testing("v1.0.0")
    old = await bot.deployed(old)
    new = await bot.release_in_testing("v1.1.0")
    new = await bot.deployed(new)
    boris = bot.user(RELEASER_ID, "Борис")
    menu = await open_menu(bot, boris)

    await press(bot, boris, menu, "✅ Успешные релизы")
    card = bot.double.message(RELEASER_ID, menu.message_id)
    assert card.text.split("\n")[:6] == [
        "✅ Успешные релизы · 1/2",
        "",
        "📦 loom-content",
        "🏷️ Tag: v1.1.0",
        "🔄 Статус: ✅ Задеплоен",
        "🟢 Сейчас в production",
    ]
    assert new.completed_at is not None
    assert f"🚀 Задеплоен: {new.completed_at:%d.%m.%Y %H:%M} UTC" in card.text
    assert [[b.text for b in row] for row in card.keyboard] == [
        ["⏪ Откатить"],
        ["🔄 Обновить"],
        ["Старее ▶️"],
        ["⬅️ Назад в меню"],
    ]
    await press(bot, boris, card, "Старее ▶️")
    assert "🏷️ Tag: v1.0.0" in card.text
    assert card.text.startswith("✅ Успешные релизы · 2/2")
    assert "⚪ Заменён: в production сейчас v1.1.0" in card.text
    assert ["◀️ Новее"] in [[b.text for b in row] for row in card.keyboard]

    await press(bot, boris, card, "⏪ Откатить")
    assert old.completed_at is not None
    assert card.text.split("\n") == [
        "⚠️ Подтверждение отката",
        "",
        "❗ ВНИМАНИЕ! Вы собираетесь откатить релиз!",
        "",
        "📦 Сервис: loom-content",
        "🏷️ Текущий tag: v1.1.0",
        "⏪ Откатить на tag: v1.0.0",
        f"📅 Дата деплоя выбранной версии: {old.completed_at:%d.%m.%Y %H:%M} UTC",
        "",
        "⚠️ Это действие приведет к откату сервиса на выбранную версию.",
        "⚠️ Убедитесь, что откат действительно необходим!",
    ]
    assert [[b.text for b in row] for row in card.keyboard] == [["✅ Да, откатить", "Назад"]]
    await press(bot, boris, card, "Назад")
    assert "🏷️ Tag: v1.0.0" in card.text and "⏪ Откатить" in card.labels
    assert bot.double.errors() == []


async def test_pagination_walks_the_list_newest_first(bot: Bot) -> None:
    for tag in ("v1.0.0", "v1.1.0", "v1.2.0"):
        await bot.release_in_testing(tag)
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)
    await press(bot, anna, menu, "🚀 Активные релизы")
    card = bot.double.message(QA_ID, menu.message_id)
    seen = ["v1.2.0" in card.text]
    assert "◀️ Новее" not in card.labels
    await press(bot, anna, card, "Старее ▶️")
    seen.append("v1.1.0" in card.text)
    await press(bot, anna, card, "Старее ▶️")
    seen.append("v1.0.0" in card.text)
    assert "Старее ▶️" not in card.labels  # the oldest
    await press(bot, anna, card, "◀️ Новее")
    seen.append("v1.1.0" in card.text)
    assert seen == [True, True, True, True]


async def test_an_empty_list(bot: Bot) -> None:
    anna = bot.user(QA_ID, "Анна Петрова")
    menu = await open_menu(bot, anna)
    await press(bot, anna, menu, "❌ Провальные релизы")
    assert menu.text == "❌ Провальные релизы\n\nЗдесь пока нет релизов."
    assert menu.labels == ["⬅️ Назад в меню"]


async def test_qa_chat_notification_and_approval_from_it(bot: Bot) -> None:
    release = await bot.release_in_testing("v3.1.4")
    notice = bot.double.last(QA_CHAT)
    assert notice.text == (
        "🚀 Новый релиз готов к тестированию\n"
        "📦 Сервис: loom-content\n"
        "🏷️ Версия: v3.1.4\n"
        "👤 Инициатор: dev\n"
        "🔗 GitHub Action: ссылка"
    )
    assert notice.links == ["https://github.com/acme/loom-content/actions/runs/1"]
    assert notice.labels == ["✅ Подтвердить", "❌ Отклонить"]

    anna = bot.user(QA_ID, "Анна Петрова")
    query_id = await anna.press(notice, "✅ Подтвердить")  # in the QA group chat
    await bot.settle()
    assert bot.double.query(query_id).answer_text == (
        "✅ Подтверждено: запускаю деплой на production"
    )
    assert release.id is not None
    assert (await bot.container.releases.get(release.id)).status is S.MANUAL_TEST_PASSED
    assert "🔄 Статус: 👍 Тесты пройдены" in notice.text
    assert bot.double.errors() == []


async def test_team_chat_hears_about_deploys(bot: Bot) -> None:
    release = await bot.release_in_testing("v1.0.0")
    await bot.deployed(release)
    team = bot.double.last(TEAM_CHAT)
    assert team.text.split("\n")[:6] == [
        "✅ Релиз задеплоен на production",
        "",
        "📦 loom-content",
        "🏷️ Tag: v1.0.0",
        "🔄 Статус: ✅ Задеплоен",
        "👤 Инициатор: dev",
    ]
    assert team.keyboard == []
