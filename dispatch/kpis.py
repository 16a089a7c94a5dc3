"""Storm KPIs from the engine's work orders and the world's customer outage records.

Reliability indices follow IEEE 1366 for the event: SAIDI = customer-minutes interrupted /
customers served, SAIFI = customer interruptions / customers served, CAIDI = SAIDI / SAIFI.
Arrival and repair limits run from an order's first report; an order never reached counts
as late; merged and cancelled orders are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dispatch.engine import DispatchEngine
from dispatch.limits import ServiceLimits
from dispatch.orders import FOLDED, OrderStatus, WorkOrder
from dispatch.world import World
from grid_model.network import AREA_NAMES


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What the KPIs need of one order."""

    area: str
    critical: bool
    reached: bool
    arrival_s: int | None
    arrival_limit_s: int
    repaired_s: int | None
    repair_limit_s: int | None


def order_outcomes(orders: Iterable[WorkOrder], limits: ServiceLimits) -> list[OrderOutcome]:
    out = []
    for o in orders:
        if o.status in FOLDED:
            continue
        out.append(OrderOutcome(
            area=o.area, critical=o.critical > 0, reached=o.arrived_s is not None,
            arrival_s=None if o.arrived_s is None else o.arrived_s - o.first_report_s,
            arrival_limit_s=o.deadline_s - o.first_report_s,
            repaired_s=None if o.repaired_s is None else o.repaired_s - o.first_report_s,
            repair_limit_s=limits.repair_limit(o.limit_class)))
    return out


def within_limit_rate(outcomes: list[OrderOutcome]) -> float | None:
    """Share of the orders reached within their arrival limit (an order never reached misses)."""
    if not outcomes:
        return None
    ok = sum(1 for o in outcomes if o.arrival_s is not None and o.arrival_s <= o.arrival_limit_s)
    return round(ok / len(outcomes), 4)


def etr_accuracy(engine: DispatchEngine) -> dict[str, float | None]:
    """How the first ETR quoted for each repaired order compared with its repair: mean
    absolute error in hours, and the share within an hour."""
    first: dict[str, int] = {}
    for _, order_id, etr in engine.etr_history:
        first.setdefault(order_id, etr)
    errors = [abs(first[o.order_id] - o.repaired_s) / 3600 for o in engine.orders.values()
              if o.repaired_s is not None and o.order_id in first]
    if not errors:
        return {"etr_first_mae_hours": None, "etr_first_within_1h_rate": None}
    return {"etr_first_mae_hours": round(float(np.mean(errors)), 2),
            "etr_first_within_1h_rate": round(sum(e <= 1.0 for e in errors) / len(errors), 4)}


