"""Storm KPIs from the engine's work orders and jobs and the world's customer outage records.

Arrival is judged per 95598 order (and per order SCADA, a smart meter or a history's outage
record opened before anyone called), merged ones included: an order is reached when the first
crew of any job arrives at its incident's site, measured from that order's own report; an
order never reached misses its limit; an order cancelled before anyone came (its customers'
supply came back, a duplicate) needs no arrival and is left out, and so is work reopened by the
utility's own callback finding a customer still dark (no 95598 report, so no arrival promise; it
is mostly reached at once by the crew still there, which would flatter the rate; a customer
who calls again opens a 95598 order that is judged); both are counted. Repairs are judged per
order too, from its own report to its outage's repair, against the limit of the element found
(customer-side faults need no utility repair and are left out).

Reliability indices follow IEEE 1366 for the event and count the utility's supply only (a
fault in a customer's own installation is not an interruption of it): SAIDI = customer-minutes
interrupted / customers served, SAIFI = customer interruptions / customers served, CAIDI =
SAIDI / SAIFI. Customer-side outage minutes are reported apart.

Switching (``dispatch.sim.world``): steps carried out, those that tripped on a fault nobody knew
of or were refused as unsafe, customer restorations by switching, and the customer-minutes they
saved (each such customer, from the step until no unrepaired fault is left on its normal supply
path, or it is dark again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dispatch.crews import CrewRole
from dispatch.engine import DispatchEngine
from dispatch.jobs import JobKind
from dispatch.limits import ServiceLimits
from dispatch.orders import OrderOrigin, OrderStatus, WorkOrder, surviving
from dispatch.sim.field import FieldStats
from dispatch.sim.world import World
from grid_model.network import AREA_NAMES


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What the KPIs need of one order."""

    area: str
    critical: bool
    reported_s: int
    reached: bool
    arrival_s: int | None
    arrival_limit_s: int
    reached_by: str
    repaired_s: int | None
    repair_limit_s: int | None
    customer_side: bool


def _promised(orders: dict[str, WorkOrder]) -> list[tuple[WorkOrder, WorkOrder]]:
    """Every order that promised an arrival, with the order it ended up in: all but those
    cancelled (directly, or with the order they merged into) before a crew reached them, and
    work the utility's callback reopened (no 95598 report)."""
    out = []
    for o in orders.values():
        head = surviving(o, orders)
        if o.origin == OrderOrigin.CALLBACK or (o.reached_s is None and head.status == OrderStatus.CANCELLED):
            continue
        out.append((o, head))
    return out


def order_outcomes(orders: dict[str, WorkOrder], limits: ServiceLimits) -> list[OrderOutcome]:
    """One outcome per order that promised an arrival (see ``_promised``)."""
    out = []
    for o, head in _promised(orders):
        out.append(OrderOutcome(
            area=o.area, critical=o.critical > 0, reported_s=o.first_report_s,
            reached=o.reached_s is not None,
            arrival_s=None if o.reached_s is None else o.reached_s - o.first_report_s,
            arrival_limit_s=o.deadline_s - o.first_report_s, reached_by=o.reached_by,
            repaired_s=None if head.repaired_s is None else max(0, head.repaired_s - o.first_report_s),
            repair_limit_s=limits.repair_limit(head.limit_class), customer_side=head.customer_side))
    return out


def within_limit_rate(outcomes: Iterable[OrderOutcome]) -> float | None:
    """Share of the orders reached within their arrival limit (an order never reached misses)."""
    items = list(outcomes)
    if not items:
        return None
    ok = sum(1 for o in items if o.arrival_s is not None and o.arrival_s <= o.arrival_limit_s)
    return round(ok / len(items), 4)


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


def _minutes(values: list[int], q: float) -> float | None:
    return round(float(np.percentile(values, q)) / 60, 1) if values else None


