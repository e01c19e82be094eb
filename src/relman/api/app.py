"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response

from relman import __version__
from relman.api import errors
from relman.api.ci_auth import build_authenticator
from relman.api.guard import GuardMiddleware
from relman.api.metrics import Metrics, MetricsMiddleware
from relman.api.routes import build_router
from relman.bootstrap import Container
from relman.notify.telegram import token_of
from relman.store.db import SchemaCheck
from relman.web.app import install_web

if TYPE_CHECKING:
    from relman.bot.runtime import BotRuntime


def create_app(
    container: Container, *, own_container: bool = False, polling: bool = False
) -> FastAPI:
    """The Release API for ``container``, routes under ``settings.prefix``, metrics at
    ``/metrics``. With ``own_container`` the app closes the container at shutdown.

    With a Telegram token the bot runs too (``app.state.bot``, else ``None``): its webhook
    is ``POST {prefix}/update``, or with ``polling`` it long-polls while the app runs.

    Callers authenticate with the bearer secret, a GitHub OIDC token or an HMAC
    signature (:mod:`relman.api.ci_auth`). Raises
    :class:`~relman.domain.errors.ConfigError` when no API secret is configured or the
    HMAC secret is too short.
    """
    settings = container.settings
    authenticator = build_authenticator(settings, container.config, container.seen)
    metrics = Metrics()
    bot: BotRuntime | None = None
    if token_of(settings) is not None:  # the Telegram library is seconds of imports
        from relman.bot.runtime import build_bot

        bot = build_bot(container, metrics=metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            if bot is not None and polling:
                await bot.start_polling()
            if bot is not None:
                bot.announce_commands()
            yield
        finally:
            if bot is not None:
                await bot.aclose()
            metrics.shutdown()
            if own_container:
                await container.aclose()

    # /docs and /redoc are served with local assets by the dashboard (relman.web.app).
    app = FastAPI(
        title="relman Release API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    app.state.schema = SchemaCheck(container.engine)  # what /health reports, cached once current
    app.state.bot = bot
    errors.install(app)
    app.include_router(build_router(settings.prefix))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        await metrics.refresh_dora(container.analytics)  # DORA gauges (issue 14)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    # The web dashboard (issue 13) and the offline API docs; after the API's routes.
    install_web(app, container, str(getattr(settings, "web_prefix", "") or ""))

    prefix = settings.prefix
    app.add_middleware(
        GuardMiddleware,
        prefix=prefix,
        max_body_bytes=settings.max_body_bytes,
        authenticator=authenticator,
        open_paths={f"{prefix}/health", f"{prefix}/update", "/metrics"},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
