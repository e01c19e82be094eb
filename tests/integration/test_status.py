"""``relman status``'s service on a real database (SQLite, or PostgreSQL with
``RELMAN_TEST_DATABASE_URL``): the deploy history written by the real store, read back
per service, environment and host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relman.bootstrap import Container, build
from relman.domain.errors import NotFound
from relman.domain.release import Source
from relman.services.status import HostStatus
from relman.store.deployments import DeploymentKind
from tests.conftest import make_settings
from tests.support.pipeline import new_release

T0 = datetime(2026, 12, 2, 19, 30, 5, tzinfo=UTC)

#: Two services; stage has three hosts whose names a LIKE pattern or a case-blind match
#: would mix up (``web_1`` vs ``webX1``, ``Box`` vs ``box``); one developer environment.
CONFIG = """
[services.hello]
repo = "/srv/git/hello"
workdir = "{root}/hello"
start_command = ["sh", "start.sh"]
[services.hello.health]
url = "http://{address}:8000/health"

[services.api]
repo = "/srv/git/api"
workdir = "{root}/api"
start_command = ["sh", "start.sh"]
[services.api.health]
url = "http://{address}:8001/health"

[hosts.web_1]
transport = "local"
address = "127.0.0.1"
root = "/srv/web_1"
[hosts.webX1]
transport = "local"
address = "127.0.0.1"
root = "/srv/webX1"
[hosts.Box]
transport = "local"
address = "127.0.0.1"
root = "/srv/Box"
[hosts.box]
transport = "local"
address = "127.0.0.1"
root = "/srv/box"
[hosts.laptop]
transport = "local"
address = "127.0.0.1"
root = "/srv/laptop"

