"""Planned outages: calls from under one inside its window are attached to it, not dispatched,
and the customers below it are told when it is announced, moved or called off. Customers are
owed 7 days' notice: a shorter one must be urgent, with the reason (counted in the KPIs and
shown here). Ids are the dispatcher's, unique among planned outages (409 on reuse) and kept
apart from incident ids (the engine knows them as ``planned:<id>``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter

from api.deps import Dispatcher, Live, PathId, Who
from api.errors import ERRORS, ApiError
from api.live import PLANNED_PREFIX, LiveDispatch
from api.schemas import PlannedOutageCancelIn, PlannedOutageChangeIn, PlannedOutageIn, PlannedOutageOut
from api.views import apply, known_device
from dispatch.planned import PlannedOutage

router = APIRouter(tags=["planned outages"])


def _s(lv: LiveDispatch, when: datetime) -> int:
    return int((when - lv.epoch).total_seconds())


def _refuse_past(lv: LiveDispatch, start_s: int) -> None:
    if start_s < lv.now_s():
        raise ApiError(422, "the outage would start in the past",
                       [{"field": "start", "reason": "in the past"}])


def _refuse_short(lv: LiveDispatch, start_s: int, urgent: bool) -> None:
    """Refuse (422) a window starting inside the notice period not marked urgent; the engine
    checks again against its event's time."""
    now, notice_s = lv.now_s(), lv.engine.planned.notice_s
    if start_s < now + notice_s and not urgent:
        raise ApiError(422, f"customers are owed {notice_s / 86_400:g} days' notice; this one starts in "
                            f"{(start_s - now) / 86_400:.1f} days: mark it urgent with a reason",
                       [{"field": "start", "reason": "short notice"}])


def _out(lv: LiveDispatch, p: PlannedOutage) -> PlannedOutageOut:
    now = lv.engine.clock_s or 0
    status: Literal["announced", "under_way", "over", "cancelled"] = \
        "cancelled" if p.cancelled else "over" if p.end_s <= now else \
        "under_way" if p.start_s <= now else "announced"

    def at(t_s: int) -> datetime:
        return lv.epoch + timedelta(seconds=t_s)

    return PlannedOutageOut(outage_id=p.outage_id.removeprefix(PLANNED_PREFIX), device_id=p.device_id,
                            start=at(p.start_s), end=at(p.end_s), announced=at(p.announced_s),
                            notice_days=round(p.notice_s / 86_400, 2), urgent=p.urgent, reason=p.reason,
                            status=status, changes=p.changes,
                            customers=len(lv.engine.customers_below(p.device_idx)))


def _find(lv: LiveDispatch, outage_id: str) -> PlannedOutage:
    p = lv.engine.planned.outages.get(PLANNED_PREFIX + outage_id)
    if p is None:
        raise ApiError(404, f"no planned outage {outage_id!r}")
    return p


@router.post("/v1/planned-outages", status_code=201, responses=ERRORS)
def add_planned(body: PlannedOutageIn, who: Dispatcher, lv: Live) -> dict[str, Any]:
    known_device(lv, body.device_id)
    start_s, end_s = _s(lv, body.start), _s(lv, body.end)
    _refuse_past(lv, start_s)
    _refuse_short(lv, start_s, body.urgent)
    apply(lv, "planned_outage", {"outage_id": PLANNED_PREFIX + body.outage_id, "device_id": body.device_id,
                                 "start_s": start_s, "end_s": end_s, "urgent": body.urgent,
                                 "reason": body.reason})
    return {"outage_id": body.outage_id, "device_id": body.device_id, "start_s": start_s, "end_s": end_s,
            "urgent": body.urgent}


@router.get("/v1/planned-outages", response_model=list[PlannedOutageOut], responses=ERRORS)
def list_planned(who: Who, lv: Live) -> list[PlannedOutageOut]:
    """Every planned outage, in the order announced (the urgent ones say why)."""
    with lv.lock:
        return [_out(lv, p) for p in lv.engine.planned.outages.values()]


@router.put("/v1/planned-outages/{outage_id}", response_model=PlannedOutageOut, responses=ERRORS)
def change_planned(outage_id: PathId, body: PlannedOutageChangeIn, who: Dispatcher,
                   lv: Live) -> PlannedOutageOut:
    """Move a planned outage's window; the customers below it are told. A window that grows
    or moves inside the notice period is short notice (urgent, with a reason)."""
    with lv.lock:
        p = _find(lv, outage_id)
        old_start, old_end = p.start_s, p.end_s
    start_s, end_s = _s(lv, body.start), _s(lv, body.end)
    if start_s != old_start:
        _refuse_past(lv, start_s)
    if start_s < old_start or end_s > old_end:
        _refuse_short(lv, min(start_s, old_start), body.urgent)
    apply(lv, "planned_outage_changed", {"outage_id": PLANNED_PREFIX + outage_id, "start_s": start_s,
                                         "end_s": end_s, "urgent": body.urgent, "reason": body.reason})
    with lv.lock:
        return _out(lv, _find(lv, outage_id))


@router.post("/v1/planned-outages/{outage_id}/cancel", response_model=PlannedOutageOut, responses=ERRORS)
def cancel_planned(outage_id: PathId, body: PlannedOutageCancelIn, who: Dispatcher,
                   lv: Live) -> PlannedOutageOut:
    """Call off a planned outage that has not started; the customers below it are told."""
    with lv.lock:
        _find(lv, outage_id)
    apply(lv, "planned_outage_cancelled", {"outage_id": PLANNED_PREFIX + outage_id, "reason": body.reason})
    with lv.lock:
        return _out(lv, _find(lv, outage_id))
