"""The commit-time reader of the DORA figures (:mod:`relman.services.analytics`) against the
real ``git``: what it keeps under the evidence root, what its errors say about a repository
URL's credentials, and how a repository that cannot be read ends up — a reason recorded
once per deploy, one fetch per service and scan, never an exception out of ``dora()``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from relman.bootstrap import Container
from relman.config import HealthCheck, RelmanConfig, Service, Settings
from relman.demo.sample_repo import SampleRepo
from relman.services.analytics import AnalyticsService, GitError, commit_times, fetch_repository
from relman.store.analytics import AnalyticsStore
from relman.store.deployments import DeploymentStore
from relman.store.tables import commit_scans
from tests.support.git_repo import git, isolate_git_config
from tests.support.sshd import free_port

TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "s3cr3t-Passw0rd-77"
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _own_git_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git_config(monkeypatch, tmp_path / "home")


def unreachable(credentials: str) -> str:
    """An https URL with ``credentials`` on a loopback port nothing listens on."""
    return f"https://{credentials}@127.0.0.1:{free_port('127.0.0.1')}/acme/hello.git"


@pytest.mark.parametrize(
    ("credentials", "secret"),
    [
        (TOKEN, TOKEN),  # a token as the whole user part (https://TOKEN@github.com/…)
        (f"x-access-token:{TOKEN}", TOKEN),
        (f"ci:{PASSWORD}", PASSWORD),
    ],
)
async def test_an_unreachable_repository_names_no_credential(
    credentials: str, secret: str, tmp_path: Path
) -> None:
    with pytest.raises(GitError) as caught:
        await fetch_repository(unreachable(credentials), tmp_path / "c.git", time_limit=30)
    message = str(caught.value)
    assert secret not in message
    assert "***@127.0.0.1:" in message


async def test_the_cache_is_fetched_into_and_keeps_no_repository_url(
    sample_repo: SampleRepo, tmp_path: Path
) -> None:
    cache = tmp_path / "git-cache" / "hello.git"
    for _ in range(2):  # made the first time, fetched into afterwards
        await fetch_repository(str(sample_repo.path), cache, time_limit=30)
    assert str(sample_repo.path) not in (cache / "config").read_text(encoding="utf-8")
    shipped = await commit_times(cache, "v1.1.0", "v1.0.0", time_limit=30)
    expected = git(sample_repo.path, "rev-list", "refs/tags/v1.0.0..refs/tags/v1.1.0").split()
    assert [sha for sha, _ in shipped] == expected


async def test_an_evidence_root_that_is_no_folder_is_a_git_error(
    sample_repo: SampleRepo, tmp_path: Path
) -> None:
    blocker = tmp_path / "evidence"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(GitError, match=r"^git init .*: fatal: cannot mkdir"):
        await fetch_repository(
            str(sample_repo.path), blocker / "git-cache" / "h.git", time_limit=30
        )


async def shipped_deploys(container: Container, tags: list[str]) -> list[int]:
    """Healthy production deploys of hello, one per tag, an hour apart, before NOW."""
    store = DeploymentStore(container.engine)
    ids = []
    for n, tag in enumerate(tags):
        at = NOW - timedelta(hours=len(tags) - n)
        deployment_id = await store.start(
            release_id=None,
            service="hello",
            environment="production",
            tag=tag,
            kind="deploy",
            actor="system",
            hosts=["prod"],
            at=at,
        )
        await store.finish(deployment_id, ok=True, at=at + timedelta(minutes=5))
        ids.append(deployment_id)
    return ids


def analytics(
    container: Container, repo: str, settings: Settings | None = None
) -> AnalyticsService:
    service = Service(
        repo=repo,
        workdir="hello",
        start_command=["true"],
        health=HealthCheck(url="http://127.0.0.1:9/health"),
    )
    config = RelmanConfig(services={"hello": service})
    return AnalyticsService(
        settings or container.settings, config, AnalyticsStore(container.engine), clock=lambda: NOW
    )


async def test_an_unreachable_repository_is_fetched_once_and_recorded_without_its_token(
    container: Container,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = await shipped_deploys(container, ["v1.0.0", "v1.1.0", "v1.2.0"])
    trace = tmp_path / "git-trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    service = analytics(container, unreachable(TOKEN))

    with caplog.at_level(logging.WARNING, logger="relman.analytics"):
        report = await service.dora(days=30)  # scans first; a git failure is no exception
    assert report.all.keys.healthy_deploys == 3 and report.all.keys.changes == 0

    fetches = [line for line in trace.read_text().splitlines() if "built-in: git fetch" in line]
    assert len(fetches) == 1  # one time limit for the service, not one per deploy
    async with container.engine.connect() as conn:
        rows = (
            await conn.execute(select(commit_scans).order_by(commit_scans.c.deployment_id))
        ).all()
    assert [r._mapping["deployment_id"] for r in rows] == ids
    reasons = [r._mapping["error"] for r in rows]
    assert all(reason.startswith("git fetch https://***@127.0.0.1:") for reason in reasons)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3 and all("https://***@127.0.0.1:" in line for line in logged)
    assert not any(TOKEN in text for text in reasons + logged)
    assert await service.scan_commits(NOW - timedelta(days=30)) == 0  # not asked again


async def test_a_cache_that_cannot_be_made_is_a_recorded_reason(
    container: Container, sample_repo: SampleRepo, tmp_path: Path
) -> None:
    await shipped_deploys(container, ["v1.0.0"])
    blocked = tmp_path / "blocked"
    blocked.write_text("", encoding="utf-8")
    settings = container.settings.model_copy(update={"evidence_root": blocked})
    service = analytics(container, str(sample_repo.path), settings)
    await service.dora(days=30)
    async with container.engine.connect() as conn:
        [reason] = (await conn.execute(select(commit_scans.c.error))).scalars().all()
    assert reason.startswith("git init ") and "cannot mkdir" in reason
