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