[environments.stage]
hosts = ["web_1", "webX1", "Box"]
[environments.production]
hosts = ["box"]
[environments."dev:ann"]
hosts = ["laptop"]
"""


@pytest.fixture
async def relman(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    (tmp_path / "relman.toml").write_text(CONFIG, encoding="utf-8")
    container = build(make_settings(database_url, tmp_path))
    yield container
    await container.aclose()


class History:
    """Writes deploys through the real deploy store, one minute apart."""

    def __init__(self, container: Container) -> None:
        self._store = container.deployments
        self._minutes = 0

    async def record(
        self,
        tag: str,
        hosts: list[str],
        *,
        ok: bool | None,
        service: str = "hello",
        environment: str = "stage",
        kind: DeploymentKind = "deploy",
        actor: str = "cli:alice",
        release_id: int | None = None,
        sha: str = "",
    ) -> int:
        """A deployment started now + n minutes, finished a minute later (``ok``), or still
        running (``ok=None``); returns its id."""
        started = T0 + timedelta(minutes=self._minutes)
        self._minutes += 2
        deployment_id = await self._store.start(
            release_id=release_id,
            service=service,
            environment=environment,
            tag=tag,
            kind=kind,
            actor=actor,
            hosts=hosts,
            at=started,
        )
        if ok is not None:
            await self._store.finish(
                deployment_id,
                ok=ok,
                at=started + timedelta(minutes=1),
                git_sha=sha,
                error="" if ok else "health check failed",
            )
        return deployment_id


def by_host(rows: list[HostStatus]) -> dict[tuple[str, str, str], HostStatus]:
    return {(r.service, r.environment, r.host): r for r in rows}


async def test_every_configured_host_is_listed_never_deployed(relman: Container) -> None:
    rows = await relman.status.status()
    assert [(r.service, r.environment, r.host) for r in rows] == [
        ("hello", "stage", "web_1"),
        ("hello", "stage", "webX1"),
        ("hello", "stage", "Box"),
        ("hello", "production", "box"),
        ("hello", "dev:ann", "laptop"),
        ("api", "stage", "web_1"),
        ("api", "stage", "webX1"),
        ("api", "stage", "Box"),
        ("api", "production", "box"),
        ("api", "dev:ann", "laptop"),
    ]
    assert all(r.current is None and r.attempt is None for r in rows)
    only_api = await relman.status.status("api")
    assert {r.service for r in only_api} == {"api"} and len(only_api) == 5


async def test_a_failed_rolling_deploy_leaves_untouched_hosts_and_says_so(
    relman: Container,
) -> None:
    history = History(relman)
    release, _ = await relman.releases.create(new_release("v1.0.0"), source=Source.API)
    first = await history.record(
        "v1.0.0",
        ["Box", "web_1", "webX1"],
        ok=True,
        release_id=release.id,
        sha="a" * 40,
    )
    # v1.1.0 fails on every host; the automatic rollback puts back only the one it changed
    failed = await history.record("v1.1.0", ["Box", "web_1", "webX1"], ok=False, sha="b" * 40)
    back = await history.record(
        "v1.0.0", ["web_1"], ok=True, kind="rollback", actor="system", sha="a" * 40
    )
    # other services and environments do not leak into hello on stage
    await history.record("v9.0.0", ["Box"], ok=True, service="api")
    await history.record("v9.0.0", ["box"], ok=True, environment="production")

    rows = by_host(await relman.status.status("hello"))
    rolled_back = rows["hello", "stage", "web_1"]
    assert rolled_back.current is not None and rolled_back.attempt is None
    assert (rolled_back.current.id, rolled_back.current.kind) == (back, "rollback")
    assert (rolled_back.current.tag, rolled_back.current.actor) == ("v1.0.0", "system")

    for host in ("webX1", "Box"):
        untouched = rows["hello", "stage", host]
        assert untouched.current is not None and untouched.attempt is not None, host
        assert untouched.current.id == first
        assert untouched.current.tag == "v1.0.0"
        assert untouched.current.git_sha == "a" * 40
        assert untouched.current.actor == "cli:alice"
        assert untouched.current.release_id == release.id
        assert untouched.current.finished_at == T0 + timedelta(minutes=1)
        assert (untouched.attempt.id, untouched.attempt.tag) == (failed, "v1.1.0")
        assert untouched.attempt.status == "failed"

    production = rows["hello", "production", "box"]
    assert production.current is not None and production.current.tag == "v9.0.0"
    assert rows["hello", "dev:ann", "laptop"].current is None


async def test_host_names_match_exactly(relman: Container) -> None:
    history = History(relman)
    # webX1 is not web_1 (no LIKE wildcard) and Box on stage is not box on production
    await history.record("v1.0.0", ["webX1"], ok=True)
    await history.record("v2.0.0", ["box"], ok=True, environment="stage")
    rows = by_host(await relman.status.status("hello"))
    assert rows["hello", "stage", "web_1"].current is None
    current = rows["hello", "stage", "webX1"].current
    assert current is not None and current.tag == "v1.0.0"
    assert rows["hello", "stage", "Box"].current is None


async def test_a_running_deploy_and_a_first_deploy_that_failed(relman: Container) -> None:
    history = History(relman)
    await history.record("v1.0.0", ["web_1"], ok=True)
    running = await history.record("v1.1.0", ["web_1"], ok=None)
    never_healthy = await history.record("feature/x", ["laptop"], ok=False, environment="dev:ann")

    rows = by_host(await relman.status.status("hello"))
    busy = rows["hello", "stage", "web_1"]
    assert busy.current is not None and busy.current.tag == "v1.0.0"
    assert busy.attempt is not None
    assert (busy.attempt.id, busy.attempt.status) == (running, "running")
    assert busy.attempt.started_at == T0 + timedelta(minutes=2)

    dev = rows["hello", "dev:ann", "laptop"]
    assert dev.current is None
    assert dev.attempt is not None and dev.attempt.id == never_healthy

    # the deploy finishes healthy: no attempt left
    assert await relman.deployments.finish(running, ok=True, at=T0 + timedelta(minutes=9))
    done = by_host(await relman.status.status("hello"))["hello", "stage", "web_1"]
    assert done.current is not None and done.attempt is None
    assert (done.current.id, done.current.tag) == (running, "v1.1.0")


async def test_an_unknown_service_is_not_found(relman: Container) -> None:
    with pytest.raises(NotFound) as raised:
        await relman.status.status("nope")
    assert str(raised.value) == "unknown service 'nope' (known: api, hello)"
