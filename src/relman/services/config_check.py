"""``relman config check`` (issue 15 item 8): before the first deploy, every host of the
configuration is reached the way a deploy reaches it, and each thing a deploy needs there
is checked — what ``ansible -m ping`` and Kamal's checks give their users.

For every (environment, host) — of one service and/or one environment, or all — over the
deploy engine's own transport (ssh with the pinned host key, or local) and its argv steps
(:mod:`relman.deploy.steps`, ``check_*``):

- ``connect``: the host answers, its key is the pinned one, the login works;
- per service: ``workdir`` (a checkout, a writable folder, or missing under a writable
  parent), ``git``, and ``docker`` + ``compose`` where the strategy is compose;
- ``health url``: the service's health and smoke URLs filled in for the host are http(s)
  URLs with a host (their shape; nothing is requested).

Nothing on a host is changed. Hosts are checked concurrently, each host's checks in order;
a host that cannot be reached gets one failed ``connect`` line and no other.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from relman.config import Host, RelmanConfig, Service, http_url_problem
from relman.deploy import TransportFactory, open_transport
from relman.deploy.steps import (
    Step,
    check_compose_step,
    check_connect_step,
    check_docker_step,
    check_git_step,
    check_workdir_step,
    make_target,
    render,
)
from relman.deploy.transport import Transport
from relman.domain.errors import NotFound, RelmanError


@dataclass(frozen=True)
class Check:
    """One line of the report: ``name`` (``connect``, ``workdir``, ``git``, ``docker``,
    ``compose``, ``health url``) of ``service`` ("" for the host itself) on ``host`` of
    ``environment``; ``ok`` and what was found (``detail``, one line, no secret)."""

    environment: str
    host: str
    service: str
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        """The check as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class CheckReport:
    """Every check, in configuration order (environment, host, service)."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when every check passed (and there was at least one host)."""
        return bool(self.checks) and all(c.ok for c in self.checks)


async def check_config(
    config: RelmanConfig,
    *,
    service: str | None = None,
    environment: str | None = None,
    transport_factory: TransportFactory = open_transport,
) -> CheckReport:
    """Check every host of ``environment`` (default: all) for ``service`` (default: all).

    Raises :class:`NotFound` naming the service or environment when relman.toml has none
    of that name. Host problems are never raised: they are failed checks in the report.
    """
    if service is not None and service not in config.services:
        raise NotFound(f"no service {service!r} in relman.toml", field="service")
    if environment is not None and environment not in config.environments:
        raise NotFound(f"no environment {environment!r} in relman.toml", field="environment")
    services = {n: s for n, s in config.services.items() if service in (None, n)}
    pairs = [
        (env_name, host_name)
        for env_name, env in config.environments.items()
        if environment in (None, env_name)
        for host_name in env.hosts
    ]
    results = await asyncio.gather(
        *(
            _check_host(env_name, host_name, config.hosts[host_name], services, transport_factory)
            for env_name, host_name in pairs
        )
    )
    return CheckReport([check for checks in results for check in checks])


async def _check_host(
    environment: str,
    host_name: str,
    host: Host,
    services: dict[str, Service],
    transport_factory: TransportFactory,
) -> list[Check]:
    def check(service: str, name: str, ok: bool, detail: str) -> Check:
        return Check(environment, host_name, service, name, ok, detail)

    try:
        transport = transport_factory(host, host_name)
    except RelmanError as exc:
        return [check("", "connect", False, str(exc))]
    try:
        ok, detail = await _run(transport, check_connect_step(), host)
        if not ok:
            return [check("", "connect", False, detail)]
        checks = [check("", "connect", True, _where(host))]
        git_ok, git_detail = await _run(transport, check_git_step(), host)
        checks.append(check("", "git", git_ok, git_detail))
        docker: tuple[Check, Check] | None = None
        for service_name, service in services.items():
            target = make_target(service_name, service, host_name, host, environment)
            ok, detail = await _run(transport, check_workdir_step(target), host)
            checks.append(check(service_name, "workdir", ok, detail))
            if service.strategy == "compose":
                if docker is None:  # once per host, shown for each compose service
                    engine = await _run(transport, check_docker_step(), host)
                    compose = await _run(transport, check_compose_step(), host)
                    docker = (
                        check("", "docker", *engine),
                        check("", "compose", *compose),
                    )
                checks += [check(service_name, c.name, c.ok, c.detail) for c in docker]
            checks.append(check(service_name, "health url", *_urls_shape(service, host)))
        return checks
    finally:
        await transport.close()


async def _run(transport: Transport, step: Step, host: Host) -> tuple[bool, str]:
    """Run ``step``: (it exited 0, its last output line or what went wrong)."""
    lines: list[str] = []
    try:
        result = await transport.run(
            step.argv,
            cwd=step.cwd,
            env=dict(step.env) or None,
            timeout=min(step.timeout or host.command_timeout, host.command_timeout),
            on_line=lines.append,
        )
    except (RelmanError, OSError) as exc:
        # A transport error (unreachable, host key, login) or a local command that cannot
        # start; its text names the host and the reason, never a credential.
        return False, _one_line(str(exc))
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    if result.timed_out:
        return False, f"no answer within {step.timeout or host.command_timeout:g} s"
    if not result.ok:
        return False, last or f"exit status {result.exit_status}"
    return True, last or "ok"


def _where(host: Host) -> str:
    if host.transport == "local":
        return "local (this machine)"
    who = f"{host.user}@" if host.user else ""
    return f"ssh {who}{host.address}:{host.port}, host key pinned by {host.known_hosts}"


def _urls_shape(service: Service, host: Host) -> tuple[bool, str]:
    """The service's health and smoke URLs for ``host``: all http(s) with a host?"""
    urls = [render(url, host) for url in (service.health.url, *service.smoke_urls)]
    for url in urls:
        problem = http_url_problem(url)
        if problem is not None:
            return False, f"{url}{problem}"
    return True, ", ".join(urls)


def _one_line(text: str) -> str:
    return " ".join(text.split())
