"""Deploy and rollback use cases: the deploy engine plus the lock, the history and the
automatic rollback policy (DESIGN.md §4, issue "deploy engine" items 6–8).

The engine (``relman.deploy``) knows hosts and steps; this layer knows the database: it
holds the (service, environment) lock for the whole run, records every deploy in the
history, picks the rollback target from that history, and decides whether a rollback must
restore the pre-deploy database backup (only when the undone deploy ran a migration).

Developer environments (seed 003 "on-push-in-work-branch"): :meth:`DeployService.dev_deploy`
puts the head of a pushed work branch on the pusher's own ``dev:<name>`` environment, with
the same lock and history row as a tag deploy (the row's ``tag`` is the branch name).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from relman.config import Environment, RelmanConfig, Service, Settings
from relman.deploy import (
    DeployRequest,
    DeployResult,
    LockStatus,
    TransportFactory,
    deploy,
    lock_status,
    open_transport,
    release_lock,
)
from relman.deploy.evidence import evidence_digest
from relman.deploy.lock import pid_alive, this_machine
from relman.deploy.log import RefType
from relman.deploy.progress import ProgressCallback
from relman.deploy.refs import validate_branch
from relman.domain.clock import Clock, utcnow
from relman.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RelmanError,
)
from relman.domain.policy import identity
from relman.domain.text import character_label, text_problem
from relman.domain.version import parse_release_tag
from relman.store.deployments import MAINTENANCE_OWNER, Deployment, DeploymentKind, LockInfo

log = logging.getLogger("relman.deploys")


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    """A deploy's result and, when it failed and the policy said so, the automatic
    rollback's result (``None`` when none ran)."""

    result: DeployResult
    rollback: DeployResult | None = None
    rollback_skipped: str = ""

    @property
    def ok(self) -> bool:
        """True only when every host of the deploy is healthy."""
        return self.result.ok


@dataclass(frozen=True, slots=True)
class DevDeployOutcome:
    """A developer deploy: its result, or why nothing was deployed.

    ``result`` is ``None`` and ``skipped`` says why (non-empty) when the author has no
    developer environment; ``environment`` is the ``dev:<name>`` deployed to ("" then).
    """

    result: DeployResult | None = None
    skipped: str = ""
    environment: str = ""

    @property
    def ok(self) -> bool:
        """True when the branch was deployed and every host is healthy."""
        return self.result is not None and self.result.ok


#: The longest reason a maintenance lock takes (it is shown in one-line refusals).
MAX_LOCK_REASON = 500


@dataclass(frozen=True, slots=True)
class HostLock:
    """A host's lock dir for the service: ``held``, and when held who holds it (``holder``),
    since when (``since``, UTC; ``None`` when the host wrote no readable time), for which
    ``tag``, and ``stale``: ``True`` when its process is known dead, ``False`` when it is
    known to run, ``None`` when relman cannot tell (another machine)."""

    held: bool
    holder: str | None = None
    since: datetime | None = None
    tag: str | None = None
    stale: bool | None = None

    @classmethod
    def of(cls, status: LockStatus) -> HostLock:
        """The host lock as the engine read it (``since``: the ISO 8601 text the host
        wrote, parsed here; a naive time is UTC, garbage is ``None``)."""
        return cls(status.held, status.holder, _parse_since(status.since), status.tag, status.stale)


@dataclass(frozen=True, slots=True)
class LockReport:
    """The deploy lock of a (service, environment): the database row (``None`` when free,
    ``database_stale`` when its process is known dead or its lease ran out — never for a
    maintenance lock) and each host's lock dir."""

    database: LockInfo | None
    database_stale: bool
    hosts: dict[str, HostLock]


