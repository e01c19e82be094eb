"""relman with its Telegram bot, in process, against the Bot API double.

The real app (``create_app``: routes, guard, metrics, bot) runs with its lifespan; requests
reach it through httpx's ASGI transport; the bot talks to :class:`TelegramDouble` over real
HTTP. Test users post their updates to ``POST {prefix}/update`` with the secret header, as
Telegram does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.bot.runtime import BotRuntime
from relman.config import Policy, RelmanConfig, Settings
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus
from relman.store.tables import release_events, seen_keys
from tests.conftest import SECRET, make_settings
from tests.support.api import PREFIX
from tests.support.pipeline import new_release, walk_to_manual_testing, write_config
from tests.support.telegram_double import TelegramDouble, TelegramUser, WebhookPoster

QA_CHAT = -100_111
TEAM_CHAT = -100_222
QA_ID = 111  # Анна, QA
RELEASER_ID = 222  # Борис, releaser
DEV_ID = 333  # the developer who tags releases ("dev" on GitHub); also QA
STRANGER_ID = 444  # no role at all

POLICY = Policy(
    qa=["tg:111", "dev"],
    releaser=["tg:222"],
    people={"dev": ["gh:dev", "tg:333"]},
)

CI = Actor("gh:dev", ci=True)
QA = Actor("tg:111", "Анна Петрова")


@dataclass
class Bot:
    """relman + bot + double, and helpers to act on them."""

    double: TelegramDouble
    container: Container
    app: FastAPI
    client: httpx.AsyncClient
    runtime: BotRuntime
    poster: WebhookPoster

    def user(self, user_id: int, name: str, *, language: str | None = "ru") -> TelegramUser:
        first, _, last = name.partition(" ")
        return self.double.user(
            user_id, first, last_name=last or None, language_code=language, deliver=self.poster
        )

    async def settle(self) -> None:
        """Wait until relman processed every update and sent every notification."""
        await self.runtime.idle()

    async def release_in_testing(
        self, tag: str = "v1.2.3", *, service: str = "loom-content", by: str = "dev"
    ) -> Release:
        """A release reported by CI up to manual_testing (the QA chat is notified)."""
        release, _ = await self.container.pipeline.start_release(
            new_release(tag, service=service, by=by), actor=CI, source=Source.API
        )
        release = await walk_to_manual_testing(self.container, release)
        await self.settle()
        return release

    async def report(self, release: Release, *statuses: ReleaseStatus) -> Release:
        """CI reports ``statuses`` in order (the github executor's way)."""
        assert release.id is not None
        for status in statuses:
            release = await self.container.pipeline.report_status(
                release.id, status, actor=CI, source=Source.API
            )
        await self.settle()
        return release

    async def deployed(self, release: Release) -> Release:
        """QA approves (through the service) and CI reports the production deploy."""
        assert release.id is not None
        await self.container.pipeline.approve(release.id, actor=QA, source=Source.API)
        return await self.report(release, ReleaseStatus.DEPLOYING, ReleaseStatus.DEPLOYED)

    async def events(self, release_id: int) -> list[Any]:
        return (await self.container.releases.get(release_id)).events

    async def count(self, table: Any) -> int:
        async with self.container.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def written(self) -> tuple[int, int]:
        """(audit rows, seen update keys): what a refused request must not change."""
        return await self.count(release_events), await self.count(seen_keys)

    async def metrics(self) -> str:
        return (await self.client.get("/metrics")).text


def bot_settings(
    database_url: str, tmp_path: Path, double: TelegramDouble, **settings: object
) -> Settings:
    """Test settings with a bot token pointing at ``double`` (and ``settings`` on top)."""
    values: dict[str, object] = {
        "telegram_token": double.token,
        "telegram_api_url": double.base_url,
    }
    values.update(settings)
    return make_settings(database_url, tmp_path, **values)


@asynccontextmanager
async def running_bot(
    database_url: str,
    tmp_path: Path,
    double: TelegramDouble,
    *,
    config: RelmanConfig | None = None,
    **settings: object,
) -> AsyncIterator[Bot]:
    """relman with a bot token pointing at ``double``, the QA and team chats known to it,
    the policy above (or ``config``)."""
    values: dict[str, object] = {"telegram_qa_chat_id": QA_CHAT, "telegram_team_chat_id": TEAM_CHAT}
    values.update(settings)
    s = bot_settings(database_url, tmp_path, double, **values)
    write_config(s.config_file, config or RelmanConfig(policy=POLICY))
    double.add_group(QA_CHAT, "QA")
    double.add_group(TEAM_CHAT, "Team")
    container = build(s)
    app = create_app(container)
    runtime = app.state.bot
    assert isinstance(runtime, BotRuntime)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://relman.test",
                headers={"Authorization": f"Bearer {SECRET}"},
            ) as client,
        ):
            poster = WebhookPoster(client, f"{PREFIX}/update", runtime.secret)
            yield Bot(double, container, app, client, runtime, poster)
            await runtime.idle()
    finally:
        await container.aclose()
