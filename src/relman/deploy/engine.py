"""The deploy engine: runs a release on a service's hosts (DESIGN.md §4).

:func:`deploy` takes a :class:`DeployRequest` (service, tag, environment, hosts, actor, kind)
and runs the steps of :mod:`relman.deploy.steps` on every host at once, each host through its
own transport and :class:`~relman.deploy.runner.StepRunner`. It writes the seed-format deploy
log and the evidence folder, and returns a :class:`DeployResult` per host. It never raises
for a failing host: the result names the host and the error. It does not decide on an
automatic rollback or touch the database: the service layer does, from what the result says
(``changed``, ``migrated``, ``backup``).

A rollback is a redeploy of an earlier tag with ``kind="rollback"`` (seed 003 "Процесс
отката"): logged in the rollback layout, no migration, the compose image reused
(``--no-build``), and the database restored from the undone deploy's backup only when the
caller says so (``restore_backup=True``; seed 001 §4, seed 002 §7).

A developer deploy (``ref_type="branch"``, seed 003 "on-push-in-work-branch") puts the head
of a branch on a developer's server: fetch (all branches, pruned), check that
``origin/<branch>`` exists (else :class:`~relman.deploy.errors.BranchNotFound`, nothing
changed), check that commit out detached, migrate, restart, health check (any 2xx: a branch
has no version to show). No backup is taken. ``tag`` then holds the branch name.

Progress: ``on_progress`` gets a :class:`~relman.deploy.progress.Progress` per step and
seed-log message of each host, and a last one per host when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from relman.config import Host, Service
from relman.deploy import log as msg
from relman.deploy.errors import (
    BackupInvalid,
    BranchNotFound,
    CommandFailed,
    DeployError,
    HealthCheckFailed,
    TagMoved,
    TagNotFound,
)
from relman.deploy.evidence import Evidence, iso, redact_data, stamp
from relman.deploy.factory import TransportFactory, open_transport
from relman.deploy.health import Attempt, HealthReport, check_health, check_smoke
from relman.deploy.lock import lock_held_error, parse_details, this_machine
from relman.deploy.log import DeployLog, Kind, RefType, log_path, utc_now
from relman.deploy.progress import HostProgress, ProgressCallback
from relman.deploy.redact import Redactor, env_file_secrets, url_secrets
from relman.deploy.refs import validate_branch
from relman.deploy.runner import StepRecord, StepRunner
from relman.deploy.steps import (
    DUMP_MISSING_STATUS,
    DUMP_NAME,
    LOCK_HELD_STATUS,
    Step,
    Target,
    backup_digest_step,
    backup_dir_for,
    backup_manifest,
    backup_steps,
    checkout_commit_step,
    checkout_step,
    clean_branches_step,
    fetch_steps,
    list_branches_step,
    lock_details,
    lock_step,
    make_target,
    migrate_step,
    preflight_steps,
    probe_step,
    read_env_file_steps,
    render,
    restart_step,
    restore_step,
    service_log_step,
    unlock_step,
    verify_backup_step,
    verify_branch_step,
    verify_tag_step,
    version_of,
    write_manifest_step,
)
from relman.deploy.transport import Transport
from relman.domain.errors import ConfigError, InvalidInput, RelmanError
from relman.domain.version import parse_release_tag

#: A git commit id (sha-1 or sha-256), as ``git rev-parse`` prints it.
SHA_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
#: A ``git status --porcelain`` line.
_PORCELAIN_RE = re.compile(r"[ MTADRCU?!]{2} .+")
#: The probe step's answers.
_PROBE_RE = re.compile(r"git|files|none")
#: A tag or branch name as ``git describe`` / ``for-each-ref`` print it (one word).
_REF_RE = re.compile(r"[^\s:~^?*\[\\]+")


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy where.

    * ``hosts``: relman's host name → :class:`Host` (the environment's hosts);
      ``only_hosts`` restricts the run to some of them (a retry of the failed ones).
    * ``kind``: ``deploy`` or ``rollback`` (a redeploy of an earlier ``tag``).
    * ``ref_type``: ``tag`` (a release tag, ``v``+SemVer) or ``branch`` (a developer deploy:
      ``tag`` is then the branch name, checked like ``git check-ref-format --branch``).
    * ``restore_backup`` (rollback only): run the service's ``restore_command`` with the
      backup in ``restore_from`` (host name → backup folder on that host, from the undone
      deploy's :attr:`HostResult.backup`).
    * ``expected_sha``: the commit the tag had when it was approved; a moved tag is refused.
    * ``log_root`` / ``evidence_root``: ``None`` writes no log file / no evidence.
    * ``secrets``: more values to mask in every output (tokens the caller knows).
    * ``on_progress``: called with each host's :class:`~relman.deploy.progress.Progress`
      (see :mod:`relman.deploy.progress`); ``None``: no reports.
    """

    service_name: str
    service: Service
    tag: str
    environment: str
    hosts: Mapping[str, Host]
    actor: str
    kind: Kind = "deploy"
    log_root: Path | None = None
    evidence_root: Path | None = None
    only_hosts: Collection[str] | None = None
    restore_backup: bool = False
    restore_from: Mapping[str, str] = field(default_factory=dict)
    expected_sha: str | None = None
    reason: str = ""
    secrets: Sequence[str] = ()
    deploy_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ref_type: RefType = "tag"
    on_progress: ProgressCallback | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BackupInfo:
    """A verified backup on a host: its folder, dump path, size (bytes) and sha256."""

    host: str
    dir: str
    dump: str
    sha256: str
    size_bytes: int
    manifest: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "dir": self.dir,
            "dump": self.dump,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
        }


