"""The sample service, its start/stop scripts and the sample repository, all for real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from relman.demo.sample_repo import (
    SOURCE_ENV,
    SampleRepo,
    build_sample_repo,
    hello_service_source,
)
from relman.domain.errors import ConfigError, Conflict
from tests.support.hello import (
    PID_FILE,
    HelloProcess,
    ServiceReaper,
    copy_hello_service,
    read_pid,
    wait_for_health,
    wait_for_health_async,
)
from tests.support.ssh_fixtures import HelloFactory
from tests.support.sshd import SshHost, asyncssh_connect, free_port, pid_running

SCRIPT_TIMEOUT = 30.0  # seconds; start.sh/stop.sh return long before that


def get(url: str) -> httpx.Response:
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        return client.get(url)


def health_count(app: HelloProcess) -> int:
    metrics = get(app.url("/metrics")).text
    match = re.search(r'^hello_requests_total\{path="/health"\} (\d+)$', metrics, re.M)
    assert match, metrics
    return int(match.group(1))


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


# ------------------------------------------------------------------ the app itself


def test_health_metrics_and_unknown_paths(hello_service: HelloFactory) -> None:
    app = hello_service()
    version = (hello_service_source() / "VERSION").read_text().strip()

    health = get(app.url("/health"))
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "hello", "version": version}

    before = health_count(app)
    assert get(app.url("/health")).status_code == 200
    metrics = get(app.url("/metrics"))
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# HELP hello_requests_total " in metrics.text
    assert "# TYPE hello_requests_total counter" in metrics.text
    assert "# TYPE hello_build_info gauge" in metrics.text
    assert f'hello_build_info{{version="{version}"}} 1' in metrics.text.splitlines()
    assert health_count(app) == before + 1

    missing = get(app.url("/nope"))
    assert missing.status_code == 404
    assert get(app.url("/")).text == f"hello from hello {version}\n"


def test_health_delay_from_env_and_from_hello_env_file(hello_service: HelloFactory) -> None:
    slow = hello_service(env={"HELLO_HEALTH_DELAY": "0.6"})
    started = time.monotonic()
    assert get(slow.url("/health")).status_code == 200
    assert time.monotonic() - started >= 0.6

    app = hello_service()
    (app.workdir / "hello.env").write_text("# test knob\nHELLO_HEALTH_DELAY=0.6\n")
    started = time.monotonic()
    assert get(app.url("/health")).status_code == 200  # read per request, no restart
    assert time.monotonic() - started >= 0.6


def test_start_and_stop_scripts_use_host_and_port_from_the_environment(
    tmp_path: Path, service_reaper: ServiceReaper
) -> None:
    workdir = service_reaper.watch(copy_hello_service(tmp_path / "hello"))
    port = free_port("127.0.0.5")
    path_only = {"PATH": "/usr/bin:/bin"}
    env = path_only | {
        "HELLO_HOST": "127.0.0.5",
        "HELLO_PORT": str(port),
        "HELLO_PYTHON": sys.executable,
    }

    started = subprocess.run(
        ["sh", "start.sh"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=True,
    )
    pid = read_pid(workdir)
    assert pid is not None, started.stdout
    wait_for_health(f"http://127.0.0.5:{port}/health", pid=pid)

    stopped = subprocess.run(
        ["sh", "stop.sh"],
        cwd=workdir,
        env=path_only,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=True,
    )
    assert f"stopping hello-service (pid {pid})" in stopped.stdout
    assert not pid_running(pid)
    assert not (workdir / PID_FILE).exists()
    assert f"listening on http://127.0.0.5:{port}" in (workdir / "service.log").read_text()


# ------------------------------------------------------------------ the sample repository


def test_sample_repo_has_two_healthy_tags_and_a_broken_one(
    sample_repo: SampleRepo, tmp_path: Path
) -> None:
    repo = str(sample_repo.path)
    assert sample_repo.tags == ("v1.0.0", "v1.1.0", "v1.2.0")
    assert sample_repo.healthy_tags == ("v1.0.0", "v1.1.0")
    assert sample_repo.broken_tags == ("v1.2.0",)
    assert git("--git-dir", repo, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git("--git-dir", repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    for tag in sample_repo.tags:
        assert git("--git-dir", repo, "cat-file", "-t", tag).strip() == "tag"  # annotated
        assert (
            git("--git-dir", repo, "rev-parse", f"{tag}^{{commit}}").strip()
            == (sample_repo.commits[tag])
        )
        version = git("--git-dir", repo, "show", f"{tag}:VERSION").strip()
        assert version == sample_repo.versions[tag] == tag.removeprefix("v")
        mode = git("--git-dir", repo, "ls-tree", tag, "start.sh").split()[0]
        assert mode == "100755"

    broken = git("--git-dir", repo, "diff", "v1.1.0", "v1.2.0", "--", "hello_service.py")
    changed = [
        line for line in broken.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["-HEALTHY = True", "+HEALTHY = False"]

    again = build_sample_repo(tmp_path / "again")  # fixed dates: same commits
    assert dict(again.commits) == dict(sample_repo.commits)
    with pytest.raises(Conflict, match="already exists"):
        build_sample_repo(tmp_path / "again")


def test_hello_service_source_reports_a_wrong_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SOURCE_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=r"missing: hello_service\.py"):
        hello_service_source()
    with pytest.raises(ConfigError, match="not a hello-service source directory"):
        build_sample_repo(tmp_path / "out", source=tmp_path)


# ------------------------------------------------------------------ deployed over SSH


@pytest.mark.ssh
async def test_tags_deployed_over_ssh_with_start_sh(
    ssh_host: SshHost, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> None:
    host = ssh_host
    checkout = service_reaper.watch(host.root / "hello")
    port = free_port(host.address)
    env = " ".join(
        f"{k}={shlex.quote(v)}"
        for k, v in {
            "HELLO_HOST": host.address,
            "HELLO_PORT": str(port),
            "HELLO_PYTHON": sys.executable,
        }.items()
    )
    url = f"http://{host.address}:{port}/health"
    work = shlex.quote(str(checkout))

    async with asyncssh_connect(host) as conn:

        async def sh(command: str) -> str:
            result = await conn.run(command, check=True, timeout=SCRIPT_TIMEOUT)
            return str(result.stdout)

        await sh(f"git clone -q {shlex.quote(sample_repo.url)} {work}")
        previous: int | None = None
        for tag in sample_repo.tags:
            await sh(f"cd {work} && git -c advice.detachedHead=false checkout -q {tag}")
            out = await sh(f"cd {work} && {env} sh start.sh")
            pid = read_pid(checkout)
            assert pid is not None and f"(pid {pid}," in out
            service_reaper.watch_pid(pid)
            if previous is not None:
                assert pid != previous
                assert not pid_running(previous)  # start.sh waited for the old one to exit
            version = sample_repo.versions[tag]
            if tag in sample_repo.healthy_tags:
                answer = await wait_for_health_async(url, version=version, pid=pid)
                assert answer.body == {"status": "ok", "service": "hello", "version": version}
            else:
                answer = await wait_for_health_async(url, status=500, pid=pid)
                assert answer.body["status"] == "error"
                assert answer.version == version
            previous = pid

        assert await sh(f"cd {work} && git status --porcelain") == ""  # runtime files ignored
        log = (checkout / "service.log").read_text()
        for version in sample_repo.versions.values():
            assert f"hello {version} listening on http://{host.address}:{port}" in log

        out = await sh(f"cd {work} && sh stop.sh")
        assert f"stopping hello-service (pid {previous})" in out
    assert previous is not None and not pid_running(previous)
    assert not (checkout / PID_FILE).exists()
    assert service_reaper.running() == {}
