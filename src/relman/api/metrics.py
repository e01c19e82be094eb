"""OpenTelemetry HTTP and Telegram metrics with the seed's names, exported for Prometheus.

Seed 003 ("Метрики"): ``http.server.request.duration``, ``http.server.active_requests``,
``http.server.ok.request.total``, ``http.server.error.request.total``, and for the bot
``telegram.server.ok.message.total``, ``telegram.server.error.message.total``,
``telegram.server.message.duration``. Prometheus shows them with dots as underscores (and a
unit suffix), e.g. ``http_server_request_duration_seconds``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relman import __version__
from relman.domain.dora import DEFAULT_WINDOW_DAYS, Band
from relman.domain.errors import RelmanError

if TYPE_CHECKING:
    from relman.domain.dora import Keys
    from relman.services.analytics import AnalyticsService

log = logging.getLogger("relman.metrics")

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

        # DORA's four keys (issue 14) over the default window, per service and for all
        # (service="*"), refreshed at each scrape (:meth:`refresh_dora`). A key without
        # data has no sample.
        labels = ["service"]
        self.dora_frequency = Gauge(
            "relman_dora_deploys_per_day",
            f"Healthy production deploys per day over the last {DEFAULT_WINDOW_DAYS} days",
            labels,
            registry=self.registry,
        )
        self.dora_lead_median = Gauge(
            "relman_dora_lead_time_median_seconds",
            "Median lead time for changes (commit to healthy production deploy)",
            labels,
            registry=self.registry,
        )
        self.dora_lead_p90 = Gauge(
            "relman_dora_lead_time_p90_seconds",
            "90th percentile (nearest rank) of the lead time for changes",
            labels,
            registry=self.registry,
        )
        self.dora_failure_rate = Gauge(
            "relman_dora_change_failure_rate",
            "Production deploys that failed or were rolled back within the rollback window "
            "(fraction)",
            labels,
            registry=self.registry,
        )
        self.dora_recovery = Gauge(
            "relman_dora_recovery_median_seconds",
            "Median failed deployment recovery time (incident detected to resolved)",
            labels,
            registry=self.registry,
        )
        self.dora_band = Gauge(
            "relman_dora_band",
            "DORA performance band of each key: 1 for the band the key is in",
            ["service", "key", "band"],
            registry=self.registry,
        )

    async def refresh_dora(self, analytics: AnalyticsService) -> None:
        """Set the DORA gauges from the stored records (no git is run during a scrape);
        when the database fails the previous values stay and the failure is logged."""
        try:
            report = await analytics.dora(days=DEFAULT_WINDOW_DAYS, scan=False)
        except RelmanError as exc:
            log.warning("DORA metrics not refreshed: %s", exc)
            return
        gauges = (
            self.dora_frequency,
            self.dora_lead_median,
            self.dora_lead_p90,
            self.dora_failure_rate,
            self.dora_recovery,
            self.dora_band,
        )
        for gauge in gauges:
            gauge.clear()
        for name, keys in [("*", report.all.keys)] + [
            (s.service or "*", s.keys) for s in report.services
        ]:
            self._set_dora(name, keys)

    def _set_dora(self, service: str, keys: Keys) -> None:
        self.dora_frequency.labels(service).set(keys.deploys_per_day)
        for gauge, value in (
            (self.dora_lead_median, keys.lead_time_median),
            (self.dora_lead_p90, keys.lead_time_p90),
            (self.dora_failure_rate, keys.change_failure_rate),
            (self.dora_recovery, keys.recovery_median),
        ):
            if value is not None:
                gauge.labels(service).set(value)
        bands: tuple[tuple[str, Band | None], ...] = (
            ("deployment_frequency", keys.frequency_band),
            ("lead_time", keys.lead_time_band),
            ("change_failure_rate", keys.change_failure_band),
            ("recovery_time", keys.recovery_band),
        )
        for key, band in bands:
            if band is not None:
                for each in Band:
                    self.dora_band.labels(service, key, each.value).set(int(each is band))

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