class DeploymentLedger(Protocol):
    """Where deploys are locked and recorded: relman's database
    (:class:`~relman.store.deployments.DeploymentStore`), or, on a GitHub Actions runner,
    relman's server through the Release API (:class:`relman.ci.ledger.ApiLedger`), so a
    runner's deploy has the same lock, history and automatic rollback as a local one."""

    async def start(
        self,
        *,
        release_id: int | None,
        service: str,
        environment: str,
        tag: str,
        kind: DeploymentKind,
        actor: str,
        hosts: list[str],
        at: datetime,
    ) -> int: ...

    async def finish(
        self,
        deployment_id: int,
        *,
        ok: bool,
        at: datetime,
        migrated: bool = False,
        backup_path: str = "",
        log_path: str = "",
        evidence_path: str = "",
        error: str = "",
        git_sha: str = "",
        image_digest: str = "",
        evidence_digest: str = "",
    ) -> bool: ...

    async def history(
        self, service: str, environment: str, *, limit: int = 50
    ) -> list[Deployment]: ...

    async def acquire_lock(
        self,
        *,
        service: str,
        environment: str,
        holder: str,
        owner: str,
        tag: str,
        reason: str,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> None: ...

    async def lock(self, service: str, environment: str) -> LockInfo | None: ...

    async def release_lock(
        self, service: str, environment: str, *, owner: str | None = None
    ) -> bool: ...


class MaintenanceLockHeld(Conflict):
    """Someone other than its holder asked to free a maintenance lock without ``force``."""

    code = "maintenance_lock_held"

    def __init__(self, held: LockInfo, actor: str) -> None:
        since = held.refusal().since
        super().__init__(
            f"{held.service} on {held.environment} is held for maintenance by {held.holder} "
            f"since {since}: {held.reason}; only {held.holder} releases it, "
            f"{actor or 'anyone else'} only with --force",
            service=held.service,
            environment=held.environment,
            holder=held.holder,
            since=since,
            reason=held.reason,
        )
        self.holder = held.holder


def check_lock_reason(reason: str) -> str:
    """The reason of a maintenance lock, stripped. Raises :class:`InvalidInput` (field
    ``reason``) when it is blank, longer than :data:`MAX_LOCK_REASON` characters, not one
    line (a new line or tab) or holds a character a free text may not
    (:func:`relman.domain.text.text_problem`: control characters, bidirectional
    controls)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "must not be empty: say why deploys are held")
    if len(reason) > MAX_LOCK_REASON:
        raise InvalidInput("reason", f"at most {MAX_LOCK_REASON} characters")
    problem = text_problem(reason, free_text=True)
    if problem is None:
        for index, char in enumerate(reason):
            if char in "\n\t":
                problem = (
                    f"must be one line: it holds {character_label(char)} at character {index + 1}"
                )
                break
    if problem is not None:
        raise InvalidInput("reason", problem)
    return reason


def _parse_since(text: str | None) -> datetime | None:
    """A host lock's ``since`` (ISO 8601, as :mod:`relman.deploy.lock` writes it) as a UTC
    datetime; a naive time is taken as UTC; ``None`` for none or garbage."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class NoRollbackTarget(NotFound):
    """No earlier healthy deploy exists to roll back to."""

    code = "no_rollback_target"


class DeployService:
    """Runs deploys and rollbacks of configured services to configured environments."""

    def __init__(
        self,
        settings: Settings,
        config: RelmanConfig,
        store: DeploymentLedger,
        *,
        clock: Clock = utcnow,
        transport_factory: TransportFactory = open_transport,
    ) -> None:
        self._settings = settings
        self._config = config
        self._store = store
        self._clock = clock
        self._transports = transport_factory
        # Identifies this process as the lock owner (several relman replicas may run).
        self._owner = f"{this_machine()}:{os.getpid()}"

    def target(self, service: str, environment: str) -> tuple[Service, Environment]:
        """The configured service and environment; :class:`InvalidInput` names the unknown
        one and lists what is configured."""
        self._service(service)
        if environment not in self._config.environments:
            known = ", ".join(sorted(self._config.environments)) or "none configured"
            raise InvalidInput(
                "environment", f"unknown environment {environment!r} (known: {known})"
            )
        return self._config.services[service], self._config.environments[environment]

    def _service(self, service: str) -> Service:
        if service not in self._config.services:
            known = ", ".join(sorted(self._config.services)) or "none configured"
            raise InvalidInput("service", f"unknown service {service!r} (known: {known})")
        return self._config.services[service]

    async def deploy(
        self,
        service: str,
        tag: str,
        environment: str,
        *,
        actor: str,
        release_id: int | None = None,
        only_hosts: Collection[str] | None = None,
        expected_sha: str | None = None,
        expected_digest: str | None = None,
        reason: str = "deploy",
        on_progress: ProgressCallback | None = None,
    ) -> DeployOutcome:
        """Deploy ``tag`` of ``service`` to every host of ``environment`` (or ``only_hosts``).

        The environment's ``batch_size`` and ``max_fail`` make it a rolling deploy. When
        the rollout fails (or stops) and the environment has ``auto_rollback``, the last tag
        deployed healthy there is redeployed at once on the hosts this deploy changed — the
        hosts it never reached stay untouched — with the database restored if this deploy
        ran a migration; when the rollout tolerated failed hosts (``max_fail``), only those
        are rolled back. ``on_progress`` gets each
        host's :class:`~relman.deploy.progress.Progress`, of the deploy and then of the
        automatic rollback (``kind="rollback"``). Raises :class:`InvalidInput` for an
        unknown service, environment, host or a bad tag, :class:`EnvironmentLocked` while
        another deploy runs. ``expected_digest`` (registry mode) is the image digest QA
        approved: another image under the tag fails the hosts with ``image_digest_moved``
        before their containers change.
        """
        parse_release_tag(tag, field="tag")
        svc, env = self.target(service, environment)
        async with self._locked(service, environment, actor, tag, reason):
            result = await self._run(
                service,
                svc,
                env,
                tag,
                environment,
                actor=actor,
                kind="deploy",
                release_id=release_id,
                only_hosts=only_hosts,
                expected_sha=expected_sha,
                expected_digest=expected_digest,
                reason=reason,
                on_progress=on_progress,
            )
            undo = _hosts_to_roll_back(result)
            if not env.auto_rollback or (result.ok and not undo):
                return DeployOutcome(result)
            if not undo:
                return DeployOutcome(result, rollback_skipped="no host changed version")
            previous = await self._last_healthy(service, environment, exclude_tag=tag)
            if previous is None:
                return DeployOutcome(result, rollback_skipped="no earlier healthy deploy")
            backups = {name: folder for name, folder in result.backups.items() if name in undo}
            rollback = await self._run(
                service,
                svc,
                env,
                previous.tag,
                environment,
                actor="system",
                kind="rollback",
                release_id=release_id,
                only_hosts=undo,
                restore_from=backups if result.migrated else None,
                reason=f"automatic rollback: {tag} failed its health check",
                on_progress=on_progress,
            )
            return DeployOutcome(result, rollback)

    async def rollback(
        self,
        service: str,
        environment: str,
        *,
        actor: str,
        to_tag: str | None = None,
        release_id: int | None = None,
        reason: str = "rollback",
        on_progress: ProgressCallback | None = None,
    ) -> DeployResult:
        """Put ``service`` on ``environment`` back on ``to_tag`` — by default the last tag
        deployed healthy there before the current one — health-checked like a deploy.

        The database is restored from the pre-deploy backup only when the deploy being
        undone (the newest in the history) ran a migration. ``on_progress`` gets each
        host's progress. Raises :class:`NoRollbackTarget`, :class:`InvalidInput`,
        :class:`EnvironmentLocked`.
        """
        svc, env = self.target(service, environment)
        history = await self._store.history(service, environment)
        current = history[0] if history else None
        if to_tag is None:
            exclude = current.tag if current is not None else None
            previous = await self._last_healthy(service, environment, exclude_tag=exclude)
            if previous is None:
                raise NoRollbackTarget(
                    f"no earlier healthy deploy of {service} on {environment} to roll back to; "
                    "name one with --to"
                )
            to_tag = previous.tag
        parse_release_tag(to_tag, field="to_tag")
        restore = None
        if current is not None and current.migrated and current.backup_path:
            restore = json.loads(current.backup_path)
        async with self._locked(service, environment, actor, to_tag, reason):
            return await self._run(
                service,
                svc,
                env,
                to_tag,
                environment,
                actor=actor,
                kind="rollback",
                release_id=release_id,
                restore_from=restore,
                reason=reason,
                on_progress=on_progress,
            )

    def dev_environment(self, author: str) -> str | None:
        """The developer environment of ``author`` (a GitHub login): the ``dev:<name>``
        environment whose ``owner`` is ``author``, else the one named ``dev:<author>``
        (logins compare case-insensitively, as on GitHub); ``None`` when there is none."""
        wanted = author.strip().casefold()
        developer = {
            name: env for name, env in self._config.environments.items() if name.startswith("dev:")
        }
        for name, env in developer.items():
            if env.owner is not None and env.owner.strip().casefold() == wanted:
                return name
        for name in developer:
            if name.removeprefix("dev:").casefold() == wanted:
                return name
        return None

    async def dev_deploy(
        self,
        service: str,
        *,
        branch: str,
        author: str,
        actor: str,
        on_progress: ProgressCallback | None = None,
    ) -> DevDeployOutcome:
        """Deploy the head of ``branch`` of ``service`` to the developer server of
        ``author`` (seed 003 "on-push-in-work-branch").

        The environment is :meth:`dev_environment` of ``author``; when there is none,
        nothing runs and the outcome's ``skipped`` says how to add one. Otherwise the
        (service, environment) lock is held, the branch's head (``origin/<branch>`` after a
        fetch) is checked out detached on every host, the service restarted and
        health-checked (any 2xx), and the run recorded in the history (``tag`` = branch).
        A branch missing on origin fails the hosts with ``branch_not_found`` and changes
        nothing. There is no automatic rollback. Raises :class:`InvalidInput` for an
        invalid branch name (``git check-ref-format`` rules, no leading ``-``; a leading
        ``refs/heads/`` is dropped), an empty author or an unknown service, and
        :class:`EnvironmentLocked` while another deploy runs there.
        """
        name = validate_branch(branch.strip(), field="branch")
        if not author.strip():
            raise InvalidInput("author", "must not be empty")
        self._service(service)
        environment = self.dev_environment(author)
        if environment is None:
            login = author.strip()
            return DevDeployOutcome(
                skipped=(
                    f"no developer server for {login}: add "
                    f'[environments."dev:{login}"] with owner = "{login}" to relman.toml'
                )
            )
        svc, env = self.target(service, environment)
        reason = f"push to {name} by {author.strip()}"
        async with self._locked(service, environment, actor, name, reason):
            result = await self._run(
                service,
                svc,
                env,
                name,
                environment,
                actor=actor,
                kind="deploy",
                release_id=None,
                reason=reason,
                ref_type="branch",
                on_progress=on_progress,
            )
        return DevDeployOutcome(result, environment=environment)

    async def history(self, service: str, environment: str) -> list[Deployment]:
        """The deploy history of ``service`` on ``environment``, newest first."""
        self.target(service, environment)
        return await self._store.history(service, environment)

    async def lock_report(self, service: str, environment: str) -> LockReport:
        """Who holds the deploy lock of ``service`` on ``environment``, in the database and
        on each host (times parsed to UTC datetimes). Raises :class:`InvalidInput` for an
        unknown target and ``TransportError`` when a host cannot be reached."""
        svc, env = self.target(service, environment)
        held = await self._store.lock(service, environment)
        hosts = {
            name: HostLock.of(
                await lock_status(
                    self._config.hosts[name],
                    svc,
                    host_name=name,
                    service_name=service,
                    transport_factory=self._transports,
                )
            )
            for name in env.hosts
        }
        return LockReport(held, held is not None and self._stale(held), hosts)

    async def database_lock(self, service: str, environment: str) -> LockInfo | None:
        """The database lock of ``service`` on ``environment`` now, or ``None`` (no host is
        asked). Raises :class:`InvalidInput` for an unknown target."""
        self.target(service, environment)
        return await self._store.lock(service, environment)

    async def hold_for_maintenance(
        self, service: str, environment: str, *, holder: str, reason: str
    ) -> LockInfo:
        """Take the database lock of ``service`` on ``environment`` for maintenance
        (``relman lock acquire``): until :meth:`release_locks` frees it, every deploy,
        rollback and developer deploy there is refused with :class:`EnvironmentLocked`
        naming ``holder``, the time and ``reason`` (a pipeline job keeps waiting).

        The lock's owner begins with :data:`~relman.store.deployments.MAINTENANCE_OWNER`
        and it has no lease, so no stale-lock check ever frees it. The hosts' lock dirs are
        not touched (every deploy takes the database lock first). Returns the lock.
        Raises :class:`InvalidInput` for an unknown target or a bad ``reason`` (see
        :func:`check_lock_reason`), :class:`EnvironmentLocked` naming who holds it when
        the lock is taken already (by a deploy or another maintenance)."""
        reason = check_lock_reason(reason)
        self.target(service, environment)
        owner = f"{MAINTENANCE_OWNER}{uuid.uuid4().hex[:8]}"
        at = self._clock()
        await self._store.acquire_lock(
            service=service,
            environment=environment,
            holder=holder,
            owner=owner,
            tag="",
            reason=reason,
            at=at,
        )
        return LockInfo(service, environment, holder, owner, "", reason, at)

    async def free_locks_of(self, service: str, environment: str, *, process: str) -> bool:
        """Free the deploy locks of ``service`` on ``environment`` that a dead process
        (``machine:pid``) held: its host lock dirs first — so no newer deploy can have
        taken them — then the database row, only if that process owns it. Returns whether
        the row was freed. An unreachable host is logged and left (``relman lock status``
        shows its lock as stale)."""
        svc, env = self.target(service, environment)
        held = await self._store.lock(service, environment)
        if held is None or held.maintenance or not held.owner.startswith(process + ":"):
            return False
        for name in env.hosts:
            try:
                await self._release_host_lock(svc, service, name, force=True)
            except RelmanError as exc:
                log.warning("could not free the lock on host %s: %s", name, exc)
        return await self._store.release_lock(service, environment, owner=held.owner)

    async def release_locks(
        self, service: str, environment: str, *, force: bool = False, actor: str = ""
    ) -> LockReport:
        """Free stale locks (or any, with ``force``) of ``service`` on ``environment``;
        returns what was held before. A live lock without ``force`` raises
        :class:`EnvironmentLocked` / ``LockHeld`` naming its holder.

        A maintenance lock (:meth:`hold_for_maintenance`) is freed for its holder —
        ``actor`` is the same identity (:func:`~relman.domain.policy.identity`) — or with
        ``force``; anyone else gets :class:`MaintenanceLockHeld`. Freeing it touches only
        the database row (the hosts' lock dirs are left as they are)."""
        svc, env = self.target(service, environment)
        before = await self.lock_report(service, environment)
        held = before.database
        if held is not None and held.maintenance:
            if not force and identity(actor) != identity(held.holder):
                raise MaintenanceLockHeld(held, actor)
            if not await self._store.release_lock(service, environment, owner=held.owner):
                raise Conflict(
                    f"the maintenance lock of {service} on {environment} was released "
                    "meanwhile; see relman lock status"
                )
            return before
        if before.database is not None:
            if not (force or before.database_stale):
                raise before.database.refusal()
            await self._store.release_lock(service, environment, owner=before.database.owner)
        for name in env.hosts:
            await self._release_host_lock(svc, service, name, force=force)
        return before

    def _stale(self, held: LockInfo) -> bool:
        """Whether a database lock can be freed as stale: its relman process is gone or its
        runner's lease ran out; a maintenance lock never is."""
        if held.maintenance:
            return False
        return _owner_dead(held.owner) or held.expired(self._clock())

    async def _release_host_lock(
        self, svc: Service, service: str, host: str, *, force: bool
    ) -> None:
        await release_lock(
            self._config.hosts[host],
            svc,
            host_name=host,
            service_name=service,
            force=force,
            transport_factory=self._transports,
        )

    async def _images_to_keep(
        self, service_name: str, service: Service, environment: str
    ) -> list[str]:
        """The tags whose images stay on the hosts: the last ``keep_images`` healthy
        ones of this environment (compose only; ``[]`` otherwise)."""
        if service.strategy != "compose":
            return []
        kept: list[str] = []
        for past in await self._healthy(service_name, environment):
            if past.tag not in kept:
                kept.append(past.tag)
        return kept[: service.keep_images]

    async def _last_healthy(
        self, service: str, environment: str, *, exclude_tag: str | None
    ) -> Deployment | None:
        for past in await self._healthy(service, environment):
            if past.tag != exclude_tag:
                return past
        return None

    async def _healthy(self, service: str, environment: str) -> list[Deployment]:
        """The healthy deploys of release tags (not branches) of the last 200, newest
        first: what rollbacks go back to and what images are kept for."""
        history = await self._store.history(service, environment, limit=200)
        return [past for past in history if past.status == "succeeded" and _is_tag(past.tag)]

    def _locked(
        self, service: str, environment: str, actor: str, tag: str, reason: str
    ) -> _EnvironmentLock:
        return _EnvironmentLock(
            self._store,
            service,
            environment,
            actor,
            f"{self._owner}:{uuid.uuid4().hex[:8]}",
            tag,
            reason,
            self._clock,
        )

    async def _run(
        self,
        service_name: str,
        service: Service,
        env: Environment,
        tag: str,
        environment: str,
        *,
        actor: str,
        kind: DeploymentKind,
        release_id: int | None,
        only_hosts: Collection[str] | None = None,
        expected_sha: str | None = None,
        expected_digest: str | None = None,
        restore_from: dict[str, str] | None = None,
        reason: str = "",
        ref_type: RefType = "tag",
        on_progress: ProgressCallback | None = None,
    ) -> DeployResult:
        hosts = {name: self._config.hosts[name] for name in env.hosts}
        if only_hosts is not None:
            unknown = sorted(set(only_hosts) - set(hosts))
            if unknown:
                raise InvalidInput("hosts", f"not in {environment}: {', '.join(unknown)}")
            if not only_hosts:  # refused here, before a history row is written
                raise InvalidInput("hosts", "no hosts selected")
        deployment_id = await self._store.start(
            release_id=release_id,
            service=service_name,
            environment=environment,
            tag=tag,
            kind=kind,
            actor=actor,
            hosts=sorted(only_hosts or hosts),
            at=self._clock(),
        )
        result: DeployResult | None = None
        try:
            result = await deploy(
                DeployRequest(
                    service_name=service_name,
                    service=service,
                    tag=tag,
                    environment=environment,
                    hosts=hosts,
                    actor=actor,
                    kind=kind,
                    log_root=self._settings.log_root,
                    evidence_root=self._settings.evidence_root,
                    only_hosts=only_hosts,
                    restore_backup=bool(restore_from),
                    restore_from=restore_from or {},
                    expected_sha=expected_sha,
                    expected_digest=expected_digest,
                    reason=reason,
                    ref_type=ref_type,
                    # a rollback is an emergency: every host at once
                    batch_size=env.batch_size if kind == "deploy" else None,
                    max_fail=env.max_fail if kind == "deploy" else 0,
                    keep_images=await self._images_to_keep(service_name, service, environment),
                    on_progress=on_progress,
                ),
                transport_factory=self._transports,
            )
        finally:
            await self._store.finish(
                deployment_id,
                ok=result is not None and result.ok,
                at=self._clock(),
                migrated=result is not None and result.migrated,
                backup_path=json.dumps(result.backups) if result and result.backups else "",
                log_path=str(result.log_path or "") if result else "",
                evidence_path=str(result.evidence_dir or "") if result else "",
                error=(result.error or "") if result else "interrupted",
                git_sha=(result.git_sha or "") if result else "",
                image_digest=(result.image_digest or "") if result else "",
                evidence_digest=evidence_digest(result.evidence_dir) if result else "",
            )
        return result


def _hosts_to_roll_back(result: DeployResult) -> list[str]:
    """The hosts an automatic rollback puts back: every changed host of a failed rollout,
    only the changed failed hosts of one that tolerated them (``max_fail``)."""
    return [
        name
        for name, host in result.hosts.items()
        if host.changed and (not result.ok or not host.ok)
    ]


def _is_tag(tag: str) -> bool:
    """Whether a history row's ``tag`` is a release tag (not a developer deploy's branch)."""
    try:
        parse_release_tag(tag, field="tag")
    except RelmanError:
        return False
    return True


def _owner_dead(owner: str) -> bool:
    """Whether a lock owner ``machine:pid:…`` is a process of this machine that is gone
    (never for a maintenance lock's owner: it has no process)."""
    if owner.startswith(MAINTENANCE_OWNER):
        return False
    machine, _, rest = owner.partition(":")
    pid = rest.split(":", 1)[0]
    return machine == this_machine() and pid.isdigit() and not pid_alive(int(pid))


class _EnvironmentLock:
    """Async context manager holding the database lock of (service, environment)."""

    def __init__(
        self,
        store: DeploymentLedger,
        service: str,
        environment: str,
        holder: str,
        owner: str,
        tag: str,
        reason: str,
        clock: Clock,
    ) -> None:
        self._store = store
        self._args = (service, environment)
        self._holder = holder
        self._owner = owner
        self._tag = tag
        self._reason = reason
        self._clock = clock

    async def __aenter__(self) -> None:
        service, environment = self._args
        await self._store.acquire_lock(
            service=service,
            environment=environment,
            holder=self._holder,
            owner=self._owner,
            tag=self._tag,
            reason=self._reason,
            at=self._clock(),
        )

    async def __aexit__(self, *exc: object) -> None:
        service, environment = self._args
        released = await self._store.release_lock(service, environment, owner=self._owner)
        if not released and exc[0] is None:
            raise Conflict(
                f"the deploy lock of {service} on {environment} was released "
                "by someone else while this deploy ran"
            )
