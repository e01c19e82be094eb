"""Developer deploys of a branch, as data: the name rules, the steps, the log path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from relman.config import HealthCheck, Host, Service
from relman.deploy import log as msg
from relman.deploy.errors import BranchNotFound
from relman.deploy.log import log_path
from relman.deploy.refs import branch_problem, docker_tag, validate_branch
from relman.deploy.steps import (
    backup_dir_for,
    checkout_commit_step,
    fetch_steps,
    make_target,
    migrate_step,
    restart_step,
    service_env,
    verify_branch_step,
)
from relman.domain.errors import InvalidInput

HOST = Host(transport="local", address="10.0.0.5", root="/srv")
SERVICE = Service(
    repo="https://github.com/acme/hello.git",
    workdir="{root}/hello",
    start_command=["sh", "start.sh", "--ref={tag}", "--version={version}"],
    migrate_command=["sh", "migrate.sh"],
    health=HealthCheck(url="http://{address}:8004/health"),
)
SHA = "0123456789abcdef0123456789abcdef01234567"

GOOD = ["feature/login", "fix-123", "alice/wip/v2", "v1.2.3", "a.b", "UPPER_case", "ünï"]
BAD = [
    "",
    "-rf",
    "--upload-pack=x",
    "HEAD",
    "@",
    "a..b",
    ".hidden",
    "a/.b",
    "x.lock",
    "a/b.lock/c",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[1",
    "a\\b",
    "/a",
    "a/",
    "a//b",
    "a.",
    "a@{1}",
    "tab\there",
    "del\x7f",
]


@pytest.mark.parametrize("name", GOOD)
def test_valid_branch_names_pass(name: str) -> None:
    assert branch_problem(name) is None
    assert validate_branch(name) == name


@pytest.mark.parametrize("name", BAD)
def test_invalid_branch_names_are_refused_naming_the_field(name: str) -> None:
    assert branch_problem(name) is not None
    with pytest.raises(InvalidInput, match=r"^branch: .* is not a valid branch name: "):
        validate_branch(name)


def test_refs_heads_prefix_is_dropped() -> None:
    assert validate_branch("refs/heads/feature/login") == "feature/login"
    with pytest.raises(InvalidInput, match="too"):
        validate_branch("x" * 201, field="too")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command line")
# relman is stricter on purpose for option-like names and "@" (git's shorthand for HEAD).
@pytest.mark.parametrize("name", [n for n in GOOD + BAD if n and n[0] != "-" and n != "@"])
def test_the_rules_agree_with_git_check_ref_format(name: str) -> None:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    assert (done.returncode == 0) == (branch_problem(name) is None), name


def test_docker_tag_of_a_branch() -> None:
    assert docker_tag("branch-feature/login") == "branch-feature-login"
    assert docker_tag("-.x") == "x"
    assert docker_tag("ü") == "branch"
    assert len(docker_tag("b" * 300)) == 128


def test_branch_fetch_takes_every_branch_and_prunes() -> None:
    target = make_target("hello", SERVICE, "box", HOST)
    assert [s.argv for s in fetch_steps(target, "git", branches=True)] == [
        (
            "git",
            "fetch",
            "origin",
            "--tags",
            "--force",
            "--prune",
            "+refs/heads/*:refs/remotes/origin/*",
        )
    ]
    verify = verify_branch_step(target, "feature/login")
    assert verify.argv == (
        "git",
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/remotes/origin/feature/login^{commit}",
    )
    assert not verify.check and verify.cwd == "/srv/hello"


def test_branch_checkout_is_the_verified_commit_detached() -> None:
    target = make_target("hello", SERVICE, "box", HOST)
    assert checkout_commit_step(target, SHA).argv == (
        "git",
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "--force",
        "--detach",
        SHA,
    )
    for bad in ("", "--orphan"):
        with pytest.raises(ValueError, match="not a commit"):
            checkout_commit_step(target, bad)


def test_branch_env_and_start_command() -> None:
    target = make_target("hello", SERVICE, "box", HOST)
    env = service_env(target, "feature/login", ref_type="branch", sha=SHA)
    assert env["RELMAN_BRANCH"] == "feature/login"
    assert env["IMAGE_TAG"] == "branch-feature-login"
    assert env["RELMAN_SHA"] == SHA
    assert "RELMAN_TAG" not in env and "RELMAN_VERSION" not in env
    restart = restart_step(target, "feature/login", ref_type="branch", sha=SHA)
    assert restart.argv == ("sh", "start.sh", "--ref=feature/login", "--version=feature/login")
    assert restart.env["RELMAN_BRANCH"] == "feature/login"
    assert migrate_step(target, "feature/login", ref_type="branch").env["IMAGE_TAG"] == (
        "branch-feature-login"
    )
    # tags keep their variables
    tagged = service_env(target, "v1.2.3", sha=SHA)
    assert (tagged["RELMAN_TAG"], tagged["RELMAN_VERSION"], tagged["IMAGE_TAG"]) == (
        "v1.2.3",
        "1.2.3",
        "v1.2.3",
    )
    assert backup_dir_for(target, "20240315T143000Z", "a/b").endswith("/20240315T143000Z-a_b")


def test_branch_log_path_and_messages(tmp_path: Path) -> None:
    assert log_path(tmp_path, "hello", "feature/login", "dev:alice", "deploy") == (
        tmp_path / "hello" / "feature_login.log"
    )
    assert msg.msg_start("feature/login", "deploy", "branch") == (
        "🚀 Начинаем деплой ветки feature/login"
    )
    assert msg.msg_success("feature/login", "deploy", "branch") == (
        "✅ Ветка feature/login успешно развернута и приложение работает!"
    )
    assert msg.msg_building("x", "compose", "branch") == (
        "🔨 Начинаем сборку контейнера для ветки x..."
    )
    error = BranchNotFound("feature/gone", host="box")
    assert str(error) == msg.msg_branch_not_found("feature/gone")
    assert "origin/feature/gone" in str(error)
    assert error.code == "branch_not_found" and error.host == "box"
