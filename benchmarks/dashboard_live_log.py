"""How long a deploy log line takes to reach the dashboard's live log (issue 13 item 5: less
than 100 ms of delay per line).

Run by hand from the checkout (``.venv/bin/python benchmarks/dashboard_live_log.py``): a
temporary SQLite database (or ``--database-url`` for an empty PostgreSQL one) with one
release whose stage deploy is running; the real app (``create_app``) served by uvicorn on
127.0.0.1 (``tests/support/browser.LiveServer``); an httpx client signed in follows the
deploy's Server-Sent Events (``GET /releases/1/deploys/1/log``, what the release page's
script reads) while this script appends ``--lines`` lines to the deploy's log file, one
every ``--interval`` seconds, as the deploy engine does. The delay of a line is the time
from its write (flushed) to the client receiving its event. Prints p50 / p95 / p99 / max in
milliseconds; exits 1 when the p99 is 100 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from dashboard_releases import pct  # noqa: E402  (the benchmark beside this one)

from relman.api.app import create_app  # noqa: E402
from relman.bootstrap import build  # noqa: E402
from relman.config import Settings  # noqa: E402
from relman.deploy.log import format_line, log_path  # noqa: E402
from relman.store.db import create_engine, upgrade  # noqa: E402
from relman.store.tables import deployments, releases  # noqa: E402
from relman.web.signin import SESSION_COOKIE, Session, SignIn  # noqa: E402
from tests.support.browser import LiveServer  # noqa: E402

SECRET = "benchmark-secret-0123456789abcdef"
BUDGET_MS = 100.0


async def prepare(url: str, started: datetime) -> None:
    """One release of ``hello`` v1.0.0 with a running stage deploy (id 1 both)."""
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(releases).values(
                id=1,
                service_name="hello",
                release_tag="v1.0.0",
                rollback_to_tag="",
                status="stage_deploy",
                initiated_by="ci",
                github_run_id="1",
                github_action_link="",
                github_ref="refs/tags/v1.0.0",
                created_at=started,
                started_at=started,
            )
        )
        await conn.execute(
            insert(deployments).values(
                id=1,
                release_id=1,
                service="hello",
                environment="stage",
                tag="v1.0.0",
                kind="deploy",
                status="running",
                actor="relman",
                hosts="stage-1",
                started_at=started,
            )
        )
    await engine.dispose()


async def measure(url: str, folder: Path, lines: int, interval: float) -> list[float]:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    await prepare(url, started)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key=SECRET,
        config_file=folder / "relman.toml",
        log_root=folder / "logs",
        evidence_root=folder / "evidence",
    )
    container = build(settings)
    log = log_path(settings.log_root, "hello", "v1.0.0", "stage", "deploy")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(format_line(started, "deploy of v1.0.0 to stage started") + "\n")
    cookie = SignIn(SECRET, container.seen).cookie(
        Session("tg:111", "Bench", "bench-session", datetime.now(UTC) + timedelta(hours=1))
    )
    written: dict[int, float] = {}
    received: dict[int, float] = {}

    reading = asyncio.Event()  # set once the client has the log's first line

    async def write_lines() -> None:
        await asyncio.wait_for(reading.wait(), 30)
        with log.open("a", encoding="utf-8") as handle:
            for n in range(lines):
                handle.write(format_line(datetime.now(UTC), f"step {n} ok") + "\n")
                handle.flush()
                written[n] = time.perf_counter()
                await asyncio.sleep(interval)
        async with container.engine.begin() as conn:  # the deploy ends: the stream ends
            await conn.execute(
                update(deployments)
                .where(deployments.c.id == 1)
                .values(status="succeeded", finished_at=datetime.now(UTC))
            )

    async with (
        LiveServer(create_app(container)) as server,
        httpx.AsyncClient(
            base_url=server.url, cookies={SESSION_COOKIE: cookie}, timeout=30
        ) as client,
    ):
        writer = asyncio.create_task(write_lines())
        async with client.stream("GET", "/releases/1/deploys/1/log") as response:
            assert response.status_code == 200, response.status_code
            async for raw in response.aiter_lines():
                if raw.startswith("data: "):
                    reading.set()
                if raw.startswith("data: ") and " - step " in raw:
                    n = int(raw.rsplit(" - step ", 1)[1].split()[0])
                    received[n] = time.perf_counter()
                if raw.startswith("event: end"):
                    break
        await writer
    await container.aclose()
    missing = sorted(set(written) - set(received))
    assert not missing, f"lines never received: {missing[:10]}"
    return [(received[n] - written[n]) * 1000 for n in sorted(written)]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between lines")
    parser.add_argument(
        "--database-url", default="", help="an EMPTY database (default: a temporary SQLite)"
    )
    args = parser.parse_args()
    if args.lines < 10 or args.interval <= 0:
        parser.error("--lines >= 10 and --interval > 0")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        delays = await measure(url, folder, args.lines, args.interval)
    print(
        f"| live log ({url.split(':', 1)[0]}) | {len(delays)} lines | "
        f"p50 {statistics.median(delays):.1f} ms | p95 {pct(delays, 95):.1f} ms | "
        f"p99 {pct(delays, 99):.1f} ms | max {max(delays):.1f} ms |"
    )
    p99 = pct(delays, 99)
    verdict = "within" if p99 < BUDGET_MS else "OVER"
    print(f"p99 {p99:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    return 0 if p99 < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
