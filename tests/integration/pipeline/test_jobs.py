"""The job queue: each queued job is claimed by exactly one of several racing workers
(``FOR UPDATE SKIP LOCKED`` plus a conditional UPDATE), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from relman.domain.release import Release, Source
from relman.store.db import create_engine
from relman.store.jobs import JobStore, NewJob, insert_job
from relman.store.releases import ReleaseStore
from tests.support.databases import DatabaseFactory

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def race(url: str) -> None:
    engine = create_engine(url)
    try:
        release, event = Release.initiate(
            service_name="hello",
            release_tag="v1.0.0",
            initiated_by="dev",
            github_run_id="1",
            github_action_link="",
            github_ref="refs/tags/v1.0.0",
            source=Source.API,
            at=NOW,
        )
        release, _ = await ReleaseStore(engine).add(release, event)
        assert release.id is not None
        async with engine.begin() as conn:
            queued = [
                await insert_job(conn, NewJob("stage_deploy", release.id, {"n": n}), at=NOW)
                for n in range(12)
            ]
        jobs = JobStore(engine)

        async def worker(name: str) -> list[int]:
            mine = []
            while (job := await jobs.claim(name, at=NOW)) is not None:
                assert job.owner == name and job.status == "running"
                mine.append(job.id)
            return mine

        claimed = await asyncio.gather(*(worker(f"w{n}") for n in range(6)))
        flat = [job_id for ids in claimed for job_id in ids]
        assert sorted(flat) == sorted(queued)  # every job once, none twice
        assert all(j.status == "running" for j in await jobs.for_release(release.id))

        # A stale running job is interrupted once; its owner can no longer finish it.
        (first,) = [j for j in await jobs.for_release(release.id) if j.id == queued[0]]
        stale = await jobs.stale(heartbeat_before=NOW + timedelta(seconds=1))
        assert {j.id for j in stale} == set(queued)
        assert await jobs.interrupt(first, at=NOW, error="interrupted: test")
        assert not await jobs.interrupt(first, at=NOW, error="again")
        assert not await jobs.finish(first.id, first.owner, ok=True, at=NOW)
        assert not await jobs.heartbeat(first.id, first.owner, at=NOW)
    finally:
        await engine.dispose()


async def test_racing_workers_claim_each_job_once(database_url: str) -> None:
    await race(database_url)


@pytest.mark.postgres
async def test_racing_workers_claim_each_job_once_on_postgresql(
    postgres: DatabaseFactory,
) -> None:
    await race(await postgres.fresh())
