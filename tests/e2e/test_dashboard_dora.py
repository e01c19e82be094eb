"""The dashboard's DORA and incidents pages (issue 14 items 1 and 2) over HTTP: exact figures
from a scripted history in the database, the window selector, bands, emergency deploys
counted apart, the weekly SVG bars, and the refusals (days 0 or over 3650, an unknown
service: a 422 page saying so).

The history (UTC; relman's clock stands at Tuesday 2026-03-31 12:00, window 30 days):

shop
  #1 v1.0.0 healthy in production 03-02 10:00 — commits 12 h and 2 h before
  #2 v1.1.0 failed its production deploy 03-10 09:00 — incident INC, resolved 09:30
  #3 v1.2.0 an emergency release, healthy 03-20 10:00 — a commit 1 h before
api  nothing deployed in the window
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Environment, HealthCheck, Host, Policy, RelmanConfig, Service
from relman.store.incidents import IncidentStore
from relman.store.tables import (
    commit_scans,
    deploy_commits,
    deployments,
    emergency_releases,
    release_events,
    releases,
)
from tests.conftest import make_settings
from tests.e2e.test_dashboard_http import QA, sign_in
from tests.support.pipeline import write_config

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _service() -> Service:
    return Service(
        repo="https://example.invalid/x.git",
        workdir="{root}/x",
        start_command=["true"],
        health=HealthCheck(url="http://{address}:1/health"),
    )


@pytest.fixture
async def history(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    config = RelmanConfig(
        services={"shop": _service(), "api": _service()},
        hosts={
            "stage-box": Host(transport="local", root=str(tmp_path / "stage")),
            "box": Host(transport="local", root=str(tmp_path / "box")),
        },
        environments={
            "stage": Environment(hosts=["stage-box"], executor="github"),
            "production": Environment(hosts=["box"], executor="github"),
        },
        policy=Policy(qa=[QA]),
    )
    write_config(tmp_path / "relman.toml", config)
    container = build(make_settings(database_url, tmp_path), clock=lambda: NOW)
    shipped = [
        (1, "v1.0.0", "deployed", "succeeded", at(3, 2, 10)),
        (2, "v1.1.0", "production_failed", "failed", at(3, 10, 9)),
        (3, "v1.2.0", "deployed", "succeeded", at(3, 20, 10)),
    ]
    async with container.engine.begin() as conn:
        for n, tag, status, outcome, done in shipped:
            await conn.execute(
                insert(releases).values(
                    id=n,
                    service_name="shop",
                    release_tag=tag,
                    status=status,
                    initiated_by="ci",
                    github_run_id=str(n),
                    github_action_link="",
                    github_ref=f"refs/tags/{tag}",
                    created_at=done - timedelta(hours=1),
                    started_at=done - timedelta(hours=1),
                    completed_at=done,
                )
            )
            await conn.execute(
                insert(release_events).values(
                    release_id=n,
                    from_status="deploying",
                    to_status=status,
                    actor="relman",
                    source="worker",
                    created_at=done,
                )
            )
            await conn.execute(
                insert(deployments).values(
                    id=n,
                    release_id=n,
                    service="shop",
                    environment="production",
                    tag=tag,
                    kind="deploy",
                    status=outcome,
                    actor="tg:111",
                    hosts="box",
                    started_at=done - timedelta(minutes=2),
                    finished_at=done,
                )
            )
            # the commits were read already: the page runs no git
            await conn.execute(insert(commit_scans).values(deployment_id=n, scanned_at=done))
        for deployment, before in ((1, 12), (1, 2), (3, 1)):
            done = next(d for n, *_, d in shipped if n == deployment)
            committed = done - timedelta(hours=before)
            await conn.execute(
                insert(deploy_commits).values(
                    deployment_id=deployment,
                    sha=f"{deployment}{before:039x}",
                    committed_at=committed,
                )
            )
        await conn.execute(
            insert(emergency_releases).values(
                release_id=3, reason="payment outage", actor="tg:1", at=at(3, 20, 9)
            )
        )
    incidents = IncidentStore(container.engine)
    incident, _ = await incidents.open_or_join(
        service="shop",
        environment="production",
        release_id=2,
        title="shop v1.1.0: production deploy failed",
        text="v1.1.0: production deploy failed",
        actor="relman",
        at=at(3, 10, 9),
    )
    await incidents.close(
        incident.id, resolution="rolled back to v1.0.0", actor="tg:222", at=at(3, 10, 9, 30)
    )
    yield container
    await container.aclose()


@pytest.fixture
async def web(history: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(history)), base_url="http://relman.test"
    ) as client:
        await sign_in(client, history, QA)
        yield client


def section(html: str, key: str) -> str:
    """One key's card of the DORA page, tags collapsed to spaces."""
    found = re.search(rf'<section class="card key" id="key-{key}">(.*?)</section>', html, re.S)
    assert found is not None, key
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


