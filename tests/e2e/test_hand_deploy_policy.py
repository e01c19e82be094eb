"""``relman deploy`` / ``relman rollback`` by hand go through the policy, the deploy history
and the notices like the pipeline (issue 15 item 5). Real processes, a real relman.toml,
hello-service over HTTP, a real HTTP server as the notification webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_deploy_cli import hello_project
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper, wait_for_health
from tests.support.pipeline import WebhookReceiver
from tests.support.telegram_double import TelegramDouble

WIDE = {"COLUMNS": "200"}


TEAM_CHAT = -100555


@pytest.fixture
def telegram() -> Iterator[TelegramDouble]:
    with TelegramDouble() as double:
        yield double


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as receiver:
        yield receiver


@pytest.fixture
def production(
    tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper, hook: WebhookReceiver
) -> Path:
    """A working directory whose relman.toml ships hello to production on a local host;
    ``cli:alice`` is a releaser, nobody else has a role; notices go to ``hook``."""
    return hello_project(
        tmp_path,
        sample_repo,
        service_reaper,
        environment="production",
        host="prod",
        policy={"releaser": ["cli:alice"]},
        notifications={"webhook_urls": [hook.url]},
    )


def history(project: Path) -> list[tuple[str, str, str, str]]:
    """(kind, tag, status, actor) of every production deploy of hello, oldest first."""
    import asyncio

    from relman.bootstrap import build
    from tests.conftest import make_settings

    async def read() -> list[tuple[str, str, str, str]]:
        settings = make_settings(f"sqlite+aiosqlite:///{project / 'relman.db'}", project)
        container = build(settings)
        try:
            rows = await container.deploys.history("hello", "production")
        finally:
            await container.aclose()
        return [(d.kind, d.tag, d.status, d.actor) for d in reversed(rows)]

    return asyncio.run(read())


def test_mallory_is_refused_a_production_deploy_and_nothing_runs(
    production: Path, hook: WebhookReceiver
) -> None:
    refused = relman(
        ["deploy", "hello", "v1.0.0", "--env", "production"],
        production,
        RELMAN_ACTOR="mallory",
        **WIDE,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "error: cli:mallory may not deploy to production: needs role admin or releaser"
    ]
    # the same person is refused the same way by the pipeline
    started = relman(["release", "start", "hello", "v1.0.0"], production, RELMAN_ACTOR="mallory")
    assert started.returncode == 2
    assert "cli:mallory may not start: needs role admin or releaser" in started.stderr
    back = relman(
        ["rollback", "hello", "--env", "production", "--to", "v1.0.0"],
        production,
        RELMAN_ACTOR="mallory",
    )
    assert back.returncode == 2
    assert back.stderr.strip().splitlines() == [
        "error: cli:mallory may not rollback: needs role admin or releaser"
    ]
    assert not (production / "prod" / "hello").exists()
    assert history(production) == []
    assert hook.bodies == []


def test_a_releaser_deploys_and_rolls_back_recorded_and_notified(
    production: Path, hook: WebhookReceiver, telegram: TelegramDouble
) -> None:
    url = f"http://127.0.0.1:{(production / 'port').read_text()}/health"
    team = telegram.add_group(TEAM_CHAT, "team")["id"]
    bot = {
        "LOOM_RELEASE_TG_BOT_TOKEN": telegram.token,
        "RELMAN_TELEGRAM_API_URL": telegram.base_url,
        "RELMAN_TELEGRAM_TEAM_CHAT_ID": str(team),
    }
    for tag in ("v1.0.0", "v1.1.0"):
        done = relman(
            ["deploy", "hello", tag, "--env", "production"],
            production,
            RELMAN_ACTOR="alice",
            **WIDE,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert wait_for_health(url, version="1.1.0").status == 200
    back = relman(
        ["rollback", "hello", "--env", "production"],
        production,
        RELMAN_ACTOR="alice",
        **WIDE,
        **bot,
    )
    assert back.returncode == 0, back.stdout + back.stderr
    assert wait_for_health(url, version="1.0.0").status == 200

    assert history(production) == [
        ("deploy", "v1.0.0", "succeeded", "cli:alice"),
        ("deploy", "v1.1.0", "succeeded", "cli:alice"),
        ("rollback", "v1.0.0", "succeeded", "cli:alice"),
    ]
    assert hook.kinds() == ["deployed", "deployed", "rollback_done"]
    assert [body["text"].split(" (log: ")[0] for body in hook.bodies] == [
        "✅ hello v1.0.0 is deployed to production: production, by cli:alice",
        "✅ hello v1.1.0 is deployed to production: production, by cli:alice",
        "⏪ hello v1.0.0 was rolled back: production, by cli:alice",
    ]
    # ... and, with a bot token set (only for the rollback: the bot's library takes seconds
    # to import), in the team chat, as the pipeline's rollbacks are.
    [said] = [m.text for m in telegram.messages(team)]
    assert "hello" in said and "v1.0.0" in said
