"""A production deploy that fails its health check rolls back automatically through the
pipeline: deploying → production_failed → rollback → rollback_done, the service answers
with the previous version, and the team hears about both (issue "pipeline" item 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus as S
from tests.support.hello import ServiceReaper
from tests.support.pipeline import (
    CI,
    WebhookReceiver,
    new_release,
    walk_to_manual_testing,
    write_config,
)
from tests.support.sshd import free_port
from tests.support.targets import hello_service, served_version

QA = Actor("tg:3")


@pytest.fixture
async def local_pipeline(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> AsyncIterator[tuple[Container, WebhookReceiver, str]]:
    root = tmp_path / "prod"
    service_reaper.watch(root / "hello")
    port = free_port("127.0.0.1")
    health = HealthCheck(
        url=f"http://{{address}}:{port}/health", attempts=10, interval=0.1, timeout=2.0
    )
    service = hello_service(sample_repo, port, health=health)
    with WebhookReceiver().running() as hook:
        write_config(
            settings.config_file,
            RelmanConfig(
                services={"hello": service},
                hosts={"prod": Host(transport="local", root=str(root))},
                environments={
                    # CI deploys stage and reports; relman's worker deploys production.
                    "stage": Environment(hosts=["prod"], executor="github"),
                    "production": Environment(hosts=["prod"]),
                },
                policy=Policy(qa=["tg:3"]),
                notifications=Notifications(webhook_urls=[hook.url]),
            ),
        )
        container = build(settings)
        try:
            yield container, hook, f"http://127.0.0.1:{port}/health"
        finally:
            await container.aclose()


async def ship(c: Container, tag: str) -> Release:
    release, _ = await c.pipeline.start_release(new_release(tag), actor=CI, source=Source.API)
    release = await walk_to_manual_testing(c, release)
    assert release.id is not None
    await c.pipeline.approve(release.id, actor=QA, source=Source.BOT)
    await c.worker().run_until_idle()
    return await c.releases.get(release.id)


async def test_a_failed_production_deploy_rolls_back_to_the_last_healthy_tag(
    local_pipeline: tuple[Container, WebhookReceiver, str],
) -> None:
    c, hook, url = local_pipeline
    good = await ship(c, "v1.1.0")
    assert good.status is S.DEPLOYED
    assert await served_version(url) == "1.1.0"

    broken = await ship(c, "v1.2.0")
    assert broken.status is S.ROLLBACK_DONE and broken.rollback_to_tag == "v1.1.0"
    moves = [(e.to_status.value, e.note) for e in broken.events if e.kind == "transition"]
    assert [m for m, _ in moves][-4:] == [
        "deploying",
        "production_failed",
        "rollback",
        "rollback_done",
    ]
    assert "Health check не пройден" in moves[-3][1]
    assert moves[-2][1] == "automatic rollback to v1.1.0"
    assert await served_version(url) == "1.1.0"
    current = await c.pipeline.current_deployed("hello")
    assert current is not None and current.id == good.id
    assert hook.kinds() == [
        "ready_for_testing", "deployed",  # v1.1.0 (CI reported manual_testing)
        "ready_for_testing", "incident_opened", "production_failed",  # v1.2.0 …
        "incident_resolved", "rollback_done",  # … an incident (issue 14) until rolled back
    ]  # fmt: skip
    logs = c.settings.log_root
    assert (logs / "production/hello/v1.2.0-prod.log").is_file()
    assert (logs / "rollback/hello/v1.1.0-rollback.log").is_file()
