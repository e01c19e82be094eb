"""Fixtures of the bot's integration tests: the Bot API double and relman with its bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.bot.bot_harness import Bot, running_bot
from tests.support.telegram_double import TelegramDouble


@pytest.fixture
def telegram() -> Iterator[TelegramDouble]:
    with TelegramDouble() as double:
        yield double


@pytest.fixture
async def bot(database_url: str, tmp_path: Path, telegram: TelegramDouble) -> AsyncIterator[Bot]:
    async with running_bot(database_url, tmp_path, telegram) as running:
        yield running
