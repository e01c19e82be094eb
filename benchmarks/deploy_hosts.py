"""Benchmark: deploy the sample hello-service to 1, 4 and 16 loopback sshd hosts.

A script run by hand, not a test (see benchmarks/README.md)::

    .venv/bin/python benchmarks/deploy_hosts.py [--hosts 1,4,16] [--upgrades 3]

For each host count it starts that many real OpenSSH ``sshd`` servers on 127.0.0.2, … (the
test suite's machinery, ``tests/support/sshd.py``), builds the sample repository, and runs
the deploy engine (:func:`relman.deploy.deploy`, as ``relman deploy`` does, without the
database) over ssh: first deploy (``git clone`` of v1.0.0), then ``--upgrades`` upgrades
alternating v1.1.0 / v1.0.0. Every host restarts hello-service, which must answer its
``/health`` with the right version.

It reports, per host count and kind of deploy:

* ``wall``: seconds from calling the engine to its result;
* ``executions``: remote command executions (ssh sessions) on the busiest host — each
  costs a session set-up and the remote login shell's start, which no step's duration
  includes;
* ``health``: seconds of the health check's polling on the slowest host (while the service
  starts);
* ``relman CPU``: CPU seconds of this process during the deploy — relman's own work (ssh
  crypto, scheduling, the seed log, evidence, sha256 sums); the rest of the wall time is
  waiting on the hosts.

Upgrade rows are medians over the upgrades. Output: a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' sshd machinery lives in the checkout

from relman.config import HealthCheck, Host, Service  # noqa: E402
from relman.demo.sample_repo import build_sample_repo  # noqa: E402
from relman.deploy import DeployRequest, DeployResult, deploy  # noqa: E402
from tests.support.hello import ServiceReaper  # noqa: E402
from tests.support.sshd import SshHost, SshLab, free_port, sshd_unavailable_reason  # noqa: E402
from tests.support.targets import ssh_host_config  # noqa: E402


@dataclass(frozen=True)
class Sample:
    """One deploy's timings, in seconds."""

    wall: float
    executions: int
    health: float
    cpu: float
    steps: tuple[tuple[str, float], ...] = ()


def host_config(host: SshHost) -> Host:
    """relman's view of one lab host (key auth, pinned key), with roomy timeouts."""
    return ssh_host_config(host, connect_timeout=30.0, command_timeout=120.0)


def hello(repo_url: str, port: int) -> Service:
    """hello-service by the shell strategy, health polled every 100 ms (up to 100 times)."""
    return Service(
        repo=repo_url,
        workdir="{root}/hello",
        start_command=["sh", "start.sh"],
        health=HealthCheck(
            url=f"http://{{address}}:{port}/health", attempts=100, interval=0.1, timeout=5.0
        ),
        env={"HELLO_HOST": "{address}", "HELLO_PORT": str(port), "HELLO_PYTHON": sys.executable},
        log_file="service.log",
    )


def measure(result: DeployResult, wall: float, cpu: float) -> Sample:
    """Timings of one deploy; the critical path is the host whose health check took longest."""
    if not result.ok:
        raise SystemExit(f"deploy {result.tag} failed: {result.error}")
    health = {
        name: sum(step.duration for step in host.steps if step.name == "health")
        for name, host in result.hosts.items()
    }
    slowest = max(health, key=lambda name: health[name])
    steps = result.hosts[slowest].steps
    executions = max(host.executions for host in result.hosts.values())
    return Sample(
        wall, executions, health[slowest], cpu, tuple((s.name, s.duration) for s in steps)
    )


async def run_count(lab: SshLab, repo_url: str, count: int, upgrades: int, work: Path) -> dict:
    """Deploy to ``count`` new hosts; returns {"first": Sample, "upgrade": [Sample, …]}."""
    hosts = lab.start_hosts(count)
    reaper = ServiceReaper()
    for h in hosts:
        reaper.watch(h.root / "hello")
    service = hello(repo_url, free_port("127.0.0.1"))
    configs = {h.name: host_config(h) for h in hosts}
    samples: dict = {"first": None, "upgrade": []}
    try:
        tags = ["v1.0.0"] + [("v1.1.0", "v1.0.0")[i % 2] for i in range(upgrades)]
        for i, tag in enumerate(tags):
            request = DeployRequest(
                service_name="hello",
                service=service,
                tag=tag,
                environment="stage",
                hosts=configs,
                actor="bench",
                log_root=work / f"logs-{count}",
                evidence_root=work / f"evidence-{count}",
            )
            started, cpu = time.monotonic(), time.process_time()
            result = await deploy(request)
            sample = measure(result, time.monotonic() - started, time.process_time() - cpu)
            if i == 0:
                samples["first"] = sample
            else:
                samples["upgrade"].append(sample)
    finally:
        reaper.reap()
        for h in hosts:
            lab.stop_host(h)
    return samples


def median(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.wall for s in samples),
        max(s.executions for s in samples),
        statistics.median(s.health for s in samples),
        statistics.median(s.cpu for s in samples),
        samples[len(samples) // 2].steps,
    )


def row(count: int, kind: str, s: Sample) -> str:
    return f"| {count} | {kind} | {s.wall:.2f} | {s.executions} | {s.health:.2f} | {s.cpu:.2f} |"


def machine() -> str:
    """A one-line description of this machine."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,4,16", help="host counts, comma-separated")
    parser.add_argument("--upgrades", type=int, default=3, help="upgrade deploys per count")
    parser.add_argument(
        "--steps", action="store_true", help="also print the slowest host's step durations"
    )
    args = parser.parse_args()
    words = [c.strip() for c in args.hosts.split(",") if c.strip()]
    if not words or not all(w.isdigit() and int(w) > 0 for w in words):
        parser.error(f"--hosts: expected positive host counts like 1,4,16, got {args.hosts!r}")
    counts = [int(w) for w in words]
    reason = sshd_unavailable_reason()
    if reason:
        raise SystemExit(f"needs OpenSSH sshd: {reason}")
    lines = [
        "| hosts | deploy | wall (s) | remote executions per host | health, slowest host (s) "
        "| relman CPU (s) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="relman-bench-") as scratch:
        work = Path(scratch)
        repo = build_sample_repo(work / "repo")
        with SshLab(work / "lab") as lab:
            for count in counts:
                print(f"deploying to {count} host(s)…", file=sys.stderr, flush=True)
                samples = await run_count(lab, repo.url, count, args.upgrades, work)
                lines.append(row(count, "first (clone)", samples["first"]))
                if samples["upgrade"]:
                    shown = f"upgrade (median of {len(samples['upgrade'])})"
                    typical = median(samples["upgrade"])
                    lines.append(row(count, shown, typical))
                    steps = ", ".join(f"{n} {d:.2f}" for n, d in typical.steps)
                    details.append(f"- {count} host(s), upgrade, slowest host: {steps}")
    print(f"Machine: {machine()}\n")
    print("\n".join(lines))
    if args.steps:
        print("\nStep durations (s):\n")
        print("\n".join(details))


if __name__ == "__main__":
    asyncio.run(main())
