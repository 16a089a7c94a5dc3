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
3. Busy time. Give order j the interval [â_j - tau_j, â_j + p_j] (length q_j = p_j + tau_j):
   on its crew if served by H (the leg in, then the service: on one crew these are disjoint,
   start after the crew's start and after rho_j - tau_j), else a virtual one no crew works.
   Let phi_j(u) be the share of it done by u. For any threshold theta (checked case by case;
   without travel the first is the mean busy time identity a = M - p/2):
       (â_j - theta)^+ >= integral over [theta, inf) of (1 - phi_j) - kappa_j,
       kappa_j = p_j^2 / (2 q_j), the worst case being work that starts at theta; and
       (â_j - theta)^+ >= integral over [theta + p_j, inf) of (1 - phi_j).
4. Sum. g_j(â_j) - g_j(rho_j) = w_j (â_j - rho_j) + L_j (â_j - max(d_j, rho_j))^+: two such
   terms (none for an order no crew can serve, nor lateness for a deadline at or past H).
   Lateness already running at rho_j takes the kappa form, a deadline still ahead the shifted
   form (exact when the order can be on time). So the cost is at least sum_j g_j(rho_j) - the
   kappa corrections + integral over u of sum_j G_j(u) (1 - phi_j(u)), G_j(u) the rates whose
   thresholds have passed.
5. Capacity. At each u, crew c has done at most u - start_c of busy time; order j at most
   min(q_j, u - (rho_j - tau_j)), of which min(q_j, u - (H - tau_j)) may be virtual and needs
   no crew. With eligibility kept through Hall's conditions (the load of any set of order
   types fits in the time of the crews holding one of them) and fractions allowed, the most
   weight done is a linear programme: virtual shares first (an exchange argument), then a
   polymatroid with a box, solved exactly by the greedy in decreasing G_j / q_j (Edmonds).
   On a grid step the rates are taken at the step's start and the programme at its middle,
   with concave majorants of the ramps (so the most done is concave in u and its mean is at
   most its value at the middle). After H every order's share can be virtual, so an order
   left undone by H earns its kappa back there; the integral ends when the longest service
   can be done.
This is the Eastman-Even-Isaacs / mean busy time bound for weighted completion on parallel
machines (the preemptive single machine of speed m, as crews' summed time), with release
times, deadlines, skills, crew start times and the horizon kept. The bound is the per-order
bound plus the capacity part when the latter is positive. Dropped: travel beyond the least leg
in, which crew does what within Hall's conditions, integrality, shift_work beyond step 2, crew
ends beyond step 2, capacity and demand.
"""

from __future__ import annotations

import math

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


def lower_bound(p: Problem) -> int:
    """A lower bound on the least docs/formats.md cost of any plan for ``p`` (same units).
    Raises ``ProblemError`` for an instance scored on distance (VRPTW) or with a negative
    lateness weight, for which the objective is not the dispatch cost the bound is about."""
    _check(p)
    if p.n_orders == 0:
        return 0
    d = kernel_data(p)
    slack = FLOAT_SLACK_S if p.travel_kind in (TravelKind.EUCLIDEAN, TravelKind.DIMACS) else 0
    into, first = kern.least_travel(d, slack)
    if _metric(p):
        release = kern.earliest_arrival(d, into, first, slack + METRIC_SLACK_S, True)
    else:
        release = kern.earliest_arrival(d, into, first, slack, False)
    release = np.minimum(release, p.horizon_s)
    per_order = int(np.sum(_cost_at(p, release)))
    if release.min() >= p.horizon_s:
        return per_order
    return per_order + _capacity_part(p, release, into)


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


def _capacity_part(p: Problem, release: I64, into: I64) -> int:
    """Steps 3-5: the integral less the kappa corrections, 0 if negative (the per-order bound is
    valid alone). Costs are integers, so a margin for float error off, it is rounded up."""
    h = p.horizon_s
    size = (p.service_s + into).astype(np.float64)
    kappa = np.divide(p.service_s.astype(np.float64) ** 2, 2 * size, out=np.zeros(p.n_orders),
                      where=size > 0)
    cust = p.customers.astype(np.float64)
    late_w = (p.lateness_weight * p.priority).astype(np.float64)
    reachable = release < h
    late_now = p.deadline_s <= release
    never = np.int64(kern.NEVER)
    cust_from = np.where(reachable, release, never)
    late_from = np.where(~reachable | (p.deadline_s >= h), never,
                         np.where(late_now, release, p.deadline_s + p.service_s))
    correction = float(np.sum(kappa * reachable * (cust + late_w * late_now)))
    contains, crew_sets = _eligibility(p)
    grid = _grid(int(release.min()), h, int(p.service_s.max()))
    total, scale = kern.capacity_integral(grid, release - into, h - into, size, cust, cust_from,
                                          late_w, late_from, contains, p.crew_start_s, crew_sets)
    return max(0, math.ceil(total - correction - 1e-9 * (scale + correction)))


def _grid(start: int, h: int, longest: int) -> I64:
    """GRID_STEPS steps up to the horizon, then as long ones until the longest service is done
    after it (orders not started by the horizon are worked off there, for free)."""
    step = max(1, math.ceil((h - start) / GRID_STEPS))
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
