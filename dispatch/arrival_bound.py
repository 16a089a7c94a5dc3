"""A ceiling on arrival within limit: how many orders any dispatch could reach in time, with
the crews on duty, if travel took no time and crews did nothing but first response.

Orders are taken in the incidents they ended up in (a run's grouping). One crew arriving at an
incident's site at time ``a`` reaches every order of it whose deadline is not past at ``a``
(orders reported later merge into an incident already reached, and are reached then). Each
arrival holds a crew on site for at least ``visit_s`` (a first responder's shortest visit), so in
any window of ``visit_s`` no more arrivals begin than crews are on duty in it. Time runs in
buckets of ``bucket_s`` (a divisor of ``visit_s``); an arrival counts as at its bucket's start.
Choosing one arrival bucket per incident to reach the most orders under those window limits is
a linear programme (its variables the share of an incident reached from each bucket); every
dispatch is a feasible integral point of it, so its optimum, rounded down, bounds them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack

from dispatch.crews import Crew
from dispatch.kpis import promised_arrivals
from dispatch.orders import WorkOrder


@dataclass(frozen=True, slots=True)
class IncidentWindow:
    """The orders of one incident: each one's report and arrival deadline (storm seconds)."""

    reports_s: tuple[int, ...]
    deadlines_s: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ArrivalBound:
    orders: int
    reachable: int
    incidents: int
    visit_s: int
    bucket_s: int

    @property
    def rate(self) -> float:
        return self.reachable / self.orders if self.orders else 1.0


def incidents_of(orders: dict[str, WorkOrder]) -> list[IncidentWindow]:
    """The orders that promised an arrival, by the incident (surviving order) they ended up in."""
    groups: dict[str, list[WorkOrder]] = {}
    for o, head in promised_arrivals(orders):
        groups.setdefault(head.order_id, []).append(o)
    return [IncidentWindow(tuple(o.first_report_s for o in g), tuple(o.deadline_s for o in g))
            for g in groups.values()]


def crews_on_duty(crews: Sequence[Crew], start_s: int, end_s: int, window_s: int,
                  bucket_s: int) -> np.ndarray:
    """For each bucket of ``[start_s, end_s)``, how many crews are on duty at some moment of the
    window of ``window_s`` that starts there."""
    n = -(-(end_s - start_s) // bucket_s)
    lo = start_s + bucket_s * np.arange(n)
    out = np.zeros(n, dtype=np.int64)
    for crew in crews:
        on = np.zeros(n, dtype=bool)
        for a, b in crew.shifts(end_s):
            on |= (lo < b) & (lo + window_s > a)
        out += on
    return out


def arrival_bound(incidents: Sequence[IncidentWindow], crews: Sequence[Crew], *, visit_s: int = 15 * 60,
                  bucket_s: int = 300) -> ArrivalBound:
    """The most orders of ``incidents`` any dispatch of ``crews`` could reach in time (see the
    module docstring)."""
    orders = sum(len(inc.reports_s) for inc in incidents)
    live = [inc for inc in incidents if inc.reports_s]
    if not live:
        return ArrivalBound(orders, 0, 0, visit_s, bucket_s)
    if visit_s % bucket_s:
        raise ValueError(f"bucket_s {bucket_s} must divide visit_s {visit_s}")
    start = min(min(inc.reports_s) for inc in live)
    end = max(max(inc.deadlines_s) for inc in live) + bucket_s
    span = visit_s // bucket_s
    on_duty = crews_on_duty(crews, start, end, visit_s, bucket_s)
    n_buckets = len(on_duty)
    rows, cols, gain = [], [], []
    for g, inc in enumerate(live):
        deadlines = np.sort(np.asarray(inc.deadlines_s))
        first = (min(inc.reports_s) - start) // bucket_s
        last = (int(deadlines[-1]) - start) // bucket_s
        for b in range(first, last + 1):
            # reached from this bucket on: every order whose deadline is not past at its start
            covered = len(deadlines) - int(np.searchsorted(deadlines, start + b * bucket_s, side="left"))
            if covered:
                rows.append(g)
                cols.append(b)
                gain.append(covered)
    n_var = len(gain)
    var = np.arange(n_var)
    once = coo_matrix((np.ones(n_var), (np.asarray(rows), var)), shape=(len(live), n_var))
    # window w holds the arrivals of buckets w .. w + span - 1
    win_rows = np.concatenate([np.asarray(cols) - k for k in range(span)])
    win_vars = np.tile(var, span)
    keep = win_rows >= 0
    windows = coo_matrix((np.ones(int(keep.sum())), (win_rows[keep], win_vars[keep])),
                         shape=(n_buckets, n_var))
    res = linprog(-np.asarray(gain, dtype=np.float64), A_ub=vstack([once, windows]).tocsr(),
                  b_ub=np.concatenate([np.ones(len(live)), on_duty.astype(np.float64)]), bounds=(0, 1),
                  method="highs")
    if res.status != 0:
        raise RuntimeError(f"arrival bound: the linear programme failed: {res.message}")
    return ArrivalBound(orders, int(np.floor(-res.fun + 1e-6)), len(live), visit_s, bucket_s)
