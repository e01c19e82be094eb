"""A maintenance lock (``relman lock acquire``, issue 15 item 10) behind the CLI: the
pipeline's queued production job waits for it instead of failing, no stale-lock recovery
frees it, and production needs the role of a production deploy by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relman.bootstrap import Container
from relman.deploy.lock import this_machine
from relman.domain.clock import Clock
from relman.domain.errors import EnvironmentLocked, PermissionDenied
from relman.domain.policy import Actor
from relman.domain.status import ReleaseStatus
from relman.services.deploys import MaintenanceLockHeld
from relman.services.locks import DeployLocks
from relman.services.worker import Worker
from relman.store.deployments import MAINTENANCE_OWNER, DeploymentStore
from tests.integration.deploy.deploy_support import dead_pid
from tests.integration.pipeline.test_approvals import approve, hello_api, in_manual_testing

__all__ = ["hello_api"]  # the fixture, shared with the approval tests

BOSS = Actor("gh:boss")  # admin in test_approvals.POLICY


def locks(container: Container) -> DeployLocks:
    return DeployLocks(container.config.policy.roles(), container.deploys)


def at(start: datetime, seconds: float) -> Clock:
    """A clock standing at ``seconds`` after ``start``."""
    return lambda: start + timedelta(seconds=seconds)


async def queued_production_job(container: Container, api: httpx.AsyncClient) -> int:
    """A release approved by QA: its production deploy job is queued; returns its id."""
    release_id = await in_manual_testing(api, by="dev")
    assert (await approve(api, release_id, "tg:3")).status_code == 200
    (job,) = await container.jobs.for_release(release_id)
    assert job.kind == "production_deploy" and job.status == "queued"
    return release_id


async def test_a_queued_job_keeps_waiting_while_production_is_held(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, api = hello_api
    release_id = await queued_production_job(container, api)
    held = await locks(container).acquire(
        "hello", "production", actor=BOSS, reason="database failover"
    )
    assert held.owner.startswith(MAINTENANCE_OWNER) and held.holder == "gh:boss"

    now = datetime.now(UTC)
    for attempt in range(3):  # each time the job is due again, it is put back, not failed
        worker = Worker(container.pipeline, container.jobs, clock=at(now, 10 * attempt))
        outcome = await worker.run_once()
        assert outcome is not None and outcome.requeue, attempt
        assert "held for maintenance by gh:boss" in outcome.error
        assert "database failover" in outcome.error
        assert (await container.releases.get(release_id)).status is ReleaseStatus.DEPLOYING
        (job,) = await container.jobs.for_release(release_id)
        assert job.status == "queued" and job.owner == ""
    assert (await container.deployments.history("hello", "production")) == []

    # freed by its holder: the lock is gone and the job is due again
    before = await locks(container).release("hello", "production", actor=BOSS)
    assert before.database is not None and before.database.reason == "database failover"
    assert await container.deploys.database_lock("hello", "production") is None


async def test_no_stale_lock_recovery_frees_a_maintenance_lock(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, api = hello_api
    release_id = await queued_production_job(container, api)
    held = await locks(container).acquire("hello", "production", actor=BOSS, reason="disk swap")
    # A worker of this machine claimed the job an hour ago and died.
    dead = f"{this_machine()}:{dead_pid()}:worker-dead"
    claimed = await container.jobs.claim(dead, at=datetime.now(UTC) - timedelta(hours=1))
    assert claimed is not None

    assert await container.worker().recover() == 1
    (job,) = await container.jobs.for_release(release_id)
    assert job.status == "interrupted"
    assert (await container.releases.get(release_id)).status is ReleaseStatus.PRODUCTION_FAILED

    store = DeploymentStore(container.engine)
    assert await store.lock("hello", "production") == held  # untouched
    assert await store.expired_locks(datetime.now(UTC) + timedelta(days=3650)) == []
    # nor does any process's clean-up, nor `relman lock status` call it stale
    for process in (dead.rsplit(":", 1)[0], "maintenance", held.owner):
        assert not await container.deploys.free_locks_of("hello", "production", process=process)
    report = await container.deploys.lock_report("hello", "production")
    assert report.database == held and report.database_stale is False
    # a deploy by hand is refused with the reason
    with pytest.raises(EnvironmentLocked, match=r"held for maintenance by gh:boss .*: disk swap"):
        await container.deploys.deploy("hello", "v1.0.0", "production", actor="cli:oleg")


async def test_production_needs_the_role_of_a_production_deploy_by_hand(
    hello_api: tuple[Container, httpx.AsyncClient],
) -> None:
    container, _ = hello_api
    lock = locks(container)
    with pytest.raises(PermissionDenied) as refused:
        await lock.acquire("hello", "production", actor=Actor("cli:mallory"), reason="x")
    assert str(refused.value) == (
        "cli:mallory may not deploy to production: needs role admin or releaser; "
        "holding production deploys for maintenance needs the same role"
    )
    assert await container.deploys.database_lock("hello", "production") is None

    # stage stays open to anyone; a releaser holds production
    await lock.acquire("hello", "stage", actor=Actor("cli:mallory"), reason="stage reset")
    held = await lock.acquire("hello", "production", actor=Actor("tg:2", "Rita"), reason="dns")
    assert held.holder == "tg:2 (Rita)"
    with pytest.raises(EnvironmentLocked, match=r"held for maintenance by tg:2 \(Rita\)"):
        await lock.acquire("hello", "production", actor=BOSS, reason="me too")

    # someone else: refused without --force; with it, only with the role
    with pytest.raises(MaintenanceLockHeld, match=r"only tg:2 \(Rita\) releases it"):
        await lock.release("hello", "production", actor=BOSS)
    for nobody in (Actor("cli:mallory"), Actor("tg:1")):  # tg:1 is QA
        with pytest.raises(PermissionDenied, match="freeing someone else's maintenance lock"):
            await lock.release("hello", "production", actor=nobody, force=True)
    assert await container.deploys.database_lock("hello", "production") == held
    await lock.release("hello", "production", actor=BOSS, force=True)
    assert await container.deploys.database_lock("hello", "production") is None
    # its holder frees their own without a role check; the same identity spelled otherwise
    await lock.release("hello", "stage", actor=Actor("CLI:mallory"))
