"""A real browser for the dashboard tests: Playwright (PyPI) driving Debian's ``chromium``.

Never ``playwright install``: the browser is the distribution's (``apt-get install -y
chromium``), launched headless from ``/usr/bin/chromium`` with the network features that
would phone home turned off. Locally the browser tests skip with the reason when chromium or
Playwright is missing; under ``CI=true`` they fail instead (``.ci/run`` installs chromium).

Also here: :class:`LiveServer`, the real app served by uvicorn on 127.0.0.1 inside the
test's event loop (the browser needs a TCP port), and where screenshots go.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.databases import in_ci

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = os.environ.get("RELMAN_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Screenshots of every page, at laptop and phone width (``var/`` is git-ignored).
ARTIFACTS = Path(
    os.environ.get(
        "RELMAN_TEST_ARTIFACTS",
        Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "dashboard",
    )
)
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    path = Path(CHROMIUM)
    if not path.exists() and shutil.which(CHROMIUM) is None:
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if path.exists() and not os.access(path, os.X_OK):
        return f"{CHROMIUM} is not executable"
    return None


def require_chromium() -> None:
    """Return when the browser can run; else skip (or fail under CI=true)."""
    reason = chromium_unavailable_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"browser tests are required under CI=true, but: {reason}", pytrace=False)
    pytest.skip(f"browser tests need Chromium: {reason}")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``app`` served by uvicorn on 127.0.0.1 in the running event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self._server.serve())
        deadline = asyncio.get_running_loop().time() + 30
        while not self._server.started:
            if self._task.done():
                self._task.result()
            assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.05)  # poll, bounded by the deadline
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


async def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``ARTIFACTS/<name>.png``."""
    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
