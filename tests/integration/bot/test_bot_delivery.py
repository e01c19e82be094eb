"""Getting updates in and notices out: polling, the webhook registration, the bot being off,
Telegram's 429, and every text within limits and HTML-escaped."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import build
from relman.bot.registration import register_webhook, webhook_secret
from relman.bot.sender import TelegramUnavailable
from relman.config import Settings
from relman.domain.errors import ConfigError
from relman.domain.release import Source
from relman.notify.telegram import telegram_notices
from tests.conftest import SECRET, make_settings
from tests.integration.bot.bot_harness import (
    CI,
    QA_CHAT,
    QA_ID,
    TEAM_CHAT,
    Bot,
    bot_settings,
    running_bot,
)
from tests.support.api import PREFIX
from tests.support.pipeline import new_release, walk_to_manual_testing
from tests.support.telegram_double import TelegramDouble, parse_html, utf16_len, via_telegram


async def test_without_a_token_the_bot_is_off(settings: Settings) -> None:
    container = build(settings)
    try:
        app = create_app(container)
        assert app.state.bot is None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://relman.test"
        ) as client:
            response = await client.post(f"{PREFIX}/update", json={"update_id": 1})
            assert response.status_code == 404
            assert (await client.get(f"{PREFIX}/health")).status_code == 200
    finally:
        await container.aclose()


async def test_polling_mode_answers_without_a_webhook(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    s = bot_settings(database_url, tmp_path, telegram)
    telegram.set_webhook({"url": "https://relman.example/api/tg-bot/update"})  # a stale one
    container = build(s)
    app = create_app(container, polling=True)
    try:
        async with app.router.lifespan_context(app):
            anna = telegram.user(QA_ID, "Анна", deliver=via_telegram(telegram))
            await anna.send("/start")  # queued by the double for getUpdates
            menu = await telegram.until(lambda: telegram.messages(QA_ID))
            assert menu[-1].text.startswith("🤖 Release Bot")
            query_id = await anna.press(menu[-1], "🚀 Активные релизы")
            await telegram.until(lambda: telegram.query(query_id).answered)
            await telegram.until(lambda: "Здесь пока нет релизов" in menu[-1].text)
    finally:
        await container.aclose()
    assert telegram.webhook() == {}  # polling removed the webhook first
    assert telegram.calls()[0].method == "deleteWebhook"
    assert [c.description for c in telegram.errors()] == []


async def test_set_webhook_registers_the_secret(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    s = bot_settings(database_url, tmp_path, telegram)
    url = "https://relman.example.com/api/tg-bot/update"
    await register_webhook(s, url, drop_pending_updates=True)
    hook = telegram.webhook()
    assert hook["url"] == url
    assert hook["secret_token"] == webhook_secret(s, telegram.token)
    assert telegram.token not in hook["secret_token"]
    assert hook["allowed_updates"] == ["message", "callback_query"]

    with pytest.raises(TelegramUnavailable, match="An HTTPS URL must be provided"):
        await register_webhook(s, "http://relman.example.com/update", drop_pending_updates=False)
    with pytest.raises(ConfigError, match="LOOM_RELEASE_TG_BOT_TOKEN"):
        await register_webhook(
            make_settings(database_url, tmp_path), url, drop_pending_updates=False
        )
    behind_a_proxy = make_settings(
        database_url,
        tmp_path,
        telegram_token=telegram.token,
        telegram_api_url="http://relman:pr0xy-pass@127.0.0.1:9",  # nothing listens there
    )
    with pytest.raises(TelegramUnavailable, match="cannot reach the Bot API") as unreachable:
        await register_webhook(behind_a_proxy, url, drop_pending_updates=False)
    assert "pr0xy-pass" not in str(unreachable.value)
    assert "http://relman:***@127.0.0.1:9" in str(unreachable.value)


async def test_a_configured_webhook_secret_is_used(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    async with running_bot(
        database_url, tmp_path, telegram, telegram_webhook_secret="my-Secret_42"
    ) as bot:
        assert bot.runtime.secret == "my-Secret_42"
        anna = bot.user(QA_ID, "Анна")
        await anna.send("/start")
        await bot.settle()
        assert bot.double.last(QA_ID).text.startswith("🤖 Release Bot")


async def test_a_malformed_token_is_a_config_error(database_url: str, tmp_path: Path) -> None:
    container = build(make_settings(database_url, tmp_path, telegram_token="not-a-token"))
    try:
        with pytest.raises(ConfigError, match="not a Telegram bot token"):
            create_app(container)
    finally:
        await container.aclose()


@pytest.mark.parametrize("port", ["99999", "[bad"])
async def test_an_unusable_api_url_is_a_config_error_without_the_token(
    database_url: str, tmp_path: Path, telegram: TelegramDouble, port: str
) -> None:
    # The HTTP client's error for such a URL quotes the request URL: …/bot<TOKEN>/….
    url = f"http://127.0.0.1:{port}" if port.isdigit() else f"http://{port}"
    container = build(bot_settings(database_url, tmp_path, telegram, telegram_api_url=url))
    try:
        with pytest.raises(ConfigError, match="RELMAN_TELEGRAM_API_URL") as refused:
            create_app(container)
        assert telegram.token.split(":")[1] not in str(refused.value)
    finally:
        await container.aclose()


async def test_polling_starts_while_telegram_is_unreachable(
    database_url: str,
    tmp_path: Path,
    telegram: TelegramDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{sock.getsockname()[1]}"
    s = bot_settings(database_url, tmp_path, telegram, telegram_api_url=nobody)
    container = build(s)
    app = create_app(container, polling=True)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://relman.test"
            ) as client,
        ):
            assert (await client.get(f"{PREFIX}/health")).status_code == 200
    finally:
        await container.aclose()
    assert "could not delete the webhook before polling" in caplog.text
    assert telegram.token.split(":")[1] not in caplog.text


async def test_notices_honour_retry_after(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    async with running_bot(database_url, tmp_path, telegram) as bot:
        telegram.rate_limit("sendMessage", times=2, retry_after=1)
        release, _ = await bot.container.pipeline.start_release(
            new_release("v1.0.0"), actor=CI, source=Source.API
        )
        started = time.monotonic()
        await walk_to_manual_testing(bot.container, release)  # notifies the QA chat
        took = time.monotonic() - started
        await bot.settle()
        sends = telegram.calls("sendMessage")
        assert [c.error_code for c in sends] == [429, 429, 0]
        assert sends[1].at - sends[0].at >= 1.0 and sends[2].at - sends[1].at >= 1.0
        assert telegram.last(QA_CHAT).text.startswith("🚀 Новый релиз готов к тестированию")
        assert took < sends[2].at - sends[0].at  # the pipeline did not wait for Telegram


async def test_every_text_fits_and_is_escaped(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    service = "svc<b>&amp;</b>" + "<" * 200
    async with running_bot(database_url, tmp_path, telegram) as bot:
        release = await bot.release_in_testing(service=service, by="dev<&>" + "&" * 300)
        anna = bot.user(QA_ID, "<i>Анна</i> & Co" + ">" * 300)
        await anna.send("/start")
        await bot.settle()
        menu = bot.double.last(QA_ID)
        assert menu.text.startswith("🤖 Release Bot\n\n👋 Привет, <i>Анна</i> & Co>>>")
        await anna.press(menu, "🚀 Активные релизы")
        await bot.settle()
        card = bot.double.message(QA_ID, menu.message_id)
        assert "📦 svc<b>&amp;</b><<<" in card.text  # shown literally, cut with "…"
        assert "👤 Инициатор: dev<&>&&&" in card.text
        assert [e["type"] for e in card.entities] == ["bold", "text_link"]
        notice = bot.double.last(QA_CHAT)
        assert "📦 Сервис: svc<b>&amp;</b><<<" in notice.text
        await anna.press(notice, "❌ Отклонить")
        await bot.settle()
        await anna.press(notice, "Не работает функционал")  # issue 16: asked why first
        await bot.settle()
        assert release.id is not None
        team = bot.double.last(TEAM_CHAT)
        assert "📦 svc<b>&amp;</b>" in team.text
        for chat in (QA_ID, QA_CHAT, TEAM_CHAT):
            for message in bot.double.messages(chat):
                assert 0 < utf16_len(message.text) <= 4096
                assert parse_html(message.html)[0] == message.text
                for button in message.buttons:
                    assert button.callback_data is None or len(button.callback_data) <= 64
        assert bot.double.errors() == []
        assert all(len(q.answer_text or "") <= 200 for q in _queries(bot))


def _queries(bot: Bot) -> list[object]:
    return [
        bot.double.query(str(c.params["callback_query_id"]))
        for c in bot.double.calls("answerCallbackQuery")
    ]


async def test_the_webhook_is_outside_the_api_bearer_auth(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    async with running_bot(database_url, tmp_path, telegram) as bot:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=bot.app),
            base_url="http://relman.test",
        ) as anonymous:
            anna = bot.user(QA_ID, "Анна")
            update = anna.text_update("/start")
            response = await anonymous.post(
                f"{PREFIX}/update",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": bot.runtime.secret},
            )
            assert response.status_code == 200 and response.json() == {"ok": True}
            # ...while the Release API still needs its bearer secret.
            assert (await anonymous.get(f"{PREFIX}/releases")).status_code == 401
        await bot.settle()
        assert bot.double.last(QA_ID).text.startswith("🤖 Release Bot")
        assert SECRET not in bot.runtime.secret


async def test_a_process_without_the_api_still_notifies(
    database_url: str, tmp_path: Path, telegram: TelegramDouble
) -> None:
    s = bot_settings(database_url, tmp_path, telegram, telegram_qa_chat_id=QA_CHAT)
    telegram.add_group(QA_CHAT, "QA")
    container = build(s)
    try:
        async with telegram_notices(container) as sink:
            assert sink is not None
            release, _ = await container.pipeline.start_release(
                new_release("v1.0.0"), actor=CI, source=Source.API
            )
            await walk_to_manual_testing(container, release)
        # Leaving the block sent what was queued.
        assert telegram.last(QA_CHAT).text.startswith("🚀 Новый релиз готов к тестированию")
    finally:
        await container.aclose()
    plain = build(make_settings(database_url, tmp_path))
    try:
        async with telegram_notices(plain) as off:
            assert off is None
    finally:
        await plain.aclose()
