"""The deploy ledger of a GitHub Actions runner: relman's server, through the Release API.

:class:`ApiLedger` is a :class:`~relman.services.deploys.DeploymentLedger`: the runner's
:class:`~relman.services.deploys.DeployService` takes its lock, reads its history (for the
automatic rollback) and records its deploys on relman's server
(:mod:`relman.api.runner_routes`), never in a database of its own. The lock is leased: while
it is held a background task renews it every quarter of the lease, so a runner that dies
loses it within the lease and relman's worker fails its deploy (issue 12 item 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from relman.ci.client import ApiBadAnswer, ApiError, ReleaseApiClient
from relman.store.deployments import Deployment, DeploymentKind, LockInfo

log = logging.getLogger("relman.ci")


class ApiLedger:
    """Locks and history on relman's server for the deploys of one ``relman ci`` command.

    ``expected_sha`` is the commit a production deploy was approved at (the dispatch's
    ``git_sha``); the server refuses the deploy without it. ``say`` hears a lost lease.
    :attr:`started` lists the ids of the deploys recorded, in order.
    """

    def __init__(
        self,
        client: ReleaseApiClient,
        *,
        expected_sha: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._expected_sha = expected_sha or None
        self._say = say or (lambda _message: None)
        self._owner: str | None = None
        self._renewal: asyncio.Task[None] | None = None
        self.started: list[int] = []

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
    ) -> None:
        """Lease the lock from the server (which sets the lease); raises
        :class:`~relman.ci.client.ApiRefused` (409 ``environment_locked`` naming the
        holder) while another deploy runs there."""
        answer = await self._client.call(
            "POST",
            "/runner/locks",
            {
                "service": service,
                "environment": environment,
                "owner": owner,
                "tag": tag,
                "reason": reason,
                "holder": holder,
            },
        )
        lock = _lock(answer)
        self._owner = owner
        lease = (lock.expires_at - lock.acquired_at).total_seconds() if lock.expires_at else 60.0
        self._renewal = asyncio.create_task(
            self._renew(service, environment, owner, max(1.0, lease / 4))
        )

    async def _renew(self, service: str, environment: str, owner: str, every: float) -> None:
        body = {"service": service, "environment": environment, "owner": owner}
        while True:
            await asyncio.sleep(every)
            try:
                await self._client.call("POST", "/runner/locks/renew", body)
            except ApiError as exc:
                # The deploy goes on; its next report is refused if the lock is gone.
                self._say(f"could not renew the deploy lock of {service} on {environment}: {exc}")

    async def lock(self, service: str, environment: str) -> LockInfo | None:
        """The lock on the server now, or ``None``."""
        query = urlencode({"service": service, "environment": environment})
        answer = await self._client.call("GET", f"/runner/locks?{query}")
        held = answer.get("lock") if isinstance(answer, dict) else None
        return None if held is None else _lock(held)

    async def release_lock(
        self, service: str, environment: str, *, owner: str | None = None
    ) -> bool:
        """Stop renewing and free the lock this runner holds (``owner``, default: the one
        taken last); True when it was still ours."""
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
            self._renewal = None
        owner = owner or self._owner
        if owner is None:
            return False
        answer = await self._client.call(
            "POST",
            "/runner/locks/release",
            {"service": service, "environment": environment, "owner": owner},
        )
        return bool(isinstance(answer, dict) and answer.get("released"))

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
    ) -> int:
        """Record the deploy on the server (``at`` is the server's own clock there)."""
        body: dict[str, Any] = {
            "owner": self._owner,
            "release_id": release_id,
            "service": service,
            "environment": environment,
            "tag": tag,
            "kind": kind,
            "actor": actor,
            "hosts": hosts,
        }
        if self._expected_sha:
            body["expected_sha"] = self._expected_sha
        deployment = _deployment(await self._client.call("POST", "/runner/deployments", body))
        self.started.append(deployment.id)
        return deployment.id

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
    ) -> bool:
        """Report how the deploy ended; raises :class:`~relman.ci.client.ApiRefused` (409
        ``lock_not_held``) when the lease was lost meanwhile."""
        await self._client.call(
            "POST",
            f"/runner/deployments/{deployment_id}/finish",
            {
                "owner": self._owner,
                "ok": ok,
                "migrated": migrated,
                "backup_path": backup_path,
                "log_path": log_path,
                "evidence_path": evidence_path,
                "error": error[:2000],
                "git_sha": git_sha,
                "image_digest": image_digest,
                "evidence_digest": evidence_digest,
            },
        )
        return True

    async def history(self, service: str, environment: str, *, limit: int = 50) -> list[Deployment]:
        """The server's history there, newest first."""
        query = urlencode({"service": service, "environment": environment, "limit": limit})
        answer = await self._client.call("GET", f"/runner/deployments?{query}")
        rows = answer.get("deployments") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise ApiBadAnswer("relman API answered the history without a deployments list")
        return [_deployment(row) for row in rows]


def _lock(data: Any) -> LockInfo:
    try:
        return LockInfo(
            service=str(data["service"]),
            environment=str(data["environment"]),
            holder=str(data["holder"]),
            owner=str(data["owner"]),
            tag=str(data["tag"]),
            reason=str(data["reason"]),
            acquired_at=datetime.fromisoformat(data["acquired_at"]),
            expires_at=(
                datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ApiBadAnswer("relman API answered with something that is not a lock") from None


def _deployment(data: Any) -> Deployment:
    try:
        return Deployment(
            id=int(data["id"]),
            release_id=data["release_id"],
            service=str(data["service"]),
            environment=str(data["environment"]),
            tag=str(data["tag"]),
            kind=data["kind"],
            status=data["status"],
            actor=str(data["actor"]),
            hosts=[str(h) for h in data["hosts"]],
            migrated=bool(data["migrated"]),
            backup_path=str(data["backup_path"]),
            log_path=str(data["log_path"]),
            evidence_path=str(data["evidence_path"]),
            error=str(data["error"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=(
                datetime.fromisoformat(data["finished_at"]) if data.get("finished_at") else None
            ),
            git_sha=str(data["git_sha"]),
            image_digest=str(data["image_digest"]),
            artifact_url=str(data["artifact_url"]),
            evidence_digest=str(data["evidence_digest"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ApiBadAnswer("relman API answered with something that is not a deployment") from None
