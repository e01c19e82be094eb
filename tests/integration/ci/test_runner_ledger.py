"""A runner's deploy shares relman's lock and history through the Release API (issue 12
item 3): the real app in-process (httpx's ASGI transport) on a real database, the runner's
deploy engine putting hello-service from the sample repository on local hosts.

The runner side is what ``relman ci deploy`` wires (:func:`relman.bootstrap.build_runner`
with :class:`~relman.ci.ledger.ApiLedger`); it opens no database of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from relman.api.app import create_app
from relman.bootstrap import Container, build, build_runner
from relman.ci.client import ApiRefused, ReleaseApiClient, RetryPolicy
from relman.ci.deploy import ci_deploy
from relman.ci.github_env import ApiSettings, github_run
from relman.ci.ledger import ApiLedger
from relman.config import Environment, HealthCheck, Host, Policy, RelmanConfig, Settings
from relman.demo.sample_repo import SampleRepo
from relman.domain.policy import Actor
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.services.deploys import DeployOutcome
from relman.store.deployments import DeploymentStore
from tests.conftest import SECRET
from tests.support.hello import ServiceReaper
from tests.support.pipeline import write_config
from tests.support.sshd import free_port
from tests.support.targets import hello_service, served_version

S = ReleaseStatus
RUN = github_run(
    {
        "GITHUB_RUN_ID": "77",
        "GITHUB_ACTOR": "alice",
        "GITHUB_REPOSITORY": "acme/hello",
        "GITHUB_SERVER_URL": "https://github.com",
    }
)
QA = Actor("tg:3")


class Clock:
    """The server's clock, moved on by the test (a runner's lease runs out)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Server:
    container: Container
    app: httpx.ASGITransport
    clock: Clock
    stage_url: str
    production_url: str

    def client(self) -> ReleaseApiClient:
        api = ApiSettings(
            url="http://relman.test/api/tg-bot",
            url_var="RELMAN_API_URL",
            secret=SECRET,
            secret_var="RELMAN_SECRET_KEY",
        )
        return ReleaseApiClient(api, retry=RetryPolicy(attempts=1), transport=self.app)

    async def release(self, client: ReleaseApiClient, tag: str) -> int:
        release, _ = await client.create_release(
            service_name="hello",
            release_tag=tag,
            initiated_by="gh:alice",
            github_run_id=f"run-{tag}",
            github_action_link="https://github.com/acme/hello/actions/runs/77",
            github_ref=f"refs/tags/{tag}",
        )
        return release.id

    async def runner_deploy(
        self,
        client: ReleaseApiClient,
        env: str,
        tag: str,
        release_id: int,
        git_sha: str | None = None,
    ) -> tuple[DeployOutcome, ApiLedger]:
        ledger = ApiLedger(client, expected_sha=git_sha)
        outcome = await ci_deploy(
            deploys=build_runner(self.container.settings, ledger),
            client=client,
            run=RUN,
            env=env,
            service="hello",
            tag=tag,
            release_id=release_id,
            git_sha=git_sha,
            say=lambda _line: None,
        )
        return outcome, ledger


@pytest.fixture
async def server(
    settings: Settings, sample_repo: SampleRepo, service_reaper: ServiceReaper, tmp_path: Path
) -> AsyncIterator[Server]:
    hosts = tmp_path / "hosts"
    addresses = {"stage": "127.0.0.2", "production": "127.0.0.3"}
    port = free_port("127.0.0.2")
    service_reaper.watch(hosts)
    health = HealthCheck(url=f"http://{{address}}:{port}/health", attempts=15, interval=0.1)
    write_config(
        settings.config_file,
        RelmanConfig(
            services={
                "hello": hello_service(
                    sample_repo, port, health=health, github_repository="acme/hello"
                )
            },
            hosts={
                env: Host(transport="local", address=address, root=str(hosts / env))
                for env, address in addresses.items()
            },
            # Both executors github: CI deploys, relman's worker never does.
            environments={
                env: Environment(hosts=[env], executor="github", auto_rollback=True)
                for env in addresses
            },
            policy=Policy(qa=[QA.id]),
        ),
    )
    clock = Clock()
    # The github executor dispatches with a token (checked when a worker starts).
    settings = settings.model_copy(update={"github_token": SecretStr("ghs_not-used-here")})
    container = build(settings, clock=clock)
    try:
        yield Server(
            container,
            httpx.ASGITransport(app=create_app(container)),
            clock,
            f"http://127.0.0.2:{port}/health",
            f"http://127.0.0.3:{port}/health",
        )
    finally:
        await container.aclose()


