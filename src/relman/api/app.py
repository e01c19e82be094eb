"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from relman import __version__
from relman.api import errors
from relman.api.guard import BearerAuthenticator, GuardMiddleware
from relman.api.metrics import Metrics, MetricsMiddleware
from relman.api.routes import build_router
from relman.bootstrap import Container


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    """The Release API for ``container``, routes under ``settings.prefix``, metrics at
    ``/metrics``. With ``own_container`` the app closes the container at shutdown.

    Raises :class:`~relman.domain.errors.ConfigError` when no API secret is configured.
    """
    settings = container.settings
    secret = settings.require_secret()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            metrics.shutdown()
            if own_container:
                await container.aclose()

    app = FastAPI(title="relman Release API", version=__version__, lifespan=lifespan)
    app.state.container = container
    errors.install(app)
    app.include_router(build_router(settings.prefix))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    prefix = settings.prefix
    app.add_middleware(
        GuardMiddleware,
        prefix=prefix,
        max_body_bytes=settings.max_body_bytes,
        authenticator=BearerAuthenticator(secret),
        open_paths={f"{prefix}/health", f"{prefix}/update", "/metrics"},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
