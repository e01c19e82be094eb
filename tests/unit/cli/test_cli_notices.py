"""Telegram notices of a process without the API (``relman worker``, ``relman release …``):
they are sent without importing the bot's library (seconds of start-up), and a bad token is
still refused before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiogram.utils.token import TokenValidationError, validate_token

from relman.bootstrap import build
from relman.domain.errors import ConfigError
from relman.notify.telegram import check_token, telegram_notices
from tests.conftest import make_settings
from tests.support.telegram_double import TelegramDouble

TEAM_CHAT = -100777

# Builds relman in a fresh interpreter with a bot token pointing at the double and a team
# chat, notifies one developer deploy inside telegram_notices and reports whether aiogram
# was loaded on entry, and after the notice was sent.
NOTIFY_ONCE = """
import asyncio, json, sys
from pathlib import Path

from relman.bootstrap import build
from relman.config import Settings
from relman.notify import Notice, NoticeKind
from relman.notify.telegram import telegram_notices

api_url, token, chat, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
NOTICE = Notice(NoticeKind.DEV_DEPLOYED, None, service="hello", ref="feature-x")


async def main():
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder / 'relman.db'}",
        config_file=folder / "relman.toml",
        log_root=folder / "logs",
        evidence_root=folder / "evidence",
        telegram_token=token,
        telegram_api_url=api_url,
        telegram_team_chat_id=chat,
    )
    container = build(settings)
    try:
        async with telegram_notices(container) as sink:
            assert sink is not None
            entered = "aiogram" in sys.modules
            await container.notifier.notify(NOTICE)
            # Sent before leaving (the exit's grace period is for shutdowns, not for tests).
            await sink.drain()
            notified = "aiogram" in sys.modules
    finally:
        await container.aclose()
    return {"entered": entered, "notified": notified}


print(json.dumps(asyncio.run(main())))
"""


def test_a_notice_is_sent_without_importing_the_bot_library(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RELMAN_", "LOOM_"))}
    with TelegramDouble() as telegram:
        telegram.add_group(TEAM_CHAT, "Team")
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                NOTIFY_ONCE,
                telegram.base_url,
                telegram.token,
                str(TEAM_CHAT),
                str(tmp_path),
            ],
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.splitlines()[-1])
        assert seen == {"entered": False, "notified": False}
        sent = telegram.last(TEAM_CHAT).text
    assert "hello" in sent and "feature-x" in sent


#: Well-formed, then malformed: no colon, no id, no secret, a letter in the id, blanks.
TOKENS = [
    "123456:ABC-def_1",
    "1:x",
    "1:a:b",
    "abc:def",
    "123456",
    "123456:",
    ":abc",
    "1:a b",
    "\t1:a",
]


@pytest.mark.parametrize("token", TOKENS)
def test_a_token_is_judged_as_aiogram_judges_it(token: str) -> None:
    try:
        validate_token(token)
        valid = True
    except TokenValidationError:
        valid = False
    if valid:
        check_token(token)
    else:
        with pytest.raises(ConfigError, match="not a Telegram bot token"):
            check_token(token)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"telegram_token": "not-a-token"}, "LOOM_RELEASE_TG_BOT_TOKEN: not a Telegram bot token"),
        (
            {"telegram_token": "123:abc", "telegram_api_url": "http://127.0.0.1:99999"},
            "RELMAN_TELEGRAM_API_URL: not a usable URL",
        ),
        (  # urllib takes this host; the HTTP client's IDNA 2008 rules do not
            {"telegram_token": "123:abc", "telegram_api_url": "http://xn--/"},
            "RELMAN_TELEGRAM_API_URL: not a usable URL: 'http://xn--/'",
        ),
        (  # the password in the URL is not repeated
            {"telegram_token": "123:abc", "telegram_api_url": "http://bot:pa55@127.0.0.1:99999"},
            r"not a usable URL: 'http://bot:\*\*\*@127\.0\.0\.1:99999'$",
        ),
    ],
)
async def test_a_bad_token_or_api_url_is_refused_before_anything_runs(
    database_url: str, tmp_path: Path, extra: dict[str, object], message: str
) -> None:
    container = build(make_settings(database_url, tmp_path, **extra))
    try:
        with pytest.raises(ConfigError, match=message):
            async with telegram_notices(container):
                pytest.fail("the block ran with a bad Telegram setting")
    finally:
        await container.aclose()
