"""Independent plan evaluator: recomputes every arrival, lateness and the docs/formats.md cost
from the routes alone, in plain Python, so the solver's own bookkeeping can be checked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routing.problem import Objective, Problem, TravelKind


class PlanError(ValueError):
    """A plan that breaks the rules: unknown ids, an order twice, a skill or time violation."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The objective and the figures reported with it."""

    cost: int
    arrival_s: dict[str, int]
    travel_s: int
    on_time_rate: float
    critical_on_time_rate: float | None
    customer_minutes: float
    unassigned: int
    distance: int


def travel_between(p: Problem, a: int, b: int) -> int:
    """Travel time between points ``a`` and ``b`` (crews first, then orders)."""
    if p.travel_kind == TravelKind.MATRIX:
        return int(p.matrix[a, b])
    d = math.hypot(float(p.x[a] - p.x[b]), float(p.y[a] - p.y[b]))
    if p.travel_kind == TravelKind.EUCLIDEAN:
        return int(np.rint(d * p.seconds_per_metre))
    if p.travel_kind == TravelKind.DIMACS:
        return math.floor(d * 10.0)
    if a == b:
        return 0
    return int(p.road_table[p.point_node[a], p.point_node[b]] + p.point_access_s[a]
               + p.point_access_s[b])


def evaluate(p: Problem, routes: dict[str, list[str]], *, strict: bool = True) -> Evaluation:
    """Score a plan; with ``strict`` a rule broken (skill, crew end, hard window, capacity,
    an order twice or unknown) raises ``PlanError`` naming the crew and order."""
    crew_idx = {c: i for i, c in enumerate(p.crew_ids)}
    order_idx = {o: j for j, o in enumerate(p.order_ids)}
    k = p.n_crews
    seen: set[str] = set()
    arrival: dict[str, int] = {}
    cost = travel_total = 0
    for crew_id, seq in routes.items():
        if crew_id not in crew_idx:
            raise PlanError(f"routes: unknown crew {crew_id!r}")
        c = crew_idx[crew_id]
        t, pos, load = int(p.crew_start_s[c]), c, 0
        for order_id in seq:
            if order_id not in order_idx:
                raise PlanError(f"routes[{crew_id}]: unknown order {order_id!r}")
            if order_id in seen:
                raise PlanError(f"routes[{crew_id}]: order {order_id} is planned twice")
            seen.add(order_id)
            j = order_idx[order_id]
            if strict and not p.crew_skills[c] & p.order_skill[j]:
                raise PlanError(f"routes[{crew_id}]: crew lacks the skill of order {order_id}")
            leg = travel_between(p, pos, k + j)
            travel_total += leg
            a = max(t + leg, int(p.earliest_s[j]))
            if strict and a > p.crew_end_s[c]:
                raise PlanError(f"routes[{crew_id}]: order {order_id} reached at {a}, after the "
                                f"crew's end {p.crew_end_s[c]}")
            work = min(int(p.service_s[j]), p.shift_work_s)
            if strict and p.shift_work_s > 0 and a + work > p.crew_end_s[c]:
                raise PlanError(f"routes[{crew_id}]: order {order_id} needs {work} s of work from {a}, "
                                f"past the crew's end {p.crew_end_s[c]}")
            if strict and p.hard_windows and a > p.deadline_s[j]:
                raise PlanError(f"routes[{crew_id}]: order {order_id} reached at {a}, after its "
                                f"hard deadline {p.deadline_s[j]}")
            load += int(p.demand[j])
            if strict and p.crew_capacity[c] > 0 and load > p.crew_capacity[c]:
                raise PlanError(f"routes[{crew_id}]: load {load} exceeds capacity {p.crew_capacity[c]}")
            f = a + int(p.service_s[j])
            arrival[order_id] = a
            cost += _order_cost(p, j, a, f)
            t, pos = f, k + j
        if p.closed_routes and seq:
            leg = travel_between(p, pos, c)
            travel_total += leg
            if strict and p.hard_windows and t + leg > p.crew_end_s[c]:
                raise PlanError(f"routes[{crew_id}]: back at the depot at {t + leg}, after "
                                f"{p.crew_end_s[c]}")
    unassigned = [j for j, o in enumerate(p.order_ids) if o not in seen]
    for j in unassigned:
        cost += unassigned_cost(p, j)
    if p.objective == Objective.DISTANCE:
        cost = travel_total + sum(unassigned_cost(p, j) for j in unassigned)
    return _summary(p, cost, arrival, travel_total, len(unassigned))


