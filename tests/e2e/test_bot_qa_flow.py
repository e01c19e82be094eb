"""The seed's QA flow end to end in Telegram (issue "Telegram bot", "Test it"):

/start → 🚀 Активные релизы → the card → ✅ Подтвердить → the production deploy runs (relman's
worker, local transport, the real sample hello-service) → the card and the team chat show
✅ Задеплоен; then ✅ Успешные релизы → ⏪ Откатить → confirmation → ✅ Да, откатить →
rollback_done, and the service answers with the old version over HTTP.

Real parts throughout: the app with its webhook, the database, the pipeline and worker, git,
the service process and HTTP; Telegram is the local Bot API double.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from relman.config import Environment, Host, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from tests.integration.bot.bot_harness import (
    CI,
    POLICY,
    QA_CHAT,
    QA_ID,
    RELEASER_ID,
    TEAM_CHAT,
    Bot,
    running_bot,
)
from tests.support.hello import ServiceReaper
from tests.support.pipeline import new_release, walk_to_manual_testing
from tests.support.sshd import free_port
from tests.support.targets import hello_service, served_version
from tests.support.telegram_double import NOT_MODIFIED, ChatMessage, TelegramDouble, TelegramUser

S = ReleaseStatus
DEADLINE = 90.0  # seconds for a deploy or rollback to show up in the chat


async def press(bot: Bot, user: TelegramUser, message: ChatMessage, label: str) -> str:
    query_id = await user.press(message, label)
    await bot.settle()
    query = bot.double.query(query_id)
    assert query.answered
    return query.answer_text or ""


async def test_qa_approves_in_telegram_and_a_releaser_rolls_back(
    database_url: str,
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
) -> None:
    root = tmp_path / "prod-box"
    service_reaper.watch(root / "hello")
    port = free_port("127.0.0.1")
    health = f"http://127.0.0.1:{port}/health"
    config = RelmanConfig(
        services={"hello": hello_service(sample_repo, port)},
        hosts={"prod-box": Host(transport="local", root=str(root))},
        environments={"production": Environment(hosts=["prod-box"])},
        policy=POLICY,
    )
    with TelegramDouble() as telegram:
        async with running_bot(database_url, tmp_path, telegram, config=config) as bot:
            stop = asyncio.Event()
            worker = asyncio.create_task(bot.container.worker().run(stop))
            try:
                await scenario(bot, health)
            finally:
                stop.set()
                await worker


async def scenario(bot: Bot, health: str) -> None:
    double = bot.double
    anna = bot.user(QA_ID, "Анна Петрова")
    boris = bot.user(RELEASER_ID, "Борис")

    # v1.0.0 goes to production first (approved from the QA chat's notification).
    first, _ = await bot.container.pipeline.start_release(
        new_release("v1.0.0"), actor=CI, source=Source.API
    )
    await walk_to_manual_testing(bot.container, first)
    await bot.settle()
    await press(bot, anna, double.last(QA_CHAT), "✅ Подтвердить")
    await double.until(
        lambda: any("🏷️ Tag: v1.0.0" in m.text for m in double.messages(TEAM_CHAT)), DEADLINE
    )
    assert await served_version(health) == "1.0.0"

    # v1.1.0: the seed's QA flow.
    second, _ = await bot.container.pipeline.start_release(
        new_release("v1.1.0"), actor=CI, source=Source.API
    )
    second = await walk_to_manual_testing(bot.container, second)
    await bot.settle()
    await anna.send("/start")
    await bot.settle()
    card = double.last(QA_ID)
    await press(bot, anna, card, "🚀 Активные релизы")
    assert "🏷️ Tag: v1.1.0" in card.text and "🧪 Ручное тестирование" in card.text
    answer = await press(bot, anna, card, "✅ Подтвердить")
    assert answer == "✅ Подтверждено: запускаю деплой на production"
    # The card follows the deploy without a press (issue 16 item 4).
    await double.until(lambda: "✅ Задеплоен: в production v1.1.0" in card.text, DEADLINE)
    assert "🔄 Статус: ✅ Задеплоен" in card.text
    team = await double.until(
        lambda: next((m for m in double.messages(TEAM_CHAT) if "v1.1.0" in m.text), None),
        DEADLINE,
    )
    assert team.text.startswith("✅ Релиз задеплоен на production")
    assert "🔄 Статус: ✅ Задеплоен" in team.text
    assert await served_version(health) == "1.1.0"

    # A releaser puts production back on v1.0.0 from the successful list.
    await boris.send("/start")
    await bot.settle()
    screen = double.last(RELEASER_ID)
    await press(bot, boris, screen, "✅ Успешные релизы")
    assert "🏷️ Tag: v1.1.0" in screen.text
    await press(bot, boris, screen, "Старее ▶️")
    assert "🏷️ Tag: v1.0.0" in screen.text and "🔄 Статус: ✅ Задеплоен" in screen.text
    await press(bot, boris, screen, "⏪ Откатить")
    assert "🏷️ Текущий tag: v1.1.0\n⏪ Откатить на tag: v1.0.0" in screen.text
    assert await press(bot, boris, screen, "✅ Да, откатить") == "⏪ Откат запущен"
    assert "🏷️ Tag: v1.1.0" in screen.text  # the release being rolled back
    # The confirmation becomes the rollback's progress, then its result, by itself.
    await double.until(lambda: "✅ Откат выполнен: в production v1.0.0" in screen.text, DEADLINE)
    assert "🔄 Статус: ↩️ Откат выполнен" in screen.text
    assert "⏪ Откат на tag: v1.0.0" in screen.text
    rolled = await double.until(
        lambda: next((m for m in double.messages(TEAM_CHAT) if "Откат выполнен" in m.text), None),
        DEADLINE,
    )
    assert "🏷️ Tag: v1.1.0" in rolled.text and "⏪ Откат на tag: v1.0.0" in rolled.text
    assert await served_version(health) == "1.0.0"

    assert second.id is not None
    final = await bot.container.releases.get(second.id)
    assert final.status is S.ROLLBACK_DONE and final.rollback_to_tag == "v1.0.0"
    decided = [
        (e.to_status, e.actor, e.source.value) for e in final.events if e.source.value == "bot"
    ]
    assert decided == [
        (S.MANUAL_TEST_PASSED, "tg:111 (Анна Петрова)", "bot"),
        (S.ROLLBACK, "tg:222 (Борис)", "bot"),
    ]
    assert {c.description for c in double.errors()} <= {NOT_MODIFIED}
