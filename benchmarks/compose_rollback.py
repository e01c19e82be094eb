"""Benchmark: a compose rollback on a real Docker engine (issue "Containers for real" item 3).

A script run by hand, not a test::

    bash .ci/docker.sh                      # a Docker engine, Compose v2, busybox
    .venv/bin/python benchmarks/compose_rollback.py [--rounds 5]

hello-compose (``examples/hello-compose``) on one local host (127.0.0.2): v1.0.0 and v1.1.0
are deployed (each image built once), then ``--rounds`` rollbacks alternate between them
through the deploy engine, as ``relman rollback`` runs it without the database. Both images
are kept, so each rollback starts the kept image without a build.

Per rollback it reports (seconds; medians over the rounds): ``wall`` (request to result),
``restart`` (``docker compose up -d --no-build``: the container's replacement),
``health`` (the first healthy answer after it) and ``relman`` = wall - restart - health:
everything else relman does (lock, preflight, fetch, tag check, checkout, unlock, log,
evidence). The goal is ``relman`` ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' docker helpers live in the checkout

from relman.config import HealthCheck, Host, Service  # noqa: E402
from relman.deploy import DeployRequest, DeployResult, deploy  # noqa: E402
from tests.support.docker import (  # noqa: E402
    build_compose_repo,
    busybox_base_image,
    docker,
    docker_unavailable_reason,
    remove_images,
)
from tests.support.sshd import free_port  # noqa: E402


def _step(result: DeployResult, name: str) -> float:
    host = next(iter(result.hosts.values()))
    return sum(s.duration for s in host.steps if s.name == name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rollbacks to time (1..50)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 50:
        parser.error(f"--rounds: expected 1..50, got {args.rounds}")
    reason = docker_unavailable_reason()
    if reason:
        raise SystemExit(f"compose_rollback: {reason}")
    port = free_port("127.0.0.1")
    repository = f"relman-bench/hello-compose-{port}"
    with tempfile.TemporaryDirectory(prefix="relman-bench-") as tmp:
        work = Path(tmp)
        repo = build_compose_repo(work)
        service = Service(
            repo=str(repo),
            workdir="{root}/hello-compose",
            strategy="compose",
            compose_file="compose.yaml",
            compose_service="web",
            compose_project=f"bench-{port}",
            health=HealthCheck(
                url=f"http://{{address}}:{port}/health", attempts=100, interval=0.5, timeout=5.0
            ),
            env={
                "IMAGE_REPO": repository,
                "BASE_IMAGE": busybox_base_image(),
                "HELLO_HOST": "{address}",
                "HELLO_PORT": str(port),
            },
        )
        hosts = {"box": Host(transport="local", address="127.0.0.2", root=str(work / "box"))}

        async def run(tag: str, kind: str) -> tuple[DeployResult, float]:
            request = DeployRequest(
                service_name="hello",
                service=service,
                tag=tag,
                environment="production",
                hosts=hosts,
                actor="bench",
                kind=kind,  # type: ignore[arg-type]
                log_root=work / "logs",
                evidence_root=work / "evidence",
            )
            started = time.monotonic()
            result = await deploy(request)
            if not result.ok:
                raise SystemExit(f"{kind} {tag} failed: {result.error}")
            return result, time.monotonic() - started

        try:
            for tag in ("v1.0.0", "v1.1.0"):
                await run(tag, "deploy")
            walls, restarts, healths = [], [], []
            for i in range(args.rounds):
                result, wall = await run(("v1.0.0", "v1.1.0")[i % 2], "rollback")
                walls.append(wall)
                restarts.append(_step(result, "restart"))
                healths.append(_step(result, "health"))
        finally:
            docker("compose", "-p", f"bench-{port}", "down", check=False)
            ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project=bench-{port}")
            for cid in ids.stdout.split():
                docker("rm", "-f", cid, check=False)
            remove_images(repository)
    wall, restart, health = (statistics.median(v) for v in (walls, restarts, healths))
    print("| rollbacks | wall (s) | restart (s) | health (s) | relman (s) |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rounds} | {wall:.2f} | {restart:.2f} | {health:.2f} "
        f"| {wall - restart - health:.2f} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