def unassigned_reason(p: Problem, j: int) -> str:
    """Why order ``j`` is left out of a plan, in a dispatcher's words."""
    return unassigned_reasons(p, [j])[0]


def unassigned_reasons(p: Problem, orders: Sequence[int]) -> list[str]:
    """``unassigned_reason`` of each order in ``orders`` (vectorised over the crews)."""
    out = []
    for j in orders:
        able = (p.crew_skills & p.order_skill[j]) != 0
        if not able.any():
            names = [s for b, s in enumerate(p.skill_names) if p.order_skill[j] >> b & 1]
            out.append(f"no crew has the skill {', '.join(names)}")
            continue
        reach = np.maximum(p.crew_start_s + _from_crews(p, j), p.earliest_s[j])[able]
        work = min(int(p.service_s[j]), p.shift_work_s) if p.shift_work_s > 0 else 0
        if np.all(reach + work > p.crew_end_s[able]):
            out.append("no crew with the skill can do it before the end of its shift"
                       if p.shift_work_s > 0 else
                       "no crew with the skill can reach it before the end of its shift")
        elif p.hard_windows and np.all(reach > p.deadline_s[j]):
            out.append("no crew can reach it before its hard deadline")
        else:
            out.append("serving it would delay other orders more than leaving it costs")
    return out


def _from_crews(p: Problem, j: int) -> np.ndarray:
    """Travel from every crew's point to order ``j`` (``travel_between`` for each crew)."""
    k = p.n_crews
    b = k + j
    if p.travel_kind == TravelKind.MATRIX:
        return p.matrix[:k, b].astype(np.int64)
    if p.travel_kind == TravelKind.ROAD:
        return (p.road_table[p.point_node[:k], p.point_node[b]] + p.point_access_s[:k]
                + p.point_access_s[b]).astype(np.int64)
    d = np.hypot(p.x[:k] - p.x[b], p.y[:k] - p.y[b])
    if p.travel_kind == TravelKind.EUCLIDEAN:
        return np.rint(d * p.seconds_per_metre).astype(np.int64)
    return np.floor(d * 10.0).astype(np.int64)


def _order_cost(p: Problem, j: int, a: int, f: int) -> int:
    if p.objective == Objective.DISTANCE:
        return 0
    return int(p.customers[j] * (f - p.reported_s[j])
               + p.lateness_weight * p.priority[j] * max(0, a - int(p.deadline_s[j])))


def unassigned_cost(p: Problem, j: int) -> int:
    """docs/formats.md: as if reached at the horizon; for VRPTW a prohibitive penalty."""
    if p.objective == Objective.DISTANCE:
        return 10**12
    return _order_cost(p, j, p.horizon_s, p.horizon_s + int(p.service_s[j]))


def _summary(p: Problem, cost: int, arrival: dict[str, int], travel_total: int,
             unassigned: int) -> Evaluation:
    on_time = [arrival.get(o, p.horizon_s) <= p.deadline_s[j] for j, o in enumerate(p.order_ids)]
    crit = [ok for ok, pr in zip(on_time, p.priority, strict=True) if pr > 1]
    cmi = 0.0
    for j, o in enumerate(p.order_ids):
        a = arrival.get(o, p.horizon_s)
        cmi += float(p.customers[j]) * (a + int(p.service_s[j]) - int(p.reported_s[j])) / 60.0
    return Evaluation(
        cost=int(cost), arrival_s=arrival, travel_s=travel_total,
        on_time_rate=sum(on_time) / max(1, len(on_time)),
        critical_on_time_rate=(sum(crit) / len(crit)) if crit else None,
        customer_minutes=cmi, unassigned=unassigned, distance=travel_total,
    )
