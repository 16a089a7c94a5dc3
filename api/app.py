"""The dispatcher API (FastAPI): ``create_app(settings)``. (No postponed annotations here:
FastAPI reads the route signatures, whose dependency types are local to ``create_app``.)

Resources under ``/v1``: calls, incidents, work orders (status steps, assignment), crews
(position, duty), the plan and re-plan requests, planned outages, a customer's outage and ETR,
KPIs, and a server-sent-event stream of changes. ``/healthz``, ``/readyz``, ``/metrics``.
Every error is JSON ``{"error": ..., "fields": [{"field", "reason"}]}``; updates to an order or
a crew need ``If-Match`` with the version (ETag) last read, and a stale one gets 409.
"""


import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal, TokenCache
from api.live import LiveDispatch
from api.map_layers import base_layer, outage_areas
from api.schemas import (
    AssignmentIn,
    CallIn,
    CallOut,
    CrewOut,
    CrewUpdate,
    DeviceReportIn,
    PlannedOutageIn,
    Problem,
    StatusChange,
    WorkOrderOut,
)
from api.settings import Settings
from api.store import DuplicateCallError, Store
from dispatch.kpis import order_outcomes, within_limit_rate
from dispatch.orders import OPEN, OrderStatus, WorkOrder
from grid_model.areas import territory_polygon
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem}
                                            for code in (400, 401, 403, 404, 409, 413, 422, 428, 503)}


# Header values are printable ASCII (RFC 9110 tokens and entity tags).
IfMatch = Annotated[str | None, Header(max_length=100, pattern=r"^[\x21-\x7e]+$")]
IdempotencyKey = Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")]


