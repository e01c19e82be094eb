"""Errors of the deploy engine (DESIGN.md §4), all subclasses of :class:`RelmanError`.

Messages name hosts, services, tags and fingerprints, never a password, key or token: a
message may be shown in a chat, a log line or an API answer (DESIGN.md §5).
"""

from __future__ import annotations

from typing import Any

from relman.domain.errors import Conflict, NotFound, RelmanError


class DeployError(RelmanError):
    """A deploy (or rollback) could not be completed on a host.

    ``host`` is relman's name of the host (``None`` for errors not bound to one host).
    """

    code = "deploy_error"

    def __init__(self, message: str, *, host: str | None = None, **details: Any) -> None:
        super().__init__(message, host=host, **details)
        self.host = host


class TagNotFound(DeployError, NotFound):
    """The tag does not exist in the repository after ``git fetch`` (seed 003, Troubleshooting 1).

    The message is the seed's text exactly: ``❌ Тег v1.2.3 не найден в репозитории после
    обновления!``.
    """

    code = "tag_not_found"

    def __init__(self, tag: str, *, host: str | None = None) -> None:
        super().__init__(
            f"❌ Тег {tag} не найден в репозитории после обновления!", host=host, tag=tag
        )
        self.tag = tag


class BranchNotFound(DeployError, NotFound):
    """A developer deploy's branch is not on origin after ``git fetch`` (no
    ``origin/<branch>``); nothing on the host was changed."""

    code = "branch_not_found"

    def __init__(self, branch: str, *, host: str | None = None) -> None:
        super().__init__(
            f"❌ Ветка {branch} не найдена в репозитории после обновления (нет origin/{branch})!",
            host=host,
            branch=branch,
        )
        self.branch = branch


class TagMoved(DeployError, Conflict):
    """The tag now points at another commit than the one that was approved (DESIGN.md §5)."""

    code = "tag_moved"

    def __init__(self, tag: str, expected_sha: str, actual_sha: str, *, host: str | None) -> None:
        super().__init__(
            f"tag {tag} points at {actual_sha[:12]}, but {expected_sha[:12]} was approved; "
            "refusing to deploy a tag that moved",
            host=host,
            tag=tag,
            expected_sha=expected_sha,
            actual_sha=actual_sha,
        )


class TransportError(DeployError):
    """The host cannot be reached or the connection broke (network, auth, timeout)."""

    code = "transport_error"


class HostKeyRejected(TransportError):
    """The SSH server offered a host key that the host's known_hosts does not pin.

    Raised before any command runs (DESIGN.md §4). ``fingerprint`` is the offered key's
    ``SHA256:…`` fingerprint (``None`` if the server never showed a key); ``reason`` is
    ``unknown`` (no entry for this host) or ``changed`` (entries exist, none match).
    """

    code = "host_key_rejected"

    def __init__(
        self, host: str, address: str, fingerprint: str | None, reason: str, known_hosts: str
    ) -> None:
        what = "unknown host key" if reason == "unknown" else "host key changed"
        shown = fingerprint or "(no key offered)"
        super().__init__(
            f"host {host} ({address}): {what}: the server offered {shown}, which {known_hosts} "
            "does not pin; refusing to connect",
            host=host,
            address=address,
            fingerprint=fingerprint,
            reason=reason,
            known_hosts=known_hosts,
        )
        self.fingerprint = fingerprint
        self.reason = reason


class LockHeld(DeployError, Conflict):
    """Another deploy holds the host's lock for this service.

    ``holder`` is who started it, ``since`` when (ISO-8601 UTC), ``stale`` whether its
    process is known to be dead (then :func:`relman.deploy.lock.release_lock` may free it).
    """

    code = "lock_held"

    def __init__(
        self,
        *,
        host: str,
        service: str,
        holder: str,
        since: str,
        tag: str | None,
        pid: int | None,
        stale: bool,
    ) -> None:
        note = (
            " — the holder's process is dead: the lock is stale and can be released"
            if stale
            else ""
        )
        super().__init__(
            f"host {host}: {service} is locked by {holder} since {since} "
            f"(tag {tag or '?'}, pid {pid if pid is not None else '?'}){note}",
            host=host,
            service=service,
            holder=holder,
            since=since,
            tag=tag,
            pid=pid,
            stale=stale,
        )
        self.holder = holder
        self.since = since
        self.stale = stale


class CommandFailed(DeployError):
    """A step's command exited non-zero (or was stopped by its timeout).

    ``step`` is the step name, ``exit_status`` the status (``None`` when it had none, e.g. a
    timeout), ``tail`` the last output lines (already redacted).
    """

    code = "command_failed"

    def __init__(
        self,
        *,
        host: str,
        step: str,
        exit_status: int | None,
        timed_out: bool = False,
        tail: tuple[str, ...] = (),
        message: str | None = None,
    ) -> None:
        if message is None:
            if timed_out:
                message = f"host {host}: step {step} timed out"
            else:
                message = f"host {host}: step {step} failed with exit status {exit_status}"
            if tail:
                message += ": " + tail[-1][:300]
        super().__init__(
            message, host=host, step=step, exit_status=exit_status, timed_out=timed_out
        )
        self.step = step
        self.exit_status = exit_status
        self.timed_out = timed_out
        self.tail = tail


class BackupInvalid(DeployError):
    """The backup's dump is missing or empty, or its sha256 does not match the manifest."""

    code = "backup_invalid"


class ImageUnavailable(DeployError):
    """Registry mode: the release's image could not be pulled, and this environment does
    not build images (production runs only what was built once and pushed)."""

    code = "image_unavailable"


class ImageDigestMoved(DeployError, Conflict):
    """Registry mode: the tag's image in the registry is not the one QA approved on stage
    (the git sha binding's twin for images, issue "Containers for real" item 2)."""

    code = "image_digest_moved"


class HealthCheckFailed(DeployError):
    """The service did not pass its health check (or a smoke URL) after the deploy.

    The message is the seed's (``❌ Health check не пройден после 3 попыток``) with the host.
    """

    code = "health_check_failed"
