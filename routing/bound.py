"""A lower bound on the least docs/formats.md cost of any plan for a dispatch (storm) instance.

Notation: order j has weight w_j (customers), lateness rate L_j = lateness_weight * priority_j,
deadline d_j, service p_j, reported r_j, and g_j(a) = w_j (a + p_j - r_j) + L_j max(0, a - d_j)
is its cost when work starts at a; an unassigned order costs g_j(H) (H: the horizon).
Proof sketch (docs/lower-bound.md has it at length); each step only drops a constraint or
under-estimates a cost:

1. Clip. g_j is non-decreasing (w_j, L_j >= 0), so order j costs at least g_j(â_j),
   â_j = a_j if served by H and H otherwise (unassigned, or started later by a crew whose
   end is past H).
2. Release. A crew c holding j's skill starts j no earlier than rho_jc = max(earliest_j,
   start_c + min(t(c, j), f_c + tau_j)): j first, or after a first leg of at least f_c (c's
   least leg to an order it may serve) and a last leg of at least tau_j (the least leg into
   j from any other order or qualified crew start); no triangle inequality is assumed. With
   euclidean travel and every service at least 1 s it is: rounding loses at most half a
   second a leg, the service of each order on the way more than makes it up, so
   rho_jc = max(earliest_j, start_c + t(c, j) - 1) (less 1 s more for float rounding). Crews
   with rho_jc past their end (less the shift_work owed) cannot serve j; rho_j is the least
   over the rest, clipped to H (H if none). So cost_j >= g_j(rho_j), the per-order bound.
3. Busy time. Give order j the interval [â_j - alpha_j, â_j + p_j + beta_j] (lead alpha_j,
   trail beta_j; length q_j = alpha_j + p_j + beta_j, the part from â_j on x_j = p_j + beta_j),
   with alpha_j >= 0, x_j >= 0, alpha_k + beta_j <= t(j, k) for every ordered pair of orders
   and alpha_k <= t(c, k) for every crew c holding k's skill (legs less the float margin).
   If j is served by H, this is on its crew: after an order i, a_j >= a_i + p_i + t(i, j), so
   i's interval ends by a_j - alpha_j; as the crew's first, a_j - alpha_j >= start_c. So on
   one crew these intervals are disjoint and start no earlier than the crew's start, and j's
   no earlier than rho_j - alpha_j. Nothing bounds the last one's end (crews' time is not
   capped at their ends below), so beta_j <= 0 is not needed. Else the interval [H - alpha_j,
   H + x_j] is a virtual one no crew works. Let phi_j(u) be the share of it done by u. For
   any threshold theta (checked case by case: theta before the interval, in its lead, in its
   rest, after it):
       (â_j - theta)^+ >= integral over [theta, inf) of (1 - phi_j) - kappa_j,
       kappa_j = x_j^2 / (2 q_j) (0 if q_j = 0), the worst case being work that starts at
       theta (without travel, the mean busy time identity a = M - p/2); and
       (â_j - theta)^+ >= integral over [theta + x_j, inf) of (1 - phi_j).
   The plain choice is alpha_j = tau_j (the least leg into j), beta_j = 0.
4. Sum. g_j(â_j) - g_j(rho_j) = w_j (â_j - rho_j) + L_j (â_j - max(d_j, rho_j))^+: two such
   terms (none for an order no crew can serve, nor lateness for a deadline at or past H).
   Lateness already running at rho_j takes the kappa form, a deadline still ahead the shifted
   form (exact when the order can be on time). So the cost is at least sum_j g_j(rho_j) - the
   kappa corrections + integral over u of sum_j G_j(u) (1 - phi_j(u)), G_j(u) the rates whose
   thresholds have passed.
5. Capacity. At each u, crew c has done at most u - start_c of busy time; order j at most
   min(q_j, u - (rho_j - alpha_j)), of which min(q_j, u - (H - alpha_j)) may be virtual and
   needs no crew. With eligibility kept through Hall's conditions (the load of any set of order
   types fits in the time of the crews holding one of them) and fractions allowed, the most
   weight done is a linear programme: virtual shares first (an exchange argument), then a
   polymatroid with a box, solved exactly by the greedy in decreasing G_j / q_j (Edmonds).
   On a grid step the rates are taken at the step's start and the programme at its middle,
   with concave majorants of the ramps (so the most done is concave in u and its mean is at
   most its value at the middle). After H every order's share can be virtual, so an order
   left undone by H earns its kappa back there; the integral ends when every x_j can be done.
The bound holds for every choice of leads and trails that meets the conditions of step 3
(``lead_trail_violation``); ``lower_bound`` takes the larger of two: the plain one, and one
chosen by ``_choose`` (the duals of an assignment of predecessors, some trails then cut).
This is the Eastman-Even-Isaacs / mean busy time bound for weighted completion on parallel
machines (the preemptive single machine of speed m, as crews' summed time), with release
times, deadlines, skills, crew start times and the horizon kept. The bound is the per-order
bound plus the capacity part when the latter is positive. Dropped: travel beyond what the
leads and trails hold, which crew does what within Hall's conditions, integrality,
shift_work beyond step 2, crew ends beyond step 2, capacity and demand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from routing import _kernels_bound as kern
from routing.arrays import kernel_data
from routing.problem import I64, Objective, Problem, ProblemError, TravelKind

GRID_STEPS = 2048
MAX_HALL_TYPES = 6
# Floating-point travel (euclidean, DIMACS) may round differently here and in the evaluator.
FLOAT_SLACK_S = 1
# A route's rounded euclidean legs reach an order at least the direct leg less this (``_metric``).
METRIC_SLACK_S = 1
# Leads and trails a caller may give ``bound_with`` lie within this of 0 (about 35,000 years): the
# int64 sums of the kernels that check and use them cannot wrap.
MAX_SHIFT_S = 2**40
# Candidate predecessors of each order in the assignment that chooses leads and trails.
NEAR = 16
# The auction's budget: bids per order and candidate (it stops early; any prices are valid).
BIDS_PER_CANDIDATE = 64
# Cut trails tried: orders past this share of the crews' time to the horizon (in the greedy's
# order) get their trails cut (``_trimmed``); the best on a coarse grid of this many steps is kept.
TRIM_SHARES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COARSE_STEPS = 128


class Legs(NamedTuple):
    """The least legs the bound uses, each less ``slack`` (the float rounding margin), never
    below 0 (``kern.least_travel``)."""

    slack: int
    into: I64  # per order, its least leg in: tau_j
    first: I64  # per crew, its least leg to an order it may serve: f_c
    near: I64  # per order, the NEAR orders with the least legs into it (-1: none)
    near_leg: I64  # and those legs
    start_leg: I64  # per order, its least leg from a qualified crew's start (kern.NEVER: none)


def lower_bound(p: Problem) -> int:
    """A lower bound on the least docs/formats.md cost of any plan for ``p`` (same units): the
    larger of the bounds for two choices of busy intervals, each order's least leg in as its
    lead (``plain_lead_trail``), and the leads and trails ``lead_trail`` chooses.
    Raises ``ProblemError`` for an instance scored on distance (VRPTW) or with a negative
    lateness weight, for which the objective is not the dispatch cost the bound is about."""
    _check(p)
    if p.n_orders == 0:
        return 0
    legs = least_legs(p)
    plain = (legs.into, np.zeros(p.n_orders, dtype=np.int64))
    return _bound(p, legs, lambda release: [plain, _choose(p, legs, release)])


def bound_with(p: Problem, lead: I64, trail: I64) -> int:
    """The bound for one choice of busy intervals [a_j - lead_j, a_j + p_j + trail_j]; raises
    ``ValueError`` when the choice breaks a condition that makes it valid
    (``lead_trail_violation``)."""
    _check(p)
    if p.n_orders == 0:
        return 0
    lead, trail = np.asarray(lead, dtype=np.int64), np.asarray(trail, dtype=np.int64)
    worst = lead_trail_violation(p, lead, trail)
    if worst > 0:
        raise ValueError(f"lower bound: the leads and trails break a condition by {worst} s")
    return _bound(p, least_legs(p), lambda _: [(lead, trail)])


def _bound(p: Problem, legs: Legs, choices: Callable[[I64], list[tuple[I64, I64]]]) -> int:
    """The per-order bound (step 2) plus the best capacity part over the busy intervals
    ``choices(release)`` gives (steps 3-5)."""
    release = _release(p, legs)
    per_order = int(np.sum(_cost_at(p, release)))
    if release.min() >= p.horizon_s:
        return per_order
    return per_order + max(_capacity_part(p, release, lead, trail) for lead, trail in choices(release))


def lead_trail_violation(p: Problem, lead: I64, trail: I64) -> int:
    """The most (seconds) by which leads and trails break a condition of their proof, 0 or less
    if none: lead_k + trail_j <= t(j, k) for every ordered pair of orders, lead_k <= t(c, k)
    for every crew c holding k's skill, lead_j >= 0 and p_j + trail_j >= 0 (legs less the
    float rounding margin, never below 0). O(n^2)."""
    lead, trail = np.asarray(lead, dtype=np.int64), np.asarray(trail, dtype=np.int64)
    if lead.shape != (p.n_orders,) or trail.shape != (p.n_orders,):
        raise ValueError(f"lower bound: leads and trails must have one entry per order ({p.n_orders})")
    if np.any(np.abs(lead) > MAX_SHIFT_S) or np.any(np.abs(trail) > MAX_SHIFT_S):
        raise ValueError(f"lower bound: leads and trails must lie within {MAX_SHIFT_S} s of 0 (the kernels' "
                         f"sums would overflow)")
    return int(kern.lead_trail_violation(kernel_data(p), _slack(p), lead, trail))


def plain_lead_trail(p: Problem) -> tuple[I64, I64]:
    """The plain choice: each order's least leg in as its lead, no trail."""
    return least_legs(p).into, np.zeros(p.n_orders, dtype=np.int64)


