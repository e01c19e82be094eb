"""Incidents through the real pipeline (issue 14 item 2): the broken v1.2.0 fails its
health check in production → an incident opens with its timeline → the automatic rollback
joins it → the healthy rollback resolves it; the Markdown is written under the evidence
root, the webhook sink hears about the opening and the resolution, DORA's recovery time
comes from the incident, and people read and annotate it through the API and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container
from relman.config import Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.errors import InvalidInput
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus as S
from relman.store.incidents import IncidentAlreadyResolved
from tests.conftest import OPERATOR_SECRET, PREFIX, SECRET
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper
from tests.support.pipeline import WebhookReceiver
from tests.support.production import local_production, ship
from tests.support.targets import served_version


@pytest.fixture
async def pipeline(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> AsyncIterator[tuple[Container, WebhookReceiver, str]]:
    with WebhookReceiver().running() as hook:
        async with local_production(
            settings,
            sample_repo,
            service_reaper,
            tmp_path / "prod",
            releasers=["gh:oleg", "cli:oncall"],
            webhook_url=hook.url,
        ) as (container, health_url):
            yield container, hook, health_url


async def test_a_broken_tag_opens_an_incident_the_rollback_resolves(
    pipeline: tuple[Container, WebhookReceiver, str], tmp_path: Path
) -> None:
    c, hook, url = pipeline
    assert (await ship(c, "v1.1.0")).status is S.DEPLOYED
    assert await c.incidents.find() == []  # a healthy deploy opens nothing

    broken = await ship(c, "v1.2.0")
    assert broken.status is S.ROLLBACK_DONE and await served_version(url) == "1.1.0"

    [incident] = await c.incidents.find()
    assert (incident.id, incident.service, incident.environment) == (1, "hello", "production")
    assert incident.status == "resolved"
    assert incident.title == "hello v1.2.0: production deploy failed"
    assert incident.release_ids == (broken.id,)
    assert incident.detected_by == "system"
    assert incident.resolution == (
        f"rollback of release #{broken.id} (v1.2.0) to v1.1.0 is healthy"
    )
    assert incident.resolved_by == "system"  # the automatic rollback restored service
    assert incident.time_to_restore is not None and incident.time_to_restore >= 0

    view = await c.incidents.show(1)
    assert [e.kind for e in view.incident.events] == ["detected", "joined", "resolved"]
    texts = [e.text for e in view.timeline]
    assert any(t.startswith("deploying → production_failed: ") for t in texts)
    assert "production_failed → rollback: automatic rollback to v1.1.0" in texts
    assert "rollback → rollback_done: rollback healthy" in texts
    failed_deploy = next(e for e in view.timeline if e.text.startswith("deploy v1.2.0"))
    assert "on prod: failed" in failed_deploy.text and "health ✗" in failed_deploy.text
    assert failed_deploy.log_path.endswith("production/hello/v1.2.0-prod.log")
    assert failed_deploy.evidence_path

    markdown = (c.settings.evidence_root / "incidents" / "1.md").read_text(encoding="utf-8")
    assert markdown.startswith("KEYWORDS: инцидент, incident, hello, production, откат\n")
    assert "[ANCHOR:PROJECT:RELMAN:INCIDENT:1]" in markdown
    assert "# Инцидент INC-1: hello v1.2.0: production deploy failed" in markdown
    assert '<HARMONY:BEGIN name="PROJECT:RELMAN:INCIDENT:1:TIMELINE">' in markdown
    assert "## Хронология (Timeline)" in markdown
    assert "rollback → rollback_done: rollback healthy" in markdown
    assert "v1.2.0-prod.log`" in markdown and "- Статус (status): resolved" in markdown
    assert "to v1.1.0 is healthy" in markdown
    assert markdown.rstrip().endswith('<HARMONY:END name="PROJECT:RELMAN:INCIDENT:1">')

    # the webhook sink heard the opening (before the failure notice) and the resolution
    assert hook.kinds() == [
        "ready_for_testing", "deployed",  # v1.1.0
        "ready_for_testing", "incident_opened", "production_failed",
        "incident_resolved", "rollback_done",  # v1.2.0
    ]  # fmt: skip
    opened = next(b for b in hook.bodies if b["kind"] == "incident_opened")
    assert opened["text"].startswith("🚨 hello v1.2.0") and "INC-1" in opened["detail"]
    resolved = next(b for b in hook.bodies if b["kind"] == "incident_resolved")
    assert "INC-1 resolved after" in resolved["detail"]

    # DORA's recovery time comes from the incident
    dora = await c.analytics.dora(days=30, scan=False)
    assert (dora.all.keys.failures, dora.all.keys.restored) == (1, 1)
    assert dora.all.keys.recovery_median == incident.time_to_restore

    # people: the API (the operator secret relays a person; CI's secret cannot)
    app = create_app(c)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relman.test"
    ) as api:
        ci = {"Authorization": f"Bearer {SECRET}"}
        operator = {"Authorization": f"Bearer {OPERATOR_SECRET}"}
        listed = await api.get(f"{PREFIX}/incidents", params={"status": "resolved"}, headers=ci)
        assert [i["id"] for i in listed.json()["incidents"]] == [1]
        shown = await api.get(f"{PREFIX}/incidents/1", headers=ci)
        assert shown.status_code == 200 and shown.json()["markdown_path"].endswith("1.md")
        assert (await api.get(f"{PREFIX}/incidents/9", headers=ci)).status_code == 404
        note = {"actor": "gh:oleg", "text": "users saw 500s for a minute", "kind": "impact"}
        assert (
            await api.post(f"{PREFIX}/incidents/1/note", json=note, headers=ci)
        ).status_code == 403
        noted = await api.post(f"{PREFIX}/incidents/1/note", json=note, headers=operator)
        assert noted.status_code == 200, noted.text
        assert noted.json()["impact"] == "users saw 500s for a minute"
        nobody = {"actor": "tg:3", "text": "x"}
        refused = await api.post(f"{PREFIX}/incidents/1/note", json=nobody, headers=operator)
        assert refused.status_code == 403  # QA holds no releaser role
        blank = await api.post(
            f"{PREFIX}/incidents/1/note", json={"actor": "gh:oleg", "text": ""}, headers=operator
        )
        assert blank.status_code == 422 and blank.json()["field"] == "text"
    markdown = (c.settings.evidence_root / "incidents" / "1.md").read_text(encoding="utf-8")
    assert "users saw 500s for a minute" in markdown  # written again on change

    # the CLI
    env = {
        "RELMAN_DATABASE_URL": c.settings.effective_database_url(),
        "RELMAN_CONFIG": str(c.settings.config_file),
        "RELMAN_EVIDENCE_ROOT": str(c.settings.evidence_root),
    }
    listed_cli = relman(["incident", "list"], tmp_path, **env)
    assert listed_cli.returncode == 0, listed_cli.stderr
    assert "INC-1" in listed_cli.stdout and "resolved" in listed_cli.stdout
    post = ["incident", "note", "1", "health check caught it", "--kind", "postmortem"]
    noted_cli = relman(post, tmp_path, RELMAN_ACTOR="oncall", **env)
    assert noted_cli.returncode == 0, noted_cli.stderr
    assert "postmortem: health check caught it" in noted_cli.stdout
    assert "rollback → rollback_done" in noted_cli.stdout  # the timeline is shown
    denied = relman(post, tmp_path, RELMAN_ACTOR="intern", **env)
    assert denied.returncode == 2
    assert "cli:intern may not update incidents: needs role admin or releaser" in denied.stderr
    missing = relman(["incident", "show", "7"], tmp_path, **env)
    assert missing.returncode == 2 and "incident 7 not found" in missing.stderr
    again = ["incident", "close", "1", "--resolution", "restarted it"]
    closed_twice = relman(again, tmp_path, RELMAN_ACTOR="oncall", **env)
    assert closed_twice.returncode == 2, closed_twice.stdout
    assert closed_twice.stderr.strip().splitlines() == [
        f"error: incident 1 is already resolved ({incident.resolved_at:%Y-%m-%d %H:%M} UTC "
        f"by system: {incident.resolution})"
    ]


async def test_a_requested_rollback_opens_an_incident_and_closing_by_hand(
    pipeline: tuple[Container, WebhookReceiver, str],
) -> None:
    c, hook, _ = pipeline
    await ship(c, "v1.0.0")
    current = await ship(c, "v1.1.0")
    rolled = await c.pipeline.request_rollback(
        "hello", "v1.0.0", actor=Actor("gh:oleg"), source=Source.API
    )
    [incident] = await c.incidents.find(status="open")
    assert incident.title == "hello v1.1.0: rollback requested"
    assert incident.detected_by == "gh:oleg" and incident.release_ids == (current.id,)
    await c.worker().run_until_idle()
    assert (await c.releases.get(rolled.id or 0)).status is S.ROLLBACK_DONE
    resolved = await c.incidents.show(incident.id)
    assert resolved.incident.status == "resolved"
    assert resolved.incident.resolved_by == "gh:oleg"  # who asked for what restored it

    # closing it again is refused, and what restored service stays as it was
    with pytest.raises(IncidentAlreadyResolved, match=r"to v1\.0\.0 is healthy"):
        await c.incidents.close(incident.id, "restarted it", actor=Actor("gh:oleg"))
    kept = (await c.incidents.show(incident.id)).incident
    assert kept.resolution.endswith("to v1.0.0 is healthy") and kept.resolved_by == "gh:oleg"
    assert hook.kinds().count("incident_opened") == hook.kinds().count("incident_resolved") == 1
    with pytest.raises(InvalidInput, match=r"^kind: must be note, impact or postmortem"):
        await c.incidents.note(incident.id, "x", actor=Actor("gh:oleg"), kind="cause")  # type: ignore[arg-type]
    assert [e.kind for e in kept.events] == [
        e.kind for e in (await c.incidents.show(incident.id)).incident.events
    ]  # nothing was written


async def test_an_open_incident_closed_by_hand_stays_closed_by_hand(
    pipeline: tuple[Container, WebhookReceiver, str],
) -> None:
    c, hook, _ = pipeline
    await ship(c, "v1.0.0")
    await ship(c, "v1.1.0")
    await c.pipeline.request_rollback("hello", "v1.0.0", actor=Actor("gh:oleg"), source=Source.API)
    [incident] = await c.incidents.find(status="open")
    closed = await c.incidents.close(incident.id, "users moved off", actor=Actor("cli:oncall"))
    assert closed.incident.status == "resolved" and closed.incident.resolution == "users moved off"
    await c.worker().run_until_idle()  # the healthy rollback finds no open incident
    kept = (await c.incidents.show(incident.id)).incident
    assert (kept.resolution, kept.resolved_by) == ("users moved off", "cli:oncall")
    assert [e.kind for e in kept.events] == ["detected", "closed"]
    assert hook.kinds().count("incident_resolved") == 1
