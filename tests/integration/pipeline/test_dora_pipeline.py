"""DORA's four keys from a real history (issue 14 item 1): hello-service v1.0.0 and v1.1.0
shipped to production on a local host, the broken v1.2.0 failing its health check and
rolled back automatically; commit times read with git from the sample repository. Then
``GET {prefix}/dora``, ``/metrics`` and ``relman dora``, with their refusals.

Times come from a clock the test sets (the sample repository's commits are dated March
2024): v1.0.0 goes out 2024-03-22 15:30, v1.1.0 2024-03-23 14:30, v1.2.0 2024-03-30 10:00.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container
from relman.config import Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.status import ReleaseStatus as S
from tests.conftest import PREFIX, SECRET
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper
from tests.support.production import local_production, ship


@dataclass
class Clock:
    """The time relman sees: set by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def shipped(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> AsyncIterator[tuple[Container, Clock]]:
    clock = Clock(datetime(2024, 3, 22, 15, 30, tzinfo=UTC))
    async with local_production(
        settings, sample_repo, service_reaper, tmp_path / "prod", clock=clock
    ) as (container, _):
        for tag, when in (
            ("v1.0.0", datetime(2024, 3, 22, 15, 30, tzinfo=UTC)),
            ("v1.1.0", datetime(2024, 3, 23, 14, 30, tzinfo=UTC)),
            ("v1.2.0", datetime(2024, 3, 30, 10, 0, tzinfo=UTC)),
        ):
            clock.now = when
            await ship(container, tag)
        clock.now = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
        yield container, clock


async def test_the_four_keys_of_a_real_history(shipped: tuple[Container, Clock]) -> None:
    c, _ = shipped
    assert (await c.releases.get(3)).status is S.ROLLBACK_DONE
    report = await c.analytics.dora(days=30)
    k = report.all.keys
    assert [s.service for s in report.services] == ["hello"]
    # deployment frequency: v1.0.0 and v1.1.0 healthy; v1.2.0 failed (its automatic
    # rollback is not a deploy of a change)
    assert (k.deploys, k.healthy_deploys) == (3, 2)
    assert k.deploys_per_day == 2 / 30
    # lead time: v1.0.0 (the first production deploy) ships its own commit of 03-15
    # 14:30 → 7 d 1 h; v1.1.0 ships v1.0.0..v1.1.0, the commit of 03-22 14:30 → 24 h
    assert k.changes == 2
    assert (k.lead_time_median, k.lead_time_p90) == ((608400 + 86400) / 2, 608400.0)
    # change failure rate: 1 of 3
    assert (k.failed_deploys, k.change_failure_rate) == (1, 1 / 3)
    # recovery: production_failed → rollback_done, both at the test clock's 10:00
    assert (k.failures, k.restored, k.recovery_median) == (1, 1, 0.0)
    # read once: asking again runs no git
    assert await c.analytics.scan_commits(datetime(2024, 3, 1, tzinfo=UTC)) == 0
    cache = c.settings.evidence_root / "git-cache" / "hello.git"
    assert (cache / "HEAD").is_file()


async def test_the_api_metrics_and_the_cli(
    shipped: tuple[Container, Clock], tmp_path: Path
) -> None:
    c, _ = shipped
    app = create_app(c)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://relman.test",
        headers={"Authorization": f"Bearer {SECRET}"},
    ) as api:
        answer = await api.get(f"{PREFIX}/dora", params={"service": "hello", "days": 30})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["days"] == 30 and body["rollback_window_hours"] == 24
        keys = body["all"]["keys"]
        assert (keys["deploys"], keys["healthy_deploys"], keys["failed_deploys"]) == (3, 2, 1)
        assert keys["lead_time_median_seconds"] == 347400.0
        assert keys["deployment_frequency_band"] == "medium"
        assert keys["change_failure_band"] == "low"
        assert keys["lead_time_band"] == "high"
        assert keys["recovery_band"] == "elite"
        assert [w["week"] for w in body["all"]["weeks"]][-3:] == [
            "2024-W11",
            "2024-W12",
            "2024-W13",
        ]
        assert [w["keys"]["healthy_deploys"] for w in body["all"]["weeks"]][-2:] == [2, 0]

        for params, field in (
            ({"days": 0}, "days"),
            ({"days": 3651}, "days"),
            ({"days": "x"}, "days"),
            ({"service": "nope"}, "service"),
        ):
            refused = await api.get(f"{PREFIX}/dora", params=params)
            assert refused.status_code == 422, (params, refused.text)
            assert refused.json()["field"] == field
        assert "unknown service 'nope'" in refused.json()["message"]
        unauthenticated = await api.get(f"{PREFIX}/dora", headers={"Authorization": ""})
        assert unauthenticated.status_code == 401

        metrics = (await api.get("/metrics")).text
        assert 'relman_dora_deploys_per_day{service="hello"}' in metrics
        assert 'relman_dora_change_failure_rate{service="*"} 0.333' in metrics
        assert 'relman_dora_band{band="medium",key="deployment_frequency",service="hello"} 1.0' in (
            metrics
        )

    env = {
        "RELMAN_DATABASE_URL": c.settings.effective_database_url(),
        "RELMAN_CONFIG": str(c.settings.config_file),
        "RELMAN_EVIDENCE_ROOT": str(c.settings.evidence_root),
    }
    shown = relman(["dora", "--days", "3650"], tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    assert "hello" in shown.stdout and "33.3% of 3" in shown.stdout
    as_json = relman(["dora", "--service", "hello", "--json"], tmp_path, **env)
    assert as_json.returncode == 0, as_json.stderr
    assert '"service": null' in as_json.stdout
    # (each run of the console script costs seconds: the API above checks the windows)
    refused_cli = relman(["dora", "--service", "x"], tmp_path, **env)
    assert refused_cli.returncode == 2 and "Traceback" not in refused_cli.stderr
    assert "unknown service 'x'" in refused_cli.stderr