def arrival_kpis(engine: DispatchEngine) -> dict[str, object]:
    """Arrival within limit (overall, by area class, critical), who got there first, the
    median and 90th percentile arrival, and repairs within their limit."""
    outcomes = order_outcomes(engine.orders, engine.limits)
    arrivals = [o.arrival_s for o in outcomes if o.arrival_s is not None]
    reached = [o for o in outcomes if o.reached]
    repairs = [o for o in outcomes if o.repair_limit_s is not None and not o.customer_side]
    repaired_ok = sum(1 for o in repairs if o.repaired_s is not None and o.repair_limit_s is not None
                      and o.repaired_s <= o.repair_limit_s)
    return {
        "arrival_within_limit_rate": within_limit_rate(outcomes),
        "arrival_within_limit_rate_by_area": {a: within_limit_rate(o for o in outcomes if o.area == a)
                                              for a in AREA_NAMES},
        "critical_arrival_within_limit_rate": within_limit_rate(o for o in outcomes if o.critical),
        "orders_needing_arrival": len(outcomes),
        "orders_never_reached": len(outcomes) - len(reached),
        "reached_by_first_responder_share": round(
            sum(o.reached_by == CrewRole.FIRST_RESPONDER.value for o in reached) / len(reached), 4)
        if reached else None,
        "median_arrival_minutes": _minutes(arrivals, 50),
        "p90_arrival_minutes": _minutes(arrivals, 90),
        "repair_within_limit_rate": round(repaired_ok / len(repairs), 4) if repairs else None,
    }


def compute_kpis(engine: DispatchEngine, world: World, *, policy: str, end_s: int,
                 field: FieldStats | None = None) -> dict[str, object]:
    """Every KPI of a run as one flat JSON-ready dict; ``field``: the simulated field's own
    records (its count of work past duty limits is the independent check)."""
    orders = list(engine.orders.values())
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
    status_count = {s.value: 0 for s in OrderStatus}
    for o in orders:
        status_count[o.status.value] += 1
    owed = len(engine.callbacks.callbacks)
    jobs = engine.jobs.values()
    log = engine.log
    switching = world.switching
    return {
        "policy": policy,
        "work_orders": len(orders),
        "work_orders_dispatched": len(orders) - status_count["merged"] - status_count["cancelled"],
        "work_orders_merged": status_count["merged"],
        "work_orders_cancelled": status_count["cancelled"],
        "work_orders_open_at_end": sum(status_count[s] for s in ("new", "assigned", "en_route", "on_site")),
        "calls_unlocated": len(engine.unlocated),
        **arrival_kpis(engine),
        "first_response_jobs": sum(1 for j in jobs if j.kind == JobKind.FIRST_RESPONSE),
        "first_responses_done": log.first_responses,
        "fixed_on_first_visit": log.fixed_on_first_visit,
        "customer_side_faults": log.customer_side_faults,
        "calls_resolved_by_phone": log.resolved_by_phone,
        "repair_jobs": sum(1 for j in jobs if j.kind == JobKind.REPAIR),
        "switching": engine.switchboard.mode.value if engine.switchboard is not None else "off",
        "grouping": "rollup" if engine.predictor.params.rollup is not None else "posterior",
        "switching_steps": switching.steps,
        "switching_jobs": sum(1 for j in jobs if j.kind == JobKind.SWITCHING),
        "switching_steps_tripped": switching.tripped,
        "switching_steps_refused": switching.refused,
        "switching_unsafe_steps": switching.tripped + switching.refused,
        "ties_tripped_by_faults": switching.tie_trips,
        "switches_off_normal_at_end": len(world.off_normal()),
        "customers_restored_by_switching": switching.customers_restored,
        "customer_minutes_saved_by_switching": round(switching.saved_s / 60.0, 1),
        "repairs_by_unqualified_crew": world.repairs_by_unqualified_crew,
        "hours_of_service_breaches": (field.hours_of_service_breaches if field is not None
                                      else log.hours_of_service_breaches),
        "hours_of_service_alerts": log.hours_of_service_breaches,
        "jobs_handed_back_at_duty_end": log.handed_back_at_duty_end,
        "assignments_refused_for_duty": log.assignments_refused,
        "customer_minutes_interrupted": round(cmi, 1),
        "critical_customer_minutes_interrupted": round(critical_cmi, 1),
        "customer_minutes_until_s": world.judged_until_s,
        "customers_dark_at_end": world.dark_at_end,
        "unreported_customer_minutes": round(world.dark_at_end_s / 60.0, 1),
        "customer_side_customer_minutes": round(float(world.customer_side_s[cust_nodes].sum()) / 60.0, 1),
        "customer_interruptions": interruptions,
        "customers_served": n_cust,
        "saidi_minutes": round(saidi, 3),
        "saifi": round(saifi, 5),
        "caidi_minutes": round(saidi / saifi, 2) if saifi else None,
        "crew_utilisation": round(busy / duty, 4) if duty else None,
        "callbacks_owed": owed,
        "callbacks_done": engine.callbacks.done,
        "callback_rate": round(engine.callbacks.done / owed, 4) if owed else None,
        "callbacks_unanswered": engine.callbacks.unanswered,
        "callback_reached_rate": round((engine.callbacks.done - engine.callbacks.unanswered) / owed, 4)
        if owed else None,
        "work_reopened_by_callbacks": log.reopened,
        "planned_outages": len(engine.planned.outages),
        "planned_outages_urgent": engine.planned.urgent,
        "crew_assignments": log.assigned,
        "crew_recalls": log.recalled,
        "crew_diversions": log.diverted,
        "crews_sent_to_help": log.assists,
        "generators_connected": log.generators_connected,
        "alerts": engine.alerts.raised,
        "storm_end_s": end_s,
        **etr_accuracy(engine),
    }


