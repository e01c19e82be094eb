"""OpenTelemetry HTTP and Telegram metrics with the seed's names, exported for Prometheus.

Seed 003 ("Метрики"): ``http.server.request.duration``, ``http.server.active_requests``,
``http.server.ok.request.total``, ``http.server.error.request.total``, and for the bot
``telegram.server.ok.message.total``, ``telegram.server.error.message.total``,
``telegram.server.message.duration``. Prometheus shows them with dots as underscores (and a
unit suffix), e.g. ``http_server_request_duration_seconds``.
"""

from __future__ import annotations

import time

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relman import __version__

_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]


class Metrics:
    """A meter provider with its own Prometheus registry (one per app, so tests and
    several apps in one process do not share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._reader = PrometheusMetricReader(registry=self.registry)
        self.provider = MeterProvider(
            metric_readers=[self._reader],
            resource=Resource.create({"service.name": "relman", "service.version": __version__}),
        )
        meter = self.provider.get_meter("relman.http", __version__)
        self.request_duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="HTTP request duration",
            # OpenTelemetry HTTP semantic conventions' recommended buckets (seconds).
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.active_requests = meter.create_up_down_counter(
            "http.server.active_requests", description="HTTP requests in flight"
        )
        self.ok_requests = meter.create_counter(
            "http.server.ok.request.total", description="HTTP requests answered below 400"
        )
        self.error_requests = meter.create_counter(
            "http.server.error.request.total", description="HTTP requests answered 400 or above"
        )
        # Seed 003 ("Telegram метрики"): updates the bot processed, failed on, and how long.
        telegram = self.provider.get_meter("relman.telegram", __version__)
        self.telegram_ok = telegram.create_counter(
            "telegram.server.ok.message.total", description="Telegram updates processed"
        )
        self.telegram_error = telegram.create_counter(
            "telegram.server.error.message.total",
            description="Telegram updates whose processing failed",
        )
        self.telegram_duration = telegram.create_histogram(
            "telegram.server.message.duration",
            unit="s",
            description="Telegram update processing time",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Stop the provider and unregister from the registry."""
        self.provider.shutdown()


class MetricsMiddleware:
    """Measures every HTTP request. The route template (not the raw path) is the
    ``http.route`` attribute, so ids in paths do not explode the series count."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        self.metrics.active_requests.add(1, {"http.request.method": method})
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            attrs = {
                "http.request.method": method,
                "http.route": getattr(route, "path", "unmatched"),
                "http.response.status_code": status,
            }
            self.metrics.request_duration.record(time.perf_counter() - started, attrs)
            self.metrics.active_requests.add(-1, {"http.request.method": method})
            counter = self.metrics.ok_requests if status < 400 else self.metrics.error_requests
            counter.add(1, attrs)
