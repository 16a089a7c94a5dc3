"""What the running app holds (typed, on ``app.state.api``): settings and metrics from
``create_app``, and once the lifespan has started them, the store, the live dispatch and what
requests look up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api.auth import TokenCache
from api.live import LiveDispatch
from api.settings import Settings
from api.store import Store
from grid_model.resolve import CallResolver


@dataclass(frozen=True, slots=True)
class ApiMetrics:
    """The app's Prometheus registry and the series it keeps."""

    registry: CollectorRegistry
    requests_total: Counter
    latency: Histogram
    calls_total: Counter
    open_orders: Gauge
    engine_lag: Gauge
    engine_lag_seconds: Gauge
    events_refused: Gauge
    events_rolled_back: Gauge
    notice_deliveries: Gauge

    @classmethod
    def create(cls) -> ApiMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests_total=Counter("http_requests_total", "Requests by route and status", ["route", "status"],
                                   registry=registry),
            latency=Histogram("http_request_seconds", "Request latency by route", ["route"],
                              registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)),
            calls_total=Counter("calls_received_total", "Calls stored, by whether they were located",
                                ["status"], registry=registry),
            open_orders=Gauge("work_orders_open", "Work orders waiting or being worked", registry=registry),
            engine_lag=Gauge("engine_lag_events", "Logged events the engine has not applied yet",
                             registry=registry),
            engine_lag_seconds=Gauge("engine_lag_seconds", "How long the oldest logged event not yet applied "
                                     "has waited", registry=registry),
            events_refused=Gauge("engine_events_refused", "Logged events refused (the engine's refusals and "
                                 "the rolled-back ones)", registry=registry),
            events_rolled_back=Gauge("engine_events_rolled_back", "Logged events (or decision points) rolled "
                                     "back because applying them raised", registry=registry),
            notice_deliveries=Gauge("notice_deliveries", "Webhook deliveries of customer notices by status "
                                    "(pending, delivered, failed: given up)", ["status"], registry=registry))


@dataclass(slots=True)
class Running:
    """What the lifespan started: the store, the engine and the lookups requests need."""

    store: Store
    live: LiveDispatch
    tokens: TokenCache
    resolver: CallResolver
    territory: Any  # shapely geometry in the region's metres, with the margin
    critical: list[Any]  # rows of the region's critical customers
    base: dict[str, Any] | None = None  # the map's base layer, built on first request


@dataclass(slots=True)
class AppState:
    settings: Settings
    metrics: ApiMetrics
    running: Running | None = field(default=None)
