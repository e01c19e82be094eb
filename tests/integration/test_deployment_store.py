"""Deploy history and the database deploy lock on a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from relman.bootstrap import Container
from relman.domain.errors import EnvironmentLocked
from relman.store.deployments import DeploymentStore

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(container: Container) -> DeploymentStore:
    return DeploymentStore(container.engine)


async def test_one_lock_per_service_and_environment(store: DeploymentStore) -> None:
    async def take(n: int) -> str:
        try:
            await store.acquire_lock(
                service="hello",
                environment="production",
                holder=f"user-{n}",
                owner=f"box:{n}",
                tag="v1.1.0",
                reason="deploy",
                at=T0,
            )
        except EnvironmentLocked as exc:
            return f"refused:{exc.holder}"
        return f"won:user-{n}"

    outcomes = await asyncio.gather(*(take(n) for n in range(10)))
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    holder = winners[0].split(":")[1]
    assert all(o == f"refused:{holder}" for o in outcomes if o.startswith("refused"))
    with pytest.raises(EnvironmentLocked, match=rf"locked by {holder} since 2026-11-21 12:00:00"):
        await store.acquire_lock(
            service="hello",
            environment="production",
            holder="late",
            owner="box:late",
            tag="v1.1.0",
            reason="deploy",
            at=T0,
        )
    # Another environment is independent.
    await store.acquire_lock(
        service="hello", environment="stage", holder="x", owner="o", tag="v1", reason="", at=T0
    )
    assert not await store.release_lock("hello", "production", owner="someone-else")
    assert await store.release_lock("hello", "production")
    assert await store.lock("hello", "production") is None
    assert (await take(100)) == "won:user-100"


async def test_history_newest_first(store: DeploymentStore) -> None:
    for n, (tag, ok) in enumerate([("v1.0.0", True), ("v1.1.0", True), ("v1.2.0", False)]):
        did = await store.start(
            release_id=None,
            service="hello",
            environment="production",
            tag=tag,
            kind="deploy",
            actor="alice",
            hosts=["a", "b"],
            at=T0 + timedelta(minutes=n),
        )
        await store.finish(
            did,
            ok=ok,
            at=T0 + timedelta(minutes=n, seconds=30),
            migrated=tag == "v1.2.0",
            error="" if ok else "health failed",
        )
    history = await store.history("hello", "production")
    assert [(d.tag, d.status, d.migrated) for d in history] == [
        ("v1.2.0", "failed", True),
        ("v1.1.0", "succeeded", False),
        ("v1.0.0", "succeeded", False),
    ]
    assert history[0].hosts == ["a", "b"] and history[0].error == "health failed"
    assert await store.history("hello", "stage") == []
