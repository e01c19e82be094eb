"""Rolling deploys (issue "Fast relman" item 4) through the deploy use case: batches of
``batch_size`` hosts, each health-gated, ``max_fail`` failed hosts tolerated.

Six local hosts on 127.0.0.2–7 run hello-service. One host of batch 2 is made to fail its
upgrade for real: its hello-service is stopped and a stale process (a small HTTP server of
the test's) holds the port, answering version 1.0.0 — the new release cannot bind, and the
health check never sees 1.1.0. Rolled back to v1.0.0, the host answers 1.0.0 again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from deploy_support import served_version

from relman.bootstrap import Container
from relman.config import Environment, HealthCheck, Host, RelmanConfig
from relman.demo.sample_repo import SampleRepo
from relman.services.deploys import DeployService
from relman.store.deployments import DeploymentStore
from tests.support.hello import ServiceReaper, read_pid, stop_pid
from tests.support.sshd import free_port
from tests.support.targets import hello_service

HOSTS = [f"prod-{n}" for n in range(1, 7)]


class _Stale(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "version": "1.0.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Rollout:
    def __init__(self, tmp: Path, container: Container, repo: SampleRepo, reaper: ServiceReaper):
        self.tmp = tmp
        self.port = free_port("127.0.0.1")
        # a short health check: the failing host should fail fast
        service = hello_service(
            repo,
            self.port,
            health=HealthCheck(
                url=f"http://{{address}}:{self.port}/health", attempts=8, interval=0.25
            ),
        )
        self.hosts = {
            name: Host(transport="local", address=f"127.0.0.{n + 2}", root=str(tmp / name))
            for n, name in enumerate(HOSTS)
        }
        for name in HOSTS:
            reaper.watch(tmp / name / "hello")
        self.container = container
        self.service = service
        self.servers: list[ThreadingHTTPServer] = []

    def deploys(self, **rolling: int) -> DeployService:
        config = RelmanConfig(
            services={"hello": self.service},
            hosts=self.hosts,
            environments={"production": Environment(hosts=HOSTS, **rolling)},
        )
        return DeployService(
            self.container.settings, config, DeploymentStore(self.container.engine)
        )

    def url(self, name: str) -> str:
        return f"http://{self.hosts[name].address}:{self.port}/health"

    def workdir(self, name: str) -> Path:
        return self.tmp / name / "hello"

    def squat(self, name: str) -> None:
        """Stop ``name``'s hello-service and hold its port with a stale 1.0.0 server."""
        pid = read_pid(self.workdir(name))
        assert pid is not None
        stop_pid(pid)
        server = ThreadingHTTPServer((self.hosts[name].address, self.port), _Stale)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def rollout(
    tmp_path: Path, container: Container, sample_repo: SampleRepo, service_reaper: ServiceReaper
) -> Iterator[Rollout]:
    r = Rollout(tmp_path, container, sample_repo, service_reaper)
    yield r
    r.close()


async def test_batch_two_of_three_fails_batch_one_is_rolled_back_batch_three_untouched(
    rollout: Rollout,
) -> None:
    deploys = rollout.deploys(batch_size=2)
    first = await deploys.deploy("hello", "v1.0.0", "production", actor="cli:alice")
    assert first.ok, first.result.error
    assert first.result.batches == [HOSTS[0:2], HOSTS[2:4], HOSTS[4:6]]
    pids = {name: read_pid(rollout.workdir(name)) for name in HOSTS}
    rollout.squat("prod-3")

    outcome = await deploys.deploy("hello", "v1.1.0", "production", actor="cli:alice")

    result = outcome.result
    assert not result.ok and result.stopped
    assert {n: result.hosts[n].batch for n in HOSTS} == {
        "prod-1": 1,
        "prod-2": 1,
        "prod-3": 2,
        "prod-4": 2,
        "prod-5": None,
        "prod-6": None,
    }
    assert result.hosts["prod-1"].ok and result.hosts["prod-2"].ok
    assert result.hosts["prod-3"].error_code == "health_check_failed"
    for name in ("prod-5", "prod-6"):
        untouched = result.hosts[name]
        assert untouched.skipped and not untouched.changed
        assert untouched.error_code == "not_started"
        assert "stopped after batch 2 of 3" in (untouched.error or "")
        assert "checkout" not in [step.name for step in untouched.steps]
        # the same process still serves the old release: never restarted
        assert read_pid(rollout.workdir(name)) == pids[name]
        assert await served_version(rollout.url(name)) == "1.0.0"
    assert result.changed_hosts == ["prod-1", "prod-2", "prod-3", "prod-4"]

    # the automatic rollback puts back exactly the hosts that changed
    assert outcome.rollback is not None and outcome.rollback.ok, outcome.rollback
    assert outcome.rollback.tag == "v1.0.0"
    assert sorted(outcome.rollback.hosts) == ["prod-1", "prod-2", "prod-3", "prod-4"]
    for name in HOSTS:
        assert await served_version(rollout.url(name)) == "1.0.0", name

    # the log and the evidence say which hosts got what
    assert result.log_path is not None
    log = result.log_path.read_text(encoding="utf-8")
    assert "📦 Партия 1 из 3: prod-1, prod-2" in log
    assert "⛔ Раскатка остановлена после партии 2 из 3" in log
    assert "📦 Партия 3 из 3" not in log
    assert result.evidence_dir is not None
    summary = json.loads((result.evidence_dir / "summary.json").read_text())
    assert summary["batches"] == [HOSTS[0:2], HOSTS[2:4], HOSTS[4:6]]
    assert summary["stopped"] is True
    assert summary["results"]["prod-5"]["skipped"] is True
    assert summary["results"]["prod-1"]["version_after"] == "v1.1.0"
    assert summary["results"]["prod-5"]["version_after"] == "v1.0.0"


async def test_max_fail_tolerates_a_failed_host_and_rolls_back_only_that_one(
    rollout: Rollout,
) -> None:
    deploys = rollout.deploys(batch_size=2, max_fail=1)
    assert (await deploys.deploy("hello", "v1.0.0", "production", actor="cli:alice")).ok
    rollout.squat("prod-3")

    outcome = await deploys.deploy("hello", "v1.1.0", "production", actor="cli:alice")

    result = outcome.result
    assert result.ok and not result.stopped  # one failed host, one tolerated
    assert result.failed_hosts == ["prod-3"]
    assert all(result.hosts[n].ok for n in HOSTS if n != "prod-3")
    assert outcome.rollback is not None and list(outcome.rollback.hosts) == ["prod-3"]
    for name in HOSTS:
        expected = "1.0.0" if name == "prod-3" else "1.1.0"
        assert await served_version(rollout.url(name)) == expected, name
    history = await deploys.history("hello", "production")
    assert [(d.tag, d.kind, d.status) for d in history[:2]] == [
        ("v1.0.0", "rollback", "succeeded"),
        ("v1.1.0", "deploy", "succeeded"),
    ]
