"""relman's Bot API client (the notices' sender, no aiogram) against the strict double:
the requests are what Telegram takes, its refusals come back as ``TelegramUnavailable``
with Telegram's code, description and ``retry_after``, and the token never shows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relman.bot.keyboards import Button, Keyboard
from relman.bot.sender import BotApiClient, TelegramUnavailable
from tests.support.telegram_double import TelegramDouble

CHAT = -600


@pytest.fixture
async def client(telegram: TelegramDouble) -> AsyncIterator[BotApiClient]:
    telegram.add_group(CHAT, "group")
    sender = BotApiClient(telegram.base_url + "/", telegram.token)  # a trailing slash is fine
    yield sender
    await sender.aclose()


def keyboard(data: str) -> Keyboard:
    return Keyboard([[Button("✅ ok", data)]])


async def test_send_then_edit_a_message(client: BotApiClient, telegram: TelegramDouble) -> None:
    message_id = await client.send_message(CHAT, "<b>v1.2.3</b> &amp; more", keyboard("a"))

    sent = telegram.message(CHAT, message_id)
    assert sent.text == "v1.2.3 & more"
    assert sent.entities == [{"type": "bold", "offset": 0, "length": 6}]
    assert sent.labels == ["✅ ok"]
    call = telegram.calls("sendMessage")[-1]
    assert call.params["link_preview_options"] == {"is_disabled": True}

    await client.edit_message_text(CHAT, message_id, "done", None)
    edited = telegram.message(CHAT, message_id)
    assert (edited.text, edited.keyboard, edited.edits) == ("done", [], 1)  # keyboard gone


async def test_refusals_carry_telegrams_code_and_words(
    client: BotApiClient, telegram: TelegramDouble
) -> None:
    with pytest.raises(TelegramUnavailable, match="BUTTON_DATA_INVALID") as too_long:
        await client.send_message(CHAT, "x", keyboard("d" * 65))
    assert (too_long.value.error_code, too_long.value.retry_after) == (400, None)

    message_id = await client.send_message(CHAT, "same", None)
    with pytest.raises(TelegramUnavailable, match="message is not modified"):
        await client.edit_message_text(CHAT, message_id, "same", None)

    telegram.rate_limit("sendMessage", retry_after=7)
    with pytest.raises(TelegramUnavailable, match="Too Many Requests") as limited:
        await client.send_message(CHAT, "x", None)
    assert (limited.value.error_code, limited.value.retry_after) == (429, 7.0)


async def test_a_wrong_token_or_no_server_never_shows_the_token(telegram: TelegramDouble) -> None:
    wrong = BotApiClient(telegram.base_url, "42:not-the-token")
    try:
        with pytest.raises(TelegramUnavailable) as refused:
            await wrong.send_message(CHAT, "x", None)
    finally:
        await wrong.aclose()
    assert refused.value.error_code == 401 and "not-the-token" not in str(refused.value)

    gone = BotApiClient("http://127.0.0.1:9", "42:secret-half")  # the discard port: closed
    try:
        with pytest.raises(TelegramUnavailable) as unreachable:
            await gone.send_message(CHAT, "x", None)
    finally:
        await gone.aclose()
    assert unreachable.value.error_code is None  # no answer: the sink retries these
    assert "secret-half" not in str(unreachable.value)
