"""The dashboard's pages (issue 13): releases, a release, environments, decisions, sign-in.

Each route parses the request, calls one service function — :class:`~relman.web.service.
Dashboard` to read, :class:`~relman.services.pipeline.PipelineService` to decide (source
``web``, the same policy as the bot and the CLI), :class:`~relman.web.signin.SignIn` to
sign in — and renders a Jinja2 template. A :class:`RelmanError` becomes a page with the
matching status here, at the edge.

Nothing but the sign-in page is readable without a session; every POST needs the
session's CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from relman.api.errors import relman_error_response, status_for
from relman.bootstrap import Container
from relman.bot import cards
from relman.bot.texts import Texts
from relman.domain.dora import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS
from relman.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RelmanError,
    Unauthenticated,
)
from relman.domain.policy import Actor
from relman.domain.release import Source, parse_release_id
from relman.domain.status import FAILED, SUCCESSFUL, ReleaseStatus
from relman.services.pipeline import ProductionMoved
from relman.web.service import Dashboard, Filters
from relman.web.signin import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SESSION_TTL, Session, SignIn
from relman.web.texts import language_of, texts

log = logging.getLogger("relman.web")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Pages may load only relman's own files (no CDN, no inline script).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_DONE = {"approved": "done_approved", "rejected": "done_rejected", "rollback": "done_rollback"}
MAX_FORM_FIELD = 2000
MAX_FORM_FIELDS = 20


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["dur"] = duration
    env.filters["short"] = lambda sha: (sha or "")[:12]
    env.filters["size"] = _size
    env.filters["pct"] = lambda rate: "—" if rate is None else f"{rate * 100:.1f} %"
    env.filters["num"] = lambda value: f"{value:.2f}".rstrip("0").rstrip(".")
    return env


def duration(value: timedelta | float | None, t: Mapping[str, str] | None = None) -> str:
    """``1 h 2 min``, ``3 min 4 s``, ``5.2 s``; ``—`` for none."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    words = t or {"seconds": "s", "minutes": "min", "hours": "h", "days": "d"}
    if seconds < 60:
        shown = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
        return f"{shown} {words['seconds']}"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} {words['days']} {hours} {words['hours']}"
    if hours:
        return f"{hours} {words['hours']} {minutes} {words['minutes']}"
    return f"{minutes} {words['minutes']} {secs} {words['seconds']}"


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def status_class(status: ReleaseStatus) -> str:
    if status in SUCCESSFUL:
        return "ok"
    if status in FAILED:
        return "bad"
    if status is ReleaseStatus.MANUAL_TESTING:
        return "wait"
    return "run"


