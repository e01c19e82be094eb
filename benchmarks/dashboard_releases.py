"""How fast the dashboard's releases page renders with 100 000 releases (issue 13 item 5).

Run by hand from the checkout (``.venv/bin/python benchmarks/dashboard_releases.py``):
builds a fresh database (a temporary SQLite file, or ``--database-url`` for an empty
PostgreSQL database), fills it with ``--releases`` releases of ``--services`` services —
most of them ``deployed`` and superseded, as a long-lived installation has, plus failed and
active ones and each service's production deploy history — and then requests the releases
page as a signed-in person through the real app (``create_app``, in process over ASGI: the
time measured is the server's, no network), for the unfiltered first page, a group, a
service, a rare status and a page deep in the cursor chain. Prints p50 / p95 / p99 / max in
milliseconds per page kind and overall; exits 1 when the overall p99 is 50 ms or more.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from relman.api.app import create_app  # noqa: E402
from relman.bootstrap import build  # noqa: E402
from relman.config import Settings  # noqa: E402
from relman.domain.status import ReleaseStatus  # noqa: E402
from relman.store.db import upgrade  # noqa: E402
from relman.store.tables import deployments, releases  # noqa: E402
from relman.web.service import LIVE_TTL  # noqa: E402
from relman.web.signin import SESSION_COOKIE, Session, SignIn  # noqa: E402

if TYPE_CHECKING:
    from relman.bootstrap import Container

S = ReleaseStatus
SECRET = "benchmark-secret-0123456789abcdef"
BUDGET_MS = 50.0


def status_for(rng: random.Random, newest: bool) -> ReleaseStatus:
    if newest:
        return rng.choice([S.MANUAL_TESTING, S.BUILDING, S.DEPLOYED])
    roll = rng.random()
    if roll < 0.80:
        return S.DEPLOYED
    if roll < 0.88:
        return S.STAGING_FAILED
    if roll < 0.94:
        return S.MANUAL_TEST_FAILED
    if roll < 0.97:
        return S.ROLLBACK_DONE
    if roll < 0.995:
        return S.PRODUCTION_FAILED
    return S.ROLLBACK_FAILED


#: The indexes migration 0009 adds for these pages (``--without-indexes`` drops them to
#: measure the schema before it).
DASHBOARD_INDEXES = ("ix_releases_service_name_id", "ix_releases_service_name_status_release_tag")

#: The page kinds measured: the releases page's query string for each.
KINDS: dict[str, dict[str, str]] = {
    "first page": {},
    "group active": {"group": "active"},
    "group failed": {"group": "failed"},
    "one service": {"service": "svc-3"},
    "rare status": {"status": "rollback_failed"},
}
DEEP = "page 100 (cursor)"
#: The first page with the release in production looked up for every request (the page
#: caches it for ``Dashboard.live_ttl`` seconds otherwise).
UNCACHED = "first page, live not cached"


async def fill(url: str, count: int, services: int, *, indexes: bool = True) -> None:
    """``count`` releases spread over ``services`` services, oldest first, and a
    production deploy row per deployed release; without ``indexes``, migration 0009's
    indexes are dropped. PostgreSQL's statistics are then gathered (``ANALYZE``: what
    autovacuum does on a live installation after so many rows; relman never runs it on
    SQLite, so SQLite is measured without)."""
    from relman.store.db import create_engine

    engine = create_engine(url)
    await upgrade(engine)
    rng = random.Random(13)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    deploys: list[dict[str, object]] = []
    minor: dict[str, int] = {}
    async with engine.begin() as conn:
        for n in range(1, count + 1):
            service = f"svc-{n % services}"
            minor[service] = minor.get(service, 0) + 1
            tag = f"v1.{minor[service]}.0"
            at = start + timedelta(minutes=10 * n)
            status = status_for(rng, newest=n > count - 20)
            done = status not in (S.MANUAL_TESTING, S.BUILDING)
            batch.append(
                {
                    "id": n,
                    "service_name": service,
                    "release_tag": tag,
                    "rollback_to_tag": "",
                    "status": status.value,
                    "initiated_by": f"dev{n % 7}",
                    "github_run_id": str(n),
                    "github_action_link": f"https://github.com/acme/{service}/actions/runs/{n}",
                    "github_ref": f"refs/tags/{tag}",
                    "created_at": at,
                    "started_at": at,
                    "completed_at": at + timedelta(minutes=5) if done else None,
                }
            )
            if status is S.DEPLOYED:
                deploys.append(
                    {
                        "release_id": n,
                        "service": service,
                        "environment": "production",
                        "tag": tag,
                        "kind": "deploy",
                        "status": "succeeded",
                        "actor": "tg:111",
                        "hosts": "prod-1,prod-2",
                        "started_at": at + timedelta(minutes=4),
                        "finished_at": at + timedelta(minutes=5),
                        "git_sha": f"{n:040x}",
                    }
                )
            if len(batch) >= 5000:
                await conn.execute(insert(releases), batch)
                batch.clear()
        if batch:
            await conn.execute(insert(releases), batch)
        for i in range(0, len(deploys), 5000):
            await conn.execute(insert(deployments), deploys[i : i + 5000])
        if not indexes:
            for name in DASHBOARD_INDEXES:
                await conn.execute(text(f"DROP INDEX {name}"))
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def measure(
    url: str, rounds: int, folder: Path, *, explain: bool = False
) -> dict[str, list[float]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key=SECRET,
        config_file=folder / "relman.toml",
        log_root=folder / "logs",
        evidence_root=folder / "evidence",
    )
    container = build(settings)
    app = create_app(container)
    now = datetime.now(UTC)
    cookie = SignIn(SECRET, container.seen).cookie(
        Session("tg:111", "Bench", "bench-session", now + timedelta(hours=1))
    )
    kinds = dict(KINDS)
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    timings[DEEP] = []
    # (a checkout before the dashboard's cache could be reached has no such page kind)
    web = getattr(app.state, "web", None)
    dashboard = web.dashboard if web is not None else None
    if dashboard is not None:
        timings[UNCACHED] = []
    cpu: list[float] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://relman.bench",
        cookies={SESSION_COOKIE: cookie},
    ) as client:
        first = await client.get("/")
        assert first.status_code == 200, first.text[:300]
        # A cursor deep in the list: page 100 of the unfiltered list.
        cursor = None
        for _ in range(99):
            page = await container.releases.list(limit=50, cursor=cursor)
            cursor = page.next_cursor
        kinds[DEEP] = {"cursor": cursor or ""}
        if dashboard is not None:
            kinds[UNCACHED] = {}
        if explain:
            await show_plans(container, client, kinds)
        for _ in range(20):  # warm-up: templates compiled, caches filled
            await client.get("/")
        for _ in range(rounds):
            for name, params in kinds.items():
                if dashboard is not None:
                    dashboard.live_ttl = 0.0 if name == UNCACHED else LIVE_TTL
                started, started_cpu = time.perf_counter(), time.process_time()
                response = await client.get("/", params=params)
                elapsed = (time.perf_counter() - started) * 1000
                cpu.append((time.process_time() - started_cpu) * 1000)
                assert response.status_code == 200, (name, response.status_code)
                timings[name].append(elapsed)
    await container.aclose()
    timings["(CPU time, all pages)"] = cpu
    return timings


async def show_plans(
    container: Container, client: httpx.AsyncClient, kinds: dict[str, dict[str, str]]
) -> None:
    """For each page kind, the SQL one request runs (caught on the engine, the live
    marking included: the request waits out the page's cache of it first) and each
    statement's plan: ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN ANALYZE`` on PostgreSQL."""
    from sqlalchemy import event

    caught: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            caught.append((statement, parameters))

    engine = container.engine
    postgres = engine.dialect.name == "postgresql"
    for name, params in kinds.items():
        if name == UNCACHED:
            continue
        await asyncio.sleep(LIVE_TTL + 0.1)  # a benchmark, not a test: let the cache expire
        caught.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", catch)
        try:
            response = await client.get("/", params=params)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", catch)
        assert response.status_code == 200, (name, response.status_code)
        print(f"\n### {name} {params or ''}: {len(caught)} queries")
        seen: set[str] = set()
        for statement, parameters in list(caught):
            if statement in seen:
                continue
            seen.add(statement)
            count = sum(1 for s, _ in caught if s == statement)
            print(f"\n-- x{count}: " + " ".join(statement.split())[:400])
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            async with engine.connect() as conn:
                rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
            for row in rows:
                print("   ", row[-1])
    print()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=200, help="requests per page kind")
    parser.add_argument(
        "--database-url", default="", help="an EMPTY database (default: a temporary SQLite)"
    )
    parser.add_argument(
        "--without-indexes",
        action="store_true",
        help="drop migration 0009's indexes first (the schema before it)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print each page kind's SQL and query plans"
    )
    args = parser.parse_args()
    if args.releases < 100 or args.rounds < 10:
        parser.error("--releases >= 100 and --rounds >= 10")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        began = time.perf_counter()
        await fill(url, args.releases, args.services, indexes=not args.without_indexes)
        print(
            f"filled {args.releases} releases of {args.services} services "
            f"in {time.perf_counter() - began:.1f} s ({url.split(':', 1)[0]})"
        )
        timings = await measure(url, args.rounds, folder, explain=args.explain)
    cpu = timings.pop("(CPU time, all pages)")
    everything = [t for values in timings.values() for t in values]
    print("\n| page | requests | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in [*timings.items(), ("all", everything)]:
        print(
            f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
            f"{pct(values, 95):.1f} | {pct(values, 99):.1f} | {max(values):.1f} |"
        )
    print(
        f"| CPU time of the process per request (all) | {len(cpu)} | "
        f"{statistics.median(cpu):.1f} | {pct(cpu, 95):.1f} | {pct(cpu, 99):.1f} | "
        f"{max(cpu):.1f} |"
    )
    p99 = pct(everything, 99)
    verdict = "within" if p99 < BUDGET_MS else "OVER"
    print(f"\noverall p99 {p99:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    return 0 if p99 < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
