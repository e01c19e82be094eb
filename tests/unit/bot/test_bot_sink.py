"""The notification sink never logs the bot token, even when Telegram's (or the HTTP
client's) error quotes the request URL ``…/bot<TOKEN>/sendMessage``."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relman.bot.context import BotContext
from relman.bot.redact import scrub
from relman.bot.sender import BotApiClient
from relman.bot.sink import TelegramSink, shown_event
from relman.domain.release import Release, ReleaseEvent, Source
from relman.domain.status import ReleaseStatus
from relman.notify import Notice, NoticeKind

TOKEN = "123456789:AAH-s3cret_PART-of-the-token"
SECRET_HALF = TOKEN.split(":", 1)[1]
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
NOW = datetime(2024, 3, 15, 14, 45, tzinfo=UTC)


class FailingApi:
    """A Bot API server on loopback answering every request ``ok: false`` with
    ``error_code`` and ``description`` (a careless proxy or server quoting the URL)."""

    def __init__(self, error_code: int, description: str) -> None:
        self.paths: list[str] = []
        answer = json.dumps(
            {"ok": False, "error_code": error_code, "description": description}
        ).encode()
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                paths.append(self.path)
                self.send_response(error_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FailingApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing(request: pytest.FixtureRequest) -> Iterator[FailingApi]:
    code, description = request.param
    with FailingApi(code, description) as api:
        yield api


def sink_for(api_url: str) -> TelegramSink:
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
        BotApiClient(api_url, TOKEN),
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
    "failing",
    [
        (400, f"Bad Request: chat not found (POST {URL})"),
        (403, f"Forbidden: bot was kicked [{URL}]"),
        (400, f"quoted as /bot{TOKEN.replace(':', '%3A')}/sendMessage"),
    ],
    indirect=True,
)
async def test_a_failed_notice_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture, failing: FailingApi
) -> None:
    sink = sink_for(failing.url)
    caplog.set_level(logging.WARNING, logger="relman.bot.sink")

    await sink.send(deployed())
    await sink.drain()
    await sink.aclose()

    assert failing.paths == [f"/bot{TOKEN}/sendMessage"]  # refused: not retried
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


async def test_an_unreachable_bot_api_is_retried_then_the_notice_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FailingApi(500, "unused") as gone:
        url = gone.url  # a port that was just closed: nothing listens there any more
    sink = sink_for(url)
    caplog.set_level(logging.WARNING, logger="relman.bot.sink")

    await sink.send(deployed())
    await sink.drain()
    await sink.aclose()

    (line,) = [r.getMessage() for r in caplog.records if r.name == "relman.bot.sink"]
    assert "telegram notice deployed to chat -100222 not sent: TimeoutError" in line
    assert SECRET_HALF not in caplog.text


def test_a_message_is_up_to_the_transition_of_the_status_it_shows() -> None:
    """Read between two commits, a release can carry the next transition's event while its
    status is still the one before: the message is up to the event of the status shown,
    so the refresh for the next one is not skipped."""
    release = deployed().release
    assert release is not None
    release.status = ReleaseStatus.DEPLOYING  # the row, read before DEPLOYED committed

    def event(number: int, to: ReleaseStatus, kind: str = "transition") -> ReleaseEvent:
        return ReleaseEvent(7, None, to, "ci", Source.API, "", NOW, id=number, kind=kind)

    release.events = [
        event(4, ReleaseStatus.MANUAL_TEST_PASSED),
        event(5, ReleaseStatus.DEPLOYING),
        event(6, ReleaseStatus.DEPLOYING, kind="refused"),
        event(7, ReleaseStatus.DEPLOYED),  # ... while the events were read after it
    ]
    assert shown_event(release) == 5
    release.status = ReleaseStatus.DEPLOYED
    assert shown_event(release) == 7
    release.events = []
    assert shown_event(release) == 0
