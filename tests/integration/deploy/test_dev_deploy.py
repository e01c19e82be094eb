"""Developer deploys (seed 003 "on-push-in-work-branch") and live progress, end to end.

A writable copy of the sample repository is origin; work branches are pushed to it from a
clone, as a developer would. The deploy service runs with the real database, the local
transport and hello-service started by its own ``start.sh``; outcomes are checked in the
checkout, over HTTP, in the log files and in the history.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from deploy_support import git_head, hello_service, messages, served_version

from relman.bootstrap import Container
from relman.config import Environment, Host, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from relman.deploy.progress import Progress
from relman.domain.errors import InvalidInput
from relman.services.deploys import DeployService
from relman.store.deployments import DeploymentStore
from tests.support.hello import ServiceReaper
from tests.support.sshd import free_port


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git with no user or system configuration; return its stdout, stripped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    done = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.invalid", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


class Origin:
    """A writable bare copy of the sample repository and a clone to push work branches."""

    def __init__(self, tmp_path: Path, sample: SampleRepo) -> None:
        self.bare = tmp_path / "origin.git"
        git("clone", "-q", "--bare", sample.url, str(self.bare))
        self.work = tmp_path / "work"
        git("clone", "-q", str(self.bare), str(self.work))

    def push(self, branch: str, version: str, *, base: str | None = "v1.1.0") -> str:
        """Commit ``version`` into VERSION on ``branch`` (from ``base``, or on top of the
        branch as it is when ``base`` is None) and push it; returns the new commit."""
        if base is not None:
            git("checkout", "-q", "-B", branch, base, cwd=self.work)
        (self.work / "VERSION").write_text(version + "\n", encoding="utf-8")
        git("commit", "-q", "-am", f"wip: {version}", cwd=self.work)
        git("push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def delete(self, branch: str) -> None:
        git("push", "-q", "origin", f":refs/heads/{branch}", cwd=self.work)


class DevBox:
    """Alice's developer server (a local host) and the deploy service."""

    def __init__(
        self, container: Container, tmp_path: Path, sample: SampleRepo, reaper: ServiceReaper
    ) -> None:
        self.origin = Origin(tmp_path, sample)
        self.port = free_port("127.0.0.1")
        self.root = tmp_path / "alice-box"
        self.workdir = reaper.watch(self.root / "hello")
        service = hello_service(sample, self.port).model_copy(
            update={"repo": str(self.origin.bare)}
        )
        self.config = RelmanConfig(
            services={"hello": service},
            hosts={"alice-box": Host(transport="local", address="127.0.0.1", root=str(self.root))},
            environments={"dev:alice-laptop": Environment(hosts=["alice-box"], owner="alice")},
        )
        self.store = DeploymentStore(container.engine)
        self.deploys = DeployService(container.settings, self.config, self.store)
        self.logs = container.settings.log_root
        self.url = f"http://127.0.0.1:{self.port}/health"


