"""A worker killed with SIGKILL mid production deploy leaves a visible state (DESIGN.md §5).

Real processes: `relman worker` claims the production deploy of an approved release; the
sample service's slow health check holds the deploy open; the worker is killed with
SIGKILL; a second `relman worker` starts and, within 30 s, marks the job interrupted, fails
the release with reason "interrupted", frees the deploy lock and sends the notification.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from relman.bootstrap import Container, build
from relman.config import (
    Environment,
    HealthCheck,
    Host,
    Notifications,
    Policy,
    RelmanConfig,
    Settings,
)
from relman.demo.sample_repo import SampleRepo
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.store.deployments import DeploymentStore
from tests.e2e.test_serve import RELMAN, clean_env
from tests.support.hello import ServiceReaper
from tests.support.pipeline import (
    WebhookReceiver,
    new_release,
    walk_to_manual_testing,
    write_config,
)
from tests.support.sshd import free_port
from tests.support.targets import hello_service

QA = Actor("tg:3", "QA")


@contextmanager
def worker_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`relman worker` on the test's database and config, with a fast heartbeat."""
    env = clean_env(
        RELMAN_DATABASE_URL=settings.effective_database_url(),
        RELMAN_CONFIG=str(settings.config_file),
        RELMAN_LOG_ROOT=str(settings.log_root),
        RELMAN_EVIDENCE_ROOT=str(settings.evidence_root),
        RELMAN_WORKER_HEARTBEAT="0.3",
        RELMAN_WORKER_STALE_AFTER="3",
    )
    with log.open("ab") as out:
        proc = subprocess.Popen([RELMAN, "worker"], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def poll(condition: Callable[[], object], what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await condition():  # type: ignore[misc]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_sigkill_mid_deploy_is_marked_interrupted_by_the_next_worker(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> None:
    root = tmp_path / "prod-box"
    service_reaper.watch(root / "hello")
    port = free_port("127.0.0.1")
    slow = hello_service(
        sample_repo,
        port,
        # /health answers after 30 s and each attempt gives up after 1 s: the deploy stays
        # in its health check for minutes, the window to kill the worker in.
        health=HealthCheck(
            url=f"http://{{address}}:{port}/health", attempts=100, interval=1.0, timeout=1.0
        ),
    )
    slow.env["HELLO_HEALTH_DELAY"] = "30"
    with WebhookReceiver().running() as hook:
        write_config(
            settings.config_file,
            RelmanConfig(
                services={"hello": slow},
                hosts={"prod-box": Host(transport="local", root=str(root))},
                environments={"production": Environment(hosts=["prod-box"])},
                policy=Policy(qa=["tg:3"]),
                notifications=Notifications(webhook_urls=[hook.url]),
            ),
        )
        container: Container = build(settings)
        try:
            await run_scenario(container, settings, hook, tmp_path)
        finally:
            await container.aclose()


async def run_scenario(
    c: Container, settings: Settings, hook: WebhookReceiver, tmp_path: Path
) -> None:
    ci = Actor("gh:dev", ci=True)
    release, _ = await c.pipeline.start_release(new_release("v1.0.0"), actor=ci, source=Source.API)
    release = await walk_to_manual_testing(c, release)
    assert release.id is not None
    release_id = release.id
    await c.pipeline.approve(release_id, actor=QA, source=Source.BOT)
    store = DeploymentStore(c.engine)
    prod_log = settings.log_root / "production/hello/v1.0.0-prod.log"

    async def in_health_check() -> bool:
        status = (await c.releases.get(release_id)).status
        held = await store.lock("hello", "production")
        return (
            status is ReleaseStatus.DEPLOYING
            and held is not None
            and prod_log.exists()
            and "попытка" in prod_log.read_text(encoding="utf-8")
        )

    with worker_process(settings, tmp_path / "worker-1.log") as first:
        await poll(in_health_check, "the first worker to reach the health check", 60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL

    started = time.monotonic()
    with worker_process(settings, tmp_path / "worker-2.log"):

        async def failed() -> bool:
            return (await c.releases.get(release_id)).status is ReleaseStatus.PRODUCTION_FAILED

        await poll(failed, "the release to fail as interrupted", 30)
        assert time.monotonic() - started < 30
        await poll(lambda: _true("interrupted" in hook.kinds()), "the notification", 10)

    release = await c.releases.get(release_id)
    assert "interrupted" in release.events[-1].note
    assert [e.to_status.value for e in release.events][-2:] == ["deploying", "production_failed"]
    (job,) = [j for j in await c.jobs.for_release(release_id) if j.kind == "production_deploy"]
    assert job.status == "interrupted" and "interrupted" in job.error
    assert await store.lock("hello", "production") is None
    report = await c.deploys.lock_report("hello", "production")
    assert report.database is None and not report.hosts["prod-box"].held
    notice = next(b for b in hook.bodies if b["kind"] == "interrupted")
    assert notice["release"]["id"] == release_id
    assert notice["release"]["status"] == "production_failed"


async def _true(value: bool) -> bool:
    return value