def format_kpi_table(kpis: list[dict[str, object]]) -> str:
    """A plain-text table, one column per run (policy)."""
    rows = [
        ("work orders (95598 and SCADA)", "work_orders"),
        ("  merged into a larger outage", "work_orders_merged"),
        ("  cancelled", "work_orders_cancelled"),
        ("  still open at end", "work_orders_open_at_end"),
        ("calls unlocated (kept for triage)", "calls_unlocated"),
        ("arrival within limit (every order)", "arrival_within_limit_rate"),
        ("  urban (45 min)", ("arrival_within_limit_rate_by_area", "urban")),
        ("  rural (90 min)", ("arrival_within_limit_rate_by_area", "rural")),
        ("  remote (120 min)", ("arrival_within_limit_rate_by_area", "remote")),
        ("  critical customers", "critical_arrival_within_limit_rate"),
        ("  reached first by a first responder", "reached_by_first_responder_share"),
        ("median arrival (min)", "median_arrival_minutes"),
        ("90th percentile arrival (min)", "p90_arrival_minutes"),
        ("first responses", "first_response_jobs"),
        ("  fixed on the first visit", "fixed_on_first_visit"),
        ("  customer-side faults", "customer_side_faults"),
        ("calls resolved on the phone (own breaker)", "calls_resolved_by_phone"),
        ("repair jobs", "repair_jobs"),
        ("repairs within time limit", "repair_within_limit_rate"),
        ("repairs by unqualified crews", "repairs_by_unqualified_crew"),
        ("hours-of-service breaches", "hours_of_service_breaches"),
        ("customer-minutes interrupted (utility)", "customer_minutes_interrupted"),
        ("  of critical customers", "critical_customer_minutes_interrupted"),
        ("  of outages nobody reported", "unreported_customer_minutes"),
        ("  saved by switching", "customer_minutes_saved_by_switching"),
        ("customer-side customer-minutes", "customer_side_customer_minutes"),
        ("grouping of reports (roll-up rules, posterior)", "grouping"),
        ("switching (off, remote FLISR, full)", "switching"),
        ("  steps carried out", "switching_steps"),
        ("  of them by crews", "switching_jobs"),
        ("  customer restorations by switching", "customers_restored_by_switching"),
        ("  steps tripped or refused as unsafe", "switching_unsafe_steps"),
        ("SAIDI (min)", "saidi_minutes"),
        ("SAIFI", "saifi"),
        ("CAIDI (min)", "caidi_minutes"),
        ("crew utilisation", "crew_utilisation"),
        ("first ETR within 1 h of the repair", "etr_first_within_1h_rate"),
        ("first ETR error, mean (h)", "etr_first_mae_hours"),
        ("callbacks (every calling customer)", "callback_rate"),
        ("  reaching the customer", "callback_reached_rate"),
        ("  work reopened by a callback", "work_reopened_by_callbacks"),
        ("crews diverted on the way", "crew_diversions"),
        ("generator trucks connected", "generators_connected"),
    ]

    def cell(k: dict[str, object], key: object) -> str:
        v = k[key[0]][key[1]] if isinstance(key, tuple) else k[key]  # type: ignore[index]
        if v is None:
            return "n/a"
        if isinstance(v, float) and ("rate" in str(key) or "share" in str(key) or key == "crew_utilisation"):
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
