"""The release lifecycle of `relman demo`, over real SSH (issue "pipeline", done-when 1).

One stage host and two production hosts (real sshd on loopback addresses), relman's worker
running each queued deploy, the Slack-compatible webhook receiving the notices. Every
status, audit row, log file and the service's HTTP answer is checked at each stage. Runs on
the session's database backend (SQLite, and PostgreSQL under `make test-postgres`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relman.bootstrap import Container, build
from relman.config import Environment, Notifications, Policy, RelmanConfig, Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.errors import PermissionDenied
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus as S
from tests.support.hello import ServiceReaper
from tests.support.pipeline import CI, WebhookReceiver, new_release, write_config
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import free_port
from tests.support.targets import hello_service, served_version, ssh_host_config

pytestmark = pytest.mark.ssh

DEV = Actor("gh:dev")  # the developer who pushed the tags, as a person
QA = Actor("tg:1001", "Anna")
ONCALL = Actor("tg:1002", "Oleg")


@pytest.fixture
async def pipeline_env(
    settings: Settings,
    ssh_hosts: HostsFactory,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
) -> AsyncIterator[tuple[Container, WebhookReceiver, list[str], list[str]]]:
    stage, prod_a, prod_b = ssh_hosts(3)
    for h in (stage, prod_a, prod_b):
        service_reaper.watch(h.root / "hello")
    port = free_port("127.0.0.1")
    with WebhookReceiver().running() as hook:
        write_config(
            settings.config_file,
            RelmanConfig(
                services={"hello": hello_service(sample_repo, port)},
                hosts={h.name: ssh_host_config(h) for h in (stage, prod_a, prod_b)},
                environments={
                    "stage": Environment(hosts=[stage.name]),
                    "production": Environment(hosts=[prod_a.name, prod_b.name]),
                },
                policy=Policy(qa=["anna"], releaser=["tg:1002"], people={"anna": ["tg:1001"]}),
                notifications=Notifications(webhook_urls=[hook.url]),
            ),
        )
        container = build(settings)
        try:
            stage_urls = [f"http://{stage.address}:{port}/health"]
            prod_urls = [f"http://{h.address}:{port}/health" for h in (prod_a, prod_b)]
            yield container, hook, stage_urls, prod_urls
        finally:
            await container.aclose()


def transitions(release: Release) -> list[str]:
    return [e.to_status.value for e in release.events if e.kind == "transition"]


async def run_jobs(container: Container, release: Release) -> Release:
    await container.worker().run_until_idle()
    assert release.id is not None
    return await container.releases.get(release.id)


async def test_tag_to_production_broken_tag_and_rollback(
    pipeline_env: tuple[Container, WebhookReceiver, list[str], list[str]],
) -> None:
    c, hook, stage_urls, prod_urls = pipeline_env
    logs = c.settings.log_root

    # v1.0.0: the tag event starts it; stage deploy; QA approves; production.
    v1, created = await c.pipeline.start_release(new_release("v1.0.0"), actor=CI, source=Source.API)
    assert created and v1.status is S.BUILDING
    v1 = await run_jobs(c, v1)
    assert v1.status is S.MANUAL_TESTING
    assert [await served_version(u) for u in stage_urls] == ["1.0.0"]
    assert (logs / "hello/v1.0.0.log").is_file()
    assert v1.id is not None
    await c.pipeline.approve(v1.id, actor=QA, source=Source.BOT)
    v1 = await run_jobs(c, v1)
    assert v1.status is S.DEPLOYED
    assert transitions(v1) == [
        "initiated", "building", "stage_deploy", "manual_testing",
        "manual_test_passed", "deploying", "deployed",
    ]  # fmt: skip
    approval = next(e for e in v1.events if e.to_status is S.MANUAL_TEST_PASSED)
    assert approval.actor == "tg:1001 (Anna)" and approval.source.value == "bot"
    assert "tested on stage at" in approval.note
    assert [await served_version(u) for u in prod_urls] == ["1.0.0", "1.0.0"]
    assert (logs / "production/hello/v1.0.0-prod.log").is_file()

    # v1.1.0 supersedes v1.0.0 in production; v1.0.0 keeps its status.
    v11, _ = await c.pipeline.start_release(new_release("v1.1.0"), actor=CI, source=Source.API)
    v11 = await run_jobs(c, v11)
    assert v11.id is not None and v11.status is S.MANUAL_TESTING
    await c.pipeline.approve(v11.id, actor=QA, source=Source.BOT)
    v11 = await run_jobs(c, v11)
    assert v11.status is S.DEPLOYED
    assert [await served_version(u) for u in prod_urls] == ["1.1.0", "1.1.0"]
    current = await c.pipeline.current_deployed("hello")
    assert current is not None and current.id == v11.id
    assert (await c.releases.get(v1.id)).status is S.DEPLOYED

    # v1.2.0 is broken: stage fails its health check; production is untouched.
    v12, _ = await c.pipeline.start_release(new_release("v1.2.0"), actor=CI, source=Source.API)
    v12 = await run_jobs(c, v12)
    assert v12.status is S.STAGING_FAILED
    assert "Health check не пройден" in v12.events[-1].note
    assert "❌ Health check не пройден" in (logs / "hello/v1.2.0.log").read_text()
    assert [await served_version(u) for u in prod_urls] == ["1.1.0", "1.1.0"]

    # The initiator's identity cannot roll back without the releaser role: refused, audited.
    with pytest.raises(PermissionDenied):
        await c.pipeline.request_rollback("hello", "v1.0.0", actor=DEV, source=Source.CLI)
    # On-call rolls production back from 1.1.0 to 1.0.0.
    await c.pipeline.request_rollback("hello", "v1.0.0", actor=ONCALL, source=Source.BOT)
    v11 = await run_jobs(c, v11)
    assert v11.status is S.ROLLBACK_DONE and v11.rollback_to_tag == "v1.0.0"
    assert transitions(v11)[-2:] == ["rollback", "rollback_done"]
    refused = [e for e in v11.events if e.kind == "refused"]
    assert [(e.actor, e.to_status) for e in refused] == [("gh:dev", S.ROLLBACK)]
    assert "releaser" in refused[0].note
    assert [await served_version(u) for u in prod_urls] == ["1.0.0", "1.0.0"]
    assert (logs / "rollback/hello/v1.0.0-rollback.log").is_file()
    current = await c.pipeline.current_deployed("hello")
    assert current is not None and current.id == v1.id

    timeline = await c.pipeline.timeline(v11.id)
    assert [(d.environment, d.kind, d.status) for d in timeline.deployments] == [
        ("stage", "deploy", "succeeded"),
        ("production", "deploy", "succeeded"),
        ("production", "rollback", "succeeded"),
    ]
    summaries = [Path(d.evidence_path, "summary.json") for d in timeline.deployments]
    assert all(path.is_file() for path in summaries)
    assert hook.kinds() == [
        "ready_for_testing", "deployed", "ready_for_testing", "deployed",
        "staging_failed",
        "incident_opened", "incident_resolved", "rollback_done",  # the rollback (issue 14)
    ]  # fmt: skip
    assert c.settings.secret_key is not None
    secret = c.settings.secret_key.get_secret_value()
    assert all(secret not in str(body) for body in hook.bodies)
