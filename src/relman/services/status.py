"""What runs where (``relman status``, Kamal's ``app details``; issue 15 item 9).

Per service, environment and host of ``relman.toml``: the tag of the newest *succeeded*
deployment (deploy or rollback) that targeted the host — a failed rolling deploy rolls
back only the hosts it changed, so untouched hosts keep their earlier deploy — and, when a
newer deployment targeting the host failed or is still running, that attempt too: a failed
deploy without a rollback may have left the host on the broken tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from relman.config import RelmanConfig
from relman.domain.errors import NotFound
from relman.store.deployments import Deployment
from relman.store.status import StatusStore, Target


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What the history says of one host of one environment for one service.

    ``current``: the newest succeeded deployment that targeted the host (its tag, sha,
    actor, release, times), ``None`` when the host never had one. ``attempt``: a newer
    deployment targeting the host that ``failed`` or is ``running``, else ``None``.
    """

    service: str
    environment: str
    host: str
    current: Deployment | None
    attempt: Deployment | None


class StatusService:
    """Reads the per-host status of the configured services from the deploy history.

    ``config`` names the services, their environments and hosts (``dev:<name>``
    environments included); ``store`` reads the history in one query per call.
    """

    def __init__(self, config: RelmanConfig, store: StatusStore) -> None:
        self._config = config
        self._store = store

    async def status(self, service: str | None = None) -> list[HostStatus]:
        """One :class:`HostStatus` per (service, environment, host) of ``relman.toml``, in
        its order — only ``service``'s when given, every service's when ``None``.

        Raises :class:`~relman.domain.errors.NotFound` for a service ``relman.toml`` does
        not define (naming it and the known ones), :class:`StoreUnavailable` when the
        database fails."""
        if service is not None and service not in self._config.services:
            known = ", ".join(sorted(self._config.services)) or "none configured"
            raise NotFound(f"unknown service {service!r} (known: {known})", service=service)
        services = [service] if service is not None else list(self._config.services)
        targets: list[Target] = [
            (name, env_name, host)
            for name in services
            for env_name, env in self._config.environments.items()
            for host in env.hosts
        ]
        found = await self._store.per_host(targets)
        result = []
        for target in targets:
            history = found[target]
            # The newest row is newer than the succeeded one whenever it did not succeed.
            newest = history.newest
            attempt = newest if newest is not None and newest.status != "succeeded" else None
            result.append(HostStatus(*target, current=history.succeeded, attempt=attempt))
        return result
