"""The ``github`` executor (seed 003): approval dispatches on-approve-manual-testing; a
dispatch GitHub refuses fails the release with GitHub's message. Against the local double
of the dispatch endpoint (tests/support/github_double.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from relman.bootstrap import Container, build
from relman.config import Environment, Host, Policy, RelmanConfig, Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.integrations.github import GitHubClient
from tests.support.github_double import DOUBLE_TOKEN, GitHubApiDouble
from tests.support.pipeline import CI, new_release, walk_to_manual_testing, write_config
from tests.support.targets import hello_service

WORKFLOW = "on-approve-manual-testing.yaml"
QA = Actor("tg:3")


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    with GitHubApiDouble() as double:
        # The inputs the generated template declares (versioning/templates/github).
        double.declare_workflow(
            "acme/hello",
            WORKFLOW,
            inputs=["release_id", "tag", "git_sha", "environment"],
            refs=["main"],
        )
        yield double


@pytest.fixture
async def github_pipeline(
    settings: Settings, sample_repo: SampleRepo, github: GitHubApiDouble, tmp_path: Path
) -> AsyncIterator[Container]:
    service = hello_service(sample_repo, 1, github_repository="acme/hello")
    write_config(
        settings.config_file,
        RelmanConfig(
            services={"hello": service},
            hosts={
                "box": Host(transport="local", root=str(tmp_path / "box")),
                "stage-box": Host(transport="local", root=str(tmp_path / "stage-box")),
            },
            environments={
                "stage": Environment(hosts=["stage-box"], executor="github"),
                "production": Environment(hosts=["box"], executor="github"),
            },
            policy=Policy(qa=["tg:3"]),
        ),
    )
    container = build(settings, github=GitHubClient(github.api_url, SecretStr(DOUBLE_TOKEN)))
    yield container
    await container.aclose()


async def test_approval_dispatches_the_production_workflow(
    github_pipeline: Container, github: GitHubApiDouble
) -> None:
    c = github_pipeline
    release, _ = await c.pipeline.start_release(new_release("v1.1.0"), actor=CI, source=Source.API)
    assert release.status is ReleaseStatus.INITIATED  # the workflow reports from here on
    release = await walk_to_manual_testing(c, release)
    assert release.id is not None
    approved = await c.pipeline.approve(release.id, actor=QA, source=Source.BOT)
    assert approved.status is ReleaseStatus.MANUAL_TEST_PASSED
    assert github.dispatches == []  # the approval is recorded first; the worker dispatches
    (outcome,) = await c.worker().run_until_idle()
    assert outcome.ok
    (dispatch,) = github.dispatches
    assert dispatch.path == f"/repos/acme/hello/actions/workflows/{WORKFLOW}/dispatches"
    assert json.loads(dispatch.body) == {
        "ref": "main",
        "inputs": {
            "release_id": str(release.id),
            "tag": "v1.1.0",
            # CI reported stage without a deploy relman saw: no commit is bound
            "git_sha": "",
            "environment": "production",
        },
    }
    (job,) = await c.jobs.for_release(release.id)
    assert (job.kind, job.status) == ("production_deploy", "succeeded")
    # The workflow reports back as CI.
    for status in (ReleaseStatus.DEPLOYING, ReleaseStatus.DEPLOYED):
        release = await c.pipeline.report_status(release.id, status, actor=CI, source=Source.API)
    assert release.status is ReleaseStatus.DEPLOYED


async def test_a_refused_dispatch_fails_the_release_with_githubs_message(
    github_pipeline: Container, github: GitHubApiDouble
) -> None:
    c = github_pipeline
    github.refuse_inputs = True
    release, _ = await c.pipeline.start_release(new_release("v1.1.0"), actor=CI, source=Source.API)
    release = await walk_to_manual_testing(c, release)
    assert release.id is not None
    await c.pipeline.approve(release.id, actor=QA, source=Source.BOT)
    await c.worker().run_until_idle()
    release = await c.releases.get(release.id)
    assert release.status is ReleaseStatus.PRODUCTION_FAILED
    note = release.events[-1].note
    assert note.startswith("workflow dispatch refused")
    assert "Unexpected inputs provided" in note
    assert DOUBLE_TOKEN not in note
    assert [e.to_status.value for e in release.events][-3:] == [
        "manual_test_passed",
        "deploying",
        "production_failed",
    ]
    assert github.dispatches == []