@pytest.fixture
def dev(
    container: Container, tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> DevBox:
    return DevBox(container, tmp_path, sample_repo, service_reaper)


async def test_a_push_deploys_the_branch_head_to_the_authors_server(dev: DevBox) -> None:
    sha = dev.origin.push("feature/login", "1.1.0-dev.1")
    reports: list[Progress] = []
    outcome = await dev.deploys.dev_deploy(
        "hello",
        branch="feature/login",
        author="Alice",
        actor="gh:alice",
        on_progress=reports.append,
    )
    assert outcome.ok, outcome.result and outcome.result.error
    assert outcome.environment == "dev:alice-laptop" and outcome.skipped == ""
    result = outcome.result
    assert result is not None
    assert result.branch == "feature/login" and result.ref_type == "branch"
    assert result.git_sha == sha == git_head(dev.workdir)
    # the branch's own VERSION is served: no tag version is required of a branch
    assert await served_version(dev.url) == "1.1.0-dev.1"

    log = dev.logs / "hello" / "feature_login.log"
    assert result.log_path == log
    said = messages(log.read_text(encoding="utf-8").splitlines())
    expected = [
        "🚀 Начинаем деплой ветки feature/login",
        f"✅ Ветка feature/login найдена: коммит {sha[:12]}",
        f"🌿 Переключаемся на ветку feature/login (коммит {sha[:12]})",
        "🔨 Перезапускаем сервис для ветки feature/login...",
        "✅ Health check пройден!",
        "✅ Ветка feature/login успешно развернута и приложение работает!",
    ]
    positions = [said.index(m) for m in expected]
    assert positions == sorted(positions)

    # same lock and history as a tag deploy
    (row,) = await dev.deploys.history("hello", "dev:alice-laptop")
    assert (row.tag, row.kind, row.status, row.actor) == (
        "feature/login",
        "deploy",
        "succeeded",
        "gh:alice",
    )
    assert row.git_sha == sha and row.log_path == str(log)
    assert await dev.store.lock("hello", "dev:alice-laptop") is None

    # progress: every step of the host, in order, then done
    steps = [r.step for r in reports]
    order = ["lock", "fetch", "verify_branch", "checkout", "restart", "health", "done"]
    assert [steps.index(s) for s in order] == sorted(steps.index(s) for s in order)
    assert reports[-1].state == "ok" and reports[-1].ref == "feature/login"
    assert all(r.host == "alice-box" and r.ref_type == "branch" for r in reports)
    elapsed = [r.elapsed for r in reports]
    assert elapsed == sorted(elapsed)

    # the next push to the same branch is picked up
    newer = dev.origin.push("feature/login", "1.1.0-dev.2", base=None)
    again = await dev.deploys.dev_deploy(
        "hello", branch="refs/heads/feature/login", author="alice", actor="gh:alice"
    )
    assert again.ok and again.result is not None
    assert again.result.git_sha == newer == git_head(dev.workdir)
    assert again.result.hosts["alice-box"].sha_before == sha
    assert await served_version(dev.url) == "1.1.0-dev.2"


async def test_a_branch_missing_on_origin_fails_clearly_and_changes_nothing(
    dev: DevBox,
) -> None:
    sha = dev.origin.push("feature/gone", "1.1.0-dev.3")
    first = await dev.deploys.dev_deploy(
        "hello", branch="feature/gone", author="alice", actor="gh:alice"
    )
    assert first.ok
    dev.origin.delete("feature/gone")
    for branch in ("feature/gone", "never-pushed"):
        outcome = await dev.deploys.dev_deploy(
            "hello", branch=branch, author="alice", actor="gh:alice"
        )
        assert not outcome.ok and outcome.result is not None
        host = outcome.result.hosts["alice-box"]
        assert host.error_code == "branch_not_found"
        assert host.error == (
            f"❌ Ветка {branch} не найдена в репозитории после обновления (нет origin/{branch})!"
        )
        assert not host.changed
        assert git_head(dev.workdir) == sha
        assert await served_version(dev.url) == "1.1.0-dev.3"
    history = await dev.deploys.history("hello", "dev:alice-laptop")
    assert [(d.tag, d.status) for d in history] == [
        ("never-pushed", "failed"),
        ("feature/gone", "failed"),
        ("feature/gone", "succeeded"),
    ]
    assert await dev.store.lock("hello", "dev:alice-laptop") is None


async def test_an_author_without_a_server_is_skipped_with_how_to_add_one(dev: DevBox) -> None:
    outcome = await dev.deploys.dev_deploy(
        "hello", branch="feature/x", author="bob", actor="gh:bob"
    )
    assert outcome.result is None and not outcome.ok
    assert outcome.skipped == (
        'no developer server for bob: add [environments."dev:bob"] with owner = "bob" '
        "to relman.toml"
    )
    assert await dev.deploys.history("hello", "dev:alice-laptop") == []
    assert not dev.workdir.exists()


@pytest.mark.parametrize("branch", ["-rf", "--upload-pack=touch x", "a..b", "x y", ""])
async def test_invalid_branch_names_are_refused_before_anything_runs(
    dev: DevBox, branch: str
) -> None:
    with pytest.raises(InvalidInput, match=r"^branch: "):
        await dev.deploys.dev_deploy("hello", branch=branch, author="alice", actor="gh:alice")
    assert await dev.deploys.history("hello", "dev:alice-laptop") == []
    assert not dev.workdir.exists()


async def test_unknown_service_and_empty_author_are_refused(dev: DevBox) -> None:
    with pytest.raises(InvalidInput, match="unknown service 'nope'"):
        await dev.deploys.dev_deploy("nope", branch="main", author="alice", actor="gh:alice")
    with pytest.raises(InvalidInput, match="author"):
        await dev.deploys.dev_deploy("hello", branch="main", author=" ", actor="gh:alice")


async def test_the_environment_named_after_the_author_is_found_too(
    container: Container, dev: DevBox
) -> None:
    config = dev.config.model_copy(
        update={"environments": {"dev:alice": Environment(hosts=["alice-box"])}}
    )
    deploys = DeployService(container.settings, config, dev.store)
    assert deploys.dev_environment("ALICE") == "dev:alice"
    assert deploys.dev_environment("bob") is None
    assert dev.deploys.dev_environment("alice") == "dev:alice-laptop"


async def test_a_rollback_goes_to_a_tag_never_to_a_branch(dev: DevBox) -> None:
    assert (await dev.deploys.deploy("hello", "v1.0.0", "dev:alice-laptop", actor="cli:a")).ok
    dev.origin.push("feature/login", "1.1.0-dev.4")
    assert (
        await dev.deploys.dev_deploy(
            "hello", branch="feature/login", author="alice", actor="gh:alice"
        )
    ).ok
    back = await dev.deploys.rollback("hello", "dev:alice-laptop", actor="cli:a")
    assert back.ok and back.tag == "v1.0.0"
    assert await served_version(dev.url) == "1.0.0"


async def test_tag_deploys_report_progress_of_the_deploy_and_its_automatic_rollback(
    dev: DevBox,
) -> None:
    assert (await dev.deploys.deploy("hello", "v1.1.0", "dev:alice-laptop", actor="cli:a")).ok
    reports: list[Progress] = []
    outcome = await dev.deploys.deploy(
        "hello", "v1.2.0", "dev:alice-laptop", actor="cli:a", on_progress=reports.append
    )
    assert not outcome.ok and outcome.rollback is not None and outcome.rollback.ok
    deploy = [r for r in reports if r.kind == "deploy"]
    rollback = [r for r in reports if r.kind == "rollback"]
    assert {r.ref for r in deploy} == {"v1.2.0"} and {r.ref for r in rollback} == {"v1.1.0"}
    assert deploy[-1].state == "failed" and "Health check не пройден" in deploy[-1].message
    assert rollback[-1].state == "ok"
    assert "health" in [r.step for r in deploy]
    assert await served_version(dev.url) == "1.1.0"
    # a manual rollback reports too
    more: list[Progress] = []
    back = await dev.deploys.rollback(
        "hello", "dev:alice-laptop", actor="cli:a", to_tag="v1.0.0", on_progress=more.append
    )
    assert back.ok and more[-1].state == "ok" and more[-1].kind == "rollback"
