"""The web dashboard in a real browser (issue 13 item 4): Chromium driven by Playwright.

relman serves the real app on 127.0.0.1 with its worker; hello-service (the sample
repository) is deployed by the shell strategy to two local "hosts" — stage on 127.0.0.2,
production on 127.0.0.3 — and checked over HTTP. QA (Анна, Russian browser) signs in with a
one-time link, sees the list, opens the release and watches the stage deploy's log lines
arrive live, approves (production deployed); a person without a role sees no button and
has a forged POST refused (403, audited); a releaser (Boris, English browser) rolls back
through the confirmation; a POST without the CSRF token, a used link and an expired link
are refused. Every page is photographed at laptop and phone width (``var/test-artifacts/``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Environment, Host, Policy, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from relman.domain.clock import utcnow
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.web.signin import SignIn
from tests.conftest import make_settings
from tests.support.browser import LAPTOP, PHONE, LiveServer, chromium, screenshot
from tests.support.hello import ServiceReaper
from tests.support.pipeline import CI, new_release, write_config
from tests.support.sshd import free_port
from tests.support.targets import hello_service, served_version

S = ReleaseStatus
QA, RELEASER, NOBODY = "tg:111", "tg:222", "tg:333"
DEADLINE_MS = 90_000
STAGE_ADDRESS, PROD_ADDRESS = "127.0.0.2", "127.0.0.3"

pytestmark = pytest.mark.timeout(400)


@pytest.fixture
async def stack(
    database_url: str, tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> AsyncIterator[tuple[Container, LiveServer, int]]:
    port = free_port("127.0.0.1")
    for box in ("stage-box", "prod-box"):
        service_reaper.watch(tmp_path / box / "hello")
    # The restart prints a few lines slowly, so the log visibly grows while it runs.
    slow_start = [
        "sh",
        "-c",
        'for i in 1 2 3 4 5 6 7 8 9 10; do echo "warming up $i/10"; sleep 0.3; done; sh start.sh',
    ]
    config = RelmanConfig(
        services={"hello": hello_service(sample_repo, port, start_command=slow_start)},
        hosts={
            "stage-box": Host(
                transport="local", address=STAGE_ADDRESS, root=str(tmp_path / "stage-box")
            ),
            "prod-box": Host(
                transport="local", address=PROD_ADDRESS, root=str(tmp_path / "prod-box")
            ),
        },
        environments={
            "stage": Environment(hosts=["stage-box"]),
            "production": Environment(hosts=["prod-box"]),
        },
        policy=Policy(qa=[QA], releaser=[RELEASER]),
    )
    write_config(tmp_path / "relman.toml", config)
    container = build(make_settings(database_url, tmp_path))
    stop = asyncio.Event()
    worker = asyncio.create_task(container.worker().run(stop))
    try:
        async with chromium() as _probe:  # skip (or fail under CI) before any work
            pass
        async with LiveServer(create_app(container)) as server:
            yield container, server, port
    finally:
        stop.set()
        await worker
        await container.aclose()


def link(container: Container, server: LiveServer, who: str, name: str, **at: Any) -> str:
    now = at.get("now") or utcnow()
    return SignIn(container.settings.require_secret(), container.seen).link(
        server.url, who, name, now=now
    )


async def sign_in(page: Any, url: str) -> None:
    await page.goto(url)
    await page.click("#sign-in")
    await page.wait_for_selector("nav.nav")


async def shoot(page: Any, name: str) -> None:
    """The page at laptop width, then at phone width."""
    await page.set_viewport_size(LAPTOP)
    await screenshot(page, f"{name}-laptop")
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"{name}-phone")
    await page.set_viewport_size(LAPTOP)


async def wait_status(page: Any, text: str) -> None:
    """The release page refreshes itself (htmx, every 2 s) until its heading says ``text``."""
    await page.wait_for_function(
        "t => document.querySelector('h1') && document.querySelector('h1').innerText.includes(t)",
        arg=text,
        timeout=DEADLINE_MS,
    )


async def test_dashboard_in_chromium(stack: tuple[Container, LiveServer, int]) -> None:
    container, server, port = stack
    prod_health = f"http://{PROD_ADDRESS}:{port}/health"
    async with chromium() as browser:
        anna_ctx = await browser.new_context(locale="ru-RU", viewport=LAPTOP)
        anna = await anna_ctx.new_page()
        errors: list[str] = []
        anna.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        # A first-time visitor sees how to get a link, nothing else.
        await anna.goto(server.url + "/")
        assert "relman web login-link" in await anna.content()
        await shoot(anna, "01-signin")

        anna_link = link(container, server, QA, "Анна Петрова")
        await anna.goto(anna_link)
        await shoot(anna, "02-login-link")
        await anna.click("#sign-in")
        await anna.wait_for_selector("nav.nav")
        assert "Анна Петрова" in await anna.inner_text("header")

        # v1.0.0 is tagged: relman's worker deploys it to stage.
        first, _ = await container.pipeline.start_release(
            new_release("v1.0.0"), actor=CI, source=Source.API
        )
        await anna.goto(server.url + "/")
        assert "v1.0.0" in await anna.inner_text("#releases")

        # The release page: the stage deploy's log grows while we watch, without a reload.
        await anna.click("text=v1.0.0")
        await anna.wait_for_selector("pre[data-log-url]", timeout=DEADLINE_MS)
        pre = anna.locator("pre[data-log-url]").first
        await anna.wait_for_function(
            "() => Number(document.querySelector('pre[data-log-url]').dataset.lines || 0) > 0",
            timeout=DEADLINE_MS,
        )
        seen_first = int(await pre.get_attribute("data-lines") or 0)
        assert await pre.get_attribute("data-done") is None, "the deploy ended before we looked"
        await anna.wait_for_function(
            "n => Number(document.querySelector('pre[data-log-url]').dataset.lines) > n",
            arg=seen_first,
            timeout=DEADLINE_MS,
        )
        await shoot(anna, "03-release-stage-live-log")
        await wait_status(anna, "🧪 Ручное тестирование")
        log_text = await pre.inner_text()
        assert "🚀 Начинаем деплой тега v1.0.0" in log_text and "warming up 10/10" in log_text

        # QA approves in the browser: production gets v1.0.0.
        await anna.click("#approve")
        await anna.wait_for_selector(".flash.ok")
        assert "Подтверждено" in await anna.inner_text(".flash.ok")
        await wait_status(anna, "✅ Задеплоен")
        await anna.wait_for_selector(".badge.live")
        assert await served_version(prod_health) == "1.0.0"
        await anna.wait_for_selector("details.log.done >> nth=-1")
        await shoot(anna, "04-release-deployed")

        # v1.1.0 waits for QA; someone without a role sees no buttons, and a forged POST is
        # refused (403) and audited with source web.
        second, _ = await container.pipeline.start_release(
            new_release("v1.1.0"), actor=CI, source=Source.API
        )
        assert second.id is not None
        await anna.goto(f"{server.url}/releases/{second.id}")
        await wait_status(anna, "🧪 Ручное тестирование")

        viktor_ctx = await browser.new_context(locale="ru-RU", viewport=LAPTOP)
        viktor = await viktor_ctx.new_page()
        await sign_in(viktor, link(container, server, NOBODY, "Виктор"))
        await viktor.goto(f"{server.url}/releases/{second.id}")
        assert await viktor.locator("#approve").count() == 0
        assert await viktor.locator("#reject").count() == 0
        body = await viktor.get_attribute("body", "hx-headers") or ""
        csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', body)
        assert csrf is not None
        forged = await viktor.evaluate(
            """async ([url, token]) => (await fetch(url, {method: 'POST',
                 headers: {'X-CSRF-Token': token}})).status""",
            [f"{server.url}/releases/{second.id}/approve", csrf.group(1)],
        )
        assert forged == 403
        refused = [
            e for e in (await container.releases.get(second.id)).events if e.kind == "refused"
        ]
        assert [(e.source, e.actor.split(" ")[0]) for e in refused] == [(Source.WEB, NOBODY)]

        # A POST without the CSRF token is refused and writes nothing.
        no_csrf = await anna_ctx.request.post(f"{server.url}/releases/{second.id}/approve")
        assert no_csrf.status == 403
        assert (await container.releases.get(second.id)).status is S.MANUAL_TESTING

        # QA approves v1.1.0 from the Decisions page.
        await anna.goto(f"{server.url}/decisions")
        await shoot(anna, "05-decisions")
        await anna.click(f"#waiting-{second.id} >> text=✅ Подтвердить")
        await wait_status(anna, "✅ Задеплоен")
        assert await served_version(prod_health) == "1.1.0"

        await anna.goto(f"{server.url}/environments")
        await anna.wait_for_selector("#service-hello")
        envs = await anna.inner_text("#service-hello")
        assert "v1.1.0" in envs and "prod-box" in envs and "stage-box" in envs
        await shoot(anna, "06-environments")
        await anna.goto(f"{server.url}/")
        await shoot(anna, "07-releases")

        # A releaser rolls production back to v1.0.0 through the confirmation (English).
        boris_ctx = await browser.new_context(locale="en-US", viewport=LAPTOP)
        boris = await boris_ctx.new_page()
        await sign_in(boris, link(container, server, RELEASER, "Boris"))
        await boris.goto(f"{server.url}/releases/{first.id}")
        assert await boris.locator("#rollback").count() == 1  # v1.0.0 may be gone back to
        await boris.goto(f"{server.url}/decisions")
        await boris.select_option("select[name=to_tag]", "v1.0.0")
        await boris.click("text=⏪ Roll back")
        confirm = await boris.inner_text("#confirm")
        assert "⚠️ Confirm rollback" in confirm
        assert "Current tag: v1.1.0" in confirm and "Roll back to tag: v1.0.0" in confirm
        await shoot(boris, "08-rollback-confirm")
        await boris.click("#confirm-rollback")
        await boris.wait_for_selector(".flash.ok")
        assert "Rollback started" in await boris.inner_text(".flash.ok")
        await wait_status(boris, "↩️ Rolled back")
        assert await served_version(prod_health) == "1.0.0"
        await shoot(boris, "09-release-rolled-back")
        rolled = await container.releases.get(second.id)
        assert rolled.status is S.ROLLBACK_DONE
        assert any(e.source is Source.WEB and e.to_status is S.ROLLBACK for e in rolled.events)
        # What production was rolled back from is not offered again (the bot's choice too).
        assert await boris.locator("#rollback").count() == 0
        await boris.goto(f"{server.url}/services/hello/rollback")
        assert await boris.locator("#to-tag").count() == 0
        assert await boris.locator("#confirm-rollback").count() == 0

        # Evidence: a file downloads and its SHA-256 is the one shown.
        await boris.goto(f"{server.url}/releases/{first.id}")
        await boris.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        summary = boris.locator("table.evidence tr", has_text="summary.json").first
        shown_sha = (await summary.locator("td").nth(2).inner_text()).split()[0]
        async with boris.expect_download() as download_info:
            await summary.locator("a").click()
        download = await download_info.value
        data = await asyncio.to_thread(Path(await download.path()).read_bytes)
        assert hashlib.sha256(data).hexdigest() == shown_sha

        # A used link and an expired link are refused; sign-out ends the session.
        await viktor.goto(anna_link)
        await viktor.click("#sign-in")
        assert "already used" in await viktor.content()
        expired = link(container, server, QA, "Анна", now=utcnow() - timedelta(minutes=6))
        await viktor.goto(expired)
        assert "expired" in await viktor.content()
        await anna.click("text=Выйти")
        await anna.wait_for_selector(".flash.ok")
        await anna.goto(f"{server.url}/releases/{first.id}")
        assert await anna.locator("nav.nav").count() == 0

        # The DORA page (issue 14): the four keys, their bands and weekly SVG bars; the
        # incidents the rollback opened.
        dora = await boris.goto(f"{server.url}/dora?service=hello&days=30")
        assert dora is not None and dora.status == 200
        await boris.wait_for_selector("#key-frequency svg.chart rect.bar.ok")
        assert await boris.locator("#key-frequency [data-band]").count() == 1
        await shoot(boris, "11-dora")
        await boris.goto(f"{server.url}/incidents")
        await boris.wait_for_selector("#incidents tr[data-incident]")
        await shoot(boris, "12-incidents")

        # An unknown release is a 404 page.
        missing = await boris.goto(f"{server.url}/releases/424242")
        assert missing is not None and missing.status == 404
        await shoot(boris, "10-not-found")

        assert not [e for e in errors if "Content Security Policy" in e], errors
        for ctx in (anna_ctx, viktor_ctx, boris_ctx):
            await ctx.close()
