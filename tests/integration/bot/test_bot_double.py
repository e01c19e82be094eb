"""The Bot API double is as strict as Telegram where relman could go wrong — checked
through aiogram itself (the client relman uses) and through raw form, JSON and multipart
requests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.support.telegram_double import TelegramDouble

CHAT = -500


@pytest.fixture
async def client(telegram: TelegramDouble) -> AsyncIterator[Bot]:
    telegram.add_group(CHAT, "group")
    bot = Bot(
        telegram.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url)),
    )
    yield bot
    await bot.session.close()


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]]
    )


async def test_messages_and_their_limits(client: Bot, telegram: TelegramDouble) -> None:
    me = await client.get_me()
    assert me.id == telegram.bot_id and me.is_bot
    sent = await client.send_message(
        CHAT,
        '<b>hi</b> &amp; <a href="https://x.test/?a=1&amp;b=2">x</a>',
        parse_mode="HTML",
        reply_markup=keyboard("d" * 64),
    )
    stored = telegram.last(CHAT)
    assert stored.text == "hi & x" and sent.text == "hi & x"
    assert stored.entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 5, "length": 1, "url": "https://x.test/?a=1&b=2"},
    ]
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await client.send_message(CHAT, "x", reply_markup=keyboard("d" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await client.send_message(CHAT, "x", reply_markup=keyboard("я" * 33))  # 66 bytes
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await client.send_message(CHAT, "я" * 4097)
    await client.send_message(CHAT, "я" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await client.send_message(CHAT, "😀" * 2049)  # UTF-16: 4098 units
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await client.send_message(CHAT, "<b> </b>", parse_mode="HTML")
    for bad in ("a < b", "a > b", "a & b", "<x>y</x>", "<b>open", "<b>x</i>", "<span>s</span>"):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await client.send_message(CHAT, bad, parse_mode="HTML")
    await client.send_message(CHAT, "a < b & c")  # no parse mode: taken literally
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await client.send_message(12345, "who?")


async def test_edits(client: Bot, telegram: TelegramDouble) -> None:
    sent = await client.send_message(CHAT, "one", reply_markup=keyboard("a"))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await client.edit_message_text(
            "one", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard("a")
        )
    await client.edit_message_text("one", chat_id=CHAT, message_id=sent.message_id)
    assert telegram.last(CHAT).keyboard == []  # no reply_markup: the keyboard goes away
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await client.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id)
    await client.edit_message_reply_markup(
        chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard("b")
    )
    assert telegram.last(CHAT).labels == ["b"]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await client.edit_message_text("x", chat_id=CHAT, message_id=999)


async def test_callback_answers(client: Bot, telegram: TelegramDouble) -> None:
    query_id = telegram.new_query(1, "data")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await client.answer_callback_query(query_id, text="x" * 201)
    assert await client.answer_callback_query(query_id, text="ok", show_alert=True)
    assert telegram.query(query_id).answer_text == "ok" and telegram.query(query_id).show_alert
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await client.answer_callback_query(query_id)  # twice
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await client.answer_callback_query("no-such-query")
    telegram.callback_ttl = 0.0
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await client.answer_callback_query(telegram.new_query(1, "late"))


async def test_rate_limit_token_and_webhook_conflicts(
    client: Bot, telegram: TelegramDouble
) -> None:
    telegram.rate_limit("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as err:
        await client.send_message(CHAT, "x")
    assert err.value.retry_after == 7
    await client.send_message(CHAT, "x")  # once only

    wrong = Bot(
        "42:wrong", session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    )
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await wrong.get_me()
    finally:
        await wrong.session.close()

    await client.set_webhook("https://relman.example/update", secret_token="s3cret-ok_")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await client.get_updates()
    with pytest.raises(TelegramBadRequest, match="unallowed characters"):
        await client.set_webhook("https://relman.example/update", secret_token="bad secret")
    with pytest.raises(TelegramBadRequest, match="HTTPS URL"):
        await client.set_webhook("http://relman.example/update")
    await client.delete_webhook()
    telegram.enqueue(
        {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "text": "hi",
            },
        }
    )
    updates = await client.get_updates(offset=0, timeout=1)
    assert [u.update_id for u in updates] == [5]
    assert await client.get_updates(offset=6, timeout=0) == []


def test_form_json_and_multipart_bodies(telegram: TelegramDouble) -> None:
    url = f"{telegram.base_url}/bot{telegram.token}/sendMessage"
    telegram.add_group(CHAT, "group")
    with httpx.Client(trust_env=False) as http:
        assert http.post(url, data={"chat_id": str(CHAT), "text": "form"}).json()["ok"]
        assert http.post(url, json={"chat_id": CHAT, "text": "json"}).json()["ok"]
        multipart = http.post(url, files={"chat_id": (None, str(CHAT)), "text": (None, "multi")})
        assert multipart.json()["ok"]
        missing = http.post(f"{telegram.base_url}/bot{telegram.token}/sendPhoto", json={})
        assert missing.status_code == 404
        assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [m.text for m in telegram.messages(CHAT)] == ["form", "json", "multi"]
