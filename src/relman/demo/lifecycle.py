"""``relman demo``: the whole release lifecycle, for real, on this machine (issue
"pipeline" item 8).

Embedded defaults only: SQLite, the ``local`` transport, no network beyond loopback. It
builds hello-service's git repository (tags v1.0.0, v1.1.0 and a broken v1.2.0), writes a
``relman.toml`` with a stage host (127.0.0.2) and a production host (127.0.0.3) — both
folders on this machine — and drives the pipeline through the same service functions the
API, the CLI and the bot call, with relman's worker running each queued deploy:

v1.0.0 → stage → approve → production; v1.1.0 → stage → approve → production;
v1.2.0 → stage fails its health check → ``staging_failed``; rollback 1.1.0 → 1.0.0.

Every production step is checked over HTTP against the running service. The database, the
deploy logs and the evidence stay in the demo folder.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import tomlkit

from relman.bootstrap import Container, build
from relman.config import Settings
from relman.demo.sample_repo import SampleRepo, build_sample_repo
from relman.domain.errors import Conflict, RelmanError
from relman.domain.policy import Actor
from relman.domain.release import Release, Source
from relman.domain.status import ReleaseStatus
from relman.services.pipeline import Timeline
from relman.store.db import upgrade

SERVICE = "hello"
STAGE_ADDRESS = "127.0.0.2"
PRODUCTION_ADDRESS = "127.0.0.3"
MARKER = ".relman-demo"

DEVELOPER = Actor("cli:dev", "Dev")
QA = Actor("cli:qa", "QA")
ON_CALL = Actor("cli:oncall", "On-call")


class DemoFailed(RelmanError):
    """A demo step did not end as it should (the message names the step)."""

    code = "demo_failed"


@dataclass
class DemoReport:
    """What the demo did: the releases, their timelines (audit events and deploys) at the
    end, the production version seen over HTTP after each step, and where it left its
    files."""

    folder: Path
    database: Path
    log_root: Path
    evidence_root: Path
    releases: list[Release] = field(default_factory=list)
    timelines: list[Timeline] = field(default_factory=list)
    served: list[tuple[str, str]] = field(default_factory=list)


def prepare(folder: Path) -> None:
    """Make ``folder`` an empty demo folder; a previous demo's folder (it holds
    :data:`MARKER`) is cleared, anything else non-empty is refused with :class:`Conflict`."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise Conflict(f"{folder} exists and is not a relman demo folder; pick another --dir")
        stop_services(folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `relman demo`; safe to delete\n", encoding="utf-8")


def demo_config(repo: SampleRepo, folder: Path, port: int) -> str:
    """The demo's ``relman.toml``: one service, stage and production on two loopback
    addresses (local transport), a policy where the developer starts, QA approves and
    on-call rolls back."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by `relman demo`."))
    doc["services"] = {
        SERVICE: {
            "repo": repo.url,
            "workdir": "{root}/hello",
            "strategy": "shell",
            "start_command": ["sh", "start.sh"],
            "log_file": "service.log",
            "env": {
                "HELLO_HOST": "{address}",
                "HELLO_PORT": str(port),
                "HELLO_PYTHON": sys.executable,
            },
            "health": {
                "url": f"http://{{address}}:{port}/health",
                "attempts": 12,
                "interval": 0.25,
                "timeout": 2.0,
            },
            "smoke_urls": [f"http://{{address}}:{port}/metrics"],
        }
    }
    doc["hosts"] = {
        "stage-1": {
            "transport": "local",
            "address": STAGE_ADDRESS,
            "root": str(folder / "hosts" / "stage-1"),
        },
        "prod-1": {
            "transport": "local",
            "address": PRODUCTION_ADDRESS,
            "root": str(folder / "hosts" / "prod-1"),
        },
    }
    doc["environments"] = {
        "stage": {"hosts": ["stage-1"]},
        "production": {"hosts": ["prod-1"], "auto_rollback": True},
    }
    doc["policy"] = {
        "releaser": [DEVELOPER.id, ON_CALL.id],
        "qa": [QA.id],
    }
    return tomlkit.dumps(doc)


def free_port() -> int:
    """A TCP port free on both demo addresses right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((STAGE_ADDRESS, 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as other:
            try:
                other.bind((PRODUCTION_ADDRESS, port))
            except OSError:
                continue
        return port
    raise DemoFailed("no free TCP port on 127.0.0.2 and 127.0.0.3")


def stop_services(folder: Path) -> None:
    """Stop the hello-service instances a demo started in ``folder`` (their stop.sh)."""
    for stop in sorted((folder / "hosts").glob("*/hello/stop.sh")):
        subprocess.run(["sh", str(stop)], capture_output=True, check=False, timeout=30)


async def run_demo(
    folder: Path, *, say: Callable[[str], None] = print, keep_running: bool = False
) -> DemoReport:
    """Run the lifecycle in ``folder`` (see the module docstring) and return the report.

    ``say`` receives one line per step. Raises :class:`DemoFailed` when a step ends in an
    unexpected status or the service answers with the wrong version, :class:`Conflict`
    when ``folder`` is not a demo folder.
    """
    settings, report, port = await asyncio.to_thread(_setup, folder, say)
    container = build(settings)
    try:
        await upgrade(container.engine)
        demo = _Demo(container, report, say, port)
        await demo.play()
    finally:
        await container.aclose()
        if not keep_running:
            stop_services(folder)
    return report


def _setup(folder: Path, say: Callable[[str], None]) -> tuple[Settings, DemoReport, int]:
    """Blocking preparation: the folder, the sample repository, relman.toml, settings."""
    folder = folder.resolve()
    try:
        prepare(folder)
        say(f"building hello-service's git repository in {folder / 'repo'}")
        repo = build_sample_repo(folder / "repo")
        port = free_port()
        config = folder / "relman.toml"
        config.write_text(demo_config(repo, folder, port), encoding="utf-8")
    except OSError as exc:
        # A folder that cannot be made or written is the user's --dir, not a bug.
        raise DemoFailed(f"cannot use {folder} for the demo: {exc.strerror or exc}") from None
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder / 'relman.db'}",
        config_file=config,
        log_root=folder / "logs",
        evidence_root=folder / "evidence",
    )
    report = DemoReport(folder, folder / "relman.db", settings.log_root, settings.evidence_root)
    return settings, report, port


class _Demo:
    def __init__(
        self, container: Container, report: DemoReport, say: Callable[[str], None], port: int
    ) -> None:
        self.c = container
        self.report = report
        self.say = say
        self.production_url = f"http://{PRODUCTION_ADDRESS}:{port}/health"

    async def play(self) -> None:
        v1 = await self.release("v1.0.0")
        await self.promote(v1)
        v11 = await self.release("v1.1.0")
        await self.promote(v11)
        await self.release("v1.2.0", expect=ReleaseStatus.STAGING_FAILED)
        self.say("on-call rolls production back from v1.1.0 to v1.0.0")
        await self.c.pipeline.request_rollback(SERVICE, "v1.0.0", actor=ON_CALL, source=Source.CLI)
        await self.work(v11, ReleaseStatus.ROLLBACK_DONE)
        await self.check_served("1.0.0")
        for release in self.report.releases:
            assert release.id is not None
            self.report.timelines.append(await self.c.pipeline.timeline(release.id))

    async def release(
        self, tag: str, expect: ReleaseStatus = ReleaseStatus.MANUAL_TESTING
    ) -> Release:
        self.say(f"tag {tag} pushed: the release starts and goes to stage")
        release = await self.c.pipeline.start_by_hand(
            SERVICE, tag, actor=DEVELOPER, source=Source.CLI, run_id=f"demo-{tag}"
        )
        self.report.releases.append(release)
        return await self.work(release, expect)

    async def promote(self, release: Release) -> None:
        assert release.id is not None
        self.say(f"QA approves {release.release_tag}: production deploy")
        await self.c.pipeline.approve(release.id, actor=QA, source=Source.CLI)
        await self.work(release, ReleaseStatus.DEPLOYED)
        await self.check_served(release.release_tag.removeprefix("v"))

    async def work(self, release: Release, expect: ReleaseStatus) -> Release:
        await self.c.worker().run_until_idle()
        assert release.id is not None
        now = await self.c.releases.get(release.id)
        self.say(f"  release {now.id} {now.release_tag}: {now.status.value}")
        if now.status is not expect:
            last = now.events[-1].note if now.events else ""
            raise DemoFailed(
                f"release {now.release_tag} ended {now.status.value}, expected "
                f"{expect.value}: {last}"
            )
        return now

    async def check_served(self, version: str) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
            try:
                answer = (await client.get(self.production_url)).json().get("version")
            except (httpx.HTTPError, ValueError) as exc:
                raise DemoFailed(f"production did not answer: {type(exc).__name__}") from None
        self.report.served.append((self.production_url, str(answer)))
        self.say(f"  production answers {self.production_url}: version {answer}")
        if answer != version:
            raise DemoFailed(f"production serves {answer}, expected {version}")