@dataclass
class HostResult:
    """The outcome on one host.

    ``changed`` is true once the checkout was switched (the host no longer runs
    ``version_before``: a rollback may be needed); ``migrated`` once the migration started
    (a restore may be needed); ``backup`` is the verified pre-deploy backup.
    """

    host: str
    ok: bool = False
    error: str | None = None
    error_code: str | None = None
    version_before: str | None = None
    sha_before: str | None = None
    version_after: str | None = None
    sha_after: str | None = None
    target_sha: str | None = None
    dirty: list[str] = field(default_factory=list)
    changed: bool = False
    migrated: bool = False
    restored: bool = False
    lock_acquired: bool = False
    backup: BackupInfo | None = None
    health: HealthReport | None = None
    smoke: list[HealthReport] = field(default_factory=list)
    service_log: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (for summary.json)."""
        return {
            "ok": self.ok,
            "error": self.error,
            "error_code": self.error_code,
            "version_before": self.version_before,
            "sha_before": self.sha_before,
            "version_after": self.version_after,
            "sha_after": self.sha_after,
            "target_sha": self.target_sha,
            "dirty": self.dirty,
            "changed": self.changed,
            "migrated": self.migrated,
            "restored": self.restored,
            "backup": self.backup.as_dict() if self.backup else None,
            "health": self.health.as_dict() if self.health else None,
            "smoke": [report.as_dict() for report in self.smoke],
            "steps": [record.as_dict() for record in self.steps],
            "duration_seconds": round(self.duration, 3),
        }


@dataclass
class DeployResult:
    """The outcome of a deploy on all its hosts; ``ok`` only when every host is ok.

    ``tag`` is the branch name when ``ref_type`` is ``branch`` (a developer deploy).
    """

    ok: bool
    kind: Kind
    service: str
    tag: str
    environment: str
    actor: str
    deploy_id: str
    started_at: datetime
    finished_at: datetime
    hosts: dict[str, HostResult]
    log_path: Path | None
    evidence_dir: Path | None
    error: str | None = None
    ref_type: RefType = "tag"

    @property
    def branch(self) -> str | None:
        """The branch a developer deploy put on the hosts (``None`` for a tag)."""
        return self.tag if self.ref_type == "branch" else None

    @property
    def git_sha(self) -> str | None:
        """The commit deployed: the hosts' ``target_sha`` when they all agree on one, else
        ``None`` (no host got as far as resolving the tag or branch, or they differ)."""
        shas = {result.target_sha for result in self.hosts.values()}
        if len(shas) != 1:
            return None
        return shas.pop()

    @property
    def duration(self) -> float:
        """Seconds from start to finish."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def failed_hosts(self) -> list[str]:
        """Names of the hosts that failed (pass as ``only_hosts`` to retry them)."""
        return [name for name, result in self.hosts.items() if not result.ok]

    @property
    def migrated(self) -> bool:
        """Whether a migration started on any host."""
        return any(result.migrated for result in self.hosts.values())

    @property
    def changed(self) -> bool:
        """Whether any host's checkout was switched."""
        return any(result.changed for result in self.hosts.values())

    @property
    def backups(self) -> dict[str, str]:
        """Host name → backup folder on that host (for a later ``restore_from``)."""
        return {name: r.backup.dir for name, r in self.hosts.items() if r.backup is not None}

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (seed 001 §5)."""
        return {
            "ok": self.ok,
            "kind": self.kind,
            "service": self.service,
            "tag": self.tag,
            "ref_type": self.ref_type,
            "branch": self.branch,
            "version": version_of(self.tag) if self.ref_type == "tag" else None,
            "git_sha": self.git_sha,
            "environment": self.environment,
            "actor": self.actor,
            "deploy_id": self.deploy_id,
            "hosts": list(self.hosts),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": round(self.duration, 3),
            "log_file": str(self.log_path) if self.log_path else None,
            "error": self.error,
            "results": {name: result.as_dict() for name, result in self.hosts.items()},
        }


@dataclass
class _Context:
    request: DeployRequest
    log: DeployLog
    redactor: Redactor
    evidence: Evidence | None
    started: datetime
    http: httpx.AsyncClient
    progress: dict[str, HostProgress] = field(default_factory=dict)

    @property
    def branch(self) -> bool:
        """Whether this is a developer deploy of a branch."""
        return self.request.ref_type == "branch"


async def deploy(
    request: DeployRequest,
    *,
    transport_factory: TransportFactory = open_transport,
    http_client: httpx.AsyncClient | None = None,
) -> DeployResult:
    """Deploy ``request.tag`` (or the branch, see :class:`DeployRequest`) of the service to
    its hosts, all at once.

    Returns a :class:`DeployResult`; a failing host is reported there (with its name and the
    error), not raised. Raises :class:`~relman.domain.errors.InvalidInput` only for a request
    that cannot start: a tag that is not ``v``+SemVer, an invalid branch name, a rollback of
    a branch, no hosts, ``only_hosts`` naming hosts not in ``hosts``, or ``restore_backup``
    without a backup folder for a host.
    """
    if request.ref_type == "branch":
        validate_branch(request.tag, field="branch")
        if request.kind != "deploy":
            raise InvalidInput("kind", "a branch is deployed, never rolled back to")
    else:
        parse_release_tag(request.tag, field="tag")
    selected = _select_hosts(request)
    redactor = Redactor(request.secrets)
    service = request.service
    for url in (service.repo, service.health.url, *service.smoke_urls):
        redactor.add(*url_secrets(url))
    for host in selected.values():
        with contextlib.suppress(ConfigError):  # reported by the transport when it connects
            password = host.resolve_password()
            if password is not None:
                redactor.add(password)
    started = utc_now()
    path = (
        log_path(
            request.log_root, request.service_name, request.tag, request.environment, request.kind
        )
        if request.log_root is not None
        else None
    )
    progress = {
        name: HostProgress(
            request.on_progress,
            name,
            kind=request.kind,
            ref=request.tag,
            ref_type=request.ref_type,
            redactor=redactor,
        )
        for name in selected
    }

    def on_message(host: str, text: str) -> None:
        if host in progress:
            progress[host].say(text)

    deploy_log = DeployLog(path, redactor, multi_host=len(selected) > 1, on_message=on_message)
    evidence = (
        Evidence(
            request.evidence_root,
            service=request.service_name,
            environment=request.environment,
            tag=request.tag,
            started=started,
            redactor=redactor,
        )
        if request.evidence_root is not None
        else None
    )
    http = http_client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    ctx = _Context(request, deploy_log, redactor, evidence, started, http, progress)
    deploy_log.message(msg.msg_start(request.tag, request.kind, request.ref_type))
    transports: dict[str, Transport] = {}
    try:
        for name, host in selected.items():
            transports[name] = transport_factory(host, name)
        results = await asyncio.gather(
            *(_deploy_host(ctx, name, host, transports[name]) for name, host in selected.items())
        )
    finally:
        await asyncio.gather(*(_close(t) for t in transports.values()))
        if http_client is None:
            await http.aclose()
    by_host = {result.host: result for result in results}
    failed = [r for r in results if not r.ok]
    error = None
    if failed:
        error = "; ".join(f"{r.host}: {r.error}" for r in failed)
        if request.kind == "rollback":
            deploy_log.message(msg.MSG_ROLLBACK_FAILED)
    result = DeployResult(
        ok=not failed,
        kind=request.kind,
        service=request.service_name,
        tag=request.tag,
        environment=request.environment,
        actor=request.actor,
        deploy_id=request.deploy_id,
        started_at=started,
        finished_at=utc_now(),
        hosts=by_host,
        log_path=path,
        evidence_dir=evidence.dir if evidence else None,
        error=redactor(error) if error else None,
        ref_type=request.ref_type,
    )
    deploy_log.close()
    if evidence is not None:
        evidence.write_text("deploy.log", "".join(line + "\n" for line in deploy_log.lines))
        for name, host_result in by_host.items():
            if host_result.backup is not None:
                evidence.write_json(f"{name}/backup_manifest.json", host_result.backup.manifest)
        evidence.write_json("summary.json", redact_data(result.summary(), redactor))
        evidence.seal()
    return result


def _select_hosts(request: DeployRequest) -> dict[str, Host]:
    if not request.hosts:
        raise InvalidInput("hosts", "no hosts to deploy to")
    if request.only_hosts is None:
        selected = dict(request.hosts)
    else:
        unknown = sorted(set(request.only_hosts) - set(request.hosts))
        if unknown:
            raise InvalidInput("only_hosts", f"not hosts of this deploy: {', '.join(unknown)}")
        selected = {n: h for n, h in request.hosts.items() if n in request.only_hosts}
        if not selected:
            raise InvalidInput("only_hosts", "no hosts selected")
    if request.restore_backup:
        if request.kind != "rollback":
            raise InvalidInput("restore_backup", "only a rollback restores a backup")
        if not request.service.restore_command:
            raise InvalidInput("restore_backup", "the service has no restore_command")
        missing = sorted(set(selected) - set(request.restore_from))
        if missing:
            raise InvalidInput("restore_from", f"no backup folder for {', '.join(missing)}")
    return selected


async def _close(transport: Transport) -> None:
    with contextlib.suppress(Exception):
        await transport.close()


async def _deploy_host(ctx: _Context, name: str, host: Host, transport: Transport) -> HostResult:
    """Run the whole sequence on one host; every error ends up in the result."""
    request = ctx.request
    result = HostResult(host=name)
    target = make_target(request.service_name, request.service, name, host)
    progress = ctx.progress[name]
    runner = StepRunner(
        name,
        transport,
        log=ctx.log,
        redactor=ctx.redactor,
        evidence=ctx.evidence,
        default_timeout=host.command_timeout,
        on_step=lambda step: progress.step(step.name, step.message),
    )
    started = time.monotonic()
    try:
        await _run_sequence(ctx, target, runner, result)
        result.ok = True
    except RelmanError as exc:
        result.error = ctx.redactor(str(exc))
        result.error_code = exc.code
        ctx.log.message(msg.msg_error(result.error), name)
    except Exception as exc:  # a bug or an unexpected library error: report, do not crash
        result.error = ctx.redactor(f"{type(exc).__name__}: {exc}")
        result.error_code = "internal_error"
        ctx.log.message(msg.msg_error(result.error), name)
    finally:
        if result.lock_acquired:
            await _unlock(ctx, target, runner)
        result.steps = list(runner.records)
        result.duration = time.monotonic() - started
        done = msg.msg_success(request.tag, request.kind, request.ref_type)
        progress.finish(result.ok, done if result.ok else (result.error or "failed"))
    return result


async def _unlock(ctx: _Context, target: Target, runner: StepRunner) -> None:
    with contextlib.suppress(RelmanError):
        out = await runner.run(unlock_step(target, ctx.request.deploy_id))
        if out.ok:
            ctx.log.message(msg.MSG_UNLOCKED, target.host_name)


async def _run_sequence(
    ctx: _Context, target: Target, runner: StepRunner, result: HostResult
) -> None:
    request = ctx.request
    tag = request.tag
    name = target.host_name
    service = request.service
    branch = ctx.branch
    ref_type = request.ref_type

    # lock (DESIGN.md §5)
    details = lock_details(
        deploy_id=request.deploy_id,
        actor=request.actor,
        since=iso(ctx.started),
        tag=tag,
        reason=request.reason or f"{request.kind} {tag} to {request.environment}",
        pid=os.getpid(),
        machine=this_machine(),
        environment=request.environment,
    )
    out = await runner.run(lock_step(target, details))
    if out.result.exit_status == LOCK_HELD_STATUS:
        status = parse_details("\n".join(out.lines[1:]), target.lock_dir)
        raise lock_held_error(status, name, request.service_name)
    if not out.ok:
        raise CommandFailed(
            host=name,
            step="lock",
            exit_status=out.result.exit_status,
            timed_out=out.result.timed_out,
            tail=out.tail,
        )
    result.lock_acquired = True
    ctx.log.message(msg.MSG_LOCKED, name)

    # secrets of the service's env files, before anything prints them
    for step in read_env_file_steps(target):
        read = await runner.run(step)
        if read.ok:
            ctx.redactor.add(*env_file_secrets("\n".join(read.lines)))

    # preflight (seed 001 §2)
    ctx.log.message(msg.MSG_UPDATING, name)
    # (outputs are parsed by shape: a login shell may print lines of its own)
    state = (await runner.run(probe_step(target))).first_match(_PROBE_RE) or "none"
    if state == "git":
        status_out, version_out, sha_out = [await runner.run(s) for s in preflight_steps(target)]
        dirty = [line for line in status_out.lines if _PORCELAIN_RE.fullmatch(line)]
        result.dirty = [ctx.redactor(line) for line in dirty][:50]
        result.version_before = (
            (version_out.first_match(_REF_RE) or None) if version_out.ok else None
        )
        result.sha_before = (sha_out.first_match(SHA_RE) or None) if sha_out.ok else None
        shown = result.version_before or (result.sha_before or "")[:12] or "нет коммитов"
        ctx.log.message(msg.msg_current_state(shown), name)
        if result.dirty:
            ctx.log.message(msg.msg_dirty(len(result.dirty)), name)
    else:
        ctx.log.message(msg.msg_current_state("нет рабочей копии"), name)
    result.version_after, result.sha_after = result.version_before, result.sha_before

    # fetch (seed 003: git fetch origin --tags --force)
    if state == "none":
        ctx.log.message(msg.MSG_CLONING, name)
    ctx.log.message(msg.MSG_FETCHING, name)
    for step in fetch_steps(target, state, branches=branch):
        await runner.run(step)

    # tag (or branch) exists? (seed 003 Troubleshooting 1)
    if branch:
        verify = await runner.run(verify_branch_step(target, tag))
        if not verify.ok or not verify.first_match(SHA_RE):
            raise BranchNotFound(tag, host=name)
    else:
        verify = await runner.run(verify_tag_step(target, tag))
        if not verify.ok or not verify.first_match(SHA_RE):
            raise TagNotFound(tag, host=name)
    result.target_sha = verify.first_match(SHA_RE)
    if request.expected_sha and not result.target_sha.startswith(request.expected_sha):
        raise TagMoved(tag, request.expected_sha, result.target_sha, host=name)
    if branch:
        ctx.log.message(msg.msg_branch_found(tag, result.target_sha), name)
    else:
        ctx.log.message(msg.msg_tag_found(tag), name)

    restoring = request.kind == "rollback" and request.restore_backup
    restore_dir = request.restore_from.get(name) if restoring else None
    if restore_dir is not None:
        # check the backup to restore before anything changes (seed 001 §4)
        check = await runner.run(verify_backup_step(restore_dir, "restore_verify"))
        if not check.ok:
            raise BackupInvalid(
                f"host {name}: backup {restore_dir} does not match its SHA256SUMS; "
                "not restoring it",
                host=name,
            )

    # backup before anything changes (seed 001 §3.1, seed 002 §5); not for a branch
    if service.backup_command and not branch and (request.kind == "deploy" or restoring):
        result.backup = await _backup(ctx, target, runner, result)

    # checkout (seed 003: "Переключаемся на тег"); a branch: the commit verified above
    result.changed = True
    if branch:
        step = _with_message(
            checkout_commit_step(target, result.target_sha),
            msg.msg_switching_branch(tag, result.target_sha),
        )
    else:
        step = _with_message(checkout_step(target, tag), msg.msg_switching(tag))
    await runner.run(step)
    result.version_after, result.sha_after = tag, result.target_sha
    branches = await runner.run(list_branches_step(target))
    ctx.log.message(msg.MSG_CLEANING, name)
    names = [line.strip() for line in branches.lines if _REF_RE.fullmatch(line.strip())]
    clean = clean_branches_step(target, names)
    if clean is not None:
        await runner.run(clean)

    # database: restore on a rollback that undoes a migration, else migrate
    if restore_dir is not None:
        ctx.log.message(msg.MSG_RESTORE, name)
        result.restored = True
        await runner.run(restore_step(target, tag, restore_dir))
    elif request.kind == "deploy" and service.migrate_command:
        ctx.log.message(msg.MSG_MIGRATE, name)
        result.migrated = True
        await runner.run(migrate_step(target, tag, ref_type=ref_type, sha=result.target_sha))

    # build / restart
    ctx.log.message(msg.msg_building(tag, service.strategy, ref_type), name)
    if service.strategy == "compose" and request.kind == "rollback":
        try:
            await runner.run(restart_step(target, tag, build=False, sha=result.target_sha))
        except CommandFailed:
            # the image of this tag is gone (pruned): build it after all
            await runner.run(restart_step(target, tag, build=True, sha=result.target_sha))
    else:
        await runner.run(restart_step(target, tag, ref_type=ref_type, sha=result.target_sha))

    # health and smoke, from the relman machine
    await _health(ctx, target, runner, result)
    ctx.log.message(msg.msg_success(tag, request.kind, ref_type), name)


def _with_message(step: Step, message: str) -> Step:
    return replace(step, message=message)


async def _backup(
    ctx: _Context, target: Target, runner: StepRunner, result: HostResult
) -> BackupInfo:
    """Run the backup command, then record and verify the dump's sha256 (seed 001 §3.1)."""
    name = target.host_name
    request = ctx.request
    folder = backup_dir_for(target, stamp(utc_now()), request.tag)
    ctx.log.message(msg.MSG_BACKUP, name)
    for step in backup_steps(target, request.tag, folder):
        await runner.run(step)
    digest = await runner.run(backup_digest_step(folder))
    if digest.result.exit_status == DUMP_MISSING_STATUS:
        raise BackupInvalid(
            f"host {name}: the backup command wrote no dump (expected a non-empty "
            f"{folder}/{DUMP_NAME}); not deploying without a backup",
            host=name,
        )
    size_line = digest.first_match(re.compile(r"\d+"))
    sum_line = digest.first_match(re.compile(r"[0-9a-f]{64}\s+\S.*"))
    if not size_line or not sum_line:
        raise BackupInvalid(
            f"host {name}: cannot read the dump's size and sha256 in {folder}", host=name
        )
    size = int(size_line)
    sha256 = sum_line.split()[0]
    manifest = backup_manifest(
        service=request.service_name,
        environment=request.environment,
        host=name,
        created_at=iso(utc_now()),
        tag_before=result.version_before,
        sha_before=result.sha_before,
        tag_deploying=request.tag,
        size_bytes=size,
        sha256=sha256,
    )
    await runner.run(write_manifest_step(folder, manifest, sha256))
    check = await runner.run(verify_backup_step(folder))
    if not check.ok:
        raise BackupInvalid(
            f"host {name}: the dump in {folder} changed after it was written "
            "(sha256 mismatch); not deploying",
            host=name,
        )
    ctx.log.message(msg.msg_backup_ok(sha256, size), name)
    return BackupInfo(name, folder, f"{folder}/{DUMP_NAME}", sha256, size, manifest)