class Web:
    """The routes' shared state: services, signing, templates, language and time zone."""

    def __init__(self, container: Container, prefix: str) -> None:
        self.container = container
        self.prefix = prefix.rstrip("/")
        self.dashboard = Dashboard(container)
        self.signin = SignIn(container.settings.require_secret(), container.seen)
        self.env = _environment()
        self.tz = ZoneInfo(container.settings.telegram_timezone)
        self.language = container.settings.telegram_language

    def now(self) -> datetime:
        return self.container.clock()

    def url(self, path: str, **query: object) -> str:
        shown = {k: v for k, v in query.items() if v not in (None, "")}
        base = f"{self.prefix}{path}" or "/"
        return f"{base}?{urlencode(shown)}" if shown else base

    def session(self, request: Request) -> Session | None:
        return self.signin.session(request.cookies.get(SESSION_COOKIE), now=self.now())

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        language = language_of(request.headers.get("accept-language"), self.language)
        t, bt = texts(language)

        def when(moment: datetime | None, seconds: bool = False) -> str:
            if moment is None:
                return "—"
            fmt = "%d.%m.%Y %H:%M:%S" if seconds else cards.DATE_FORMAT
            return moment.astimezone(self.tz).strftime(fmt)

        def status_label(status: ReleaseStatus | str) -> str:
            try:
                return bt.status(ReleaseStatus(status))
            except ValueError:
                return str(status)

        html = self.env.get_template(template).render(
            request=request,
            t=t,
            bt=bt,
            lang=language,
            session=session,
            csrf=self.signin.csrf(session) if session else "",
            csrf_field=CSRF_FIELD,
            csrf_header=CSRF_HEADER,
            url=self.url,
            when=when,
            dur=lambda v: duration(v, t),
            status_label=status_label,
            status_class=status_class,
            link=lambda u: Markup(cards.link(u, t["open"])),  # noqa: S704  (cards.link escapes)
            timezone=str(self.tz),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def signin_page(self, request: Request, *, status: int = 401, error: str = "") -> HTMLResponse:
        return self.render(request, "signin.html", status=status, error=error)

    def error_page(self, request: Request, session: Session, exc: RelmanError) -> HTMLResponse:
        code = status_for(exc)
        return self.render(
            request, "error.html", status=code, session=session, code=code, message=exc.message
        )


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as its first value per field (each cut
    to 2000 characters). Raises :class:`InvalidInput` for more than 20 fields."""
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        parsed = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise InvalidInput("form", f"at most {MAX_FORM_FIELDS} fields") from None
    return {key: values[0][:MAX_FORM_FIELD] for key, values in parsed.items() if values}


def _actor(session: Session) -> Actor:
    return Actor(session.identity, name=session.name)


def _status(raw: str) -> ReleaseStatus | None:
    """The ``status`` filter: empty for all, else one of the statuses."""
    if not raw:
        return None
    try:
        return ReleaseStatus(raw)
    except ValueError:
        known = ", ".join(s.value for s in ReleaseStatus)
        raise InvalidInput("status", f"unknown status {raw[:40]!r}; use one of {known}") from None


def _days(raw: str) -> int:
    """The DORA window in days, as typed: ASCII digits (the range is the analytics
    service's rule, :func:`relman.domain.dora.check_window_days`). Raises
    :class:`InvalidInput` naming ``days``."""
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput("days", f"must be a whole number of days, not {raw!r}")
    return int(raw)


def build_web_router(web: Web) -> APIRouter:
    """The dashboard's routes under ``web.prefix`` (not part of the API's OpenAPI)."""
    router = APIRouter(prefix=web.prefix, include_in_schema=False)
    dash = web.dashboard

    async def guarded_post(request: Request) -> tuple[Session, dict[str, str]] | HTMLResponse:
        """The session and form of a POST, or the page refusing it (no session: 401; no or
        a wrong CSRF token: 403)."""
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        try:
            form = await read_form(request)
        except InvalidInput as exc:
            return web.error_page(request, session, exc)
        given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not web.signin.csrf_ok(session, given):
            log.warning("refused a web POST to %s without a valid CSRF token", request.url.path)
            language = language_of(request.headers.get("accept-language"), web.language)
            message = texts(language)[0]["csrf"]
            return web.render(
                request, "error.html", status=403, session=session, code=403, message=message
            )
        return session, form

    # --- sign-in ----------------------------------------------------------------------

    @router.get("/login")
    async def login_page(request: Request, token: str = "") -> Response:
        try:
            who, name = web.signin.peek(token, now=web.now())
        except Unauthenticated as exc:
            return web.signin_page(request, error=exc.message)
        return web.render(request, "login.html", token=token, who=who, name=name)

    @router.post("/login")
    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
            session = await web.signin.redeem(form.get("token", ""), now=web.now())
        except RelmanError as exc:
            return web.signin_page(request, status=status_for(exc), error=exc.message)
        log.info("web sign-in: %s", session.identity)
        response = RedirectResponse(web.url("/"), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            web.signin.cookie(session),
            max_age=int(SESSION_TTL.total_seconds()),
            path=web.prefix or "/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        checked = await guarded_post(request)
        if isinstance(checked, HTMLResponse):
            return checked
        response = RedirectResponse(web.url("/", signed_out=1), status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=web.prefix or "/", httponly=True, samesite="lax"
        )
        return response

    # --- pages ------------------------------------------------------------------------

    @router.get("/")
    async def releases_page(
        request: Request,
        group: str = "",
        service: str = "",
        status: str = "",
        cursor: str = "",
        signed_out: str = "",
    ) -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request, status=200 if signed_out else 401)
        try:
            filters = Filters(
                group=group or None,
                service=service.strip()[:200] or None,
                status=_status(status),
                cursor=cursor[:100] or None,
            )
            view = await dash.releases(filters)
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(
            request, "releases.html", session=session, view=view, statuses=list(ReleaseStatus)
        )

    @router.get("/releases/{release_id}")
    async def release_page(request: Request, release_id: str, done: str = "") -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        return await _release(request, session, release_id, done=done)

    async def _release(
        request: Request,
        session: Session,
        raw_id: str,
        *,
        done: str = "",
        error: str = "",
        status: int = 200,
    ) -> Response:
        rid = parse_release_id(raw_id)
        if rid is None:
            return web.error_page(request, session, NotFound(f"release {raw_id} not found"))
        try:
            view = await dash.release(rid, _actor(session))
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(
            request,
            "release.html",
            status=status,
            session=session,
            view=view,
            done=_DONE.get(done, ""),
            error=error,
        )

    @router.get("/environments")
    async def environments_page(request: Request) -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        try:
            services = await dash.environments()
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(request, "environments.html", session=session, services=services)

    @router.get("/decisions")
    async def decisions_page(request: Request) -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        try:
            view = await dash.decisions(_actor(session))
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(request, "decisions.html", session=session, view=view)

    @router.get("/dora")
    async def dora_page(request: Request, service: str = "", days: str = "") -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        shown_days = days.strip()[:12] or str(DEFAULT_WINDOW_DAYS)
        chosen = service.strip()[:200] or None
        try:
            view = await dash.dora(chosen, _days(shown_days))
        except RelmanError as exc:
            # the form again, saying what is wrong (nothing computed)
            return web.render(
                request,
                "dora.html",
                status=status_for(exc),
                session=session,
                view=None,
                error=exc.message,
                service=chosen or "",
                days=shown_days,
                max_days=MAX_WINDOW_DAYS,
                services=sorted(web.container.config.services),
            )
        return web.render(
            request,
            "dora.html",
            session=session,
            view=view,
            error="",
            service=chosen or "",
            days=shown_days,
            max_days=MAX_WINDOW_DAYS,
            services=view.services,
        )

    @router.get("/incidents")
    async def incidents_page(request: Request, service: str = "", status: str = "") -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        try:
            view = await dash.incidents(service.strip()[:200] or None, status.strip() or None)
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(request, "incidents.html", session=session, view=view)

    @router.get("/incidents/{incident_id}")
    async def incident_page(request: Request, incident_id: str) -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        iid = parse_release_id(incident_id)  # the same id range as a release's
        if iid is None:
            return web.error_page(request, session, NotFound(f"incident {incident_id} not found"))
        try:
            view = await dash.incident(iid)
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(request, "incident.html", session=session, view=view)

    # --- decisions --------------------------------------------------------------------

    async def _decided(
        request: Request, session: Session, raw_id: str, exc: RelmanError
    ) -> Response:
        """The release page telling why a decision was not taken (nothing was written;
        a policy refusal was audited by the pipeline)."""
        language = language_of(request.headers.get("accept-language"), web.language)
        t, bt = texts(language)
        message = exc.message
        if isinstance(exc, Conflict):
            current = exc.details.get("current")
            detail = _status_name(bt, str(current)) if current else exc.message
            message = f"{t['moved']} {detail}"
        return await _release(request, session, raw_id, error=message, status=status_for(exc))

    async def _decide(
        request: Request,
        release_id: str,
        done: str,
        decide: Callable[[int, Actor, dict[str, str]], Awaitable[object]],
    ) -> Response:
        """A QA decision's POST: checked (session, CSRF), ``decide`` called with the
        release id, the person and the form, then the release page."""
        checked = await guarded_post(request)
        if isinstance(checked, HTMLResponse):
            return checked
        session, form = checked
        rid = parse_release_id(release_id)
        if rid is None:
            return web.error_page(request, session, NotFound(f"release {release_id} not found"))
        try:
            await decide(rid, _actor(session), form)
        except RelmanError as exc:
            return await _decided(request, session, release_id, exc)
        return RedirectResponse(web.url(f"/releases/{rid}", done=done), status_code=303)

    @router.post("/releases/{release_id}/approve")
    async def approve(request: Request, release_id: str) -> Response:
        pipeline = web.container.pipeline
        return await _decide(
            request,
            release_id,
            "approved",
            lambda rid, actor, _form: pipeline.approve(rid, actor=actor, source=Source.WEB),
        )

    @router.post("/releases/{release_id}/reject")
    async def reject(request: Request, release_id: str) -> Response:
        pipeline = web.container.pipeline
        return await _decide(
            request,
            release_id,
            "rejected",
            lambda rid, actor, form: pipeline.reject(
                rid, actor=actor, source=Source.WEB, reason=form.get("reason", "")
            ),
        )

    @router.get("/services/{service}/rollback")
    async def rollback_confirm(request: Request, service: str, to_tag: str = "") -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        try:
            view = await dash.rollback_preview(service, to_tag or None, _actor(session))
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return web.render(request, "rollback.html", session=session, view=view, error="")

    @router.post("/services/{service}/rollback")
    async def rollback(request: Request, service: str) -> Response:
        checked = await guarded_post(request)
        if isinstance(checked, HTMLResponse):
            return checked
        session, form = checked
        expected = parse_release_id(form.get("expected_current", ""))
        to_tag = form.get("to_tag", "")
        try:
            moved = await web.container.pipeline.request_rollback(
                service,
                to_tag,
                actor=_actor(session),
                source=Source.WEB,
                expected_current=expected,
            )
        except RelmanError as exc:
            language = language_of(request.headers.get("accept-language"), web.language)
            t, bt = texts(language)
            message = bt.rollback_moved if isinstance(exc, ProductionMoved) else exc.message
            if isinstance(exc, Conflict) and not isinstance(exc, ProductionMoved):
                message = f"{t['moved']} {exc.message}"
            try:
                view = await dash.rollback_preview(service, to_tag or None, _actor(session))
            except RelmanError as again:
                return web.error_page(request, session, again)
            return web.render(
                request,
                "rollback.html",
                status=status_for(exc),
                session=session,
                view=view,
                error=message,
            )
        return RedirectResponse(web.url(f"/releases/{moved.id}", done="rollback"), status_code=303)

    # --- live log and evidence -------------------------------------------------------

    @router.get("/releases/{release_id}/deploys/{deployment_id}/log")
    async def deploy_log(request: Request, release_id: str, deployment_id: str) -> Response:
        session = web.session(request)
        if session is None:
            return Response(status_code=401)
        rid, did = parse_release_id(release_id), parse_release_id(deployment_id)
        if rid is None or did is None:
            return Response(status_code=404)
        try:
            await dash.deployment(rid, did)
        except RelmanError as exc:
            return Response(status_code=status_for(exc))
        last = request.headers.get("last-event-id", "")
        skip = int(last) if last.isascii() and last.isdigit() else 0
        return StreamingResponse(
            _events(dash.follow_log(rid, did, skip=skip), skip),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/releases/{release_id}/deploys/{deployment_id}/evidence/{name:path}")
    async def evidence(
        request: Request, release_id: str, deployment_id: str, name: str
    ) -> Response:
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        rid, did = parse_release_id(release_id), parse_release_id(deployment_id)
        if rid is None or did is None:
            return web.error_page(request, session, NotFound("no such evidence file"))
        try:
            path = await dash.evidence_file(rid, did, name)
        except RelmanError as exc:
            return web.error_page(request, session, exc)
        return FileResponse(
            path,
            filename=path.name,
            media_type="application/octet-stream",
            content_disposition_type="attachment",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    @router.get("/{path:path}")
    async def not_found(request: Request, path: str) -> Response:
        api = web.container.settings.prefix
        if request.url.path == api or request.url.path.startswith(api + "/"):
            return relman_error_response(NotFound(f"no route {request.url.path}"))
        session = web.session(request)
        if session is None:
            return web.signin_page(request)
        return web.error_page(request, session, NotFound(f"/{path}"))

    return router


async def _events(lines: AsyncIterator[str], first: int) -> AsyncIterator[bytes]:
    """Server-Sent Events: one ``message`` per log line (its number as the event id, for
    a reconnect's ``Last-Event-ID``), then ``end``."""
    number = first
    yield b"retry: 1000\n\n"
    async for line in lines:
        number += 1
        yield f"id: {number}\ndata: {line}\n\n".encode()
    yield b"event: end\ndata: end\n\n"


def _status_name(bt: Texts, raw: str) -> str:
    try:
        return bt.status(ReleaseStatus(raw))
    except ValueError:
        return raw
