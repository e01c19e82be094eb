"""The deploy use case (lock, history, automatic rollback) over real sshd hosts.

Issue "deploy engine", end to end: v1.0.0 to two hosts → both serve 1.0.0; v1.1.0; the
broken v1.2.0 to production → health fails → automatic rollback → the hosts serve 1.1.0
again, and the history, the seed's log files and the evidence say so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from deploy_support import hello_service, served_version, sha256sum_check

from relman.bootstrap import Container
from relman.config import Environment, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from relman.domain.errors import EnvironmentLocked
from relman.services.deploys import DeployService
from relman.store.deployments import DeploymentStore
from tests.support.hello import ServiceReaper
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import free_port
from tests.support.targets import ssh_host_config

pytestmark = pytest.mark.ssh


async def test_deploy_then_automatic_rollback_in_production(
    container: Container,
    ssh_hosts: HostsFactory,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    tmp_path: Path,
) -> None:
    hosts = ssh_hosts(2)
    for h in hosts:
        service_reaper.watch(h.root / "hello")
    port = free_port("127.0.0.1")
    config = RelmanConfig(
        services={"hello": hello_service(sample_repo, port)},
        hosts={h.name: ssh_host_config(h) for h in hosts},
        environments={"production": Environment(hosts=[h.name for h in hosts])},
    )
    settings = container.settings
    deploys = DeployService(settings, config, DeploymentStore(container.engine))
    urls = [f"http://{h.address}:{port}/health" for h in hosts]

    for tag in ("v1.0.0", "v1.1.0"):
        outcome = await deploys.deploy("hello", tag, "production", actor="cli:alice")
        assert outcome.ok, outcome.result.error
        assert [await served_version(u) for u in urls] == [tag[1:]] * 2

    outcome = await deploys.deploy("hello", "v1.2.0", "production", actor="cli:alice")
    assert not outcome.ok
    assert sorted(outcome.result.failed_hosts) == sorted(h.name for h in hosts)
    assert outcome.rollback is not None and outcome.rollback.ok
    assert outcome.rollback.tag == "v1.1.0"
    assert [await served_version(u) for u in urls] == ["1.1.0"] * 2

    history = await deploys.history("hello", "production")
    assert [(d.tag, d.kind, d.status) for d in history] == [
        ("v1.1.0", "rollback", "succeeded"),
        ("v1.2.0", "deploy", "failed"),
        ("v1.1.0", "deploy", "succeeded"),
        ("v1.0.0", "deploy", "succeeded"),
    ]
    assert history[0].actor == "system"
    logs = settings.log_root
    for path in (
        "production/hello/v1.0.0-prod.log",
        "production/hello/v1.2.0-prod.log",
        "rollback/hello/v1.1.0-rollback.log",
    ):
        assert (logs / path).is_file(), path
    assert "❌ Health check не пройден" in (logs / "production/hello/v1.2.0-prod.log").read_text()
    for d in history:
        assert sha256sum_check(Path(d.evidence_path)).returncode == 0
    assert await DeploymentStore(container.engine).lock("hello", "production") is None

    # A manual rollback with no --to goes to the last healthy tag before the current one.
    back = await deploys.rollback("hello", "production", actor="cli:bob")
    assert back.ok and back.tag == "v1.0.0"
    assert [await served_version(u) for u in urls] == ["1.0.0"] * 2


async def test_a_second_concurrent_deploy_is_refused_with_the_holder(
    container: Container,
    ssh_hosts: HostsFactory,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
) -> None:
    (host,) = ssh_hosts(1)
    service_reaper.watch(host.root / "hello")
    config = RelmanConfig(
        services={"hello": hello_service(sample_repo, free_port("127.0.0.1"))},
        hosts={host.name: ssh_host_config(host)},
        environments={"stage": Environment(hosts=[host.name])},
    )
    deploys = DeployService(container.settings, config, DeploymentStore(container.engine))
    results = await asyncio.gather(
        deploys.deploy("hello", "v1.0.0", "stage", actor="cli:first"),
        deploys.deploy("hello", "v1.1.0", "stage", actor="cli:second"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, EnvironmentLocked)]
    assert len(refused) == 1
    assert refused[0].holder in {"cli:first", "cli:second"}
    assert "locked by cli:" in str(refused[0]) and "since" in str(refused[0])
