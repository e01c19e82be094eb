"""The CI client against the real Release API app and a real database.

The app runs in-process (httpx's ASGI transport); everything behind it is relman's own
code on SQLite (or PostgreSQL in CI's second run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from relman.api.app import create_app
from relman.bootstrap import Container
from relman.ci.client import ApiRefused, ReleaseApiClient, RetryPolicy
from relman.ci.flow import statuses_to_enter
from relman.ci.github_env import ApiSettings, github_run
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from tests.conftest import SECRET

RUN = github_run(
    {
        "GITHUB_RUN_ID": "9001",
        "GITHUB_REF": "refs/tags/v1.2.3",
        "GITHUB_ACTOR": "alice",
        "GITHUB_REPOSITORY": "org/loom-content",
    }
)


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
async def ci(app: FastAPI) -> AsyncIterator[ReleaseApiClient]:
    async with make_client(app, SECRET) as client:
        yield client


def make_client(app: FastAPI, secret: str) -> ReleaseApiClient:
    settings = ApiSettings(
        url="http://relman.test/api/tg-bot",
        url_var="RELMAN_API_URL",
        secret=secret,
        secret_var="RELMAN_SECRET_KEY",
    )
    return ReleaseApiClient(
        settings, retry=RetryPolicy(attempts=1), transport=httpx.ASGITransport(app=app)
    )


async def start(ci: ReleaseApiClient, tag: str = "v1.2.3") -> int:
    release, created = await ci.create_release(
        service_name="loom-content",
        release_tag=tag,
        initiated_by=RUN.require_actor(),
        github_run_id=RUN.require_run_id(),
        github_action_link=RUN.action_link,
        github_ref=RUN.ref,
    )
    assert created
    return release.id


async def test_release_start_is_idempotent_per_run(ci: ReleaseApiClient) -> None:
    rid = await start(ci)
    again, created = await ci.create_release(
        service_name="loom-content",
        release_tag="v1.2.3",
        initiated_by="alice",
        github_run_id="9001",
        github_action_link=RUN.action_link,
        github_ref=RUN.ref,
    )
    assert (again.id, created) == (rid, False)
    fetched = await ci.get_release(rid)
    assert fetched.status == "initiated"
    assert fetched.github_action_link == "https://github.com/org/loom-content/actions/runs/9001"


async def test_a_stage_deploy_walks_the_lifecycle_the_workflow_expects(
    ci: ReleaseApiClient, container: Container
) -> None:
    rid = await start(ci)
    release = await ci.get_release(rid)
    for status in statuses_to_enter(rid, "stage", release.status):
        release = await ci.report_status(rid, status.value, note="stage deploy", actor="gh:alice")
    assert release.status == "stage_deploy"
    # the workflow's own step: hand it to QA
    release = await ci.report_status(rid, "manual_testing", actor="gh:alice")
    assert release.status == "manual_testing"
    detail = await container.releases.get(rid)
    assert [(e.to_status.value, e.actor, e.source.value) for e in detail.events] == [
        ("initiated", "alice", "api"),
        ("building", "gh:alice", "api"),
        ("stage_deploy", "gh:alice", "api"),
        ("manual_testing", "gh:alice", "api"),
    ]


async def test_a_production_deploy_enters_deploying_once(
    ci: ReleaseApiClient, container: Container
) -> None:
    rid = await start(ci)
    for status in ("building", "stage_deploy", "manual_testing"):
        await ci.report_status(rid, status)
    # QA approves in the bot (relman's own service, as the bot calls it)
    await container.releases.report_status(
        rid, ReleaseStatus.MANUAL_TEST_PASSED, actor="tg:42", source=Source.BOT
    )
    release = await ci.get_release(rid)
    assert statuses_to_enter(rid, "production", release.status) == [ReleaseStatus.DEPLOYING]
    release = await ci.report_status(rid, "deploying", actor="gh:alice")
    assert statuses_to_enter(rid, "production", release.status) == []
    release = await ci.report_status(rid, "deployed", actor="gh:alice")
    assert release.status == "deployed" and release.allowed_next == ["rollback"]


async def test_refusals_carry_the_api_message_field_and_exit_code(
    ci: ReleaseApiClient, app: FastAPI, container: Container
) -> None:
    with pytest.raises(ApiRefused) as bad_tag:
        await start(ci, tag="1.2.3")
    assert (bad_tag.value.status, bad_tag.value.field, bad_tag.value.exit_code) == (
        422,
        "release_tag",
        2,
    )
    assert "'1.2.3' is not a version tag" in str(bad_tag.value)
    assert (await container.releases.list()).releases == []  # nothing written

    rid = await start(ci)
    with pytest.raises(ApiRefused) as illegal:
        await ci.report_status(rid, "deployed")
    assert illegal.value.status == 409 and illegal.value.exit_code == 2
    assert illegal.value.body["allowed"] == ["building", "staging_failed"]
    assert "cannot go from initiated to deployed; allowed: building, staging_failed" in str(
        illegal.value
    )

    with pytest.raises(ApiRefused) as bad_status:
        await ci.report_status(rid, "shipped")
    assert (bad_status.value.status, bad_status.value.field) == (422, "status")

    with pytest.raises(ApiRefused) as missing:
        await ci.get_release(rid + 1000)
    assert missing.value.status == 404 and f"release {rid + 1000} not found" in str(missing.value)

    async with make_client(app, "not-the-secret") as stranger:
        with pytest.raises(ApiRefused) as refused:
            await stranger.get_release(rid)
    assert (refused.value.status, refused.value.kind) == (401, "unauthenticated")
    assert "not-the-secret" not in str(refused.value)
    assert (await ci.get_release(rid)).status == "initiated"