def lead_trail(p: Problem) -> tuple[I64, I64]:
    """The leads and trails ``lower_bound`` sets against the plain choice (``_choose``)."""
    _check(p)
    legs = least_legs(p)
    return _choose(p, legs, _release(p, legs))


def most_leads(p: Problem, trail: I64) -> I64:
    """For trails between minus the service and 0, the leads ``lower_bound`` pairs with them
    (``kern.leads``): the most each order may have against the crew starts and the NEAR orders
    with the least legs into it, capped by the last of those legs (which covers every other
    order). With them the conditions of ``lead_trail_violation`` all hold."""
    trail = np.asarray(trail, dtype=np.int64)
    if trail.shape != (p.n_orders,) or np.any(trail > 0) or np.any(p.service_s + trail < 0):
        raise ValueError("lower bound: trails must lie between minus the service and 0")
    legs = least_legs(p)
    return kern.leads(legs.near, legs.near_leg, kern.lead_room(legs.near_leg, legs.start_leg), trail)


def least_legs(p: Problem) -> Legs:
    """The least legs into each order and out of each crew's start (``Legs``)."""
    slack = _slack(p)
    into, first, near, near_leg, start_leg = kern.least_travel(kernel_data(p), slack, NEAR)
    return Legs(slack, into, first, near, near_leg, start_leg)


