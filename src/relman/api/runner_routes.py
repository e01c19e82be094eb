"""Routes a GitHub Actions runner's ``relman ci deploy`` uses to share relman's state
(issue 12 item 3): ``{prefix}/runner/locks…`` lease the deploy lock,
``{prefix}/runner/deployments…`` read the history and record the deploy. They take the
same credentials as the rest of the API; the database itself is never exposed.

Each route parses, calls one :class:`~relman.services.runner_deploys.RunnerDeploys`
function, renders. A CI identity (OIDC) is always its own actor; the inter-server secret
names the actor in the body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, BaseModel, Field

from relman.api.guard import Principal
from relman.api.schemas import DeploymentOut, _Strict, check_identifier
from relman.bootstrap import Container
from relman.services.runner_deploys import RunnerOutcome
from relman.store.deployments import LockInfo

_Name = Field(min_length=1, max_length=200)
#: The lock owner a runner makes up (machine, pid, a random part): it proves nothing
#: alone — the caller is authenticated — but binds every write to the lock it holds.
_Owner = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:@/+-]+$")
_Path = Field(default="", max_length=4000)
ServiceQuery = Annotated[str, Query(min_length=1, max_length=200), AfterValidator(check_identifier)]
DeploymentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class LockRequest(_Strict):
    """``POST {prefix}/runner/locks`` — lease the deploy lock."""

    service: str = _Name
    environment: str = _Name
    owner: str = _Owner
    tag: str = Field(min_length=1, max_length=255)
    reason: str = Field(default="", max_length=2000)
    holder: str | None = Field(default=None, min_length=1, max_length=200)


class LockRef(_Strict):
    """``POST {prefix}/runner/locks/renew`` and ``…/release`` — the lock a runner holds."""

    service: str = _Name
    environment: str = _Name
    owner: str = _Owner


class LockOut(BaseModel):
    """A deploy lock: who holds it, since when, until when (a runner's lease; UTC)."""

    service: str
    environment: str
    holder: str
    owner: str
    tag: str
    reason: str
    acquired_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, lock: LockInfo) -> LockOut:
        return cls(
            service=lock.service,
            environment=lock.environment,
            holder=lock.holder,
            owner=lock.owner,
            tag=lock.tag,
            reason=lock.reason,
            acquired_at=lock.acquired_at,
            expires_at=lock.expires_at,
        )


class LockAnswer(BaseModel):
    """``GET {prefix}/runner/locks``: the lock, or ``null`` when free."""

    lock: LockOut | None


class Released(BaseModel):
    """Whether the lock was the caller's and is now free."""

    released: bool


class DeploymentStart(_Strict):
    """``POST {prefix}/runner/deployments`` — a runner's deploy starts (lock held)."""

    owner: str = _Owner
    release_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    service: str = _Name
    environment: str = _Name
    tag: str = Field(min_length=1, max_length=255)
    kind: Literal["deploy", "rollback"]
    actor: str | None = Field(default=None, min_length=1, max_length=200)
    hosts: list[str] = Field(min_length=1, max_length=200)
    expected_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,64}$")


class DeploymentFinish(_Strict):
    """``POST {prefix}/runner/deployments/{id}/finish`` — how the deploy ended."""

    owner: str = _Owner
    ok: bool
    migrated: bool = False
    backup_path: str = _Path
    log_path: str = _Path
    evidence_path: str = _Path
    error: str = Field(default="", max_length=2000)
    git_sha: str = Field(default="", pattern=r"^([0-9a-f]{7,64})?$")
    image_digest: str = Field(default="", max_length=200)
    evidence_digest: str = Field(default="", pattern=r"^(sha256:[0-9a-f]{64})?$")

    # Paths, errors and logs hold what hosts printed; new lines are not refused there.
    _free_text: ClassVar[frozenset[str]] = frozenset(
        {"reason", "error", "backup_path", "log_path", "evidence_path"}
    )


class ArtifactReport(_Strict):
    """``POST {prefix}/runner/deployments/{id}/artifact`` — where the runner uploaded the
    deploy's log and evidence (``actions/upload-artifact``'s ``artifact-url``)."""

    url: str = Field(min_length=8, max_length=2000)


class History(BaseModel):
    """``GET {prefix}/runner/deployments``: newest first."""

    deployments: list[DeploymentOut]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _actor(request: Request, given: str | None) -> str:
    """A CI identity acts as itself; the inter-server secret names the actor (or is it)."""
    principal: Principal = request.state.principal
    if principal.kind == "ci":
        return principal.name
    return given or principal.name  # ``given`` passed the body's identifier rule


def build_runner_router() -> APIRouter:
    """The ``/runner/…`` routes (mounted under the API prefix by
    :func:`relman.api.routes.build_router`)."""
    router = APIRouter(prefix="/runner", tags=["runner"])

    @router.post("/locks", response_model=LockOut, status_code=201)
    async def acquire(body: LockRequest, request: Request) -> LockOut:
        lock = await _container(request).runner_deploys.acquire(
            service=body.service,
            environment=body.environment,
            holder=_actor(request, body.holder),
            owner=body.owner,
            tag=body.tag,
            reason=body.reason,
        )
        return LockOut.of(lock)

    @router.post("/locks/renew", response_model=LockOut)
    async def renew(body: LockRef, request: Request) -> LockOut:
        lock = await _container(request).runner_deploys.renew(
            service=body.service, environment=body.environment, owner=body.owner
        )
        return LockOut.of(lock)

    @router.post("/locks/release", response_model=Released)
    async def release(body: LockRef, request: Request) -> Released:
        released = await _container(request).runner_deploys.release(
            service=body.service, environment=body.environment, owner=body.owner
        )
        return Released(released=released)

    @router.get("/locks", response_model=LockAnswer)
    async def lock(
        service: ServiceQuery, environment: ServiceQuery, request: Request
    ) -> LockAnswer:
        held = await _container(request).runner_deploys.lock(service, environment)
        return LockAnswer(lock=LockOut.of(held) if held is not None else None)

    @router.get("/deployments", response_model=History)
    async def history(
        service: ServiceQuery,
        environment: ServiceQuery,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> History:
        found = await _container(request).runner_deploys.history(service, environment, limit=limit)
        return History(deployments=[DeploymentOut.of(d) for d in found])

    @router.post("/deployments", response_model=DeploymentOut, status_code=201)
    async def start(body: DeploymentStart, request: Request) -> DeploymentOut:
        deployment = await _container(request).runner_deploys.start(
            owner=body.owner,
            release_id=body.release_id,
            service=body.service,
            environment=body.environment,
            tag=body.tag,
            kind=body.kind,
            actor=_actor(request, body.actor),
            hosts=body.hosts,
            expected_sha=body.expected_sha,
        )
        return DeploymentOut.of(deployment)

    @router.post("/deployments/{deployment_id}/finish", response_model=DeploymentOut)
    async def finish(
        deployment_id: DeploymentId, body: DeploymentFinish, request: Request
    ) -> DeploymentOut:
        outcome = RunnerOutcome(**body.model_dump(exclude={"owner"}))
        deployment = await _container(request).runner_deploys.finish(
            deployment_id, owner=body.owner, outcome=outcome
        )
        return DeploymentOut.of(deployment)

    @router.post("/deployments/{deployment_id}/artifact", response_model=DeploymentOut)
    async def artifact(
        deployment_id: DeploymentId, body: ArtifactReport, request: Request
    ) -> DeploymentOut:
        deployment = await _container(request).runner_deploys.set_artifact(deployment_id, body.url)
        return DeploymentOut.of(deployment)

    return router
