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
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
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
    DeployError,
    HealthCheckFailed,
    ImageDigestMoved,
    ImageUnavailable,
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
from relman.deploy.rollout import plan_batches
from relman.deploy.runner import (
    BatchOutput,
    StepOutput,
    StepRecord,
    StepRunner,
    command_failed,
)
from relman.deploy.steps import (
    CONTAINER_EXITED,
    DIGEST_MISMATCH_STATUS,
    DUMP_MISSING_STATUS,
    DUMP_NAME,
    IMAGE_ABSENT,
    IMAGE_BUILT,
    IMAGE_DIGEST,
    IMAGE_PRESENT,
    IMAGE_PULLED,
    LOCK_HELD_STATUS,
    PULL_FAILED_STATUS,
    Step,
    Target,
    backup_digest_step,
    backup_dir_for,
    backup_manifest,
    backup_steps,
    checkout_commit_step,
    checkout_step,
    clean_branches_step,
    compose_check_step,
    container_watch_step,
    fetch_steps,
    has_checkout,
    lock_details,
    lock_step,
    make_target,
    migrate_step,
    preflight_steps,
    probe_step,
    prune_images_step,
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
#: The container watch's line when the container stopped.
_EXITED_RE = re.compile(re.escape(CONTAINER_EXITED) + r" .*")
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
    * ``expected_digest``: registry mode: the image digest QA approved; another image under
      the tag is refused before the running container is touched.
    * ``log_root`` / ``evidence_root``: ``None`` writes no log file / no evidence.
    * ``secrets``: more values to mask in every output (tokens the caller knows).
    * ``batch_size``: hosts changed at a time (``None``: all at once); ``max_fail``: failed
      hosts tolerated before the hosts not yet changed are left alone (issue "Fast
      relman" item 4).
    * ``keep_images``: compose only: after a healthy host, the service's images with
      other tags than these (and this deploy's) are removed from it (``()``: none).
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
    batch_size: int | None = None
    max_fail: int = 0
    keep_images: Sequence[str] = ()
    expected_digest: str | None = None
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
    (a restore may be needed); ``backup`` is the verified pre-deploy backup. ``batch`` is
    the rolling batch (1, 2, …) the host was changed in; ``skipped`` says the host was left
    alone because another host failed (``error_code`` ``not_started``); ``executions`` is
    how many remote commands the host got. ``error`` is in the seed's words where it is one
    of the seed's messages (what summary.json keeps); ``error_en`` is then its English twin
    (``None``: the error reads the same in both languages), see :meth:`error_text`.
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
    batch: int | None = None
    skipped: bool = False
    executions: int = 0
    image_digest: str | None = None
    error_en: str | None = None

    def error_text(self, language: msg.Language) -> str | None:
        """``error`` in ``language`` (``ru``: as summary.json has it; ``en``: its twin)."""
        if language == "en" and self.error_en is not None:
            return self.error_en
        return self.error

    def error_message(self) -> msg.Message | None:
        """``error`` in both languages (``None`` without an error)."""
        if self.error is None:
            return None
        return msg.Message(self.error, self.error_en or self.error)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (for summary.json; ``error`` only in the seed's words)."""
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
            "batch": self.batch,
            "skipped": self.skipped,
            "remote_executions": self.executions,
            "image_digest": self.image_digest,
        }


@dataclass
class DeployResult:
    """The outcome of a deploy on all its hosts.

    ``ok`` when the rollout ran to its end with at most ``max_fail`` failed hosts (with the
    default ``max_fail`` of 0: every host is ok). ``stopped``: it ended early (a host failed
    its checks, or more than ``max_fail`` hosts failed), leaving the rest ``skipped``.
    ``batches`` lists the host names of each rolling batch, in order. ``tag`` is the branch
    name when ``ref_type`` is ``branch`` (a developer deploy).
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
    batches: list[list[str]] = field(default_factory=list)
    stopped: bool = False
    max_fail: int = 0

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
    def image_digest(self) -> str | None:
        """Registry mode: the image digest every host ran, when they agree (else ``None``)."""
        digests = {result.image_digest for result in self.hosts.values()}
        return digests.pop() if len(digests) == 1 else None

    @property
    def duration(self) -> float:
        """Seconds from start to finish."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def failed_hosts(self) -> list[str]:
        """Names of the hosts that failed or were left alone (pass as ``only_hosts`` to
        retry them)."""
        return [name for name, result in self.hosts.items() if not result.ok]

    @property
    def changed_hosts(self) -> list[str]:
        """Names of the hosts whose checkout was switched."""
        return [name for name, result in self.hosts.items() if result.changed]

    @property
    def migrated(self) -> bool:
        """Whether a migration started on any host."""
        return any(result.migrated for result in self.hosts.values())

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
            "image_digest": self.image_digest,
            "environment": self.environment,
            "actor": self.actor,
            "deploy_id": self.deploy_id,
            "hosts": list(self.hosts),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": round(self.duration, 3),
            "log_file": str(self.log_path) if self.log_path else None,
            "error": self.error,
            "batches": self.batches,
            "stopped": self.stopped,
            "max_fail": self.max_fail,
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


@dataclass
class _HostRun:
    """One host's part of a deploy: its target, runner, result and what the phases learnt."""

    name: str
    host: Host
    target: Target
    runner: StepRunner
    result: HostResult
    progress: HostProgress
    began: float = field(default_factory=time.monotonic)
    #: The probe's answer: ``git``, ``files`` or ``none``.
    state: str = "none"
    #: The pre-deploy backup's folder, size (bytes) and sha256 once the digest ran.
    backup_dir: str | None = None
    backup_digest: tuple[int, str] | None = None
    #: Capture the service's own log with the unlock (its health check failed).
    wants_service_log: bool = False


async def deploy(
    request: DeployRequest,
    *,
    transport_factory: TransportFactory = open_transport,
    http_client: httpx.AsyncClient | None = None,
) -> DeployResult:
    """Deploy ``request.tag`` (or the branch, see :class:`DeployRequest`) of the service to
    its hosts.

    First every host is checked before any changes (issue "Fast relman" item 3): connect
    (host key pinned), take the host lock, read the env files' secrets, probe, preflight,
    fetch and verify the tag (and the approved sha, and the backup to restore). If any host
    fails there, no host changes: the locks taken are freed and each host's result names
    its problem (the others ``not_started``). Then the hosts change in batches of
    ``request.batch_size`` (all at once by default), one batch after another, each
    health-gated; once more than ``request.max_fail`` hosts have failed, the hosts not yet
    changed are left alone (``skipped``, ``not_started``) and :attr:`DeployResult.stopped`
    is set. An upgrade costs a host three remote executions, a first deploy four (compose
    adds one: the container watch during the health check).

    Returns a :class:`DeployResult`; a failing host is reported there (with its name and the
    error), not raised. Raises :class:`~relman.domain.errors.InvalidInput` only for a request
    that cannot start: a tag that is not ``v``+SemVer, an invalid branch name, a rollback of
    a branch, no hosts, ``only_hosts`` naming hosts not in ``hosts``, a ``batch_size`` below
    1 or a negative ``max_fail``, or ``restore_backup`` without a backup folder for a host.
    """
    if request.ref_type == "branch":
        validate_branch(request.tag, field="branch")
        if request.kind != "deploy":
            raise InvalidInput("kind", "a branch is deployed, never rolled back to")
    else:
        parse_release_tag(request.tag, field="tag")
    selected = _select_hosts(request)
    batches = plan_batches(list(selected), request.batch_size)
    if request.max_fail < 0:
        raise InvalidInput("max_fail", "must be 0 or more")
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

    def on_said(host: str, said: msg.Message) -> None:
        if host in progress:
            progress[host].say(said)

    deploy_log = DeployLog(path, redactor, multi_host=len(selected) > 1, on_said=on_said)
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
    runs: dict[str, _HostRun] = {}
    stopped = True
    try:
        for name, host in selected.items():
            runs[name] = _host_run(ctx, name, host, transport_factory(host, name))
        stopped = await _deploy_hosts(ctx, runs, batches)
    finally:
        await asyncio.gather(*(_finish(ctx, run) for run in runs.values()))
        await asyncio.gather(*(_close(run.runner.transport) for run in runs.values()))
        if http_client is None:
            await http.aclose()
    by_host = {name: run.result for name, run in runs.items()}
    failed = [r for r in by_host.values() if not r.ok]
    error = None
    if failed:
        error = "; ".join(f"{r.host}: {r.error}" for r in failed)
        if request.kind == "rollback":
            deploy_log.message(msg.MSG_ROLLBACK_FAILED)
    tolerated = sum(1 for r in failed if not r.skipped)
    result = DeployResult(
        ok=not stopped and tolerated <= request.max_fail and len(failed) == tolerated,
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
        batches=batches,
        stopped=stopped,
        max_fail=request.max_fail,
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


def _host_run(ctx: _Context, name: str, host: Host, transport: Transport) -> _HostRun:
    request = ctx.request
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
    target = make_target(request.service_name, request.service, name, host, request.environment)
    return _HostRun(name, host, target, runner, HostResult(host=name), progress)


async def _deploy_hosts(
    ctx: _Context, runs: Mapping[str, _HostRun], batches: list[list[str]]
) -> bool:
    """Prepare every host, then change them batch by batch; returns whether the rollout
    stopped before its end (a host failed its checks, or more than ``max_fail`` failed)."""
    await asyncio.gather(*(_guarded(ctx, run, _prepare) for run in runs.values()))
    problems = [name for name, run in runs.items() if run.result.error is not None]
    if problems:
        why = f"not changed: {', '.join(problems)} failed before any host changed"
        _leave_alone(ctx, [run for run in runs.values() if run.result.error is None], why)
        return True
    max_fail = ctx.request.max_fail
    failures = 0
    for number, names in enumerate(batches, start=1):
        if len(batches) > 1:
            ctx.log.message(msg.msg_batch(number, len(batches), names))
        for name in names:
            runs[name].result.batch = number
        await asyncio.gather(*(_guarded(ctx, runs[name], _change) for name in names))
        failures += sum(1 for name in names if not runs[name].result.ok)
        if failures > max_fail:
            rest = [runs[name] for later in batches[number:] for name in later]
            if rest:
                ctx.log.message(msg.msg_rollout_stopped(number, len(batches), failures))
            why = (
                f"not changed: the rollout stopped after batch {number} of {len(batches)} "
                f"({failures} host(s) failed, max_fail {max_fail})"
            )
            _leave_alone(ctx, rest, why)
            return True
    return False


def _leave_alone(ctx: _Context, runs: Sequence[_HostRun], why: str) -> None:
    for run in runs:
        run.result.skipped = True
        run.result.error = why
        run.result.error_code = "not_started"
        ctx.log.message(msg.msg_error(why), run.name)


async def _guarded(ctx: _Context, run: _HostRun, phase: Callable[..., Awaitable[None]]) -> None:
    """Run one phase on one host; every error ends up in the host's result."""
    result = run.result
    try:
        await phase(ctx, run)
    except RelmanError as exc:
        result.ok = False
        _set_error(ctx, result, _error_message(exc))
        result.error_code = exc.code
        ctx.log.message(msg.msg_error(result.error_message() or ""), run.name)
    except Exception as exc:  # a bug or an unexpected library error: report, do not crash
        result.ok = False
        _set_error(ctx, result, msg.Message.plain(f"{type(exc).__name__}: {exc}"))
        result.error_code = "internal_error"
        ctx.log.message(msg.msg_error(result.error_message() or ""), run.name)


class _SaidHealthCheckFailed(HealthCheckFailed):
    """A :class:`HealthCheckFailed` raised here, with its text in both languages."""

    def __init__(self, said: msg.Message, *, host: str) -> None:
        super().__init__(said.ru, host=host)
        self.said = said


def _error_message(exc: RelmanError) -> msg.Message:
    """``exc``'s text with its English twin where the text is one of the seed's messages
    (a tag or branch not found, a failed health check or smoke URL). relman's other error
    texts are English already, and a host's words are its own: those read the same in
    both languages. The seed text is always ``str(exc)`` exactly (summary.json keeps it)."""
    text = str(exc)
    twin: msg.Message | None = None
    if isinstance(exc, _SaidHealthCheckFailed):
        twin = exc.said
    elif isinstance(exc, TagNotFound):
        twin = msg.msg_tag_not_found(exc.tag)
    elif isinstance(exc, BranchNotFound):
        twin = msg.msg_branch_not_found(exc.branch)
    # a twin whose Russian differs from the error's would show another error: not used
    return twin if twin is not None and twin.ru == text else msg.Message.plain(text)


def _set_error(ctx: _Context, result: HostResult, said: msg.Message) -> None:
    """Record a host's error, redacted (``error_en`` only where it differs)."""
    shown = said.map(ctx.redactor)
    result.error = shown.ru
    result.error_en = shown.en if shown.en != shown.ru else None


def _unchecked(step: Step) -> Step:
    return replace(step, check=False)


def _checked(step: Step) -> Step:
    return replace(step, check=True)


def _with_message(step: Step, message: msg.Message) -> Step:
    return replace(step, message=message)


async def _prepare(ctx: _Context, run: _HostRun) -> None:
    """Remote execution 1: lock, env files, probe, preflight and — where a checkout exists
    — fetch and verify the ref (and the backup to restore); a host without a checkout needs
    execution 2 to clone or init first. Nothing the service runs changes here."""
    request = ctx.request
    name, target, result = run.name, run.target, run.result
    details = lock_details(
        deploy_id=request.deploy_id,
        actor=request.actor,
        since=iso(ctx.started),
        tag=request.tag,
        reason=request.reason or f"{request.kind} {request.tag} to {request.environment}",
        pid=os.getpid(),
        machine=this_machine(),
        environment=request.environment,
    )
    preflight = [_unchecked(step) for step in preflight_steps(target)]
    seen: dict[str, StepOutput] = {}

    def done(step: Step, out: StepOutput) -> None:
        seen[step.name] = out
        if step.name == "lock" and out.ok:
            result.lock_acquired = True
            ctx.log.message(msg.MSG_LOCKED, name)
        elif step.name == "read_env_file":
            # masked before the next step of the same command prints anything
            ctx.redactor.add(*env_file_secrets("\n".join(out.lines)))
        elif step.name == preflight[-1].name:
            # logged before the fetch of the same command begins: the seed's order
            _read_state(ctx, run, seen)

    # Where a checkout exists (the usual upgrade) the fetch and the ref check ride along,
    # guarded by the probe's own test: one remote execution instead of two.
    fetch, verify_step = _fetch_steps(ctx, run, "git")
    guarded = [replace(step, only_if=has_checkout(target)) for step in (*fetch, verify_step)]
    restore_dir = _restore_dir(ctx, run)
    # the backup to restore is checked before anything changes (seed 001 §4)
    restore = [verify_backup_step(restore_dir, "restore_verify")] if restore_dir else []
    # (outputs are parsed by shape: a login shell may print lines of its own)
    first = await run.runner.run_batch(
        [
            _checked(lock_step(target, details)),
            *read_env_file_steps(target),
            _with_message(probe_step(target), msg.MSG_UPDATING),
            *preflight,
            *guarded,
            *restore,
        ],
        on_done=done,
    )
    lock = first.get("lock")
    if lock is not None and lock.result.exit_status == LOCK_HELD_STATUS:
        status = parse_details("\n".join(lock.lines[1:]), target.lock_dir)
        raise lock_held_error(status, name, request.service_name)
    if preflight[-1].name not in seen:  # the command stopped before the preflight's end
        first.raise_failed()
        raise DeployError(f"host {name}: the probe and preflight did not finish", host=name)
    if run.state == "git":
        status_out = first["preflight_status"]
        if not status_out.ok:
            raise command_failed(name, "preflight_status", status_out)
        _check_fetched(ctx, run, first, verify_step, restore_dir)
        return
    _check_restorable(run, first, restore_dir)
    first.raise_failed()
    fetch, verify_step = _fetch_steps(ctx, run, run.state)
    second = await run.runner.run_batch([*fetch, verify_step])
    _check_fetched(ctx, run, second, verify_step, None)


def _read_state(ctx: _Context, run: _HostRun, seen: Mapping[str, StepOutput]) -> None:
    """What the probe and the preflight found: the checkout's state, its dirty files, the
    tag and sha deployed now (logged as the seed's "current state")."""
    name, result = run.name, run.result
    probe = seen.get("probe")
    run.state = (probe.first_match(_PROBE_RE) if probe is not None else "") or "none"
    if run.state == "git":
        status_out = seen["preflight_status"]
        version_out, sha_out = seen["preflight_version"], seen["preflight_sha"]
        dirty = [line for line in status_out.lines if _PORCELAIN_RE.fullmatch(line)]
        result.dirty = [ctx.redactor(line) for line in dirty][:50] if status_out.ok else []
        result.version_before = (
            (version_out.first_match(_REF_RE) or None) if version_out.ok else None
        )
        result.sha_before = (sha_out.first_match(SHA_RE) or None) if sha_out.ok else None
        shown = result.version_before or (result.sha_before or "")[:12] or None
        ctx.log.message(msg.msg_current_state(shown), name)
        if result.dirty:
            ctx.log.message(msg.msg_dirty(len(result.dirty)), name)
    else:
        ctx.log.message(msg.msg_current_state(None, has_checkout=False), name)
    result.version_after, result.sha_after = result.version_before, result.sha_before


def _fetch_steps(ctx: _Context, run: _HostRun, state: str) -> tuple[list[Step], Step]:
    """The fetch for a checkout in ``state`` (seed 003: git fetch origin --tags --force,
    a clone or an init first where there is none) and the step checking the ref exists."""
    request, target = ctx.request, run.target
    fetch = fetch_steps(target, state, branches=ctx.branch)
    if state == "none":
        fetch[0] = _with_message(fetch[0], msg.MSG_CLONING)
    fetch[-1] = _with_message(fetch[-1], msg.MSG_FETCHING)
    if ctx.branch:
        return fetch, _checked(verify_branch_step(target, request.tag))
    return fetch, _checked(verify_tag_step(target, request.tag))


def _check_fetched(
    ctx: _Context, run: _HostRun, out: BatchOutput, verify_step: Step, restore_dir: str | None
) -> None:
    """Raise when the ref is missing (or moved), the backup to restore does not match its
    sums, or a fetch step failed; else record the ref's commit and log it found."""
    request, name = ctx.request, run.name
    verify = out.get(verify_step.name)
    if verify is None:  # a fetch step failed first, or the checkout vanished under the lock
        out.raise_failed()
        raise DeployError(f"host {name}: the {verify_step.name} step did not run", host=name)
    sha = verify.first_match(SHA_RE)
    if not verify.ok or not sha:
        raise (
            BranchNotFound(request.tag, host=name)
            if ctx.branch
            else TagNotFound(request.tag, host=name)
        )
    _check_restorable(run, out, restore_dir)
    out.raise_failed()
    run.result.target_sha = sha
    if request.expected_sha and not sha.startswith(request.expected_sha):
        raise TagMoved(request.tag, request.expected_sha, sha, host=name)
    if ctx.branch:
        ctx.log.message(msg.msg_branch_found(request.tag, sha), name)
    else:
        ctx.log.message(msg.msg_tag_found(request.tag), name)


def _check_restorable(run: _HostRun, out: BatchOutput, restore_dir: str | None) -> None:
    """Raise :class:`BackupInvalid` when ``out`` stopped at the check of the backup to
    restore."""
    if out.failed is not None and out.failed.name == "restore_verify":
        raise BackupInvalid(
            f"host {run.name}: backup {restore_dir} does not match its SHA256SUMS; "
            "not restoring it",
            host=run.name,
        )


def _restore_dir(ctx: _Context, run: _HostRun) -> str | None:
    """The backup folder this rollback restores on the host, if it restores one."""
    request = ctx.request
    if request.kind == "rollback" and request.restore_backup:
        return request.restore_from.get(run.name)
    return None


async def _change(ctx: _Context, run: _HostRun) -> None:
    """Remote execution 3 — backup, checkout, branch clean, migrate or restore, restart —
    then the health check and smoke URLs from the relman machine."""
    request = ctx.request
    tag, name, target, result = request.tag, run.name, run.target, run.result
    service = request.service
    sha = result.target_sha
    assert sha is not None
    restore_dir = _restore_dir(ctx, run)
    steps: list[Step] = []
    # backup before anything changes (seed 001 §3.1, seed 002 §7); not for a branch
    if (
        service.backup_command
        and not ctx.branch
        and (request.kind == "deploy" or restore_dir is not None)
    ):
        run.backup_dir = backup_dir_for(target, stamp(utc_now()), tag)
        backup = backup_steps(target, tag, run.backup_dir)
        backup[0] = _with_message(backup[0], msg.MSG_BACKUP)
        steps += [*backup, backup_digest_step(run.backup_dir), verify_backup_step(run.backup_dir)]
    # checkout (seed 003: "Переключаемся на тег"); a branch: the commit verified before
    if ctx.branch:
        checkout = _with_message(
            checkout_commit_step(target, sha), msg.msg_switching_branch(tag, sha)
        )
    else:
        checkout = _with_message(checkout_step(target, tag), msg.msg_switching(tag))
    steps += [checkout, _with_message(clean_branches_step(target), msg.MSG_CLEANING)]
    # database: restore on a rollback that undoes a migration, else migrate
    if restore_dir is not None:
        steps.append(_with_message(restore_step(target, tag, restore_dir), msg.MSG_RESTORE))
    elif request.kind == "deploy" and service.migrate_command:
        steps.append(
            _with_message(
                migrate_step(target, tag, ref_type=request.ref_type, sha=sha), msg.MSG_MIGRATE
            )
        )
    if service.strategy == "compose":
        steps.append(compose_check_step(target, tag))
    # build / restart; a compose rollback starts the tag's image if the host has it
    reuse = service.strategy == "compose" and request.kind == "rollback"
    restart = restart_step(
        target,
        tag,
        reuse_image=reuse,
        # registry mode: production runs only what was built once and pushed
        may_build=request.environment != "production",
        expected_digest=request.expected_digest,
        ref_type=request.ref_type,
        sha=sha,
    )
    steps.append(
        _with_message(
            restart, msg.msg_building(tag, service.strategy, request.ref_type, reuse_image=reuse)
        )
    )

    def began(step: Step) -> None:
        if step.name == "checkout":
            result.changed = True
        elif step.name == "migrate":
            result.migrated = True
        elif step.name == "restore":
            result.restored = True

    def done(step: Step, out: StepOutput) -> None:
        if step.name == "restart" and service.strategy == "compose":
            _log_image_lines(ctx, run, out)
        elif step.name == "backup_digest" and out.ok:
            run.backup_digest = _read_digest(out)
        elif step.name == "backup_verify" and out.ok and run.backup_digest is not None:
            ctx.log.message(msg.msg_backup_ok(run.backup_digest[1], run.backup_digest[0]), name)

    out = await run.runner.run_batch(steps, on_begin=began, on_done=done)
    _check_backup(ctx, run, out)
    started = out.get("restart")
    if out.failed is not None and out.failed.name == "restart" and started is not None:
        _raise_image_problem(ctx, run, started)
    out.raise_failed()
    result.version_after, result.sha_after = tag, sha
    await _health(ctx, run)
    ctx.log.message(msg.msg_success(tag, request.kind, request.ref_type), name)
    result.ok = True


def _log_image_lines(ctx: _Context, run: _HostRun, out: StepOutput) -> None:
    """Log where a compose start's image came from, and record its digest."""
    for line in out.lines:
        if line.startswith(IMAGE_PRESENT):
            ctx.log.message(msg.msg_image(True, line[len(IMAGE_PRESENT) :].strip()), run.name)
        elif line.startswith(IMAGE_ABSENT):
            ctx.log.message(msg.msg_image(False, line[len(IMAGE_ABSENT) :].strip()), run.name)
        elif line.startswith(IMAGE_PULLED):
            ctx.log.message(msg.msg_pulled(line[len(IMAGE_PULLED) :].strip(), False), run.name)
        elif line.startswith(IMAGE_BUILT):
            ctx.log.message(msg.msg_pulled(line[len(IMAGE_BUILT) :].strip(), True), run.name)
        elif line.startswith(IMAGE_DIGEST):
            digest = line[len(IMAGE_DIGEST) :].strip()
            if digest:
                run.result.image_digest = digest
                ctx.log.message(msg.msg_digest(digest), run.name)


def _raise_image_problem(ctx: _Context, run: _HostRun, out: StepOutput) -> None:
    """Registry mode: a start refused for its image names the image and why."""
    status = out.result.exit_status
    tail = "; ".join(line for line in out.tail[-3:] if line) or "no output"
    if status == PULL_FAILED_STATUS:
        raise ImageUnavailable(f"host {run.name}: {tail}", host=run.name)
    if status == DIGEST_MISMATCH_STATUS:
        raise ImageDigestMoved(
            f"host {run.name}: {tail}; refusing to run an image QA did not approve",
            host=run.name,
        )


def _read_digest(out: StepOutput) -> tuple[int, str] | None:
    """The dump's size (bytes) and sha256 from the digest step's output, if readable."""
    size_line = out.first_match(re.compile(r"\d+"))
    sum_line = out.first_match(re.compile(r"[0-9a-f]{64}\s+\S.*"))
    if not size_line or not sum_line:
        return None
    return int(size_line), sum_line.split()[0]


def _check_backup(ctx: _Context, run: _HostRun, out: BatchOutput) -> None:
    """Record the verified backup in the host's result, or raise :class:`BackupInvalid`
    for a backup step that failed (a missing dump, a sum that does not match)."""
    name, folder = run.name, run.backup_dir
    failed = out.failed.name if out.failed is not None else None
    if folder is None:
        return
    digest = out.get("backup_digest")
    if failed == "backup_digest" and digest is not None:
        if digest.result.exit_status == DUMP_MISSING_STATUS:
            raise BackupInvalid(
                f"host {name}: the backup command wrote no dump (expected a non-empty "
                f"{folder}/{DUMP_NAME}); not deploying without a backup",
                host=name,
            )
        out.raise_failed()
    if failed == "backup_verify":
        raise BackupInvalid(
            f"host {name}: the dump in {folder} changed after it was written "
            "(sha256 mismatch); not deploying",
            host=name,
        )
    if digest is None or not digest.ok:
        return  # the backup command itself failed: raise_failed names it
    if run.backup_digest is None:
        raise BackupInvalid(
            f"host {name}: cannot read the dump's size and sha256 in {folder}", host=name
        )
    size, sha256 = run.backup_digest
    manifest = backup_manifest(
        service=ctx.request.service_name,
        environment=ctx.request.environment,
        host=name,
        created_at=iso(utc_now()),
        tag_before=run.result.version_before,
        sha_before=run.result.sha_before,
        tag_deploying=ctx.request.tag,
        size_bytes=size,
        sha256=sha256,
    )
    run.result.backup = BackupInfo(name, folder, f"{folder}/{DUMP_NAME}", sha256, size, manifest)


async def _finish(ctx: _Context, run: _HostRun) -> None:
    """The last remote execution: the service's log when its health check failed, the
    backup's manifest, and the unlock; then the host's totals and its last progress."""
    result = run.result
    steps: list[Step] = []
    request = ctx.request
    log_step = (
        service_log_step(run.target, request.tag, ref_type=request.ref_type)
        if run.wants_service_log
        else None
    )
    if log_step is not None:
        steps.append(log_step)
    if result.backup is not None:
        steps.append(write_manifest_step(result.backup.dir, result.backup.manifest))
    if result.ok and request.keep_images and request.service.strategy == "compose":
        others = [t for t in request.keep_images if t != request.tag]
        keep = [request.tag, *others][: request.service.keep_images]
        steps.append(prune_images_step(run.target, request.tag, keep))
    if result.lock_acquired:
        steps.append(unlock_step(run.target, ctx.request.deploy_id))
    try:
        if steps:
            out = await run.runner.run_batch(steps)
            logged = out.get("service_log")
            if logged is not None:
                lines = [ctx.redactor(line) for line in logged.lines][-50:]
                result.service_log = lines
                ctx.log.message(msg.MSG_SERVICE_LOG, run.name)
                for line in lines:
                    ctx.log.output(line, run.name)
            unlocked = out.get("unlock")
            if unlocked is not None and unlocked.ok:
                ctx.log.message(msg.MSG_UNLOCKED, run.name)
    except Exception as exc:  # the host went away: its lock shows as stale in `lock status`
        ctx.log.message(msg.msg_error(ctx.redactor(f"unlock: {exc}")), run.name)
    finally:
        result.steps = list(run.runner.records)
        result.executions = run.runner.executions
        result.duration = time.monotonic() - run.began
        request = ctx.request
        done = msg.msg_success(request.tag, request.kind, request.ref_type)
        run.progress.finish(result.ok, done if result.ok else (result.error_message() or "failed"))


async def _health(ctx: _Context, run: _HostRun) -> None:
    """Health check then smoke URLs; on failure ask for the service's log (captured with
    the unlock) and raise :class:`HealthCheckFailed` naming the host."""
    target, runner, result = run.target, run.runner, run.result
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

    stop = asyncio.Event()
    exit_codes: list[str] = []
    watch: asyncio.Task[None] | None = None
    if ctx.request.service.strategy == "compose":
        # a container that has exited will not come up: stop polling it at once
        window = (check.attempts - 1) * check.interval + check.attempts * check.timeout

        async def watch_container() -> None:
            out = await runner.run(container_watch_step(target, ctx.request.tag, window))
            line = out.first_match(_EXITED_RE)
            if line:
                exit_codes.append(line[len(CONTAINER_EXITED) :].strip())
                stop.set()

        watch = asyncio.create_task(watch_container())
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
            stop=stop,
        )
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, RelmanError):
                await watch
        if step_log is not None:
            step_log.close()
    result.health = report
    runner.record("health", began, 0 if report.ok else 1)
    if not report.ok:
        if report.stopped and exit_codes:
            ctx.log.message(msg.msg_container_exited(exit_codes[0]), name)
        ctx.log.message(msg.msg_health_failed(check.attempts), name)
        run.wants_service_log = True
        last = report.last
        detail = last.error if last is not None else "no attempt"
        if report.stopped and exit_codes:
            detail = f"the container exited with code {exit_codes[0]}"
        raise _SaidHealthCheckFailed(
            msg.msg_health_failed_on(check.attempts, name, url, str(detail)), host=name
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
        run.wants_service_log = True
        raise _SaidHealthCheckFailed(msg.msg_smoke_failed(name, [r.url for r in failed]), host=name)


__all__ = [
    "BackupInfo",
    "DeployError",
    "DeployRequest",
    "DeployResult",
    "HostResult",
    "deploy",
]
