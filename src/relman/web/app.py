"""Puts the dashboard into the FastAPI app: its pages, its static files (htmx, CSS, the
live-log script — all vendored, see ``static/VENDORED.md``), and the API docs at ``/docs``
and ``/redoc`` with Swagger UI's and ReDoc's assets served by relman itself (no CDN)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from relman.bootstrap import Container
from relman.web.routes import STATIC, Web, build_web_router


def install_web(app: FastAPI, container: Container, prefix: str = "") -> None:
    """Serve the dashboard under ``prefix`` (``""``: at ``/``) and the offline API docs.
    Call after the API's routes: the dashboard answers every other GET with its 404 page."""
    web = Web(container, prefix)
    app.state.web = web  # the pages' state (the dashboard benchmark reads its cache)
    static = f"{web.prefix}/static"
    app.mount(static, StaticFiles(directory=STATIC), name="web-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon.svg",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc_docs(_request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{static}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{static}/favicon.svg",
            with_google_fonts=False,
        )

    app.include_router(build_web_router(web))
