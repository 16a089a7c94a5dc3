"""Trouble calls: filed (committed before the answer, once per call id or Idempotency-Key) and
read back."""

from __future__ import annotations

import asyncio
from datetime import UTC

from fastapi import APIRouter, Response

from api.deps import IdempotencyKey, Live, PathId, Run, State, Who, allow
from api.errors import ERRORS, ApiError
from api.schemas import CallIn, CallOut
from api.store import DuplicateCallError
from api.views import call_out, in_territory

router = APIRouter(tags=["calls"])


@router.post("/v1/calls", status_code=201, response_model=CallOut,
             responses={**ERRORS, 200: {"model": CallOut, "description": "already received: the stored call"},
                        202: {"model": CallOut, "description": "stored, caller not found on the grid"}})
async def post_call(body: CallIn, who: Who, state: State, run: Run, lv: Live, response: Response,
                    idempotency_key: IdempotencyKey = None) -> CallOut:
    """File a trouble call. It is committed before the answer; a re-send with the same
    call_id (or Idempotency-Key) gets the stored call back and stores nothing. (Async: it
    only resolves the caller, which takes microseconds, and awaits the commit.)"""
    allow(who, "call_taker", "dispatcher")
    if body.lon is not None and body.lat is not None:
        in_territory(lv, run.territory, body.lon, body.lat)
    row = {"call_id": body.call_id, "time": body.time.astimezone(UTC).isoformat() if body.time else None,
           "customer_id": body.customer_id or "", "meter_id": body.meter_id or "",
           "address": body.address or "", "lon": body.lon, "lat": body.lat, "triage": body.triage}
    try:  # awaited on the event loop: no worker thread is held while the writer commits
        logged = await asyncio.wrap_future(lv.enqueue(
            "call", row, call=row, idempotency_key=f"call:{idempotency_key}" if idempotency_key else None))
    except DuplicateCallError as dup:
        response.status_code = 200
        return call_out(run.resolver, lv, dup.stored)[0]
    out, located = call_out(run.resolver, lv, {**row, "t_s": logged.t_s, "received_at": logged.received_at})
    state.metrics.calls_total.labels("located" if located else "unlocated").inc()
    response.status_code = 201 if located else 202
    return out


@router.get("/v1/calls/{call_id}", response_model=CallOut, responses=ERRORS)
def get_call(call_id: PathId, who: Who, run: Run, lv: Live) -> CallOut:
    row = run.store.call(call_id)
    if row is None:
        raise ApiError(404, f"no call {call_id!r}")
    return call_out(run.resolver, lv, row)[0]
