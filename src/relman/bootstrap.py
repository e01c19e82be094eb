"""Wiring: the one place where settings become engines, stores and services.

Nothing here runs at import; :func:`build` is called at start-up by the CLI (and by tests
with their own settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from relman.config import RelmanConfig, Settings, load_config
from relman.deploy import TransportFactory, open_transport
from relman.services.deploys import DeployService
from relman.services.releases import Clock, ReleaseService, utcnow
from relman.store.db import create_engine
from relman.store.deployments import DeploymentStore
from relman.store.releases import ReleaseStore


@dataclass(slots=True)
class Container:
    """Everything a running relman needs, built once. Close it with :meth:`aclose`."""

    settings: Settings
    config: RelmanConfig
    engine: AsyncEngine
    releases: ReleaseService
    deploys: DeployService

    async def aclose(self) -> None:
        """Release the database connections."""
        await self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    transport_factory: TransportFactory = open_transport,
) -> Container:
    """Wire relman from ``settings``.

    Raises :class:`~relman.domain.errors.ConfigError` for a bad ``relman.toml`` or an
    unsupported database URL. Does not touch the database (see ``store.db.upgrade``).
    """
    config = load_config(settings.config_file)
    engine = create_engine(settings.effective_database_url())
    store = ReleaseStore(engine)
    return Container(
        settings=settings,
        config=config,
        engine=engine,
        releases=ReleaseService(store, clock),
        deploys=DeployService(
            settings,
            config,
            DeploymentStore(engine),
            clock=clock,
            transport_factory=transport_factory,
        ),
    )
