"""Shared helpers of the deploy integration tests (plain functions, no fixtures).

``hello_service`` and ``served_version`` live in :mod:`tests.support.targets` (shared with
the pipeline tests) and are re-exported here.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from relman.config import Service
from relman.demo.sample_repo import SampleRepo
from relman.deploy import DeployRequest, DeployResult, deploy
from relman.deploy.factory import TransportFactory, open_transport
from relman.deploy.lock import this_machine
from relman.deploy.steps import lock_details
from tests.support.hello import ServiceReaper
from tests.support.sshd import SshHost, free_port
from tests.support.targets import hello_service, served_version, ssh_host_config

DEADLINE = 20.0  # seconds any polled condition gets


async def wait_for(condition: Callable[[], bool], what: str, limit: float = DEADLINE) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def git_head(workdir: Path) -> str:
    """The commit checked out in ``workdir``."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout.strip()


def messages(lines: Iterable[str]) -> list[str]:
    """The text after ``YYYY-MM-DD HH:MM:SS - `` of each log line."""
    return [line.split(" - ", 1)[1] for line in lines]


def files_containing(roots: Iterable[Path], needle: str) -> list[Path]:
    """Every file under ``roots`` whose bytes contain ``needle``."""
    found = []
    data = needle.encode()
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and data in path.read_bytes():
                found.append(path)
    return found


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess[str]:
    """``sha256sum -c --strict SHA256SUMS`` in ``folder``."""
    return subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def git_branches(workdir: Path) -> list[str]:
    """Local branch names in ``workdir`` (a detached HEAD is not a branch)."""
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def dead_pid() -> int:
    """The pid of a process that has already exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def plant_lock(
    lock_dir: Path, *, actor: str, pid: int, deploy_id: str = "other", reason: str = "x"
) -> None:
    """Make ``lock_dir`` a host lock held by ``actor`` since 2024-03-15 14:30 UTC from
    process ``pid`` of this machine (a live deploy, or a crashed one for a dead pid)."""
    lock_dir.mkdir(parents=True)
    (lock_dir / "details.json").write_text(
        lock_details(
            deploy_id=deploy_id,
            actor=actor,
            since="2024-03-15T14:30:00+00:00",
            tag="v1.0.0",
            reason=reason,
            pid=pid,
            machine=this_machine(),
            environment="stage",
        )
    )


def host_file(path: str) -> Path:
    """A path on the (local) host as a :class:`Path`."""
    return Path(path)


__all__ = ["hello_service", "served_version"]


class Fleet:
    """Some sshd hosts and the hello service deployed to them (``transport_factory``:
    how the engine reaches them; a test may wrap the real ssh transport)."""

    def __init__(
        self,
        tmp_path: Path,
        repo: SampleRepo,
        reaper: ServiceReaper,
        hosts: list[SshHost],
        transport_factory: TransportFactory = open_transport,
    ) -> None:
        self.tmp = tmp_path
        self.ssh = hosts
        self.port = free_port("127.0.0.1")
        self.service: Service = hello_service(repo, self.port)
        self.hosts = {h.name: ssh_host_config(h) for h in hosts}
        self.logs = tmp_path / "logs"
        self.evidence = tmp_path / "evidence"
        self.transport_factory = transport_factory
        for h in hosts:
            reaper.watch(h.root / "hello")

    def request(self, tag: str, **extra: object) -> DeployRequest:
        values: dict[str, object] = {
            "service_name": "hello",
            "service": self.service,
            "tag": tag,
            "environment": "production",
            "hosts": self.hosts,
            "actor": "tg:42 Alice",
            "log_root": self.logs,
            "evidence_root": self.evidence,
        }
        values.update(extra)
        return DeployRequest(**values)  # type: ignore[arg-type]

    async def deploy(self, tag: str, **extra: object) -> DeployResult:
        return await deploy(self.request(tag, **extra), transport_factory=self.transport_factory)

    def url(self, host: SshHost) -> str:
        return f"http://{host.address}:{self.port}/health"
