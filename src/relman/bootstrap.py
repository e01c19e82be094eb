"""Wiring: the one place where settings become engines, stores and services.

Nothing here runs at import; :func:`build` is called at start-up by the CLI (and by tests
with their own settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from relman.config import RelmanConfig, Settings, load_config, require_runnable
from relman.deploy import TransportFactory, open_transport
from relman.domain.clock import Clock, utcnow
from relman.integrations.github import GitHubClient
from relman.notify import Notifier, Sink
from relman.notify.sinks import LogSink, WebhookSink
from relman.services.analytics import AnalyticsService
from relman.services.deploys import DeploymentLedger, DeployService
from relman.services.hand_deploys import HandDeploys
from relman.services.incidents import IncidentService
from relman.services.pipeline import PipelineService
from relman.services.releases import ReleaseService
from relman.services.runner_deploys import RunnerDeploys
from relman.services.worker import Worker
from relman.store.analytics import AnalyticsStore
from relman.store.db import create_engine
from relman.store.deployments import DeploymentStore
from relman.store.incidents import IncidentStore
from relman.store.jobs import JobStore
from relman.store.releases import ReleaseStore
from relman.store.seen import SeenStore


@dataclass(slots=True)
class Container:
    """Everything a running relman needs, built once. Close it with :meth:`aclose`."""

    settings: Settings
    config: RelmanConfig
    engine: AsyncEngine
    releases: ReleaseService
    deploys: DeployService
    jobs: JobStore
    seen: SeenStore
    notifier: Notifier
    pipeline: PipelineService
    analytics: AnalyticsService
    incidents: IncidentService
    runner_deploys: RunnerDeploys
    clock: Clock
    github: GitHubClient | None = None

    def hand_deploys(self) -> HandDeploys:
        """``relman deploy`` / ``relman rollback``: the deploy engine through the policy
        and the notifier (issue 15 item 5)."""
        return HandDeploys(self.config.policy.roles(), self.deploys, self.notifier)

    def worker(self) -> Worker:
        """A worker for this container's job queue, timed by the settings.

        Raises :class:`~relman.domain.errors.ConfigError` when an executor of relman.toml
        cannot run (``executor = "github"`` without ``RELMAN_GITHUB_TOKEN``): refused when
        the worker starts, not at the first approval (issue 15 item 7)."""
        require_runnable(self.config, github_client=self.github is not None)
        return Worker(
            self.pipeline,
            self.jobs,
            clock=self.clock,
            heartbeat_interval=self.settings.worker_heartbeat,
            stale_after=self.settings.worker_stale_after,
            seen=self.seen,
        )

    async def aclose(self) -> None:
        """Release the database connections and HTTP clients."""
        if self.github is not None:
            await self.github.aclose()
        await self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    transport_factory: TransportFactory = open_transport,
    github: GitHubClient | None = None,
    sinks: list[Sink] | None = None,
) -> Container:
    """Wire relman from ``settings``.

    Raises :class:`~relman.domain.errors.ConfigError` for a bad ``relman.toml`` or an
    unsupported database URL. Does not touch the database (see ``store.db.upgrade``).
    """
    config = load_config(settings.config_file)
    engine = create_engine(settings.effective_database_url())
    store = ReleaseStore(engine)
    deployments = DeploymentStore(engine)
    jobs = JobStore(engine)
    releases = ReleaseService(store, clock)
    deploys = DeployService(
        settings, config, deployments, clock=clock, transport_factory=transport_factory
    )
    if sinks is None:
        sinks = [LogSink()]
        sinks += [
            WebhookSink(url, timeout=config.notifications.webhook_timeout)
            for url in config.notifications.webhook_urls
        ]
    notifier = Notifier(sinks)
    incident_store = IncidentStore(engine)
    incidents = IncidentService(
        settings,
        config.policy.roles(),
        incident_store,
        store,
        deployments,
        notifier,
        clock=clock,
    )
    if github is None and settings.github_token is not None:
        github = GitHubClient(settings.github_api_url, settings.github_token)
    pipeline = PipelineService(
        config=config,
        releases=releases,
        release_store=store,
        deployments=deployments,
        jobs=jobs,
        deploys=deploys,
        notifier=notifier,
        clock=clock,
        github=github,
        incidents=incidents,
    )
    return Container(
        settings=settings,
        config=config,
        engine=engine,
        releases=releases,
        deploys=deploys,
        jobs=jobs,
        seen=SeenStore(engine),
        notifier=notifier,
        pipeline=pipeline,
        analytics=AnalyticsService(
            settings, config, AnalyticsStore(engine), outages=incident_store, clock=clock
        ),
        incidents=incidents,
        runner_deploys=RunnerDeploys(deployments, deploys, releases, pipeline, clock=clock),
        clock=clock,
        github=github,
    )


def build_runner(
    settings: Settings,
    ledger: DeploymentLedger,
    *,
    transport_factory: TransportFactory = open_transport,
) -> DeployService:
    """relman on a GitHub Actions runner (``relman ci deploy|dev-deploy``): the deploy
    engine with ``relman.toml`` and the settings from the environment, and ``ledger`` —
    relman's server through the API — for its lock and history. No database is opened.
    Raises :class:`~relman.domain.errors.ConfigError` for a bad ``relman.toml``."""
    return DeployService(
        settings, load_config(settings.config_file), ledger, transport_factory=transport_factory
    )
