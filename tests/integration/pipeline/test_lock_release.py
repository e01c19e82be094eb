"""`relman lock status|release` behind the CLI: a lock left by a dead process is shown as
stale and can be released; a live one only with --force (issue "deploy engine" item 7)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relman.bootstrap import build
from relman.config import Environment, Host, RelmanConfig, Settings
from relman.demo.sample_repo import SampleRepo
from relman.deploy.lock import this_machine
from relman.domain.errors import EnvironmentLocked
from relman.store.deployments import DeploymentStore
from tests.integration.deploy.deploy_support import dead_pid
from tests.support.pipeline import write_config
from tests.support.targets import hello_service


@pytest.mark.parametrize("alive", [False, True])
async def test_a_stale_lock_is_released_and_a_live_one_needs_force(
    settings: Settings, sample_repo: SampleRepo, tmp_path: Path, alive: bool
) -> None:
    write_config(
        settings.config_file,
        RelmanConfig(
            services={"hello": hello_service(sample_repo, 1)},
            hosts={"box": Host(transport="local", root=str(tmp_path / "box"))},
            environments={"production": Environment(hosts=["box"])},
        ),
    )
    container = build(settings)
    try:
        pid = os.getpid() if alive else dead_pid()
        await DeploymentStore(container.engine).acquire_lock(
            service="hello",
            environment="production",
            holder="cli:oleg",
            owner=f"{this_machine()}:{pid}:abc",
            tag="v1.0.0",
            reason="deploy",
            at=datetime.now(UTC),
        )
        report = await container.deploys.lock_report("hello", "production")
        assert report.database is not None and report.database.holder == "cli:oleg"
        assert report.database_stale is not alive
        if alive:
            with pytest.raises(EnvironmentLocked, match="cli:oleg"):
                await container.deploys.release_locks("hello", "production")
            assert (await container.deploys.lock_report("hello", "production")).database
            await container.deploys.release_locks("hello", "production", force=True)
        else:
            await container.deploys.release_locks("hello", "production")
        assert (await container.deploys.lock_report("hello", "production")).database is None
    finally:
        await container.aclose()