def _slack(p: Problem) -> int:
    return FLOAT_SLACK_S if p.travel_kind in (TravelKind.EUCLIDEAN, TravelKind.DIMACS) else 0


def _release(p: Problem, legs: Legs) -> I64:
    """Step 2: rho_j, clipped to the horizon."""
    d = kernel_data(p)
    if _metric(p):
        release = kern.earliest_arrival(d, legs.into, legs.first, legs.slack + METRIC_SLACK_S, True)
    else:
        release = kern.earliest_arrival(d, legs.into, legs.first, legs.slack, False)
    return np.minimum(release, p.horizon_s)


def _choose(p: Problem, legs: Legs, release: I64) -> tuple[I64, I64]:
    """Leads and trails that satisfy every condition of the proof by construction: the trails
    are minus the prices of an assignment of predecessors (``kern.assignment_prices``), at least
    minus the service and at most 0, each order's lead the most the trails allow
    (``kern.leads``); then the same with some trails cut (``_trimmed``). Kept: the best on a
    coarse grid."""
    room = kern.lead_room(legs.near_leg, legs.start_leg)
    bids = BIDS_PER_CANDIDATE * NEAR * p.n_orders
    price = kern.assignment_prices(legs.near, legs.near_leg, room, bids)
    trail = -np.minimum(price, p.service_s)
    lead = kern.leads(legs.near, legs.near_leg, room, trail)
    choices = [(lead, trail)]
    for share in TRIM_SHARES:
        cut = _trimmed(p, release, lead, trail, share)
        if cut is not None:
            choices.append((kern.leads(legs.near, legs.near_leg, room, cut), cut))
    if len(choices) == 1:
        return choices[0]
    scores = [_capacity_part(p, release, a, b, COARSE_STEPS) for a, b in choices]
    return choices[int(np.argmax(scores))]


def _trimmed(p: Problem, release: I64, lead: I64, trail: I64, share: float) -> I64 | None:
    """Trails cut for the orders the greedy of step 5 reaches last (by rate per second of
    interval, the rates they will have) once ``share`` of the crews' time to the horizon is
    taken: each cut until its rate per second is that of the order where the share runs out,
    so that it stays behind it, and at most to p_j + trail_j = 0. Cutting a trail only drops
    busy time from the relaxation (valid). It pays because the relaxation is solved at each
    time apart: after the horizon it may count the crews' time before it as spent on a long
    order that it gave to other orders at earlier times (by then done on their virtual
    intervals), so the long order looks done far ahead of its virtual interval and its kappa
    is not earned back; a shorter interval is pulled ahead less. None if nothing is cut."""
    h = p.horizon_s
    tail = p.service_s + trail
    size = lead + tail
    rate = (p.customers + p.lateness_weight * p.priority * (p.deadline_s < h)).astype(np.float64)
    per_s = np.divide(rate, size, out=np.full(p.n_orders, np.inf), where=size > 0)
    order = np.argsort(-per_s, kind="stable")
    order = order[release[order] < h]
    taken = np.cumsum(size[order])
    crews_time = share * float(np.sum(np.maximum(0, h - p.crew_start_s)))
    past = int(np.searchsorted(taken, crews_time, side="right"))
    if past >= len(order) or per_s[order[past]] <= 0:
        return None
    last = order[past:]
    cut = np.clip(np.floor(size[last] - rate[last] / per_s[order[past]]), 0, tail[last])
    if not np.any(cut > 0):
        return None
    out = trail.copy()
    out[last] -= cut.astype(np.int64)
    return out


