"""The bot as a user runs it: real `relman serve` processes, the Bot API double over HTTP.

- without a token relman runs and says once that the bot is off;
- `relman serve --polling` answers /start through getUpdates;
- `relman bot set-webhook URL` registers the webhook, Telegram (the double) delivers to
  `relman serve` over HTTP, and a wrong secret is 403;
- `relman bot set-webhook` refusals are one line, exit 2.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.test_serve import PREFIX, RELMAN, clean_env, free_port, relman, wait_healthy
from tests.support.telegram_double import SECRET_HEADER, TelegramDouble, via_telegram

SECRET = "e2e-interserver-secret"


def bot_env(telegram: TelegramDouble | None, **extra: str) -> dict[str, str]:
    env = {"LOOM_INTERSERVER_SECRET_KEY": SECRET}
    if telegram is not None:
        env["LOOM_RELEASE_TG_BOT_TOKEN"] = telegram.token
        env["RELMAN_TELEGRAM_API_URL"] = telegram.base_url
    env.update(extra)
    return env


@contextmanager
def serving(tmp_path: Path, port: int, env: dict[str, str], *args: str) -> Iterator[list[str]]:
    """`relman serve --migrate` on ``port``; yields a list that holds its output once it
    has stopped."""
    proc = subprocess.Popen(
        [RELMAN, "serve", "--migrate", "--no-worker", "--port", str(port), *args],
        cwd=tmp_path,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}{PREFIX}/health", proc)
        yield output
    finally:
        proc.terminate()
        output.append(proc.communicate(timeout=30)[0].decode())


def test_without_a_token_relman_runs_and_says_the_bot_is_off_once(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port, bot_env(None)) as output:
        response = httpx.post(f"http://127.0.0.1:{port}{PREFIX}/update", json={"update_id": 1})
        assert response.status_code == 404
    assert output[0].count("Telegram bot: off (no LOOM_RELEASE_TG_BOT_TOKEN)") == 1
    assert output[0].count("Telegram bot") == 1


def test_serve_polling_answers_start(tmp_path: Path) -> None:
    port = free_port()
    with TelegramDouble() as telegram:
        env = bot_env(telegram)
        with serving(tmp_path, port, env, "--polling") as output:
            anna = telegram.user(111, "Анна", deliver=via_telegram(telegram))
            telegram.push(anna.text_update("/start"))
            menu = telegram.wait_for(lambda: telegram.messages(111), timeout=30)
            assert menu[-1].text.startswith("🤖 Release Bot\n\n👋 Привет, Анна!")
        assert "Telegram bot: long polling" in output[0]
        assert telegram.token not in output[0]
        assert telegram.calls("getUpdates"), "relman never polled"
        assert not [c for c in telegram.errors() if c.method != "getUpdates"]


def test_set_webhook_then_telegram_delivers_to_serve(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}{PREFIX}/update"
    with TelegramDouble() as telegram:
        env = bot_env(telegram)
        with serving(tmp_path, port, env) as output:
            registered = relman(["bot", "set-webhook", url], tmp_path, **env)
            assert registered.returncode == 0, registered.stderr
            assert f"Telegram webhook set: {url}" in registered.stdout
            hook = telegram.webhook()
            assert hook["url"] == url and hook["secret_token"]

            anna = telegram.user(111, "Анна", deliver=via_telegram(telegram))
            assert telegram.push(anna.text_update("/start")) == 200  # Telegram → relman
            menu = telegram.wait_for(lambda: telegram.messages(111), timeout=30)
            query_update, query_id = anna.press_update(menu[-1], "❌ Провальные релизы")
            assert telegram.push(query_update) == 200
            telegram.wait_for(lambda: telegram.query(query_id).answered, timeout=30)
            telegram.wait_for(lambda: "Здесь пока нет релизов" in menu[-1].text, timeout=30)

            forged = httpx.post(url, json=query_update, headers={SECRET_HEADER: "nope"})
            assert forged.status_code == 403
            missing = httpx.post(url, json=query_update)
            assert missing.status_code == 403
            assert (
                "telegram_server_ok_message_total"
                in httpx.get(f"http://127.0.0.1:{port}/metrics").text
            )
        assert "Telegram bot: webhook at /api/tg-bot/update" in output[0]
        assert hook["secret_token"] not in output[0]
        deleted = relman(["bot", "delete-webhook"], tmp_path, **env)
        assert deleted.returncode == 0 and telegram.webhook() == {}


def test_set_webhook_refusals_are_one_line(tmp_path: Path) -> None:
    no_token = relman(["bot", "set-webhook", "https://x.test/api/tg-bot/update"], tmp_path)
    assert no_token.returncode == 2
    assert "no Telegram token" in no_token.stderr and "Traceback" not in no_token.stderr
    with TelegramDouble() as telegram:
        env = bot_env(telegram)
        plain_http = relman(["bot", "set-webhook", "http://relman.example/update"], tmp_path, **env)
        assert plain_http.returncode == 2
        assert "An HTTPS URL must be provided for webhook" in plain_http.stderr
        assert telegram.token not in plain_http.stderr
        polling_without_token = relman(["serve", "--polling"], tmp_path, **bot_env(None))
        assert polling_without_token.returncode == 2
        assert "--polling needs a Telegram token" in polling_without_token.stderr
    unreachable = relman(
        ["bot", "set-webhook", "https://x.test/api/tg-bot/update"],
        tmp_path,
        LOOM_RELEASE_TG_BOT_TOKEN="123:abc",
        RELMAN_TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    assert unreachable.returncode == 2
    assert "cannot reach the Bot API at http://127.0.0.1:" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and "123:abc" not in unreachable.stderr
