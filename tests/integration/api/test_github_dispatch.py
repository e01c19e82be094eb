"""relman's GitHub REST client against the local double of ``workflow_dispatch``
(a real HTTP server, strict like GitHub)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from relman.domain.errors import ConfigError, InvalidInput
from relman.integrations.github import GitHubClient, GitHubUnavailable, WorkflowDispatchRefused
from tests.support.github_double import DOUBLE_TOKEN, GitHubApiDouble, unused_url

REPO = "org/loom-content"
WORKFLOW = "on-approve-manual-testing.yaml"
INPUTS = {"release_id": "7", "tag": "v1.2.3"}


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    with GitHubApiDouble() as double:
        double.declare_workflow(REPO, WORKFLOW, inputs=["release_id", "tag"], refs=["main"])
        yield double


def client_for(double: GitHubApiDouble, token: str | None = DOUBLE_TOKEN) -> GitHubClient:
    return GitHubClient(double.api_url, None if token is None else SecretStr(token))


async def test_a_dispatch_is_posted_as_github_documents_it(github: GitHubApiDouble) -> None:
    async with client_for(github) as gh:
        await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
    [sent] = github.dispatches
    assert sent.path == f"/repos/{REPO}/actions/workflows/{WORKFLOW}/dispatches"
    assert sent.json() == {"ref": "main", "inputs": INPUTS}
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["authorization"] == f"Bearer {DOUBLE_TOKEN}"
    assert sent.headers["content-type"] == "application/json"


async def test_unexpected_inputs_are_refused_with_githubs_message(
    github: GitHubApiDouble,
) -> None:
    async with client_for(github) as gh:
        with pytest.raises(WorkflowDispatchRefused) as refused:
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", {**INPUTS, "extra": "1"})
        github.refuse_inputs = True
        with pytest.raises(WorkflowDispatchRefused) as switched:
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
    assert refused.value.status == 422
    assert refused.value.code == "dispatch_refused"
    assert refused.value.github_message == 'Unexpected inputs provided: ["extra"]'
    assert 'HTTP 422: Unexpected inputs provided: ["extra"]' in refused.value.message
    assert switched.value.github_message == 'Unexpected inputs provided: ["release_id", "tag"]'
    assert DOUBLE_TOKEN not in str(refused.value) and DOUBLE_TOKEN not in str(switched.value)
    assert github.dispatches == []


@pytest.mark.parametrize(
    ("repository", "workflow", "ref", "inputs", "status", "message"),
    [
        ("org/unknown", WORKFLOW, "main", INPUTS, 404, "Not Found"),
        (REPO, "nope.yaml", "main", INPUTS, 404, "Not Found"),
        (REPO, WORKFLOW, "v9.9.9", INPUTS, 422, "No ref found for: v9.9.9"),
        (
            REPO,
            WORKFLOW,
            "main",
            {f"k{i}": "v" for i in range(11)},
            422,
            "more than 10 properties",
        ),
    ],
)
async def test_github_errors_carry_status_and_message(
    github: GitHubApiDouble,
    repository: str,
    workflow: str,
    ref: str,
    inputs: dict[str, str],
    status: int,
    message: str,
) -> None:
    async with client_for(github) as gh:
        with pytest.raises(WorkflowDispatchRefused) as refused:
            await gh.dispatch_workflow(repository, workflow, ref, inputs)
    assert refused.value.status == status
    assert message in refused.value.github_message
    assert github.dispatches == []


async def test_a_wrong_token_is_refused_and_not_echoed(github: GitHubApiDouble) -> None:
    async with client_for(github, token="ghp_wrong_token_xyz") as gh:
        with pytest.raises(WorkflowDispatchRefused) as refused:
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
    assert (refused.value.status, refused.value.github_message) == (401, "Bad credentials")
    assert "ghp_wrong_token_xyz" not in str(refused.value)


async def test_no_token_is_a_config_error_and_nothing_is_sent(github: GitHubApiDouble) -> None:
    async with client_for(github, token=None) as gh:
        with pytest.raises(ConfigError, match="RELMAN_GITHUB_TOKEN"):
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
        with pytest.raises(InvalidInput, match="repository"):
            await gh.dispatch_workflow("not-a-repo", WORKFLOW, "main", INPUTS)
    assert github.requests == []


async def test_github_down_is_unavailable() -> None:
    async with GitHubClient(unused_url(), SecretStr(DOUBLE_TOKEN)) as gh:
        with pytest.raises(GitHubUnavailable, match="unreachable"):
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
    # A GitHub Enterprise URL with a password in it: the error names the host, not it.
    with_password = unused_url().replace("http://", "http://bot:hunter2-pass@")
    async with GitHubClient(with_password, SecretStr(DOUBLE_TOKEN)) as gh:
        with pytest.raises(GitHubUnavailable, match="unreachable") as down:
            await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
    assert "hunter2-pass" not in str(down.value)
    assert "bot:***@" in str(down.value)


async def test_github_not_answering_in_time_is_unavailable(github: GitHubApiDouble) -> None:
    github.hold = threading.Event()
    try:
        async with httpx.AsyncClient(timeout=0.3) as http:
            gh = GitHubClient(github.api_url, SecretStr(DOUBLE_TOKEN), http=http)
            with pytest.raises(GitHubUnavailable, match="ReadTimeout"):
                await gh.dispatch_workflow(REPO, WORKFLOW, "main", INPUTS)
            await gh.aclose()
            assert not http.is_closed  # the caller's client stays the caller's
    finally:
        github.hold.set()