async def test_a_runner_deploy_takes_the_servers_lock_and_lands_in_its_history(
    server: Server,
) -> None:
    async with server.client() as client:
        release_id = await server.release(client, "v1.0.0")
        outcome, ledger = await server.runner_deploy(client, "stage", "v1.0.0", release_id)
    assert outcome.ok, outcome.result.error
    assert await served_version(server.stage_url) == "1.0.0"
    history = await server.container.deploys.history("hello", "stage")
    assert [(d.id, d.tag, d.status, d.release_id) for d in history] == [
        (ledger.started[0], "v1.0.0", "succeeded", release_id)
    ]
    row = history[0]
    assert row.actor == "gh:alice"
    assert len(row.git_sha) == 40
    assert row.evidence_digest.startswith("sha256:")
    assert (await server.container.runner_deploys.lock("hello", "stage")) is None


async def test_a_runner_is_refused_while_relman_itself_deploys_there(server: Server) -> None:
    await DeploymentStore(server.container.engine).acquire_lock(
        service="hello",
        environment="stage",
        holder="tg:3",
        owner="relman-host:1:worker",
        tag="v1.1.0",
        reason="stage deploy of release 9",
        at=server.clock(),
    )
    async with server.client() as client:
        release_id = await server.release(client, "v1.0.0")
        with pytest.raises(ApiRefused) as refused:
            await server.runner_deploy(client, "stage", "v1.0.0", release_id)
    assert refused.value.status == 409
    assert refused.value.kind == "environment_locked"
    assert "locked by tg:3" in refused.value.api_message
    assert await server.container.deploys.history("hello", "stage") == []


async def test_a_broken_tag_on_a_runner_is_rolled_back_to_the_servers_last_healthy_tag(
    server: Server,
) -> None:
    async with server.client() as client:
        first = await server.release(client, "v1.0.0")
        outcome, _ = await server.runner_deploy(client, "stage", "v1.0.0", first)
        assert outcome.ok
        broken = await server.release(client, "v1.2.0")
        outcome, _ = await server.runner_deploy(client, "stage", "v1.2.0", broken)
    assert not outcome.ok
    assert outcome.rollback is not None and outcome.rollback.ok
    assert outcome.rollback.tag == "v1.0.0"  # read from the server's history
    assert await served_version(server.stage_url) == "1.0.0"
    history = await server.container.deploys.history("hello", "stage")
    assert [(d.kind, d.tag, d.status, d.release_id) for d in history] == [
        ("rollback", "v1.0.0", "succeeded", broken),
        ("deploy", "v1.2.0", "failed", broken),
        ("deploy", "v1.0.0", "succeeded", first),
    ]


async def test_a_dead_runners_lock_is_freed_and_its_deploy_and_release_failed(
    server: Server,
) -> None:
    owner = "runner-7:4242:deadbeef"
    async with server.client() as client:
        release_id = await server.release(client, "v1.0.0")
        for status in (S.BUILDING, S.STAGE_DEPLOY):
            await client.report_status(release_id, status.value, actor="gh:alice")
        lock = await client.call(
            "POST",
            "/runner/locks",
            {"service": "hello", "environment": "stage", "owner": owner, "tag": "v1.0.0"},
        )
        assert lock["holder"] == "ci"  # the inter-server secret's own name
        started = await client.call(
            "POST",
            "/runner/deployments",
            {
                "owner": owner,
                "release_id": release_id,
                "service": "hello",
                "environment": "stage",
                "tag": "v1.0.0",
                "kind": "deploy",
                "hosts": ["stage"],
            },
        )
        worker = server.container.worker()
        assert await worker.recover() == 0  # the lease still runs
        server.clock.now += timedelta(seconds=61)  # …and now it has run out
        assert await worker.recover() == 1
        with pytest.raises(ApiRefused) as late:
            await client.call(
                "POST",
                f"/runner/deployments/{started['id']}/finish",
                {"owner": owner, "ok": True},
            )
    assert (late.value.status, late.value.kind) == (409, "lock_not_held")
    deployment = (await server.container.deploys.history("hello", "stage"))[0]
    assert deployment.status == "failed"
    assert "stopped renewing" in deployment.error
    release = await server.container.releases.get(release_id)
    assert release.status is S.STAGING_FAILED
    assert "stopped renewing" in release.events[-1].note
    assert await server.container.runner_deploys.lock("hello", "stage") is None


