"""Shared helpers of the deploy integration tests (plain functions, no fixtures)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from relman.config import HealthCheck, Service
from relman.demo.sample_repo import SampleRepo

DEADLINE = 20.0  # seconds any polled condition gets


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


async def served_version(url: str) -> object:
    """The ``version`` field /health answers with right now."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        response = await client.get(url)
        return response.json().get("version")


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


def host_file(path: str) -> Path:
    """A path on the (local) host as a :class:`Path`."""
    return Path(path)
