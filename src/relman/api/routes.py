"""Release API routes (seed 003: ``POST/PATCH {prefix}/release``, ``GET {prefix}/health``).

Each route parses, calls one service function, renders.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from relman import __version__
from relman.api.body import JsonRoute
from relman.api.ci_auth import check_release_start, initiator
from relman.api.guard import Principal
from relman.api.runner_routes import build_runner_router
from relman.api.schemas import (
    CreateRelease,
    Decision,
    DoraOut,
    ErrorOut,
    Health,
    IncidentClose,
    IncidentDetail,
    IncidentList,
    IncidentNote,
    IncidentOut,
    ReleaseDetail,
    ReleaseList,
    ReleaseOut,
    RollbackRequest,
    SeedStatusReport,
    StatusReport,
    check_identifier,
)
from relman.bootstrap import Container
from relman.bot.webhook import build_webhook_router
from relman.domain.dora import MAX_WINDOW_DAYS
from relman.domain.errors import PermissionDenied, StoreUnavailable
from relman.domain.policy import Actor, identity
from relman.domain.release import MAX_RELEASE_ID, Source
from relman.domain.status import ReleaseStatus
from relman.services.releases import NewRelease
from relman.store.db import SchemaCheck, ping

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 503)
}


#: A release id in a path: a positive 32-bit integer (the ``releases.id`` column), so a
#: huge number is a 422 naming the field rather than a database overflow.
ReleaseId = Annotated[int, Path(ge=1, le=MAX_RELEASE_ID)]
#: A text parameter is an identifier: a control or invisible character (NUL, which no
#: PostgreSQL text column takes, ``\v``, a zero-width space…) is a 422 naming it (issue 15
#: item 4), not a database error or an invisible name.
Identifier = AfterValidator(check_identifier)
#: A service name in a path.
ServiceName = Annotated[str, Path(max_length=200), Identifier]
#: A service name filtering a list (``?service=``).
ServiceFilter = Annotated[str | None, Query(max_length=200), Identifier]
#: How many items a list answer holds at most (``?limit=``).
PageLimit = Annotated[int, Query(ge=1, le=200)]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _reporter(request: Request, given: str | None) -> Actor:
    """Who reports a status: a CI identity is always itself (bound to its repository);
    the inter-server secret reports as CI under the ``actor`` it names; the operator
    secret as the person it names."""
    principal: Principal = request.state.principal
    if principal.kind == "ci":
        return Actor(principal.name, ci=True, repository=principal.repository)
    return Actor(given or principal.name, ci=principal.method != "operator")


def _decider(request: Request, given: str) -> Actor:
    """The person whose decision the operator secret relays; any other caller is CI and
    may not decide (DESIGN.md §5)."""
    principal: Principal = request.state.principal
    if principal.method != "operator":
        raise PermissionDenied(
            f"{principal.name}: CI credentials can create and report, never decide; relay "
            "decisions with RELMAN_OPERATOR_SECRET (or use the bot or the CLI)"
        )
    return Actor(given)


def build_router(prefix: str) -> APIRouter:
    """The routes under ``prefix`` (seed 003's default: ``/api/tg-bot``). Their JSON
    bodies are read strictly (:class:`~relman.api.body.JsonRoute`)."""
    router = APIRouter(prefix=prefix, responses=_ERRORS, route_class=JsonRoute)

    @router.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health(request: Request) -> Response:
        # 200 only when requests can be served: the database answers AND its schema is at
        # this relman's head revision (issue 15 item 6: a never-migrated database used to
        # answer 200 while every route answered 503).
        schema: SchemaCheck = request.app.state.schema
        try:
            await ping(_container(request).engine)
            state = await schema.state()
        except StoreUnavailable:
            body = Health(status="error", database="unreachable", version=__version__)
            return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
        ok = state == "current"
        body = Health(
            status="ok" if ok else "error", database="ok", schema=state, version=__version__
        )
        return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ok else 503)

    @router.post(
        "/release",
        response_model=ReleaseOut,
        status_code=201,
        responses={200: {"model": ReleaseOut, "description": "already recorded"}},
    )
    async def create_release(
        body: CreateRelease, request: Request, response: Response
    ) -> ReleaseOut:
        check_release_start(
            request.state.principal,
            service=body.service_name,
            release_tag=body.release_tag,
            config=_container(request).config,
        )
        by = initiator(request.state.principal, body.initiated_by)
        # An emergency release is a person's decision (no manual testing, issue 14 item 3):
        # relayed by the operator secret as initiated_by, like approvals; CI may not.
        actor = _decider(request, identity(by)) if body.emergency else Actor(identity(by), ci=True)
        fields = body.model_dump(exclude={"emergency", "reason"})
        release, created = await _container(request).pipeline.start_release(
            NewRelease(
                **{**fields, "initiated_by": by},
                emergency=body.emergency,
                emergency_reason=body.reason,
            ),
            actor=actor,
            source=Source.API,
        )
        if not created:
            response.status_code = 200
        return ReleaseOut.of(release)

    @router.patch("/release", response_model=ReleaseOut)
    async def report_status_seed(body: SeedStatusReport, request: Request) -> ReleaseOut:
        return await _report(request, body.release_id, body)

    @router.patch("/release/{release_id}", response_model=ReleaseOut)
    async def report_status(
        release_id: ReleaseId, body: StatusReport, request: Request
    ) -> ReleaseOut:
        return await _report(request, release_id, body)

    @router.get("/release/{release_id}", response_model=ReleaseDetail)
    async def get_release(release_id: ReleaseId, request: Request) -> ReleaseDetail:
        return ReleaseDetail.of(await _container(request).releases.get(release_id))

    @router.get("/releases", response_model=ReleaseList)
    async def list_releases(
        request: Request,
        service: ServiceFilter = None,
        status: ReleaseStatus | None = None,
        group: Annotated[str | None, Query(pattern="^(active|successful|failed)$")] = None,
        limit: PageLimit = 50,
        cursor: Annotated[str | None, Query(max_length=100), Identifier] = None,
    ) -> ReleaseList:
        page = await _container(request).releases.list(
            service=service, status=status, group=group, limit=limit, cursor=cursor
        )
        return ReleaseList(
            releases=[ReleaseOut.of(r) for r in page.releases], next_cursor=page.next_cursor
        )

    @router.post("/release/{release_id}/approve", response_model=ReleaseOut)
    async def approve(release_id: ReleaseId, body: Decision, request: Request) -> ReleaseOut:
        release = await _container(request).pipeline.approve(
            release_id, actor=_decider(request, body.actor), source=Source.API
        )
        return ReleaseOut.of(release)

    @router.post("/release/{release_id}/reject", response_model=ReleaseOut)
    async def reject(release_id: ReleaseId, body: Decision, request: Request) -> ReleaseOut:
        release = await _container(request).pipeline.reject(
            release_id, actor=_decider(request, body.actor), source=Source.API, reason=body.reason
        )
        return ReleaseOut.of(release)

    @router.post("/release/{release_id}/retry", response_model=ReleaseOut, status_code=201)
    async def retry(release_id: ReleaseId, body: Decision, request: Request) -> ReleaseOut:
        release = await _container(request).pipeline.retry(
            release_id, actor=_decider(request, body.actor), source=Source.API
        )
        return ReleaseOut.of(release)

    @router.post("/services/{service}/rollback", response_model=ReleaseOut)
    async def rollback(service: ServiceName, body: RollbackRequest, request: Request) -> ReleaseOut:
        release = await _container(request).pipeline.request_rollback(
            service, body.to_tag, actor=_decider(request, body.actor), source=Source.API
        )
        return ReleaseOut.of(release)

    @router.get("/dora", response_model=DoraOut)
    async def dora(
        request: Request,
        service: ServiceFilter = None,
        days: Annotated[int, Query(ge=1, le=MAX_WINDOW_DAYS)] = 30,
    ) -> DoraOut:
        """DORA's four keys over the ``days`` ending now (issue 14), for ``service`` or
        every service, with their bands and by ISO week."""
        return DoraOut.of(await _container(request).analytics.dora(service=service, days=days))

    @router.get("/incidents", response_model=IncidentList)
    async def list_incidents(
        request: Request,
        service: ServiceFilter = None,
        status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
        limit: PageLimit = 50,
    ) -> IncidentList:
        found = await _container(request).incidents.find(
            service=service, status=status, limit=limit
        )
        return IncidentList(incidents=[IncidentOut.of(i) for i in found])

    @router.get("/incidents/{incident_id}", response_model=IncidentDetail)
    async def get_incident(incident_id: ReleaseId, request: Request) -> IncidentDetail:
        return IncidentDetail.of_view(await _container(request).incidents.show(incident_id))

    @router.post("/incidents/{incident_id}/note", response_model=IncidentDetail)
    async def note_incident(
        incident_id: ReleaseId, body: IncidentNote, request: Request
    ) -> IncidentDetail:
        view = await _container(request).incidents.note(
            incident_id, body.text, actor=_decider(request, body.actor), kind=body.kind
        )
        return IncidentDetail.of_view(view)

    @router.post("/incidents/{incident_id}/close", response_model=IncidentDetail)
    async def close_incident(
        incident_id: ReleaseId, body: IncidentClose, request: Request
    ) -> IncidentDetail:
        view = await _container(request).incidents.close(
            incident_id, body.resolution, actor=_decider(request, body.actor)
        )
        return IncidentDetail.of_view(view)

    # What a GitHub Actions runner's deploy shares with relman (issue 12).
    router.include_router(build_runner_router())

    # Telegram's webhook, POST {prefix}/update (seed 003); 404 while the bot is off.
    router.include_router(build_webhook_router())

    return router


async def _report(request: Request, release_id: int, body: StatusReport) -> ReleaseOut:
    release = await _container(request).pipeline.report_status(
        release_id,
        body.status,
        actor=_reporter(request, body.actor),
        source=Source.API,
        note=body.note,
        rollback_to_tag=body.rollback_to_tag,
    )
    return ReleaseOut.of(release)
