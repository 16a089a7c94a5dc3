"""A customer's outage and ETR, and the KPIs of the storm so far."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from fastapi import APIRouter

from api.deps import Live, PathId, Run, Who
from api.errors import ERRORS, ApiError
from dispatch.kpis import order_outcomes, within_limit_rate
from dispatch.orders import OPEN, OrderStatus

router = APIRouter()


@router.get("/v1/customers/{customer_id}/outage", tags=["customers"], responses=ERRORS)
def customer_outage(customer_id: PathId, who: Who, run: Run, lv: Live) -> dict[str, Any]:
    if run.resolver.customer_node(customer_id) is None:
        raise ApiError(404, f"no customer {customer_id!r}")
    with lv.lock:
        etr = lv.engine.customer_etr(customer_id)
    etr_time = (lv.epoch + timedelta(seconds=etr)).isoformat() if etr is not None else None
    return {"customer_id": customer_id, "out": etr is not None, "etr_s": etr, "etr": etr_time}


@router.get("/v1/kpis", tags=["kpis"], responses=ERRORS)
def kpis(who: Who, lv: Live) -> dict[str, Any]:
    """The storm so far: orders by status, crews by status, and arrival within limit over the
    orders whose promise is decided (reached, or past their limit unreached)."""
    with lv.lock:
        engine = lv.engine
        now = engine.clock_s or 0
        orders = list(engine.orders.values())
        decided = [o for o in order_outcomes(engine.orders, engine.limits)
                   if o.arrival_s is not None or now > o.reported_s + o.arrival_limit_s]
        reached = [o for o in decided if o.arrival_s is not None]
        by_status = {s.value: 0 for s in OrderStatus}
        for o in orders:
            by_status[o.status.value] += 1
        crews: dict[str, int] = {}
        for s in engine.crews.values():
            crews[s.status.value] = crews.get(s.status.value, 0) + 1
        arrivals = np.array([o.arrival_s for o in reached], dtype=float)
        owed = len(engine.callbacks.callbacks)
        return {"clock_s": engine.clock_s, "work_orders": len(orders),
                "work_orders_by_status": by_status,
                "work_orders_open": sum(1 for o in orders if o.status in OPEN),
                "calls_unlocated": len(engine.unlocated), "crews_by_status": crews,
                "arrival_within_limit_rate": within_limit_rate(decided),
                "median_arrival_minutes": round(float(np.median(arrivals)) / 60, 1) if len(arrivals)
                else None, "first_responses_done": engine.log.first_responses,
                "fixed_on_first_visit": engine.log.fixed_on_first_visit,
                "customer_side_faults": engine.log.customer_side_faults,
                "hours_of_service_alerts": engine.log.hours_of_service_breaches,
                "callbacks_owed": owed, "callbacks_done": engine.callbacks.done,
                "callbacks_unanswered": engine.callbacks.unanswered,
                "planned_outages": len(engine.planned.outages),
                "planned_outages_urgent": engine.planned.urgent,
                "notice_deliveries": lv.notifier.outbox.counts(),
                "events_applied": lv.applied_seq, "events_refused": lv.refused}
