"""Wiring: the one place where settings become engines, stores and services.

Nothing here runs at import; :func:`build` is called at start-up by the CLI (and by tests
with their own settings).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from relman.config import RelmanConfig, Settings, load_config, require_runnable
from relman.deploy import TransportFactory, open_transport
from relman.domain.clock import Clock, utcnow
from relman.notify import Notifier, Sink
from relman.notify.sinks import LogSink, WebhookSink
from relman.services.deploys import DeploymentLedger, DeployService
from relman.services.hand_deploys import HandDeploys
from relman.store.db import create_engine
from relman.store.deployments import DeploymentStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from relman.integrations.github import GitHubClient
    from relman.services.analytics import AnalyticsService
    from relman.services.incidents import IncidentService
    from relman.services.locks import DeployLocks
    from relman.services.pipeline import PipelineService
    from relman.services.releases import ReleaseService
    from relman.services.runner_deploys import RunnerDeploys
    from relman.services.status import StatusService
    from relman.services.worker import Worker
    from relman.store.incidents import IncidentStore
    from relman.store.jobs import JobStore
    from relman.store.releases import ReleaseStore
    from relman.store.seen import SeenStore


class Container:
    """Everything a running relman needs, built once. Close it with :meth:`aclose`.

    The deploy engine, its history and the notifier are built with the container; every
    other part (releases, pipeline, jobs, analytics, incidents, the GitHub client, …) on
    first use, and its modules imported only then: ``relman deploy`` or ``relman lock``
    never load the pipeline, analytics or the HTTP client of GitHub (issue 10, start-up).
    """

    def __init__(
        self,
        settings: Settings,
        config: RelmanConfig,
        engine: AsyncEngine,
        *,
        clock: Clock,
        transport_factory: TransportFactory,
        github: GitHubClient | None,
        sinks: list[Sink],
    ) -> None:
        self.settings = settings
        self.config = config
        self.engine = engine
        self.clock = clock
        self.deployments = DeploymentStore(engine)
        self.deploys = DeployService(
            settings, config, self.deployments, clock=clock, transport_factory=transport_factory
        )
        self.notifier = Notifier(sinks)
        self._github = github

    @cached_property
    def github(self) -> GitHubClient | None:
        """The GitHub client given to :func:`build`, else one made from
        ``RELMAN_GITHUB_TOKEN``; ``None`` without a token."""
        if self._github is None and self.settings.github_token is not None:
            from relman.integrations.github import GitHubClient

            self._github = GitHubClient(self.settings.github_api_url, self.settings.github_token)
        return self._github

    @cached_property
    def release_store(self) -> ReleaseStore:
        """Releases and their audit trail in the database."""
        from relman.store.releases import ReleaseStore

        return ReleaseStore(self.engine)

    @cached_property
    def releases(self) -> ReleaseService:
        """Release records: create, report a status, list, read."""
        from relman.services.releases import ReleaseService

        return ReleaseService(self.release_store, self.clock)

    @cached_property
    def jobs(self) -> JobStore:
        """The worker's job queue."""
        from relman.store.jobs import JobStore

        return JobStore(self.engine)

    @cached_property
    def seen(self) -> SeenStore:
        """Idempotency keys of updates already handled."""
        from relman.store.seen import SeenStore

        return SeenStore(self.engine)

    @cached_property
    def incident_store(self) -> IncidentStore:
        """Production incidents in the database."""
        from relman.store.incidents import IncidentStore

        return IncidentStore(self.engine)

    @cached_property
    def incidents(self) -> IncidentService:
        """Production incidents: opened by failures, closed by recoveries or by hand."""
        from relman.services.incidents import IncidentService

        return IncidentService(
            self.settings,
            self.config.policy.roles(),
            self.incident_store,
            self.release_store,
            self.deployments,
            self.notifier,
            clock=self.clock,
        )

    @cached_property
    def pipeline(self) -> PipelineService:
        """The release lifecycle and its deploys (DESIGN.md §1)."""
        from relman.services.pipeline import PipelineService

        return PipelineService(
            config=self.config,
            releases=self.releases,
            release_store=self.release_store,
            deployments=self.deployments,
            jobs=self.jobs,
            deploys=self.deploys,
            notifier=self.notifier,
            clock=self.clock,
            github=self.github,
            incidents=self.incidents,
        )

    @cached_property
    def analytics(self) -> AnalyticsService:
        """DORA figures from the release history."""
        from relman.services.analytics import AnalyticsService
        from relman.store.analytics import AnalyticsStore

        return AnalyticsService(
            self.settings,
            self.config,
            AnalyticsStore(self.engine),
            outages=self.incident_store,
            clock=self.clock,
        )

    @cached_property
    def runner_deploys(self) -> RunnerDeploys:
        """The server side of a GitHub Actions runner's lock and history."""
        from relman.services.runner_deploys import RunnerDeploys

        return RunnerDeploys(
            self.deployments, self.deploys, self.releases, self.pipeline, clock=self.clock
        )

    @cached_property
    def status(self) -> StatusService:
        """``relman status``: what runs where, from the deploy history."""
        from relman.services.status import StatusService
        from relman.store.status import StatusStore

        return StatusService(self.config, StatusStore(self.engine))

    def hand_deploys(self) -> HandDeploys:
        """``relman deploy`` / ``relman rollback``: the deploy engine through the policy
        and the notifier (issue 15 item 5)."""
        return HandDeploys(self.config.policy.roles(), self.deploys, self.notifier)

    def locks(self) -> DeployLocks:
        """``relman lock …``: the deploy locks through the policy (maintenance holds)."""
        from relman.services.locks import DeployLocks

        return DeployLocks(self.config.policy.roles(), self.deploys)

    def worker(self) -> Worker:
        """A worker for this container's job queue, timed by the settings.

        Raises :class:`~relman.domain.errors.ConfigError` when an executor of relman.toml
        cannot run (``executor = "github"`` without ``RELMAN_GITHUB_TOKEN``): refused when
        the worker starts, not at the first approval (issue 15 item 7)."""
        from relman.services.worker import Worker

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
        if self._github is not None:
            await self._github.aclose()
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
    if sinks is None:
        sinks = [LogSink()]
        sinks += [
            WebhookSink(url, timeout=config.notifications.webhook_timeout)
            for url in config.notifications.webhook_urls
        ]
    return Container(
        settings,
        config,
        create_engine(settings.effective_database_url()),
        clock=clock,
        transport_factory=transport_factory,
        github=github,
        sinks=sinks,
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