async def test_the_four_keys_with_bands_and_emergency_deploys_apart(
    web: httpx.AsyncClient,
) -> None:
    page = await web.get(
        "/dora", params={"service": "shop", "days": "30"}, headers={"Accept-Language": "en"}
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert "01.03.2026" in html and "31.03.2026" in html  # the window (Moscow time)
    # 3 production deploys, 2 healthy: 2/30 a day (medium), 14/30 a week
    frequency = section(html, "frequency")
    assert "0.07 per day · 0.47 per week" in frequency
    assert "production deploys: 3 (healthy: 2, failed: 1)" in frequency
    assert "medium" in frequency
    assert "⚠️ Emergency deploys: 1" in frequency
    # lead times 12 h, 2 h, 1 h: median 2 h (elite), p90 the 3rd of 3 = 12 h
    lead = section(html, "lead")
    assert "median 2 h 0 min · p90 12 h 0 min" in lead and "elite" in lead
    assert "commits with a known time: 3" in lead
    # 1 failed of 3: 33.3 % (low)
    failure = section(html, "failure")
    assert "33.3 %" in failure and "1 / 3" in failure and "low" in failure
    # the incident: detected 09:00, resolved 09:30 → 30 min (elite)
    recovery = section(html, "recovery")
    assert "median 30 min 0 s" in recovery and "elite" in recovery
    assert "failures: 1 (restored: 1, still lasting: 0)" in recovery
    # weekly bars, server-rendered: W10 (03-02) has the healthy v1.0.0, W11 the failure
    bars = re.findall(r'<rect class="bar (ok|bad)"[^>]*><title>([^<]+)</title>', html)
    assert ("ok", "2026-W10: 1") in bars and ("bad", "2026-W11: 1") in bars
    assert ("ok", "2026-W12: 1") in bars  # the emergency release's week
    assert "<script" not in html.split("<main>", 1)[1]  # no chart library


async def test_all_services_and_a_window_without_anything(web: httpx.AsyncClient) -> None:
    page = await web.get("/dora", headers={"Accept-Language": "ru"})  # default: 30 days
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-service="([^"]+)">(.*?)</tr>', page.text, re.S))
    assert sorted(rows) == ["api", "shop"]
    assert "0 в день" in " ".join(re.sub(r"<[^>]+>", " ", rows["api"]).split())
    assert "33.3 %" in rows["shop"]
    assert "Частота деплоев" in page.text and "Все сервисы" in page.text
    # a week ending long after the history: nothing deployed, no data, band low
    quiet = await web.get("/dora", params={"days": "7"}, headers={"Accept-Language": "en"})
    frequency = section(quiet.text, "frequency")
    assert "0 per day" in frequency and "low" in frequency
    assert "no data" in section(quiet.text, "lead")


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"days": "0"}, "days: must be between 1 and 3650 days, not 0"),
        ({"days": "3651"}, "days: must be between 1 and 3650 days, not 3651"),
        ({"days": "x"}, "days: must be a whole number of days, not &#39;x&#39;"),
        ({"days": "٣"}, "days: must be a whole number of days"),
        ({"service": "nope"}, "service: unknown service &#39;nope&#39;"),
    ],
)
async def test_a_bad_window_or_service_is_a_422_page_saying_so(
    web: httpx.AsyncClient, params: dict[str, str], said: str
) -> None:
    page = await web.get("/dora", params=params)
    assert page.status_code == 422
    assert 'id="dora-error"' in page.text and said in page.text
    assert 'name="days"' in page.text  # the form is there to correct it
    assert 'id="key-frequency"' not in page.text


async def test_incidents_list_and_show(web: httpx.AsyncClient) -> None:
    listed = await web.get("/incidents", headers={"Accept-Language": "en"})
    assert listed.status_code == 200
    assert "INC-1" in listed.text and "shop v1.1.0: production deploy failed" in listed.text
    assert "30 min 0 s" in listed.text and "✅ resolved" in listed.text
    assert "INC-1" not in (await web.get("/incidents", params={"status": "open"})).text
    bad = await web.get("/incidents", params={"status": "closed"})
    assert bad.status_code == 422 and "status: must be open or resolved" in bad.text
    shown = await web.get("/incidents/1", headers={"Accept-Language": "en"})
    assert shown.status_code == 200
    assert "rolled back to v1.0.0" in shown.text and "tg:222" in shown.text
    assert 'href="/releases/2"' in shown.text and "v1.1.0" in shown.text
    assert "production_failed" in shown.text  # the audit trail in the timeline
    for missing in ("/incidents/99", "/incidents/x"):
        assert (await web.get(missing)).status_code == 404
    nav = listed.text
    assert 'href="/dora"' in nav and 'href="/incidents"' in nav
