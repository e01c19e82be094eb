"""A production on this machine for the pipeline tests: hello-service from the sample
repository on one local host (``prod``, under the test's folder), stage deployed by CI (the
``github`` executor, reported through :func:`walk_to_manual_testing`) and production by
relman's own worker; :func:`ship` takes a tag all the way through QA's approval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from relman.domain.clock import Clock, utcnow
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from tests.support.hello import ServiceReaper
from tests.support.pipeline import CI, new_release, walk_to_manual_testing, write_config
from tests.support.sshd import free_port
from tests.support.targets import hello_service

#: The QA person who approves every shipped release.
QA = Actor("tg:3")


@asynccontextmanager
async def local_production(
    settings: Settings,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    root: Path,
    *,
    attempts: int = 60,
    releasers: list[str] | None = None,
    webhook_url: str | None = None,
    clock: Clock = utcnow,
    auto_rollback: bool = True,
) -> AsyncIterator[tuple[Container, str]]:
    """relman wired to ship hello to a local host under ``root`` (``attempts`` health
    checks 0.1 s apart; QA is :data:`QA`; ``releasers`` and a webhook sink when given);
    yields the container and the URL of the service's ``/health``."""
    service_reaper.watch(root / "hello")
    port = free_port("127.0.0.1")
    health = HealthCheck(
        url=f"http://{{address}}:{port}/health", attempts=attempts, interval=0.1, timeout=2.0
    )
    write_config(
        settings.config_file,
        RelmanConfig(
            services={"hello": hello_service(sample_repo, port, health=health)},
            hosts={
                "prod": Host(transport="local", root=str(root)),
                # its own folder: two environments never share a checkout
                "stage": Host(transport="local", root=str(root / "stage")),
            },
            environments={
                # CI deploys stage and reports; relman's worker deploys production.
                "stage": Environment(hosts=["stage"], executor="github"),
                "production": Environment(hosts=["prod"], auto_rollback=auto_rollback),
            },
            policy=Policy(qa=[QA.id], releaser=releasers or []),
            notifications=Notifications(webhook_urls=[webhook_url] if webhook_url else []),
        ),
    )
    container = build(settings, clock=clock)
    try:
        yield container, f"http://127.0.0.1:{port}/health"
    finally:
        await container.aclose()


async def ship(c: Container, tag: str) -> Release:
    """Start ``tag``'s release as CI, report stage, approve as QA and let the worker deploy
    it to production; the release as it ends."""
    release, _ = await c.pipeline.start_release(new_release(tag), actor=CI, source=Source.API)
    release = await walk_to_manual_testing(c, release)
    assert release.id is not None
    await c.pipeline.approve(release.id, actor=QA, source=Source.BOT)
    await c.worker().run_until_idle()
    return await c.releases.get(release.id)
