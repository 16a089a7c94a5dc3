"""Health, readiness, Prometheus metrics, and the store's counts beside the engine's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

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
    """Ready when the engine threads run, the engine is within the allowed lag of the log, and
    the store takes a write; else 503 with the reason."""
    run = state.running
    if run is None or not run.live.ready:
        return JSONResponse({"error": "not ready: the engine is being rebuilt", "fields": []}, 503)
    problem = run.live.problem(state.settings.ready_max_lag_s)
    if not problem:
        try:
            run.store.probe_write()
            counts = run.store.counts()
        except SQLAlchemyError as exc:
            problem = f"the store cannot write: {getattr(exc, 'orig', None) or type(exc).__name__}"
    if problem:
        return JSONResponse({"error": f"not ready: {problem}", "fields": []}, 503)
    return JSONResponse({"status": "ready", "events": counts["events"], "applied_seq": run.live.applied_seq})


@router.get("/metrics", response_class=Response)
def metrics(state: State) -> Response:
    m = state.metrics
    if state.running is not None:
        lv = state.running.live
        with lv.lock:
            m.open_orders.set(sum(1 for o in lv.engine.orders.values() if o.status in OPEN))
        behind, waited = lv.lag()
        m.engine_lag.set(behind)
        m.engine_lag_seconds.set(waited)
        m.events_refused.set(lv.refused)
        m.events_rolled_back.set(lv.rolled_back)
        try:
            for status, n in lv.notifier.outbox.counts().items():
                m.notice_deliveries.labels(status).set(n)
        except SQLAlchemyError:
            pass  # the store is away: /readyz says so
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/status", responses=ERRORS)
def status(who: Who, run: Run, lv: Live) -> dict[str, Any]:
    """The store's counts beside the engine's: equal once the engine has caught up."""
    counts = run.store.counts()
    with lv.lock:
        grouped = sum(1 for inc in lv.engine.predictor.incidents if not inc.merged_into
                      for c in inc.call_ids if not c.startswith(("SCADA:", "AMI:", "CB:", "REPORT:")))
        return {"store": counts, "engine": {"applied_seq": lv.applied_seq, "settled": lv.settled,
                                            "refused": lv.refused,
                                            "calls": lv.calls_applied, "calls_grouped": grouped,
                                            "calls_unlocated": len(lv.engine.unlocated),
                                            "calls_resolved_by_phone": lv.engine.log.resolved_by_phone}}


@router.get("/v1/me", responses=ERRORS)
def me(who: Who) -> dict[str, Any]:
    """Who the token speaks for, so a page can offer only what its role may do."""
    return {"role": who.role, "crew_id": who.crew_id, "anonymous": who.anonymous}