class ApiError(Exception):
    def __init__(self, status: int, error: str, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fields, self.headers = status, error, fields or [], headers


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they say their size."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_json(send, 413, {"error": f"request body over {self.limit} bytes", "fields": []})
            return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_big = True
                    raise ApiError(413, f"request body over {self.limit} bytes")
            return message

        try:
            await self.app(scope, limited, send)
        except ApiError:
            if not too_big:
                raise
            await _send_json(send, 413, {"error": f"request body over {self.limit} bytes", "fields": []})


class Metrics:
    """Count requests and time them per route (a plain ASGI middleware: cheap per request)."""

    def __init__(self, app: ASGIApp, latency: Histogram, requests_total: Counter) -> None:
        self.app, self.latency, self.requests_total = app, latency, requests_total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(name).observe(time.perf_counter() - t0)
            self.requests_total.labels(name, str(status)).inc()


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _version(doc: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def create_app(settings: Settings, *, region: Region | None = None) -> FastAPI:
    """The API over the store at ``settings.database_url`` and the grid ``settings.grid``."""
    settings.check()
    registry = CollectorRegistry()
    requests_total = Counter("http_requests_total", "Requests by route and status", ["route", "status"],
                             registry=registry)
    latency = Histogram("http_request_seconds", "Request latency by route", ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
    calls_total = Counter("calls_received_total", "Calls stored, by whether they were located", ["status"],
                          registry=registry)
    open_orders = Gauge("work_orders_open", "Work orders waiting or being worked", registry=registry)
    engine_lag = Gauge("engine_lag_events", "Logged events the engine has not applied yet", registry=registry)
    bearer = HTTPBearer(auto_error=False)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from grid_model.grids import load_grid

        store = Store(settings.database_url)
        store.migrate()
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
        tokens = TokenCache(store, settings.secret, ttl_s=settings.token_cache_s)
        territory = territory_polygon(reg.areas).buffer(settings.territory_margin_m)
        critical = list(reg.customers[reg.customers["critical"] != ""].itertuples())
        state.update(store=store, live=live, tokens=tokens, resolver=CallResolver(reg), territory=territory,
                     critical=critical)
        if settings.dev_mode:
            log.warning("development mode: anonymous visitors may read; do not expose this server")
        yield
        if driver is not None:
            driver.stop()
        live.stop()
        store.dispose()

    app = FastAPI(title="outage-dispatch", version="1", lifespan=lifespan,
                  description="Outage and repair dispatch: calls in, crews out.")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    app.add_middleware(Metrics, latency=latency, requests_total=requests_total)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "fields": exc.fields}, status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(SQLAlchemyError)
    async def store_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("store error: %s", exc)
        return JSONResponse({"error": "the store is unavailable; nothing was changed, try again",
                             "fields": []}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                   "reason": str(e.get("msg", "invalid"))} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "fields": []}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    def live() -> LiveDispatch:
        if "live" not in state:
            raise ApiError(503, "starting: the engine is being rebuilt")
        return state["live"]

    async def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            if settings.dev_mode:
                return Principal("viewer", anonymous=True)
            raise ApiError(401, "authentication required: send Authorization: Bearer <token>",
                           headers={"WWW-Authenticate": "Bearer"})
        tokens: TokenCache | None = state.get("tokens")
        found = None
        if tokens is not None:
            found = tokens.cached(creds.credentials) or await asyncio.to_thread(tokens.principal,
                                                                                creds.credentials)
        if found is None:
            raise ApiError(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        return found

    def allow(who: Principal, *roles: str) -> None:
        if who.role not in roles:
            raise ApiError(403, f"role {who.role} may not do this; needs {' or '.join(roles)}")

    Who = Annotated[Principal, Depends(principal)]  # noqa: N806 - a type, named like one

    # -- health and metrics ----------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": Problem}})
    def readyz() -> JSONResponse:
        if "live" not in state or not state["live"].ready:
            return JSONResponse({"error": "not ready: the engine is being rebuilt", "fields": []}, 503)
        counts = state["store"].counts()
        return JSONResponse({"status": "ready", "events": counts["events"],
                             "applied_seq": state["live"].applied_seq})

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        if "live" in state:
            lv = state["live"]
            with lv.lock:
                open_orders.set(sum(1 for o in lv.engine.orders.values() if o.status in OPEN))
            engine_lag.set(lv._queue.qsize())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def in_territory(lv: LiveDispatch, lon: float, lat: float) -> tuple[float, float]:
        """The position in the region's metres; 422 naming lon and lat when it lies outside the
        service territory (with its margin)."""
        x, y = lv.to_utm.transform(lon, lat)
        if not state["territory"].contains(shapely.Point(x, y)):
            raise ApiError(422, "position outside the service territory",
                           [{"field": "lon", "reason": "outside the service territory"},
                            {"field": "lat", "reason": "outside the service territory"}])
        return float(x), float(y)

    # -- calls -----------------------------------------------------------------------
    def call_out(row: dict[str, Any]) -> tuple[CallOut, bool]:
        res = state["resolver"].resolve(Call(row["call_id"], row["t_s"], customer_id=row["customer_id"],
                                             meter_id=row["meter_id"], address=row["address"],
                                             lon=row["lon"], lat=row["lat"]))
        node = state["live"].region.network.node_id[res.node_idx] if res.located else ""
        return CallOut(call_id=row["call_id"], time=row["time"], received_at=row["received_at"],
                       t_s=row["t_s"], customer_id=row["customer_id"], meter_id=row["meter_id"],
                       address=row["address"],
                       lon=row["lon"], lat=row["lat"], status="located" if res.located else "unlocated",
                       reason=res.reason, node_id=node), res.located

    @app.post("/v1/calls", tags=["calls"], status_code=201, response_model=CallOut,
              responses={**ERRORS,
                         200: {"model": CallOut, "description": "already received: the stored call"},
                         202: {"model": CallOut, "description": "stored, caller not found on the grid"}})
    async def post_call(body: CallIn, who: Who, response: Response,
                  idempotency_key: IdempotencyKey = None) -> CallOut:
        """File a trouble call. It is committed before the answer; a re-send with the same
        call_id (or Idempotency-Key) gets the stored call back and stores nothing. (Async: it
        only resolves the caller, which takes microseconds, and awaits the commit.)"""
        allow(who, "call_taker", "dispatcher")
        lv = live()
        if body.lon is not None and body.lat is not None:
            in_territory(lv, body.lon, body.lat)
        if idempotency_key:
            first = await asyncio.to_thread(state["store"].idempotent_response, f"call:{idempotency_key}")
            stored = await asyncio.to_thread(state["store"].call, first[2]) if first is not None else None
            if stored is not None:
                response.status_code = 200
                return call_out(stored)[0]
        row = {"call_id": body.call_id, "time": body.time.astimezone(UTC).isoformat() if body.time else None,
               "customer_id": body.customer_id or "", "meter_id": body.meter_id or "",
               "address": body.address or "", "lon": body.lon, "lat": body.lat}
        try:  # awaited on the event loop: no worker thread is held while the writer commits
            logged = await asyncio.wrap_future(lv.enqueue("call", row, call=row))
        except DuplicateCallError as dup:
            response.status_code = 200
            return call_out(dup.stored)[0]
        if idempotency_key:
            await asyncio.to_thread(state["store"].save_response, f"call:{idempotency_key}", "call", 201,
                                    body.call_id)
        out, located = call_out({**row, "t_s": logged.t_s, "received_at": logged.received_at})
        calls_total.labels("located" if located else "unlocated").inc()
        response.status_code = 201 if located else 202
        return out

    @app.get("/v1/calls/{call_id}", tags=["calls"], response_model=CallOut, responses=ERRORS)
    def get_call(call_id: str, who: Who) -> CallOut:
        live()
        row = state["store"].call(call_id)
        if row is None:
            raise ApiError(404, f"no call {call_id!r}")
        return call_out(row)[0]

    # -- work orders -----------------------------------------------------------------
    def order_out(lv: LiveDispatch, o: WorkOrder) -> WorkOrderOut:
        lon, lat = lv.to_wgs.transform(o.x_m, o.y_m)
        doc: dict[str, Any] = {"order_id": o.order_id, "incident_id": o.incident_id, "status": o.status.value,
               "element_id": o.element_id, "lon": round(float(lon), 6), "lat": round(float(lat), 6),
               "area": o.area, "skill": o.skill, "customers": o.customers, "critical": o.critical,
               "first_report_s": o.first_report_s, "deadline_s": o.deadline_s, "crew_id": o.crew_id,
               "assists": list(o.assists), "merged_into": o.merged_into, "arrived_s": o.arrived_s,
               "repaired_s": o.repaired_s, "etr_s": lv.engine.etr.get(o.order_id)}
        return WorkOrderOut(**doc, version=_version(doc))

    def find_order(lv: LiveDispatch, order_id: str) -> WorkOrder:
        order = lv.engine.orders.get(order_id)
        if order is None:
            raise ApiError(404, f"no work order {order_id!r}")
        return order

    def check_version(current: str, if_match: str | None, what: str) -> None:
        if if_match is None:
            raise ApiError(428, f"updating {what} needs If-Match with its version (ETag)",
                           [{"field": "If-Match", "reason": "missing"}])
        if if_match.strip('"') != current:
            raise ApiError(409, f"{what} has changed since version {if_match}; read it again",
                           [{"field": "If-Match", "reason": f"stale: current version is {current}"}])

    @app.get("/v1/work-orders", tags=["work orders"], response_model=list[WorkOrderOut], responses=ERRORS)
    def list_orders(who: Who, status: OrderStatus | None = None, open_only: bool = False,
                    limit: Annotated[int, "max rows"] = 500, offset: int = 0) -> list[WorkOrderOut]:
        if not 1 <= limit <= 10_000 or offset < 0:
            raise ApiError(422, "limit must be 1..10000 and offset 0 or more",
                           [{"field": "limit", "reason": "out of range"}])
        lv = live()
        with lv.lock:
            orders = [o for o in lv.engine.orders.values()
                      if (status is None or o.status == status) and (not open_only or o.status in OPEN)]
            return [order_out(lv, o) for o in orders[offset:offset + limit]]

    @app.get("/v1/work-orders/{order_id}", tags=["work orders"], response_model=WorkOrderOut,
             responses=ERRORS)
    def get_order(order_id: str, who: Who, response: Response) -> WorkOrderOut:
        lv = live()
        with lv.lock:
            out = order_out(lv, find_order(lv, order_id))
        response.headers["ETag"] = f'"{out.version}"'
        return out

    def apply_and_answer(lv: LiveDispatch, kind: str, payload: dict[str, Any], order_id: str,
                         response: Response) -> WorkOrderOut:
        outcome = lv.outcome(kind, payload)
        if outcome.refused:
            raise ApiError(409, outcome.refused)
        with lv.lock:
            out = order_out(lv, find_order(lv, order_id))
        response.headers["ETag"] = f'"{out.version}"'
        return out

    @app.post("/v1/work-orders/{order_id}/status", tags=["work orders"], response_model=WorkOrderOut,
              responses=ERRORS)
    def change_status(order_id: str, body: StatusChange, who: Who, response: Response,
                      if_match: IfMatch = None) -> WorkOrderOut:
        """A crew reports arrival (``on_site``) or the repair (``repaired``) of its own order;
        a dispatcher records the callback (``callback_done``) or cancels."""
        lv = live()
        crew_steps = body.status in ("on_site", "repaired")
        allow(who, *(("crew", "dispatcher") if crew_steps else ("dispatcher",)))
        with lv.lock:
            order = find_order(lv, order_id)
            check_version(order_out(lv, order).version, if_match, f"work order {order_id}")
            crew_id = body.crew_id or (who.crew_id if who.role == "crew" else None) or order.crew_id
            if who.role == "crew" and crew_id != who.crew_id:
                raise ApiError(403, f"a crew token for {who.crew_id} cannot report for crew {crew_id}")
            if who.role == "crew" and who.crew_id not in order.team:
                raise ApiError(403, f"work order {order_id} is not crew {who.crew_id}'s")
            node = order.node_idx
        if crew_steps and not crew_id:
            raise ApiError(422, "which crew?",
                           [{"field": "crew_id", "reason": "required: the order has no crew"}])
        steps: dict[str, tuple[str, dict[str, Any]]] = {
            "on_site": ("arrived", {"crew_id": crew_id, "order_id": order_id}),
            "repaired": ("repaired", {"crew_id": crew_id, "order_id": order_id, "restored_nodes": [node]}),
            "callback_done": ("callback_done", {"order_id": order_id}),
            "cancelled": ("cancelled", {"order_id": order_id, "reason": body.reason}),
        }
        kind, payload = steps[body.status]
        return apply_and_answer(lv, kind, payload, order_id, response)

    @app.post("/v1/work-orders/{order_id}/assignment", tags=["work orders"], response_model=WorkOrderOut,
              responses=ERRORS)
    def assign(order_id: str, body: AssignmentIn, who: Who, response: Response,
               if_match: IfMatch = None) -> WorkOrderOut:
        """A dispatcher sends a crew to a waiting order, overriding the plan."""
        allow(who, "dispatcher")
        lv = live()
        with lv.lock:
            order = find_order(lv, order_id)
            check_version(order_out(lv, order).version, if_match, f"work order {order_id}")
            if body.crew_id not in lv.engine.crews:
                raise ApiError(404, f"no crew {body.crew_id!r}",
                               [{"field": "crew_id", "reason": "unknown crew"}])
        return apply_and_answer(lv, "assign", {"order_id": order_id, "crew_id": body.crew_id}, order_id,
                                response)

    # -- crews -----------------------------------------------------------------------
    def crew_out(lv: LiveDispatch, crew_id: str) -> CrewOut:
        s = lv.engine.crews[crew_id]
        x, y = lv.engine.position(crew_id, lv.now_s())
        lon, lat = lv.to_wgs.transform(x, y)
        plan = getattr(lv.engine.policy, "plan", None)
        route = plan.route(crew_id) if plan is not None else ([s.order_id] if s.order_id else [])
        doc: dict[str, Any] = {
            "crew_id": crew_id, "depot_id": s.crew.depot_id, "skills": sorted(s.crew.skills),
            "status": s.status, "order_id": s.order_id, "lon": round(float(lon), 6),
            "lat": round(float(lat), 6), "shift_end_s": s.shift_end_s, "route": list(route)}
        version = _version({k: v for k, v in doc.items() if k not in ("lon", "lat", "route")})
        return CrewOut(**doc, version=version)

    def find_crew(lv: LiveDispatch, crew_id: str) -> None:
        if crew_id not in lv.engine.crews:
            raise ApiError(404, f"no crew {crew_id!r}")

    @app.get("/v1/crews", tags=["crews"], response_model=list[CrewOut], responses=ERRORS)
    def list_crews(who: Who, status: str | None = None) -> list[CrewOut]:
        lv = live()
        with lv.lock:
            return [crew_out(lv, c) for c, s in lv.engine.crews.items()
                    if status is None or s.status == status]

    @app.get("/v1/crews/{crew_id}", tags=["crews"], response_model=CrewOut, responses=ERRORS)
    def get_crew(crew_id: str, who: Who, response: Response) -> CrewOut:
        lv = live()
        with lv.lock:
            find_crew(lv, crew_id)
            out = crew_out(lv, crew_id)
        response.headers["ETag"] = f'"{out.version}"'
        return out

    @app.patch("/v1/crews/{crew_id}", tags=["crews"], response_model=CrewOut, responses=ERRORS)
    def update_crew(crew_id: str, body: CrewUpdate, who: Who, response: Response,
                    if_match: IfMatch = None) -> CrewOut:
        """A crew's GPS fix or duty change (its own crew only), or a dispatcher's."""
        allow(who, "crew", "dispatcher")
        lv = live()
        if who.role == "crew" and who.crew_id != crew_id:
            raise ApiError(403, f"a crew token for {who.crew_id} cannot update crew {crew_id}")
        with lv.lock:
            find_crew(lv, crew_id)
            check_version(crew_out(lv, crew_id).version, if_match, f"crew {crew_id}")
            status = lv.engine.crews[crew_id].status
        steps: list[tuple[str, dict[str, Any]]] = []
        if body.lon is not None and body.lat is not None:
            x, y = in_territory(lv, body.lon, body.lat)
            steps.append(("position", {"crew_id": crew_id, "x_m": x, "y_m": y}))
        if body.on_duty is True and status == "off":
            steps.append(("shift_start", {"crew_id": crew_id}))
        elif body.on_duty is False and status != "off":
            steps.append(("shift_end", {"crew_id": crew_id}))
        for kind, payload in steps:
            outcome = lv.outcome(kind, payload)
            if outcome.refused:
                raise ApiError(409, outcome.refused)
        with lv.lock:
            out = crew_out(lv, crew_id)
        response.headers["ETag"] = f'"{out.version}"'
        return out

    # -- incidents, plan, planned outages, customers, KPIs -----------------------------
    @app.get("/v1/incidents", tags=["incidents"], responses=ERRORS)
    def list_incidents(who: Who, open_only: bool = True) -> list[dict[str, Any]]:
        lv = live()
        net = lv.region.network
        with lv.lock:
            out = []
            for inc in lv.engine.predictor.incidents:
                if open_only and not inc.is_open:
                    continue
                lon, lat = lv.to_wgs.transform(net.x_m[inc.node_idx], net.y_m[inc.node_idx])
                out.append({"incident_id": inc.incident_id, "kind": str(inc.kind), "open": inc.is_open,
                            "node_id": net.node_id[inc.node_idx], "lon": round(float(lon), 6),
                            "lat": round(float(lat), 6), "calls": len(inc.call_ids),
                            "first_report_s": inc.first_report_s,
                            "order_id": lv.engine.order_of_incident.get(inc.incident_id, "")})
            return out

    @app.get("/v1/plan", tags=["plan"], responses=ERRORS)
    def get_plan(who: Who) -> dict[str, Any]:
        lv = live()
        with lv.lock:
            plan = getattr(lv.engine.policy, "plan", None)
            routes = {c: plan.route(c) for c in lv.engine.crews} if plan is not None else {
                c: [s.order_id] for c, s in lv.engine.crews.items() if s.order_id}
            return {"policy": lv.engine.policy.name, "version": lv.engine.policy.plan_version,
                    "routes": {c: r for c, r in routes.items() if r}, "etr_s": dict(lv.engine.etr)}

    @app.post("/v1/plan/replan", tags=["plan"], status_code=202, responses=ERRORS)
    def replan(who: Who) -> dict[str, Any]:
        """Ask for a new plan from the current state at once."""
        allow(who, "dispatcher")
        return {"queued": live().submit("replan", {}).seq}

    def known_device(lv: LiveDispatch, device_id: str) -> None:
        """404 naming ``device_id`` when the grid has no such protective device."""
        if not lv.engine.knows_device(device_id):
            raise ApiError(404, f"no device {device_id!r}",
                           [{"field": "device_id", "reason": "unknown device"}])

    @app.post("/v1/planned-outages", tags=["planned outages"], status_code=201, responses=ERRORS)
    def add_planned(body: PlannedOutageIn, who: Who) -> dict[str, Any]:
        allow(who, "dispatcher")
        lv = live()
        known_device(lv, body.device_id)
        start_s = int((body.start - lv.epoch).total_seconds())
        end_s = int((body.end - lv.epoch).total_seconds())
        outcome = lv.outcome("planned_outage", {"outage_id": body.outage_id, "device_id": body.device_id,
                                                "start_s": start_s, "end_s": end_s})
        if outcome.refused:
            raise ApiError(409, outcome.refused)
        return {"outage_id": body.outage_id, "device_id": body.device_id, "start_s": start_s, "end_s": end_s}

    @app.post("/v1/device-reports", tags=["incidents"], status_code=201, responses=ERRORS)
    async def device_report(body: DeviceReportIn, who: Who) -> dict[str, Any]:
        """A protective device reported open (SCADA, or a field report of a blown fuse): an
        incident at the device for certain."""
        allow(who, "dispatcher")
        lv = live()
        known_device(lv, body.device_id)
        logged = await asyncio.wrap_future(lv.enqueue("device", {"device_id": body.device_id}))
        return {"device_id": body.device_id, "seq": logged.seq, "t_s": logged.t_s}

    @app.get("/v1/customers/{customer_id}/outage", tags=["customers"], responses=ERRORS)
    def customer_outage(customer_id: str, who: Who) -> dict[str, Any]:
        lv = live()
        if state["resolver"].customer_node(customer_id) is None:
            raise ApiError(404, f"no customer {customer_id!r}")
        with lv.lock:
            etr = lv.engine.customer_etr(customer_id)
        etr_time = (lv.epoch + timedelta(seconds=etr)).isoformat() if etr is not None else None
        return {"customer_id": customer_id, "out": etr is not None, "etr_s": etr, "etr": etr_time}

    @app.get("/v1/kpis", tags=["kpis"], responses=ERRORS)
    def kpis(who: Who) -> dict[str, Any]:
        lv = live()
        with lv.lock:
            orders = list(lv.engine.orders.values())
            outcomes = order_outcomes(orders, lv.engine.limits)
            reached = [o for o in outcomes if o.arrival_s is not None]
            by_status = {s.value: 0 for s in OrderStatus}
            for o in orders:
                by_status[o.status.value] += 1
            crews: dict[str, int] = {}
            for s in lv.engine.crews.values():
                crews[s.status] = crews.get(s.status, 0) + 1
            arrivals = np.array([o.arrival_s for o in reached], dtype=float)
            return {"clock_s": lv.engine.clock_s, "work_orders": len(orders),
                    "work_orders_by_status": by_status,
                    "work_orders_open": sum(1 for o in orders if o.status in OPEN),
                    "calls_unlocated": len(lv.engine.unlocated), "crews_by_status": crews,
                    "arrival_within_limit_rate": within_limit_rate(reached),
                    "median_arrival_minutes": round(float(np.median(arrivals)) / 60, 1) if len(arrivals)
                    else None, "events_applied": lv.applied_seq, "events_refused": lv.refused}

    @app.get("/v1/status", tags=["health"], responses=ERRORS)
    def status(who: Who) -> dict[str, Any]:
        """The store's counts beside the engine's: equal once the engine has caught up."""
        lv = live()
        counts = state["store"].counts()
        with lv.lock:
            grouped = sum(1 for inc in lv.engine.predictor.incidents if not inc.merged_into
                          for c in inc.call_ids if not c.startswith(("SCADA:", "AMI:")))
            return {"store": counts, "engine": {"applied_seq": lv.applied_seq, "refused": lv.refused,
                                                "calls": lv.calls_applied, "calls_grouped": grouped,
                                                "calls_unlocated": len(lv.engine.unlocated)}}

    # -- the dispatcher's map page -------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The map (``static/index.html``); it asks for a token unless anonymous reading is on."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/v1/me", tags=["health"], responses=ERRORS)
    def me(who: Who) -> dict[str, Any]:
        """Who the token speaks for, so a page can offer only what its role may do."""
        return {"role": who.role, "crew_id": who.crew_id, "anonymous": who.anonymous}

    @app.get("/v1/map/base", tags=["map"], responses=ERRORS)
    def map_base(who: Who) -> dict[str, Any]:
        """The offline base layer: area polygons and roads as GeoJSON (WGS84), and the depots."""
        lv = live()
        if "base" not in state:
            state["base"] = base_layer(lv.region)
        base: dict[str, Any] = state["base"]
        return base

    @app.get("/v1/map/outages", tags=["map"], responses=ERRORS)
    def map_outages(who: Who) -> dict[str, Any]:
        """The dark areas: for each open work order, the hull of the customers behind it."""
        lv = live()
        with lv.lock:
            open_orders = [(o.order_id, o.node_idx) for o in lv.engine.orders.values() if o.status in OPEN]
        return outage_areas(lv.region, open_orders)

    @app.get("/v1/map/critical", tags=["map"], responses=ERRORS)
    def map_critical(who: Who) -> list[dict[str, Any]]:
        """Critical customers (hospitals, life support): where, and whether an open order
        covers them (their supply is out)."""
        lv = live()
        with lv.lock:
            return [{"customer_id": r.customer_id, "critical": r.critical, "lon": float(r.lon),
                     "lat": float(r.lat), "out": lv.engine.customer_etr(r.customer_id) is not None}
                    for r in state["critical"]]

    @app.get("/v1/events/stream", tags=["events"], response_class=StreamingResponse, responses=ERRORS)
    async def stream(request: Request, who: Who) -> StreamingResponse:
        """Server-sent events: one ``change`` per applied event with the decisions it led to."""
        lv = live()
        q, unsubscribe = lv.subscribe(asyncio.get_running_loop())

        async def events() -> AsyncIterator[str]:
            try:
                yield f"event: hello\ndata: {json.dumps({'applied_seq': lv.applied_seq})}\n\n"
                while not await request.is_disconnected():
                    try:
                        message = await asyncio.wait_for(q.get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"id: {message['seq']}\nevent: change\ndata: {json.dumps(message, default=str)}\n\n"
            finally:
                unsubscribe()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return app
