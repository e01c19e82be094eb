"""Approvals through the API: the policy's refusals are audited, a decision is taken once.

Issue "pipeline", done-when: the initiator's approval and an unknown actor are refused and
audited; 50 concurrent approvals on one release (PostgreSQL) start exactly one production
deploy and 49 get "already decided" — 20 rounds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Environment, Host, Policy, RelmanConfig, Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.errors import PermissionDenied
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.store.deployments import DeploymentStore
from tests.conftest import OPERATOR_SECRET, SECRET, make_settings
from tests.support.api import PREFIX, create_release, patch_status, release_detail
from tests.support.databases import DatabaseFactory
from tests.support.pipeline import write_config
from tests.support.targets import hello_service

POLICY = Policy(
    qa=["anna", "tg:3"],
    releaser=["tg:2"],
    admin=["gh:boss"],
    people={"anna": ["tg:1", "gh:anna"]},
)


def pipeline_config(repo: SampleRepo, tmp: Path) -> RelmanConfig:
    """hello on a local host that these tests never deploy to (their jobs stay queued)."""
    return RelmanConfig(
        services={"hello": hello_service(repo, 1)},
        hosts={
            "box": Host(transport="local", root=str(tmp / "box")),
            "stage-box": Host(transport="local", root=str(tmp / "stage-box")),
        },
        environments={
            # CI deploys stage (it reports the stage statuses); relman's worker deploys
            # production (approval queues that job).
            "stage": Environment(hosts=["stage-box"], executor="github"),
            "production": Environment(hosts=["box"]),
        },
        policy=POLICY,
    )


async def _client(container: Container) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)),
        base_url="http://relman.test",
        headers={"Authorization": f"Bearer {SECRET}"},
    )


@pytest.fixture
async def hello_api(
    settings: Settings, sample_repo: SampleRepo, tmp_path: Path
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    write_config(settings.config_file, pipeline_config(sample_repo, tmp_path))
    container = build(settings)
    async with await _client(container) as client:
        yield container, client
    await container.aclose()


async def in_manual_testing(api: httpx.AsyncClient, *, by: str = "anna", run: str = "1") -> int:
    """A release of hello, started by ``by`` and reported by CI up to manual_testing."""
    created = await create_release(
        api, service_name="hello", release_tag="v1.0.0", initiated_by=by, github_run_id=run
    )
    assert created["status"] == "initiated"  # CI deploys stage and reports
    for status in ("building", "stage_deploy", "manual_testing"):
        response = await patch_status(api, created["id"], status)
        assert response.status_code == 200, response.text
    return int(created["id"])


#: Decisions are relayed with the operator secret; the CI secret cannot decide.
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR_SECRET}"}


async def approve(api: httpx.AsyncClient, release_id: int, actor: str) -> httpx.Response:
    return await api.post(
        f"{PREFIX}/release/{release_id}/approve", json={"actor": actor}, headers=AS_OPERATOR
    )


def refused(detail: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (e["actor"], e["to_status"], e["note"]) for e in detail["events"] if e["kind"] == "refused"
    ]


async def test_the_initiator_cannot_approve_their_own_release(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, api = hello_api
    release_id = await in_manual_testing(api, by="anna")  # gh:anna is the person anna
    response = await approve(api, release_id, "tg:1")  # anna again, from Telegram
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert "four-eyes" in response.json()["message"]
    detail = await release_detail(api, release_id)
    assert detail["status"] == "manual_testing"
    assert refused(detail) == [("tg:1", "manual_test_passed", response.json()["message"])]
    assert await container.jobs.for_release(release_id) == []

    # Another QA member may approve it.
    ok = await approve(api, release_id, "tg:3")
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "manual_test_passed"
    jobs = await container.jobs.for_release(release_id)
    assert [(j.kind, j.status) for j in jobs] == [("production_deploy", "queued")]


@pytest.mark.parametrize(
    ("actor", "why"),
    [
        ("tg:999", "needs role"),  # unknown to the policy
        ("tg:2", "needs role"),  # a releaser is not QA
    ],
)
async def test_an_actor_without_the_role_is_refused_and_audited(
    hello_api: tuple[Container, httpx.AsyncClient], actor: str, why: str
) -> None:
    _, api = hello_api
    release_id = await in_manual_testing(api)
    for action in ("approve", "reject"):
        response = await api.post(
            f"{PREFIX}/release/{release_id}/{action}", json={"actor": actor}, headers=AS_OPERATOR
        )
        assert response.status_code == 403
        assert why in response.json()["message"]
    detail = await release_detail(api, release_id)
    assert detail["status"] == "manual_testing"
    assert [(a, s) for a, s, _ in refused(detail)] == [
        (actor, "manual_test_passed"),
        (actor, "manual_test_failed"),
    ]


async def test_a_ci_identity_can_report_but_never_decide(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, api = hello_api
    release_id = await in_manual_testing(api, by="dev")
    ci = Actor("gh:dev", ci=True)
    with pytest.raises(PermissionDenied, match="CI identity cannot approve"):
        await container.pipeline.approve(release_id, actor=ci, source=Source.API)
    with pytest.raises(PermissionDenied, match="QA's decision"):
        await container.pipeline.report_status(
            release_id, ReleaseStatus.MANUAL_TEST_PASSED, actor=ci, source=Source.API
        )
    # The CI (inter-server) secret cannot relay a decision, whoever it names.
    relayed = await api.post(f"{PREFIX}/release/{release_id}/approve", json={"actor": "tg:3"})
    assert relayed.status_code == 403
    assert "never decide" in relayed.json()["message"]
    # Nor can it report a QA decision as a status (four-eyes would be moot).
    for status in ("manual_test_passed", "manual_test_failed"):
        response = await patch_status(api, release_id, status, actor="tg:3")
        assert response.status_code == 403, response.text
        assert "QA's decision" in response.json()["message"]
    detail = await release_detail(api, release_id)
    assert detail["status"] == "manual_testing"
    assert len(refused(detail)) == 4


async def test_reject_ends_the_release_and_is_decided_once(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    _, api = hello_api
    release_id = await in_manual_testing(api, by="dev")
    response = await api.post(
        f"{PREFIX}/release/{release_id}/reject",
        json={"actor": "tg:3", "reason": "login broken"},
        headers=AS_OPERATOR,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "manual_test_failed"
    again = await approve(api, release_id, "tg:3")
    assert again.status_code == 409
    assert again.json()["error"] == "already_decided"
    detail = await release_detail(api, release_id)
    assert detail["events"][-1]["note"] == "rejected: login broken"


async def test_bad_decision_bodies_name_the_field(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    _, api = hello_api
    release_id = await in_manual_testing(api, by="dev")
    for body, field in (
        ({}, "actor"),
        ({"actor": "anna"}, "actor"),  # no identity prefix
        ({"actor": "tg:3", "extra": 1}, "extra"),
    ):
        response = await api.post(
            f"{PREFIX}/release/{release_id}/approve", json=body, headers=AS_OPERATOR
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    missing = await approve(api, 424242, "tg:3")
    assert missing.status_code == 404
    rollback = await api.post(
        f"{PREFIX}/services/hello/rollback",
        json={"actor": "tg:2", "to_tag": "latest"},
        headers=AS_OPERATOR,
    )
    assert rollback.status_code == 422 and rollback.json()["field"] == "to_tag"
    assert (await release_detail(api, release_id))["status"] == "manual_testing"


@pytest.mark.postgres
async def test_fifty_concurrent_approvals_start_one_production_deploy(
    postgres: DatabaseFactory, sample_repo: SampleRepo, tmp_path: Path
) -> None:
    settings = make_settings(await postgres.fresh(), tmp_path)
    write_config(settings.config_file, pipeline_config(sample_repo, tmp_path))
    container = build(settings)
    try:
        async with await _client(container) as api:
            for round_ in range(20):
                release_id = await in_manual_testing(api, by="dev", run=f"round-{round_}")
                answers = await asyncio.gather(
                    *(approve(api, release_id, "tg:3") for _ in range(50))
                )
                codes = sorted(a.status_code for a in answers)
                assert codes == [200] + [409] * 49, (round_, codes)
                conflicts = [a.json() for a in answers if a.status_code == 409]
                assert {c["error"] for c in conflicts} == {"already_decided"}
                jobs = await container.jobs.for_release(release_id)
                assert [j.kind for j in jobs].count("production_deploy") == 1, round_
                detail = await release_detail(api, release_id)
                passed = [e for e in detail["events"] if e["to_status"] == "manual_test_passed"]
                assert len(passed) == 1
    finally:
        await container.aclose()


async def test_a_job_whose_environment_is_locked_waits_instead_of_failing(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, api = hello_api
    release_id = await in_manual_testing(api, by="dev")
    assert (await approve(api, release_id, "tg:3")).status_code == 200
    # Someone else's deploy holds production (a CLI `relman deploy`, another replica).
    await DeploymentStore(container.engine).acquire_lock(
        service="hello",
        environment="production",
        holder="cli:oleg",
        owner="elsewhere:1:x",
        tag="v0.9.0",
        reason="hotfix",
        at=datetime.now(UTC),
    )
    outcome = await container.worker().run_once()
    assert outcome is not None and outcome.requeue
    assert "locked by cli:oleg" in outcome.error
    release = await container.releases.get(release_id)
    assert release.status is ReleaseStatus.DEPLOYING  # waiting, not failed
    (job,) = await container.jobs.for_release(release_id)
    assert job.status == "queued" and job.owner == ""
    # Not claimable again at once: the worker does not spin on a busy environment.
    assert await container.worker().run_once() is None