async def test_production_from_a_runner_refuses_a_commit_other_than_the_approved_one(
    server: Server,
) -> None:
    async with server.client() as client:
        release_id = await server.release(client, "v1.0.0")
        outcome, _ = await server.runner_deploy(client, "stage", "v1.0.0", release_id)
        assert outcome.ok
        await client.report_status(release_id, S.MANUAL_TESTING.value, actor="gh:alice")
        await server.container.pipeline.approve(release_id, actor=QA, source=Source.BOT)
        approved, _ = await server.container.pipeline.approved_artifact(release_id)
        assert len(approved) == 40
        with pytest.raises(ApiRefused) as refused:
            await server.runner_deploy(client, "production", "v1.0.0", release_id, "0" * 40)
        assert (refused.value.status, refused.value.kind) == (409, "sha_not_approved")
        assert await server.container.deploys.history("hello", "production") == []
        assert await server.container.runner_deploys.lock("hello", "production") is None
        outcome, ledger = await server.runner_deploy(
            client, "production", "v1.0.0", release_id, approved
        )
        assert outcome.ok, outcome.result.error
        await client.call(
            "POST",
            f"/runner/deployments/{ledger.started[0]}/artifact",
            {"url": "https://github.com/acme/hello/actions/runs/77/artifacts/5"},
        )
        with pytest.raises(ApiRefused) as bad_url:
            await client.call(
                "POST", f"/runner/deployments/{ledger.started[0]}/artifact", {"url": "ftp://x/y"}
            )
    assert (bad_url.value.status, bad_url.value.field) == (422, "url")
    row = (await server.container.deploys.history("hello", "production"))[0]
    assert (row.release_id, row.git_sha, row.status) == (release_id, approved, "succeeded")
    assert row.artifact_url.endswith("/artifacts/5")
    shown = await server.container.pipeline.show(release_id)  # what the bot's card shows
    assert shown.artifacts == {release_id: row.artifact_url}
    assert await served_version(server.production_url) == "1.0.0"


async def test_a_report_for_a_lock_the_runner_does_not_hold_is_refused(server: Server) -> None:
    async with server.client() as client:
        await client.call(
            "POST",
            "/runner/locks",
            {"service": "hello", "environment": "stage", "owner": "runner-a:1:aaaa", "tag": "v1"},
        )
        with pytest.raises(ApiRefused) as foreign:
            await client.call(
                "POST",
                "/runner/deployments",
                {
                    "owner": "runner-b:2:bbbb",
                    "service": "hello",
                    "environment": "stage",
                    "tag": "v1.0.0",
                    "kind": "deploy",
                    "hosts": ["stage"],
                },
            )
        with pytest.raises(ApiRefused) as unknown:
            await client.call("GET", "/runner/deployments?service=nope&environment=stage")
    assert (foreign.value.status, foreign.value.kind) == (409, "lock_not_held")
    assert (unknown.value.status, unknown.value.field) == (422, "service")
    assert await server.container.deploys.history("hello", "stage") == []


async def test_a_runner_body_with_an_invisible_actor_is_a_422_naming_it(server: Server) -> None:
    async with server.client() as client:
        with pytest.raises(ApiRefused) as refused:
            await client.call(
                "POST",
                "/runner/locks",
                {
                    "service": "hello",
                    "environment": "stage",
                    "owner": "runner-a:1:aaaa",
                    "tag": "v1.0.0",
                    "holder": "gh:\u000bmallory",
                },
            )
    assert (refused.value.status, refused.value.field) == (422, "holder")
    assert await server.container.runner_deploys.lock("hello", "stage") is None