def compute_kpis(engine: DispatchEngine, world: World, *, policy: str, end_s: int) -> dict[str, object]:
    """Every KPI of a run as one flat JSON-ready dict."""
    orders = list(engine.orders.values())
    outcomes = order_outcomes(orders, engine.limits)
    with_limit = [o for o in outcomes if o.repair_limit_s is not None]
    repaired_ok = sum(1 for o in with_limit if o.repaired_s is not None
                      and o.repair_limit_s is not None and o.repaired_s <= o.repair_limit_s)
    cust_nodes = engine.region.customers["node_idx"].to_numpy()
    n_cust = len(cust_nodes)
    cmi = float(world.outage_s[cust_nodes].sum()) / 60.0
    interruptions = int(world.interruptions[cust_nodes].sum())
    critical_nodes = np.flatnonzero(engine.region.critical_node_mask())
    critical_cmi = float(world.outage_s[critical_nodes].sum()) / 60.0
    saidi = cmi / n_cust
    saifi = interruptions / n_cust
    duty = sum(s.duty_s for s in engine.crews.values())
    busy = sum(s.busy_s for s in engine.crews.values())
    arrivals = np.array([o.arrival_s for o in outcomes if o.arrival_s is not None], dtype=float)
    status_count = {s.value: 0 for s in OrderStatus}
    for o in orders:
        status_count[o.status.value] += 1
    return {
        "policy": policy,
        "work_orders": len(orders),
        "work_orders_dispatched": len(outcomes),
        "work_orders_merged": status_count["merged"],
        "work_orders_cancelled": status_count["cancelled"],
        "work_orders_open_at_end": status_count["new"] + status_count["assigned"] + status_count["on_site"],
        "calls_unlocated": len(engine.unlocated),
        "arrival_within_limit_rate": within_limit_rate(outcomes),
        "arrival_within_limit_rate_by_area": {a: within_limit_rate([o for o in outcomes if o.area == a])
                                              for a in AREA_NAMES},
        "critical_arrival_within_limit_rate": within_limit_rate([o for o in outcomes if o.critical]),
        "median_arrival_minutes": round(float(np.median(arrivals)) / 60, 1) if len(arrivals) else None,
        "repair_within_limit_rate": round(repaired_ok / len(with_limit), 4) if with_limit else None,
        "customer_minutes_interrupted": round(cmi, 1),
        "critical_customer_minutes_interrupted": round(critical_cmi, 1),
        "customer_interruptions": interruptions,
        "customers_served": n_cust,
        "saidi_minutes": round(saidi, 3),
        "saifi": round(saifi, 5),
        "caidi_minutes": round(saidi / saifi, 2) if saifi else None,
        "crew_utilisation": round(busy / duty, 4) if duty else None,
        "callbacks_done": engine.log.callbacks,
        "crew_assignments": engine.log.assigned,
        "crew_recalls": engine.log.recalled,
        "crew_diversions": engine.log.diverted,
        "crews_sent_to_help": engine.log.assists,
        "generators_connected": engine.log.generators_connected,
        "alerts": engine.alerts.raised,
        "storm_end_s": end_s,
        **etr_accuracy(engine),
    }


def format_kpi_table(kpis: list[dict[str, object]]) -> str:
    """A plain-text table, one column per run (policy)."""
    rows = [
        ("work orders", "work_orders"),
        ("  dispatched (not merged/cancelled)", "work_orders_dispatched"),
        ("  merged into a larger outage", "work_orders_merged"),
        ("  cancelled", "work_orders_cancelled"),
        ("  still open at end", "work_orders_open_at_end"),
        ("calls unlocated (kept for triage)", "calls_unlocated"),
        ("arrival within limit", "arrival_within_limit_rate"),
        ("  urban (45 min)", ("arrival_within_limit_rate_by_area", "urban")),
        ("  rural (90 min)", ("arrival_within_limit_rate_by_area", "rural")),
        ("  remote (120 min)", ("arrival_within_limit_rate_by_area", "remote")),
        ("  critical customers", "critical_arrival_within_limit_rate"),
        ("median arrival (min)", "median_arrival_minutes"),
        ("repairs within time limit", "repair_within_limit_rate"),
        ("customer-minutes interrupted", "customer_minutes_interrupted"),
        ("  of critical customers", "critical_customer_minutes_interrupted"),
        ("SAIDI (min)", "saidi_minutes"),
        ("SAIFI", "saifi"),
        ("CAIDI (min)", "caidi_minutes"),
        ("crew utilisation", "crew_utilisation"),
        ("first ETR within 1 h of the repair", "etr_first_within_1h_rate"),
        ("first ETR error, mean (h)", "etr_first_mae_hours"),
        ("callbacks done", "callbacks_done"),
        ("crews diverted on the way", "crew_diversions"),
        ("generator trucks connected", "generators_connected"),
    ]

    def cell(k: dict[str, object], key: object) -> str:
        v = k[key[0]][key[1]] if isinstance(key, tuple) else k[key]  # type: ignore[index]
        if v is None:
            return "n/a"
        if isinstance(v, float) and ("rate" in str(key) or key == "crew_utilisation"):
            return f"{100 * v:.1f} %"
        if isinstance(v, float):
            return f"{v:,.2f}" if v < 1000 else f"{v:,.0f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    width = max(len(label) for label, _ in rows) + 2
    header = "KPI".ljust(width) + "".join(str(k["policy"]).rjust(16) for k in kpis)
    lines = [header, "-" * len(header)]
    for label, key in rows:
        lines.append(label.ljust(width) + "".join(cell(k, key).rjust(16) for k in kpis))
    return "\n".join(lines)
