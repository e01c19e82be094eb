"""Deploy targets for tests: hello-service as a configured service, sshd hosts as
configured hosts."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from relman.config import HealthCheck, Host, Service
from relman.demo.sample_repo import SampleRepo
from tests.support.sshd import SshHost


def hello_service(repo: SampleRepo, port: int, **extra: object) -> Service:
    """hello-service deployed by the shell strategy into ``{root}/hello``."""
    values: dict[str, object] = {
        "repo": repo.url,
        "workdir": "{root}/hello",
        "strategy": "shell",
        "start_command": ["sh", "start.sh"],
        "health": HealthCheck(
            url=f"http://{{address}}:{port}/health", attempts=60, interval=0.1, timeout=2.0
        ),
        "env": {
            "HELLO_HOST": "{address}",
            "HELLO_PORT": str(port),
            "HELLO_PYTHON": sys.executable,
        },
        "log_file": "service.log",
        "env_files": ["hello.env"],
    }
    values.update(extra)
    return Service.model_validate(values)


def ssh_host_config(host: SshHost, known_hosts: Path | None = None, **overrides: object) -> Host:
    """The relman host entry of a fixture sshd host (its key pinned in ``known_hosts``,
    by default the host's own); ``overrides`` replace fields (timeouts, …)."""
    values: dict[str, object] = {
        "transport": "ssh",
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "key_file": host.client_key,
        "password": SecretStr(host.password) if host.password else None,
        "known_hosts": known_hosts or host.known_hosts,
        "root": str(host.root),
        "connect_timeout": 10.0,
        "command_timeout": 60.0,
    }
    values.update(overrides)
    return Host.model_validate(values)


async def served_version(url: str) -> object:
    """The ``version`` field /health answers with right now."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        response = await client.get(url)
        return response.json().get("version")
