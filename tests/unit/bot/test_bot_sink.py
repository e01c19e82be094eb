"""The notification sink never logs the bot token, even when Telegram's (or the HTTP
client's) error quotes the request URL ``…/bot<TOKEN>/sendMessage``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendMessage

from relman.bot.context import BotContext
from relman.bot.redact import scrub
from relman.bot.sink import TelegramSink
from relman.domain.release import Release
from relman.domain.status import ReleaseStatus
from relman.notify import Notice, NoticeKind

TOKEN = "123456789:AAH-s3cret_PART-of-the-token"
SECRET_HALF = TOKEN.split(":", 1)[1]
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
NOW = datetime(2024, 3, 15, 14, 45, tzinfo=UTC)


class FailingBot:
    """Stands in for aiogram's Bot: has the token, and every send fails with ``error``."""

    def __init__(self, error: type[TelegramAPIError], message: str) -> None:
        self.token = TOKEN
        self.error = error
        self.message = message
        self.sent = 0

    async def send_message(self, chat_id: int, text: str, **_: Any) -> None:
        self.sent += 1
        raise self.error(SendMessage(chat_id=chat_id, text=text), self.message)


def sink_for(bot: FailingBot) -> TelegramSink:
    ctx = BotContext(
        container=None,  # type: ignore[arg-type] # rendering a notice needs no services
        key=b"k" * 32,
        tz=ZoneInfo("UTC"),
        language="ru",
        clock=lambda: NOW,
        log_root=Path("/var/log/relman"),
    )

    async def no_sleep(_: float) -> None:
        pass

    return TelegramSink(
        bot,  # type: ignore[arg-type]
        ctx,
        qa_chat_id=-100_111,
        team_chat_id=-100_222,
        max_attempts=2,
        sleep=no_sleep,
    )


def deployed() -> Notice:
    release = Release(
        service_name="loom-content",
        release_tag="v1.2.3",
        initiated_by="dev",
        github_run_id="1",
        github_action_link="https://github.com/acme/loom-content/actions/runs/1",
        github_ref="refs/tags/v1.2.3",
        created_at=NOW,
        status=ReleaseStatus.DEPLOYED,
        completed_at=NOW,
        id=7,
    )
    return Notice(NoticeKind.DEPLOYED, release)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (TelegramBadRequest, f"Bad Request: chat not found (POST {URL})"),
        (TelegramForbiddenError, f"Forbidden: bot was kicked [{URL}]"),
        (TelegramBadRequest, f"quoted as /bot{TOKEN.replace(':', '%3A')}/sendMessage"),
    ],
)
async def test_a_failed_notice_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture, error: type[TelegramAPIError], message: str
) -> None:
    assert SECRET_HALF in message  # the error really quotes the token
    bot = FailingBot(error, message)
    sink = sink_for(bot)
    caplog.set_level(logging.WARNING, logger="relman.bot.sink")

    await sink.send(deployed())
    await sink.drain()
    await sink.aclose()

    assert bot.sent >= 1
    lines = [r.getMessage() for r in caplog.records if r.name == "relman.bot.sink"]
    assert len(lines) == 1
    (line,) = lines
    assert "telegram notice deployed to chat -100222 not sent" in line
    assert "***" in line  # the description is kept, the token is masked
    assert SECRET_HALF not in line and SECRET_HALF not in caplog.text


def test_scrub_masks_every_form_of_the_token() -> None:
    assert scrub(f"GET {URL} failed", TOKEN) == (
        "GET https://api.telegram.org/bot***/sendMessage failed"
    )
    assert SECRET_HALF not in scrub(f"/bot{TOKEN.replace(':', '%3A')}/x", TOKEN)
    assert SECRET_HALF not in scrub(f"/bot{TOKEN.replace(':', '%3a')}/x", TOKEN)
    assert scrub(f"secret {SECRET_HALF} alone", TOKEN) == "secret *** alone"
    assert scrub("nothing to hide", TOKEN) == "nothing to hide"
    assert scrub("nothing to hide", "") == "nothing to hide"
