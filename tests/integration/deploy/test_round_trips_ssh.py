"""Few round trips, every host before any change (issue "Fast relman" items 2 and 3), over
real sshd hosts on loopback.

The remote executions are counted by a transport of our own that wraps the real
:class:`~relman.deploy.ssh.SshTransport` and counts its ``run`` calls: a first deploy costs
at most five, an upgrade three (the fetch rides with the probe where a checkout exists), and
each step still has its record and evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from deploy_support import Fleet, git_head, served_version

from relman.demo.sample_repo import SampleRepo
from relman.deploy import DeployResult
from relman.deploy.ssh import SshTransport
from relman.deploy.transport import CommandResult, LineCallback
from tests.support.hello import ServiceReaper
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import SshHost, SshLab
from tests.support.targets import ssh_host_config

pytestmark = pytest.mark.ssh


class CountingTransport:
    """The real ssh transport, counting the remote commands it runs (one per ``run``)."""

    def __init__(self, inner: SshTransport, counts: dict[str, int]) -> None:
        self.inner = inner
        self.name = inner.name
        self.counts = counts
        counts.setdefault(inner.name, 0)

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        timeout: float,  # noqa: ASYNC109 (the transport interface)
        on_line: LineCallback,
    ) -> CommandResult:
        self.counts[self.name] += 1
        return await self.inner.run(argv, cwd=cwd, env=env, timeout=timeout, on_line=on_line)

    async def close(self) -> None:
        await self.inner.close()


class CountedFleet(Fleet):
    """A :class:`Fleet` whose ssh transports count their remote commands."""

    def __init__(
        self, tmp: Path, repo: SampleRepo, reaper: ServiceReaper, hosts: list[SshHost]
    ) -> None:
        self.counts: dict[str, int] = {}
        super().__init__(
            tmp,
            repo,
            reaper,
            hosts,
            lambda host, name: CountingTransport(SshTransport(host, name), self.counts),
        )

    async def deploy(self, tag: str, **extra: object) -> DeployResult:
        self.counts.clear()
        return await super().deploy(tag, **extra)


async def test_a_first_deploy_costs_at_most_five_remote_commands_and_an_upgrade_three(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
) -> None:
    fleet = CountedFleet(tmp_path, sample_repo, service_reaper, ssh_hosts(2))
    first = await fleet.deploy("v1.0.0")
    assert first.ok, first.error
    assert all(count <= 5 for count in fleet.counts.values()), fleet.counts
    upgrade = await fleet.deploy("v1.1.0")
    assert upgrade.ok, upgrade.error
    assert all(count == 3 for count in fleet.counts.values()), fleet.counts
    for h in fleet.ssh:
        assert await served_version(fleet.url(h)) == "1.1.0"
        host = upgrade.hosts[h.name]
        assert host.executions == fleet.counts[h.name]
        # each step joined into a command keeps its own record and evidence file
        names = [step.name for step in host.steps]
        for name in ("lock", "probe", "preflight_status", "fetch", "verify_tag", "checkout"):
            assert name in names, name
            assert upgrade.evidence_dir is not None
            assert (upgrade.evidence_dir / h.name / f"step_{name}.log").is_file(), name
        assert names.index("checkout") < names.index("restart") < names.index("health")
        # (hello.env does not exist on the hosts: reading it is allowed to fail)
        failed = [s.name for s in host.steps if s.exit_status != 0]
        assert failed == ["read_env_file"], host.steps
    assert upgrade.evidence_dir is not None
    summary = json.loads((upgrade.evidence_dir / "summary.json").read_text())
    assert all(r["remote_executions"] == 3 for r in summary["results"].values())


async def test_a_changed_host_key_stops_every_host_before_any_change(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
    ssh_lab: SshLab,
) -> None:
    fleet = CountedFleet(tmp_path, sample_repo, service_reaper, ssh_hosts(2))
    good, changed = fleet.ssh
    assert (await fleet.deploy("v1.0.0")).ok
    before = {h.name: git_head(h.root / "hello") for h in fleet.ssh}

    known = tmp_path / "known_hosts.changed"
    ssh_lab.known_hosts_with_wrong_key(changed, known)
    fleet.hosts[changed.name] = ssh_host_config(changed, known)
    result = await fleet.deploy("v1.1.0")

    assert not result.ok and result.stopped
    assert result.hosts[changed.name].error_code == "host_key_rejected"
    left = result.hosts[good.name]
    assert left.skipped and not left.changed and left.error_code == "not_started"
    assert left.error == f"not changed: {changed.name} failed before any host changed"
    # no host changed: same checkout, same version served, no restart
    assert {h.name: git_head(h.root / "hello") for h in fleet.ssh} == before
    for h in fleet.ssh:
        assert await served_version(fleet.url(h)) == "1.0.0"
    assert "restart" not in [step.name for step in left.steps]
    # every lock is free again: the one taken on the good host too
    for h in fleet.ssh:
        assert not (h.root / ".relman-hello" / "lock").exists(), h.name
