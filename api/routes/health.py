"""Health, readiness, Prometheus metrics, and the store's counts beside the engine's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Live, Run, State, Who
from api.errors import ERRORS
from api.schemas import ErrorBody
from dispatch.orders import OPEN

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorBody}})
def readyz(state: State) -> JSONResponse:
    run = state.running
    if run is None or not run.live.ready:
        return JSONResponse({"error": "not ready: the engine is being rebuilt", "fields": []}, 503)
    counts = run.store.counts()
    return JSONResponse({"status": "ready", "events": counts["events"], "applied_seq": run.live.applied_seq})


@router.get("/metrics", response_class=Response)
def metrics(state: State) -> Response:
    m = state.metrics
    if state.running is not None:
        lv = state.running.live
        with lv.lock:
            m.open_orders.set(sum(1 for o in lv.engine.orders.values() if o.status in OPEN))
        m.engine_lag.set(lv._queue.qsize())
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/status", responses=ERRORS)
def status(who: Who, run: Run, lv: Live) -> dict[str, Any]:
    """The store's counts beside the engine's: equal once the engine has caught up."""
    counts = run.store.counts()
    with lv.lock:
        grouped = sum(1 for inc in lv.engine.predictor.incidents if not inc.merged_into
                      for c in inc.call_ids if not c.startswith(("SCADA:", "AMI:")))
        return {"store": counts, "engine": {"applied_seq": lv.applied_seq, "refused": lv.refused,
                                            "calls": lv.calls_applied, "calls_grouped": grouped,
                                            "calls_unlocated": len(lv.engine.unlocated)}}


@router.get("/v1/me", responses=ERRORS)
def me(who: Who) -> dict[str, Any]:
    """Who the token speaks for, so a page can offer only what its role may do."""
    return {"role": who.role, "crew_id": who.crew_id, "anonymous": who.anonymous}
