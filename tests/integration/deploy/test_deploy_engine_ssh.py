"""The deploy engine and the ssh transport against real OpenSSH servers on loopback.

Each "host" is helper-2's sshd on its own 127.0.0.N with a generated host key pinned in a
known_hosts file; the engine deploys the sample repository into the host's root and
hello-service answers over HTTP on the host's address.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest
from deploy_support import (
    Fleet,
    files_containing,
    git_head,
    messages,
    served_version,
    sha256sum_check,
    wait_for,
)

from relman.config import Service
from relman.demo.sample_repo import SampleRepo
from relman.deploy import DeployRequest, deploy
from relman.deploy.errors import HostKeyRejected
from relman.deploy.ssh import SshTransport
from tests.support.hello import ServiceReaper
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import SshHost, SshLab
from tests.support.targets import ssh_host_config

pytestmark = pytest.mark.ssh


def fingerprint(host: SshHost) -> str:
    return asyncssh.import_public_key(host.host_key).get_fingerprint("sha256")


async def test_deploy_to_two_hosts_then_a_broken_release_names_each_host(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
) -> None:
    fleet = Fleet(tmp_path, sample_repo, service_reaper, ssh_hosts(2))
    first, second = fleet.ssh
    result = await fleet.deploy("v1.0.0")
    assert result.ok, result.error
    assert await served_version(fleet.url(first)) == "1.0.0"
    assert await served_version(fleet.url(second)) == "1.0.0"
    for h in fleet.ssh:
        host = result.hosts[h.name]
        assert host.sha_after == sample_repo.commits["v1.0.0"] == git_head(h.root / "hello")
    log = fleet.logs / "production" / "hello" / "v1.0.0-prod.log"
    said = messages(log.read_text().splitlines())
    for h in fleet.ssh:
        assert f"[{h.name}] ✅ Тег v1.0.0 успешно развернут и приложение работает!" in said
        assert any(m.startswith(f"[{h.name}] │ hello-service started") for m in said)
    assert result.evidence_dir is not None
    for h in fleet.ssh:
        assert (result.evidence_dir / h.name / "step_checkout.log").is_file()
    assert sha256sum_check(result.evidence_dir).returncode == 0

    fleet.service = fleet.service.model_copy(
        update={"health": fleet.service.health.model_copy(update={"attempts": 5})}
    )
    broken = await fleet.deploy("v1.2.0")
    assert not broken.ok
    assert sorted(broken.failed_hosts) == sorted(h.name for h in fleet.ssh)
    for h in fleet.ssh:
        error = broken.hosts[h.name].error
        assert error is not None
        assert "Health check не пройден после 5 попыток" in error and h.name in error


async def test_missing_tag_over_ssh_changes_nothing(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
) -> None:
    fleet = Fleet(tmp_path, sample_repo, service_reaper, ssh_hosts(1))
    (h,) = fleet.ssh
    assert (await fleet.deploy("v1.0.0")).ok
    before = git_head(h.root / "hello")
    result = await fleet.deploy("v7.7.7")
    assert not result.ok
    assert result.hosts[h.name].error == "❌ Тег v7.7.7 не найден в репозитории после обновления!"
    assert git_head(h.root / "hello") == before
    assert await served_version(fleet.url(h)) == "1.0.0"


@pytest.mark.parametrize("variant", ["unknown", "changed"])
async def test_an_unpinned_host_key_is_refused_before_any_command(
    variant: str,
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
    ssh_lab: SshLab,
) -> None:
    fleet = Fleet(tmp_path, sample_repo, service_reaper, ssh_hosts(1))
    (h,) = fleet.ssh
    known = tmp_path / f"known_hosts.{variant}"
    if variant == "unknown":
        ssh_lab.known_hosts_without(h, known)
    else:
        ssh_lab.known_hosts_with_wrong_key(h, known)
    fleet.hosts = {h.name: ssh_host_config(h, known)}
    result = await fleet.deploy("v1.0.0")
    assert not result.ok
    host = result.hosts[h.name]
    assert host.error_code == "host_key_rejected"
    assert host.error is not None
    assert h.name in host.error and fingerprint(h) in host.error
    assert ("unknown host key" if variant == "unknown" else "host key changed") in host.error
    # the first step (the lock) would have created this folder
    assert not (h.root / ".relman-hello").exists()
    assert not (h.root / "hello").exists()
    assert host.steps == []

    transport = SshTransport(fleet.hosts[h.name], h.name)
    with pytest.raises(HostKeyRejected) as caught:
        await transport.run(
            ["touch", str(h.root / "marker")],
            cwd=None,
            env=None,
            timeout=10,
            on_line=lambda _l: None,
        )
    await transport.close()
    assert caught.value.fingerprint == fingerprint(h)
    assert caught.value.fingerprint.startswith("SHA256:")
    assert not (h.root / "marker").exists()


async def test_a_concurrent_deploy_on_the_same_host_is_refused_with_the_holder(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
) -> None:
    fleet = Fleet(tmp_path, sample_repo, service_reaper, ssh_hosts(1))
    (h,) = fleet.ssh
    gate = tmp_path / "gate"
    fleet.service = fleet.service.model_copy(
        update={
            "start_command": [
                "sh",
                "-c",
                'while [ ! -e "$1" ]; do sleep 0.02; done; exec sh start.sh',
                "sh",
                str(gate),
            ]
        }
    )
    first = asyncio.create_task(fleet.deploy("v1.0.0"))
    details = h.root / ".relman-hello" / "lock" / "details.json"
    await wait_for(lambda: details.is_file() and details.stat().st_size > 0, "the first lock")
    second = await fleet.deploy("v1.1.0", actor="cli:bob")
    gate.touch()
    assert (await first).ok
    refused = second.hosts[h.name]
    assert not second.ok and refused.error_code == "lock_held"
    assert refused.error is not None and "locked by tg:42 Alice since" in refused.error
    assert await served_version(fleet.url(h)) == "1.0.0"


async def test_env_file_tokens_never_reach_logs_or_evidence(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    ssh_hosts: HostsFactory,
) -> None:
    fleet = Fleet(tmp_path, sample_repo, service_reaper, ssh_hosts(1))
    (h,) = fleet.ssh
    token = "ghp_SshPlantedToken0123456789"
    assert (await fleet.deploy("v1.0.0")).ok
    (h.root / "hello" / "hello.env").write_text(f"SERVICE_API_TOKEN={token}\n")
    fleet.service = fleet.service.model_copy(
        update={"start_command": ["sh", "-c", "cat hello.env; exec sh start.sh"]}
    )
    result = await fleet.deploy("v1.1.0")
    assert result.ok, result.error
    assert files_containing([fleet.logs, fleet.evidence], token) == []
    assert (
        "SERVICE_API_TOKEN=***"
        in (fleet.logs / "production" / "hello" / "v1.1.0-prod.log").read_text()
    )


async def test_a_host_password_never_reaches_logs_evidence_or_errors(
    tmp_path: Path, ssh_password_host: SshHost
) -> None:
    h = ssh_password_host
    assert h.password
    host = ssh_host_config(h)
    # a repository path that contains the password: git echoes it in its error
    service = Service(
        repo=f"/nonexistent/{h.password}/hello.git",
        workdir="{root}/hello",
        start_command=["true"],
        health={"url": "http://{address}:9/health"},
    )
    result = await deploy(
        DeployRequest(
            service_name="hello",
            service=service,
            tag="v1.0.0",
            environment="stage",
            hosts={h.name: host},
            actor="cli:alice",
            log_root=tmp_path / "logs",
            evidence_root=tmp_path / "evidence",
        )
    )
    assert not result.ok
    error = result.hosts[h.name].error
    assert error is not None and result.hosts[h.name].error_code == "command_failed"
    assert h.password not in error and "***" in error
    assert result.hosts[h.name].steps, "password auth worked: commands ran"
    assert files_containing([tmp_path / "logs", tmp_path / "evidence"], h.password) == []


async def test_ssh_transport_streams_reuses_one_connection_and_times_out(
    tmp_path: Path, ssh_hosts: HostsFactory
) -> None:
    (h,) = ssh_hosts(1)
    transport = SshTransport(ssh_host_config(h), h.name)
    gate = tmp_path / "gate"
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "waiting":
            gate.touch()

    script = (
        'echo waiting; while [ ! -e "$1" ]; do sleep 0.02; done; '
        'echo "in $(pwd) greeting=$GREETING"; echo oops >&2; exit 4'
    )
    result = await transport.run(
        ["sh", "-c", script, "sh", str(gate)],
        cwd=str(h.root),
        env={"GREETING": "hello world; $(id)"},
        timeout=20,
        on_line=on_line,
    )
    assert result.exit_status == 4
    assert seen == ["waiting", f"in {h.root} greeting=hello world; $(id)", "oops"]

    ports: list[str] = []
    for _ in range(2):
        await transport.run(
            ["sh", "-c", 'echo "$SSH_CONNECTION"'],
            cwd=None,
            env=None,
            timeout=10,
            on_line=ports.append,
        )
    assert ports[0] == ports[1]  # same client port: one connection for every command

    slow = await transport.run(
        ["sleep", "30"], cwd=None, env=None, timeout=0.5, on_line=lambda _l: None
    )
    assert slow.timed_out and slow.exit_status is None and slow.duration < 10
    await transport.close()
