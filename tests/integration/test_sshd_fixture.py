"""The sshd test hosts are real OpenSSH servers, and host keys are really pinned."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncssh
import pytest

from tests.support.ssh_fixtures import HostsFactory, require_sshd
from tests.support.sshd import SSHD_ENV, SshHost, SshLab, asyncssh_connect, pid_running

COMMAND_TIMEOUT = 20.0  # seconds


async def run_on(
    host: SshHost,
    command: str,
    *,
    known_hosts: Path | None = None,
    password: str | None = None,
    client_key: Path | None = None,
) -> asyncssh.SSHCompletedProcess:
    """Connect to ``host`` (its pinned known_hosts unless given) and run ``command``."""
    async with asyncssh_connect(
        host, known_hosts=known_hosts, password=password, client_key=client_key
    ) as conn:
        return await conn.run(command, check=True, timeout=COMMAND_TIMEOUT)


@pytest.mark.ssh
async def test_two_hosts_answer_on_their_own_address_with_pinned_keys(
    ssh_hosts: HostsFactory,
) -> None:
    first, second = ssh_hosts(2)
    assert first.address != second.address
    assert first.root != second.root
    pinned = first.known_hosts.read_text().splitlines()
    assert first.known_hosts_line in pinned
    assert second.known_hosts_line in pinned
    assert first.known_hosts_line.startswith(f"[{first.address}]:{first.port} ssh-ed25519 ")

    for host in (first, second):
        result = await run_on(
            host,
            'printf "%s|%s|%s|%s" "$(id -un)" "$RELMAN_HOST_NAME" "$RELMAN_HOST_ROOT" '
            '"$SSH_CONNECTION"',
        )
        user, name, root, connection = str(result.stdout).split("|")
        assert (user, name, root) == (host.user, host.name, str(host.root))
        # SSH_CONNECTION = client_ip client_port server_ip server_port
        assert connection.split()[2:] == [host.address, str(host.port)]
        assert host.root.is_dir()


@pytest.mark.ssh
async def test_a_changed_host_key_is_refused_before_any_command_runs(
    ssh_hosts: HostsFactory, ssh_lab: SshLab, tmp_path: Path
) -> None:
    host, other = ssh_hosts(2)
    wrong = ssh_lab.known_hosts_with_wrong_key(host, tmp_path / "known_hosts")
    assert host.known_hosts_line not in wrong.read_text()
    assert f"{host.host_pattern} ssh-ed25519 " in wrong.read_text()
    marker = host.root / "marker"

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await run_on(host, f"touch {marker}", known_hosts=wrong)

    assert not marker.exists()
    assert "Accepted publickey" not in host.sshd_log()  # refused before authentication
    result = await run_on(other, "echo still-trusted", known_hosts=wrong)
    assert result.stdout == "still-trusted\n"


@pytest.mark.ssh
async def test_an_unknown_host_key_is_refused(
    ssh_hosts: HostsFactory, ssh_lab: SshLab, tmp_path: Path
) -> None:
    host, other = ssh_hosts(2)
    unknown = ssh_lab.known_hosts_without(host, tmp_path / "known_hosts")
    assert host.host_pattern not in unknown.read_text()
    marker = host.root / "marker"

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await run_on(host, f"touch {marker}", known_hosts=unknown)

    assert not marker.exists()
    result = await run_on(other, "echo known", known_hosts=unknown)
    assert result.stdout == "known\n"


@pytest.mark.ssh
async def test_password_host_accepts_only_its_password(
    ssh_password_host: SshHost, ssh_lab: SshLab
) -> None:
    host = ssh_password_host
    assert host.password and host.client_key is None
    result = await run_on(host, 'id -un; pwd; touch "$HOME/written"', password=host.password)
    assert result.stdout == f"{host.user}\n{host.root}\n"
    assert (host.root / "written").stat().st_uid == host.root.stat().st_uid != 0

    with pytest.raises(asyncssh.PermissionDenied):
        await run_on(host, "true", password=host.password + "-wrong")
    with pytest.raises(asyncssh.PermissionDenied):  # the lab's key is no way in here
        await run_on(host, "true", password="", client_key=ssh_lab.client_key.private_key)


@pytest.mark.ssh
def test_a_stopped_host_no_longer_listens(ssh_lab: SshLab) -> None:
    host = ssh_lab.start_host()
    assert pid_running(host.pid)
    ssh_lab.stop_host(host)

    assert not pid_running(host.pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, host.port), timeout=5.0).close()
    assert host not in ssh_lab.hosts


def test_missing_sshd_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SSHD_ENV, "/nonexistent/sbin/sshd")

    with pytest.raises(pytest.skip.Exception, match="sshd not found"):
        require_sshd({"CI": "false"})
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        require_sshd({"CI": "true"})
