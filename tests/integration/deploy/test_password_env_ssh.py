"""``password_env`` (from an imported ``.env.servers``) against a real password-only sshd."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import files_containing

from relman.config import Service
from relman.deploy import DeployRequest, DeployResult, deploy
from tests.support.sshd import SshHost
from tests.support.targets import ssh_host_config

pytestmark = pytest.mark.ssh

VARIABLE = "developer1_PASSWORD"


async def _deploy(tmp_path: Path, h: SshHost, password: str) -> DeployResult:
    host = ssh_host_config(h).model_copy(update={"password": None, "password_env": VARIABLE})
    # a repository path that contains the password: git echoes it in its error
    service = Service(
        repo=f"/nonexistent/{password}/hello.git",
        workdir="{root}/hello",
        start_command=["true"],
        health={"url": "http://{address}:9/health"},
    )
    return await deploy(
        DeployRequest(
            service_name="hello",
            service=service,
            tag="v1.0.0",
            environment="dev:developer1",
            hosts={h.name: host},
            actor="gh:developer1",
            log_root=tmp_path / "logs",
            evidence_root=tmp_path / "evidence",
        )
    )


async def test_the_password_is_read_from_the_named_variable_and_never_shown(
    tmp_path: Path, ssh_password_host: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = ssh_password_host
    assert h.password
    monkeypatch.setenv(VARIABLE, h.password)
    result = await _deploy(tmp_path, h, h.password)
    host = result.hosts[h.name]
    assert host.error_code == "command_failed", host.error  # logged in; the clone failed
    assert host.steps and host.steps[0].name == "lock" and host.steps[0].exit_status == 0
    assert host.error is not None and h.password not in host.error and "***" in host.error
    assert files_containing([tmp_path / "logs", tmp_path / "evidence"], h.password) == []


async def test_a_missing_variable_fails_the_host_naming_it(
    tmp_path: Path, ssh_password_host: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = ssh_password_host
    assert h.password
    monkeypatch.delenv(VARIABLE, raising=False)
    result = await _deploy(tmp_path, h, "not-the-password")
    host = result.hosts[h.name]
    assert host.error_code == "config_error"
    assert host.error == (
        f"host {h.name} ({h.address}:{h.port}): password_env names {VARIABLE}, "
        "but that environment variable is not set (or empty)"
    )
    assert host.steps == []  # nothing ran
