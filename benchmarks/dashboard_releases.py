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

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from relman.api.app import create_app  # noqa: E402
from relman.bootstrap import build  # noqa: E402
from relman.config import Settings  # noqa: E402
from relman.domain.status import ReleaseStatus  # noqa: E402
from relman.store.db import upgrade  # noqa: E402
from relman.store.tables import deployments, releases  # noqa: E402
from relman.web.signin import SESSION_COOKIE, Session, SignIn  # noqa: E402

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


#: The indexes a store migration would add for these queries (``--with-indexes`` measures
#: them): a service's releases newest first, and a service's deployed release of a tag.
PROPOSED_INDEXES = (
    "CREATE INDEX ix_releases_service_name_id ON releases (service_name, id)",
    "CREATE INDEX ix_releases_service_name_status_release_tag "
    "ON releases (service_name, status, release_tag)",
)


async def fill(url: str, count: int, services: int, *, indexes: bool = False) -> None:
    """``count`` releases spread over ``services`` services, oldest first, and a
    production deploy row per deployed release."""
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
        if indexes:
            from sqlalchemy import text

            for ddl in PROPOSED_INDEXES:
                await conn.execute(text(ddl))
    await engine.dispose()


async def measure(url: str, rounds: int, folder: Path) -> dict[str, list[float]]:
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
    kinds: dict[str, dict[str, str]] = {
        "first page": {},
        "group active": {"group": "active"},
        "group failed": {"group": "failed"},
        "one service": {"service": "svc-3"},
        "rare status": {"status": "rollback_failed"},
    }
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    timings["page 100 (cursor)"] = []
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
        kinds_deep = {"cursor": cursor or ""}
        for _ in range(20):  # warm-up: templates compiled, caches filled
            await client.get("/")
        for _ in range(rounds):
            for name, params in [*kinds.items(), ("page 100 (cursor)", kinds_deep)]:
                started, started_cpu = time.perf_counter(), time.process_time()
                response = await client.get("/", params=params)
                elapsed = (time.perf_counter() - started) * 1000
                cpu.append((time.process_time() - started_cpu) * 1000)
                assert response.status_code == 200, (name, response.status_code)
                timings[name].append(elapsed)
    await container.aclose()
    timings["(CPU time, all pages)"] = cpu
    return timings


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
        "--with-indexes", action="store_true", help="add PROPOSED_INDEXES before measuring"
    )
    args = parser.parse_args()
    if args.releases < 100 or args.rounds < 10:
        parser.error("--releases >= 100 and --rounds >= 10")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        began = time.perf_counter()
        await fill(url, args.releases, args.services, indexes=args.with_indexes)
        print(
            f"filled {args.releases} releases of {args.services} services "
            f"in {time.perf_counter() - began:.1f} s ({url.split(':', 1)[0]})"
        )
        timings = await measure(url, args.rounds, folder)
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