async def _health(ctx: _Context, target: Target, runner: StepRunner, result: HostResult) -> None:
    """Health check then smoke URLs; on failure capture the service's log and raise
    :class:`HealthCheckFailed` naming the host."""
    name = target.host_name
    check = ctx.request.service.health
    url = render(check.url, target.host)
    # a branch has no version to show: any 2xx passes
    expected = version_of(ctx.request.tag) if check.expect_version and not ctx.branch else None
    ctx.progress[name].step("health")
    step_log = runner.step_log("health")
    began = time.monotonic()

    def on_attempt(number: int, total: int) -> None:
        ctx.log.message(msg.msg_health_attempt(number, total), name)

    def on_result(attempt: Attempt) -> None:
        shown = "ok" if attempt.ok else attempt.error
        line = (
            f"GET {url} attempt {attempt.number}: {attempt.status} {shown} "
            f"({attempt.duration:.3f} s)"
        )
        if step_log is not None:
            step_log.write(line)
        if not attempt.ok:
            ctx.log.output(line, name)

    try:
        report = await check_health(
            url,
            attempts=check.attempts,
            interval=check.interval,
            attempt_timeout=check.timeout,
            expected_version=expected,
            on_attempt=on_attempt,
            on_result=on_result,
            client=ctx.http,
        )
    finally:
        if step_log is not None:
            step_log.close()
    result.health = report
    runner.record("health", began, 0 if report.ok else 1)
    if not report.ok:
        ctx.log.message(msg.msg_health_failed(check.attempts), name)
        await _capture_service_log(ctx, target, runner, result)
        last = report.last
        detail = last.error if last is not None else "no attempt"
        raise HealthCheckFailed(
            f"{msg.msg_health_failed(check.attempts)} (host {name}, {url}: {detail})", host=name
        )
    ctx.log.message(msg.MSG_HEALTH_OK, name)

    urls = [render(u, target.host) for u in ctx.request.service.smoke_urls]
    if not urls:
        return
    ctx.progress[name].step("smoke")
    began = time.monotonic()
    reports = await check_smoke(urls, attempt_timeout=check.timeout, client=ctx.http)
    result.smoke = reports
    smoke_log = runner.step_log("smoke")
    for report in reports:
        attempt = report.last
        outcome = "ok" if report.ok else (attempt.error if attempt else "no answer")
        status = attempt.status if attempt else None
        ctx.log.message(msg.msg_smoke(report.url, f"{status} {outcome}"), name)
        if smoke_log is not None:
            smoke_log.write(f"GET {report.url}: {status} {outcome}")
    if smoke_log is not None:
        smoke_log.close()
    failed = [r for r in reports if not r.ok]
    runner.record("smoke", began, 1 if failed else 0)
    if failed:
        await _capture_service_log(ctx, target, runner, result)
        raise HealthCheckFailed(
            f"❌ Smoke не пройден на хосте {name}: " + ", ".join(r.url for r in failed),
            host=name,
        )


async def _capture_service_log(
    ctx: _Context, target: Target, runner: StepRunner, result: HostResult
) -> None:
    step = service_log_step(target)
    if step is None:
        return
    try:
        out = await runner.run(step)
    except RelmanError:
        return
    lines = [ctx.redactor(line) for line in out.lines][-50:]
    result.service_log = lines
    ctx.log.message(msg.MSG_SERVICE_LOG, target.host_name)
    for line in lines:
        ctx.log.output(line, target.host_name)


__all__ = [
    "BackupInfo",
    "DeployError",
    "DeployRequest",
    "DeployResult",
    "HostResult",
    "deploy",
]
