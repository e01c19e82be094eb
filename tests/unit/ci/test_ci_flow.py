"""Which statuses ``relman ci deploy`` enters before deploying (the workflows report the rest)."""

from __future__ import annotations

import itertools

import pytest

from relman.ci.deploy import check_deploy_args, run_note
from relman.ci.flow import CI_REPORTABLE, check_release_matches, statuses_to_enter
from relman.ci.github_env import GitHubRun
from relman.domain.errors import ConfigError, Conflict, InvalidInput
from relman.domain.status import ReleaseStatus, can_transition

S = ReleaseStatus


@pytest.mark.parametrize(
    ("env", "current", "expected"),
    [
        ("stage", "initiated", [S.BUILDING, S.STAGE_DEPLOY]),
        ("stage", "building", [S.STAGE_DEPLOY]),
        ("stage", "stage_deploy", []),
        ("production", "manual_test_passed", [S.DEPLOYING]),
        ("production", "deploying", []),
    ],
)
def test_the_deploy_enters_what_is_still_ahead(
    env: str, current: str, expected: list[ReleaseStatus]
) -> None:
    assert statuses_to_enter(7, env, current) == expected
    # each step, and the workflow's own outcome reports after it, are legal moves
    path = [S(current), *expected]
    for before, after in itertools.pairwise(path):
        assert can_transition(before, after)
    outcomes = {"stage": (S.MANUAL_TESTING, S.STAGING_FAILED)}.get(
        env, (S.DEPLOYED, S.PRODUCTION_FAILED)
    )
    for outcome in outcomes:
        assert can_transition(path[-1], outcome)


@pytest.mark.parametrize(
    ("env", "current"),
    [("stage", "manual_testing"), ("stage", "staging_failed"), ("production", "manual_testing")],
)
def test_a_release_in_another_status_is_refused(env: str, current: str) -> None:
    with pytest.raises(Conflict, match=f"release 7 is {current}; a deploy to {env} starts from"):
        statuses_to_enter(7, env, current)


def test_only_stage_and_production() -> None:
    with pytest.raises(InvalidInput, match="use relman ci dev-deploy"):
        statuses_to_enter(7, "dev:alice", "initiated")
    with pytest.raises(InvalidInput, match="env: relman ci deploy takes stage or production"):
        statuses_to_enter(7, "qa", "initiated")


def test_the_release_must_be_the_one_being_deployed() -> None:
    check_release_matches(7, "hello", "v1.0.0", got_service="hello", got_tag="v1.0.0")
    with pytest.raises(Conflict, match=r"release 7 is hello v1\.0\.0, not hello v1\.1\.0"):
        check_release_matches(7, "hello", "v1.1.0", got_service="hello", got_tag="v1.0.0")


def test_ci_never_reports_qa_decisions() -> None:
    assert S.MANUAL_TEST_PASSED not in CI_REPORTABLE
    assert S.MANUAL_TEST_FAILED not in CI_REPORTABLE
    assert {S.MANUAL_TESTING, S.STAGING_FAILED, S.DEPLOYED, S.PRODUCTION_FAILED} <= set(
        CI_REPORTABLE
    )


def test_deploy_arguments_are_checked_before_anything_is_opened() -> None:
    run = GitHubRun(run_id="42", actor="octocat", repository="org/hello")
    assert check_deploy_args(run, "stage", "v1.0.0") == "gh:octocat"
    with pytest.raises(ConfigError, match="GITHUB_ACTOR"):
        check_deploy_args(GitHubRun(), "stage", "v1.0.0")
    with pytest.raises(InvalidInput, match="tag"):
        check_deploy_args(run, "stage", "latest")
    with pytest.raises(InvalidInput, match="use relman ci dev-deploy"):
        check_deploy_args(run, "dev:alice", "v1.0.0")
    assert run_note(run, "reported") == (
        "reported by GitHub Actions run https://github.com/org/hello/actions/runs/42"
    )
    assert run_note(GitHubRun(), "reported") == "reported by relman ci"
