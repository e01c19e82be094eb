"""A production deploy that fails its health check rolls back automatically through the
pipeline: deploying → production_failed → rollback → rollback_done, the service answers
with the previous version, and the team hears about both (issue "pipeline" item 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relman.bootstrap import Container
from relman.config import Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.status import ReleaseStatus as S
from tests.support.hello import ServiceReaper
from tests.support.pipeline import WebhookReceiver
from tests.support.production import local_production, ship
from tests.support.targets import served_version


@pytest.fixture
async def local_pipeline(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> AsyncIterator[tuple[Container, WebhookReceiver, str]]:
    with WebhookReceiver().running() as hook:
        async with local_production(
            settings,
            sample_repo,
            service_reaper,
            tmp_path / "prod",
            attempts=10,
            webhook_url=hook.url,
        ) as (container, health_url):
            yield container, hook, health_url


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
