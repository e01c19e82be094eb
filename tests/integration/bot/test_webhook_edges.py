"""The Telegram webhook against hostile requests, and four-eyes across letter case in the
bot (issue 15 items 1–3).

The secret header is checked before the body is read, so a wrong secret is a 403 whatever
the body (70 KB, not JSON); with the right secret a body over the limit is a 413, and one
that is not JSON (30 000 nested brackets, not UTF-8, malformed) is a 400 naming ``body``
and the position — never a 5xx. Nothing is written by any of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relman.domain.status import ReleaseStatus
from tests.integration.bot.bot_harness import DEV_ID, QA_CHAT, Bot
from tests.support.api import PREFIX
from tests.support.telegram_double import SECRET_HEADER

URL = f"{PREFIX}/update"
BIG = b'{"update_id": 1, "padding": "' + b"x" * 70_000 + b'"}'


async def test_a_wrong_secret_is_403_before_the_body_is_read(bot: Bot) -> None:
    before = await bot.written()
    for headers in ({}, {SECRET_HEADER: "wrong"}):
        for body in (BIG, b"[" * 30000 + b"]" * 30000, b"\xff\xfe"):
            response = await bot.client.post(URL, content=body, headers=headers)
            assert response.status_code == 403, (headers, len(body), response.text)
            assert response.json() == {
                "error": "forbidden",
                "message": f"{SECRET_HEADER}: missing or wrong",
                "field": SECRET_HEADER,
            }
            assert bot.runtime.secret not in response.text
    assert await bot.written() == before


async def test_with_the_secret_a_body_over_the_limit_is_413(bot: Bot) -> None:
    headers = {SECRET_HEADER: bot.runtime.secret}
    response = await bot.client.post(URL, content=BIG, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json() == {
        "error": "payload_too_large",
        "message": "body: larger than 65536 bytes",
        "field": "body",
    }

    # Without a Content-Length (chunked), the limit holds as the body is read.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 10_000

    chunked = await bot.client.post(URL, content=chunks(), headers=headers)
    assert chunked.status_code == 413, chunked.text
    assert await bot.written() == (0, 0)


@pytest.mark.parametrize(
    ("raw", "message", "position"),
    [
        (
            b"[" * 30000 + b"]" * 30000,
            "body: invalid JSON at line 1, column 65: nested deeper than 64 levels",
            64,
        ),
        (
            b'{"update_id": 1, "message": ' + b"{" * 200 + b"}" * 200 + b"}",
            "body: invalid JSON at line 1, column 92: nested deeper than 64 levels",
            91,
        ),
        (
            b'{"update_id": \xff}',
            "body: invalid JSON at line 1, column 15: not UTF-8 (invalid start byte at byte 14)",
            14,
        ),
        (
            b'{"update_id": 1,\n "message": }',
            "body: invalid JSON at line 2, column 13: Expecting value",
            29,
        ),
        (
            b'{"update_id": NaN}',
            "body: invalid JSON at line 1, column 15: NaN is not a JSON value",
            14,
        ),
    ],
)
async def test_a_body_that_is_not_json_is_400_naming_body_and_where(
    bot: Bot, raw: bytes, message: str, position: int
) -> None:
    response = await bot.client.post(URL, content=raw, headers={SECRET_HEADER: bot.runtime.secret})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["field"] == "body"
    assert body["message"] == message
    assert body["position"] == position
    await bot.settle()
    assert await bot.written() == (0, 0)


async def test_json_that_is_not_an_update_is_400_naming_body(bot: Bot) -> None:
    for raw in (b"[1, 2]", b'{"no_update_id": true}', b"null"):
        response = await bot.client.post(
            URL, content=raw, headers={SECRET_HEADER: bot.runtime.secret}
        )
        assert response.status_code == 400, raw
        assert response.json() == {
            "error": "invalid_input",
            "message": "body: not a Telegram update",
            "field": "body",
        }


@pytest.mark.parametrize("by", ["Dev", "gh:DEV"])
async def test_the_initiator_in_capitals_cannot_approve_from_telegram(bot: Bot, by: str) -> None:
    # people.dev = ["gh:dev", "tg:333"]; GITHUB_ACTOR keeps the login's capitalisation.
    release = await bot.release_in_testing(by=by)
    assert release.id is not None
    dev = bot.user(DEV_ID, "Дмитрий")
    query_id = await dev.press(bot.double.last(QA_CHAT), "✅ Подтвердить")
    await bot.settle()

    assert bot.double.query(query_id).answer_text == "⛔ Недостаточно прав для этого действия"
    assert (await bot.container.releases.get(release.id)).status is ReleaseStatus.MANUAL_TESTING
    refused = (await bot.events(release.id))[-1]
    assert (refused.kind, refused.actor) == ("refused", "tg:333 (Дмитрий)")
    assert "four-eyes" in refused.note