def _metric(p: Problem) -> bool:
    """Euclidean legs, rounded to the second, obey the triangle inequality up to half a second
    a leg; every order's service (at least 1 s) covers the half second of the leg after it."""
    return p.travel_kind == TravelKind.EUCLIDEAN and bool(np.all(p.service_s >= 1))


def _check(p: Problem) -> None:
    if p.objective != Objective.DISPATCH:
        raise ProblemError("lower bound: only for dispatch (storm) instances, not for the "
                           "distance objective of VRPTW files")
    if p.lateness_weight < 0:
        raise ProblemError(f"lower bound: lateness_weight must be >= 0, got {p.lateness_weight}")


def _cost_at(p: Problem, a: I64) -> I64:
    """g_j(a_j): the docs/formats.md cost of each order reached at ``a``."""
    late = np.maximum(0, a - p.deadline_s)
    return p.customers * (a + p.service_s - p.reported_s) + p.lateness_weight * p.priority * late


def _capacity_part(p: Problem, release: I64, lead: I64, trail: I64, steps: int = GRID_STEPS) -> int:
    """Steps 3-5 for the busy intervals [a_j - lead_j, a_j + p_j + trail_j]: the integral less
    the kappa corrections, 0 if negative (the per-order bound is valid alone). Costs are
    integers, so a margin for float error off, it is rounded up."""
    h = p.horizon_s
    tail = p.service_s + trail  # the part of the interval from a_j on
    size = (lead + tail).astype(np.float64)
    kappa = np.divide(tail.astype(np.float64) ** 2, 2 * size, out=np.zeros(p.n_orders),
                      where=size > 0)
    cust = p.customers.astype(np.float64)
    late_w = (p.lateness_weight * p.priority).astype(np.float64)
    reachable = release < h
    late_now = p.deadline_s <= release
    never = np.int64(kern.NEVER)
    cust_from = np.where(reachable, release, never)
    late_from = np.where(~reachable | (p.deadline_s >= h), never,
                         np.where(late_now, release, p.deadline_s + tail))
    correction = float(np.sum(kappa * reachable * (cust + late_w * late_now)))
    contains, crew_sets = _eligibility(p)
    grid = _grid(int(release.min()), h, int(tail.max()), steps)
    total, scale = kern.capacity_integral(grid, release - lead, h - lead, size, cust, cust_from,
                                          late_w, late_from, contains, p.crew_start_s, crew_sets)
    return max(0, math.ceil(total - correction - 1e-9 * (scale + correction)))


def _grid(start: int, h: int, longest: int, steps: int = GRID_STEPS) -> I64:
    """``steps`` steps up to the horizon, then as long ones until the longest part of an
    interval from a_j on is done after it (orders not started by the horizon are worked off
    there, for free)."""
    step = max(1, math.ceil((h - start) / steps))
    return np.concatenate([np.arange(start, h, step), np.arange(h, h + longest, step),
                           [h + longest]]).astype(np.int64)


def _eligibility(p: Problem) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """For the Hall sets of order types (orders with the same skill mask are one type): which
    sets each order's type is in, and which sets each crew serves an order type of."""
    types, typ = np.unique(p.order_skill, return_inverse=True)
    full = (1 << len(types)) - 1
    if len(types) <= MAX_HALL_TYPES:
        sets = np.arange(1, full + 1, dtype=np.int64)
    else:  # each type alone and all together: a laminar family, for which the greedy stays exact
        sets = np.array([1 << i for i in range(len(types))] + [full], dtype=np.int64)
    crew_types = np.zeros(p.n_crews, dtype=np.int64)
    for i, mask in enumerate(types):
        crew_types |= np.where(p.crew_skills & mask, 1 << i, 0)
    contains = (sets[None, :] >> typ.reshape(-1, 1)) & 1 == 1
    return np.ascontiguousarray(contains), np.ascontiguousarray(crew_types[:, None] & sets[None, :] != 0)
