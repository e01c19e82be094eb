"""A failed production deploy is recoverable from the release commands (issue 12 item 6):
with no automatic rollback, production is left on the broken tag and the release in
production_failed; a rollback requested then (CLI, bot, dashboard: the same service
function) is linked to the failed release and puts the last healthy tag back."""

from __future__ import annotations

from pathlib import Path

import pytest

from relman.config import Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.errors import InvalidInput
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus as S
from tests.support.hello import ServiceReaper
from tests.support.production import local_production, ship
from tests.support.targets import served_version

ONCALL = Actor("tg:7")


async def test_a_failed_production_release_is_rolled_back_from_production_failed(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> None:
    async with local_production(
        settings,
        sample_repo,
        service_reaper,
        tmp_path / "prod",
        attempts=8,
        releasers=[ONCALL.id],
        auto_rollback=False,
    ) as (c, url):
        good = await ship(c, "v1.1.0")
        broken = await ship(c, "v1.2.0")
        assert (good.status, broken.status) == (S.DEPLOYED, S.PRODUCTION_FAILED)
        assert [r.release_tag for r in await c.pipeline.rollback_targets("hello")] == ["v1.1.0"]
        with pytest.raises(InvalidInput) as same:
            await c.pipeline.request_rollback("hello", "v1.2.0", actor=ONCALL, source=Source.CLI)
        assert same.value.field == "to_tag"

        requested = await c.pipeline.request_rollback(
            "hello", "v1.1.0", actor=ONCALL, source=Source.CLI, expected_current=good.id
        )
        assert (requested.id, requested.status) == (broken.id, S.ROLLBACK)
        await c.worker().run_until_idle()
        done = await c.releases.get(broken.id)  # type: ignore[arg-type]
        assert (done.status, done.rollback_to_tag) == (S.ROLLBACK_DONE, "v1.1.0")
        assert done.events[-2].actor == ONCALL.id
        assert await served_version(url) == "1.1.0"
        current = await c.pipeline.current_deployed("hello")
        assert current is not None and current.id == good.id
