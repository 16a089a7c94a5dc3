"""The dispatcher API (FastAPI): ``create_app(settings)``.

Resources under ``/v1`` (one router each in ``api/routes``): calls, incidents, work orders
(status steps, assignment), crews (position, duty), the plan and re-plan requests, switching
steps (hold, release, move), planned outages, a customer's outage and ETR, KPIs, the map's
layers, a server-sent-event stream of changes, and webhook subscriptions for customer notices.
``/healthz``, ``/readyz``, ``/metrics``. Every error is JSON ``{"error": ..., "fields":
[{"field", "reason"}]}`` (``api/errors.py``); updates to an order, a crew or a switching step
need ``If-Match`` with the version (ETag) last read, and a stale one gets 409.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.auth import TokenCache
from api.errors import install_error_handlers
from api.live import LiveDispatch
from api.middleware import BodyLimit, Metrics, SecurityHeaders
from api.routes import (
    callbacks,
    calls,
    crews,
    customers,
    events,
    health,
    incidents,
    map,
    plan,
    planned_outages,
    subscriptions,
    switching,
    work_orders,
)
from api.settings import Settings
from api.state import ApiMetrics, AppState, Running
from api.store import Store
from api.writer_lock import WriterLock
from grid_model.areas import territory_polygon
from grid_model.region import Region
from grid_model.resolve import CallResolver
from routing.warm import warm_up

if TYPE_CHECKING:
    from api.demo_storm import StormDriver

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


async def _start(settings: Settings, region: Region | None) -> tuple[Running, StormDriver | None]:
    """Open the store, load the grid, rebuild the engine from the log; with ``--demo`` start
    playing the default storm."""
    from grid_model.grids import load_grid

    store = Store(settings.database_url)
    store.migrate()
    kernels_s = await asyncio.to_thread(warm_up)
    log.info("routing kernels ready in %.1f s (compiled on a fresh install, else loaded)", kernels_s)
    reg = region if region is not None else await asyncio.to_thread(load_grid, settings.grid,
                                                                    settings.grid_scale)
    driver = None
    if settings.demo:
        from api.demo_storm import StormDriver, demo_clock, demo_storm

        if store.counts()["events"]:
            raise RuntimeError(f"--demo plays the storm from its start: {settings.database_url} already "
                               f"holds an event log; use an empty data folder")
        storm = await asyncio.to_thread(demo_storm, reg)
        live = LiveDispatch(settings, store, reg, clock=demo_clock(storm, settings.demo_speed))
    else:
        live = LiveDispatch(settings, store, reg)
    await asyncio.to_thread(live.start)
    if settings.demo:
        driver = StormDriver(live, storm)
        driver.start()
        log.warning("demo mode (development use only): the default storm plays %gx faster than real "
                    "time; anonymous visitors may read everything", settings.demo_speed)
    if settings.dev_mode:
        log.warning("development mode: anonymous visitors may read; do not expose this server")
    territory = territory_polygon(reg.areas).buffer(settings.territory_margin_m)
    critical = list(reg.customers[reg.customers["critical"] != ""].itertuples())
    tokens = TokenCache(store, settings.secret, ttl_s=settings.token_cache_s)
    return Running(store=store, live=live, tokens=tokens, resolver=CallResolver(reg), territory=territory,
                   critical=critical), driver


def create_app(settings: Settings, *, region: Region | None = None,
               writer_lock: WriterLock | None = None) -> FastAPI:
    """The API over the store at ``settings.database_url`` and the grid ``settings.grid``. The
    store's writer lock is taken at start unless the caller holds it (``writer_lock``)."""
    settings.check()
    state = AppState(settings, ApiMetrics.create())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_lock = None if writer_lock is not None else WriterLock(settings.database_url).acquire()
        try:
            running, driver = await _start(settings, region)
            state.running = running
            yield
            state.running = None
            if driver is not None:
                driver.stop()
            running.live.stop()
            running.store.dispose()
        finally:
            if own_lock is not None:
                own_lock.release()

    app = FastAPI(title="outage-dispatch", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Outage and repair dispatch: calls in, crews out.")
    app.state.api = state
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Metrics, latency=state.metrics.latency, requests_total=state.metrics.requests_total)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    for module in (health, calls, work_orders, callbacks, crews, incidents, plan, planned_outages, customers,
                   map, switching, events, subscriptions):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
