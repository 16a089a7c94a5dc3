"""A plan kept alive through a storm: orders join and leave, crews move, start jobs and go
off duty, and the plan is improved between events.

``LivePlan`` is the solver of ``routing.solver`` on growable arrays: the kernels see views of
the live length, so adding an order costs one neighbour row and one cheapest insertion, not a
rebuild. Orders that leave (done, merged, cancelled) are retired in place: no crew can serve
them and they cost nothing, so the kernels skip them until the owner rebuilds the plan.
A crew's leading ``frozen`` orders (the job it is driving to) never move. A plan may start
from another's routes (``initial``, a warm start): orders they no longer fit are dropped
and placed again by the construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from routing import _kernels_insert as insert_k
from routing import _kernels_live as live_k
from routing import _kernels_route as route_k
from routing._kernels_neighbours import nearest_rows
from routing.arrays import KernelData, blank_state, kernel_data, route_capacity
from routing.problem import Problem, TravelKind, skill_bits
from routing.solver import DispatchSolver, SolverParams, StoppingCriterion
from routing.travel import RoadTravel

# The live plan keeps the plain ruin and recreate with the per-order temperature: its searches
# are short, on the engine's small plans, between events (the engine's figures are tuned to it).
LIVE_PARAMS = SolverParams(calibrate=False, local_search=False, drop_tails=False)

_ORDER_ARRAYS = ("reported", "earliest", "deadline", "service", "customers", "priority", "demand",
                 "order_skill")


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order joining a live plan; times in the plan's seconds, skill by name (several
    names: a crew with any of them may serve it)."""

    order_id: str
    x: float
    y: float
    reported_s: int
    deadline_s: int
    service_s: int
    customers: int
    priority: int
    skill: str | tuple[str, ...]
    earliest_s: int = 0


class LivePlan(DispatchSolver):
    """A ``DispatchSolver`` whose orders and crews change while it runs."""

    def __init__(self, problem: Problem, *, travel: RoadTravel | None = None, seed: int = 0,
                 params: SolverParams | None = None,
                 initial: dict[str, list[str]] | None = None) -> None:
        if problem.travel_kind == TravelKind.MATRIX:
            raise ValueError("a live plan cannot grow a travel matrix; use euclidean or road travel")
        if problem.travel_kind == TravelKind.ROAD and travel is None:
            raise ValueError("a live plan on road travel needs the RoadTravel to snap new orders")
        self._travel = travel
        self._snapshot: Problem | None = None
        self._best_stale = False
        self.changes = 0
        super().__init__(problem, seed=seed, params=params or LIVE_PARAMS, initial=initial)

    # -- buffers -------------------------------------------------------------------------
    def _load(self, problem: Problem, initial: dict[str, list[str]] | None) -> None:
        self._base = problem
        self.crew_ids = problem.crew_ids
        self.order_ids = list(problem.order_ids)
        self._crew_index = {c: r for r, c in enumerate(problem.crew_ids)}
        self._order_index = {o: j for j, o in enumerate(problem.order_ids)}
        full = kernel_data(problem)
        k, n = problem.n_crews, problem.n_orders
        cap = max(64, 2 * n)
        self._cap = cap
        self._n = n
        self._orders = {name: _grown(getattr(full, name), cap) for name in _ORDER_ARRAYS}
        self._points = {name: _grown(getattr(full, name), k + cap)
                        for name in ("x", "y", "point_node", "point_access")}
        self._crew = {name: getattr(full, name).copy() for name in ("crew_start", "crew_end")}
        self._full = full
        rcap = max(route_capacity(problem), 256)
        frozen = problem.frozen.astype(np.int64) if problem.frozen.size else np.zeros(k, dtype=np.int64)
        self._state = blank_state(k, cap, rcap, frozen)
        ko = self.params.orders_listed(problem.hard_windows)
        self._nb = np.zeros((cap, ko), dtype=np.int64)
        self._cn = np.zeros((cap, min(self.params.k_crews, k)), dtype=np.int64)
        self._views()
        nearest_rows(self.D, np.arange(n, dtype=np.int64), self.NB, self.CN)
        for crew_id, seq in (initial or {}).items():
            r = self._crew_index[crew_id]
            for i, o in enumerate(seq):
                self._state.routes[r, i] = self._order_index[o]
            self._state.rlen[r] = len(seq)
            live_k.drop_unfit(self.D, self.S, r)

    def _views(self) -> None:
        """Kernel data and state as views of the live length of every buffer."""
        n, k = self._n, len(self.crew_ids)
        o, pt = self._orders, self._points
        fields = {name: o[name][:n] for name in _ORDER_ARRAYS}
        fields.update({name: pt[name][:k + n] for name in pt})
        if self._base.travel_kind != TravelKind.ROAD:
            fields["point_node"] = self._full.point_node
            fields["point_access"] = self._full.point_access
        fields.update(self._crew)
        self.D: KernelData = self._full._replace(n_orders=np.int64(n), **fields)
        st = self._state
        self.S = st._replace(route_of=st.route_of[:n], pos_of=st.pos_of[:n])
        self.NB = self._nb[:n]
        self.CN = self._cn[:n]
        self._snapshot = None

    def _grow(self) -> None:
        cap = 2 * self._cap
        self._orders = {name: _grown(a, cap) for name, a in self._orders.items()}
        k = len(self.crew_ids)
        self._points = {name: _grown(a, k + cap) for name, a in self._points.items()}
        st = self._state
        self._state = st._replace(route_of=_grown(st.route_of, cap, -1), pos_of=_grown(st.pos_of, cap))
        self._nb = _grown(self._nb, cap)
        self._cn = _grown(self._cn, cap)
        self._cap = cap

    # -- reading -------------------------------------------------------------------------
    @property
    def problem(self) -> Problem:
        """The plan's current problem as an immutable snapshot (for the evaluator)."""
        if self._snapshot is None:
            n, k = self._n, len(self.crew_ids)
            o, pt = self._orders, self._points
            base = self._base
            if base.travel_kind == TravelKind.ROAD:
                base = dataclasses.replace(base, point_node=pt["point_node"][:k + n].copy(),
                                           point_access_s=pt["point_access"][:k + n].copy())
            self._snapshot = dataclasses.replace(
                base, order_ids=tuple(self.order_ids), x=pt["x"][:k + n].copy(),
                y=pt["y"][:k + n].copy(), crew_start_s=self._crew["crew_start"].copy(),
                crew_end_s=self._crew["crew_end"].copy(), reported_s=o["reported"][:n].copy(),
                earliest_s=o["earliest"][:n].copy(), deadline_s=o["deadline"][:n].copy(),
                service_s=o["service"][:n].copy(), customers=o["customers"][:n].copy(),
                priority=o["priority"][:n].copy(), demand=o["demand"][:n].copy(),
                order_skill=o["order_skill"][:n].copy(), frozen=self.S.frozen.copy())
        return self._snapshot

    def has_order(self, order_id: str) -> bool:
        return order_id in self._order_index

    def route(self, crew_id: str) -> list[str]:
        r = self._crew_index[crew_id]
        return [self.order_ids[j] for j in self.S.routes[r, :self.S.rlen[r]]]

    def committed(self, crew_id: str) -> list[str]:
        """The crew's frozen leading orders (the job it is driving to)."""
        r = self._crew_index[crew_id]
        return [self.order_ids[j] for j in self.S.routes[r, :self.S.frozen[r]]]

    def head(self, crew_id: str) -> str | None:
        """The first order of the crew's route that it is not yet committed to."""
        r = self._crew_index[crew_id]
        f = self.S.frozen[r]
        return self.order_ids[self.S.routes[r, f]] if self.S.rlen[r] > f else None

    def finish_s(self, order_id: str) -> int | None:
        """Planned finish of an order, or None when it is not in any route."""
        j = self._order_index[order_id]
        r = self.S.route_of[j]
        return None if r < 0 else int(self.S.fin[r, self.S.pos_of[j]])

    def search(self, stop: StoppingCriterion, *, started: float | None = None
               ) -> tuple[list[tuple[float, int]], int, float]:
        if self._best_stale:
            super()._sync_best()
            self._best_stale = False
        return super().search(stop, started=started)

    def _sync_best(self) -> None:
        """Between searches only the cost is kept current; the best copy is taken when a
        search starts (saves a copy of every route on each live change). Every change comes
        through here, so the evaluator's snapshot is dropped too, and ``changes`` counts it."""
        self.changes += 1
        self.cost = int(route_k.total_cost(self.D, self.S))
        self._best_stale = True
        self._snapshot = None

    # -- changes -------------------------------------------------------------------------
    def advance(self, crew_ids: list[str], t_s: int) -> None:
        """These crews (idle ones) cannot start before ``t_s``; re-time their routes."""
        rows = np.array([self._crew_index[c] for c in crew_ids], dtype=np.int64)
        live_k.advance_starts(self.D, self.S, rows, np.int64(t_s))
        self._sync_best()

    def add(self, order: NewOrder) -> str | None:
        """Add an order and insert it at its cheapest position; returns its crew or None."""
        if order.order_id in self._order_index:
            raise ValueError(f"order {order.order_id} is already in the plan")
        if self._n == self._cap:
            self._grow()
        j, k = self._n, len(self.crew_ids)
        o = self._orders
        o["reported"][j] = order.reported_s
        o["earliest"][j] = order.earliest_s
        o["deadline"][j] = order.deadline_s
        o["service"][j] = order.service_s
        o["customers"][j] = order.customers
        o["priority"][j] = order.priority
        o["demand"][j] = 0
        o["order_skill"][j] = skill_bits(self._base.skill_names, order.skill, f"order {order.order_id}")
        pt = self._points
        pt["x"][k + j], pt["y"][k + j] = order.x, order.y
        if self._travel is not None:
            node, access = self._travel.snap(order.x, order.y)
            pt["point_node"][k + j], pt["point_access"][k + j] = int(node[0]), round(float(access[0]))
        self._state.route_of[j] = -1
        self.order_ids.append(order.order_id)
        self._order_index[order.order_id] = j
        self._n += 1
        self._views()
        nearest_rows(self.D, np.array([j], dtype=np.int64), self.NB, self.CN)
        placed = self.insert(j)
        return None if placed is None else placed[0]

    def update(self, order_id: str, *, deadline_s: int, priority: int, customers: int) -> None:
        """An order's weights or deadline changed (it absorbed others, or was reached): re-cost
        its route; the order keeps its place."""
        j = self._order_index[order_id]
        o = self._orders
        o["deadline"][j], o["priority"][j], o["customers"][j] = deadline_s, priority, customers
        self._snapshot = None
        r = int(self.S.route_of[j])
        if r >= 0:
            route_k.recompute_route(self.D, self.S, r)
        self._sync_best()

    def retire(self, order_id: str) -> None:
        """The order leaves the plan for good (done, merged, cancelled)."""
        j = self._order_index[order_id]
        for name in ("customers", "priority", "order_skill"):
            self._orders[name][j] = 0
        self._snapshot = None
        r = int(self.S.route_of[j])
        if r >= 0:
            if self.S.pos_of[j] < self.S.frozen[r]:
                self.S.frozen[r] -= 1
            self.remove(j)
        else:
            self._sync_best()

    def move_crew(self, crew_id: str, *, start_s: int, x: float, y: float,
                  end_s: int | None = None) -> None:
        """The crew is next free at ``start_s`` at (x, y); optionally a new shift end."""
        r = self._crew_index[crew_id]
        self._crew["crew_start"][r] = start_s
        if end_s is not None:
            self._crew["crew_end"][r] = end_s
        pt = self._points
        pt["x"][r], pt["y"][r] = x, y
        if self._travel is not None:
            node, access = self._travel.snap(x, y)
            pt["point_node"][r], pt["point_access"][r] = int(node[0]), round(float(access[0]))
        self._reroute(r)

    def _reroute(self, r: int) -> None:
        """Re-time route r; orders it can no longer reach in time are re-inserted elsewhere."""
        if route_k.recompute_route(self.D, self.S, r):
            self._sync_best()
            return
        f = int(self.S.frozen[r])
        out = np.empty(self.S.rlen[r] - f, dtype=np.int64)
        n_out = insert_k.remove_range(self.D, self.S, r, f, self.S.rlen[r] - f, out, 0)
        for c in out[:n_out]:
            insert_k.insert_if_cheaper(self.D, self.S, self.NB, self.CN, c, self.rng)
        self._sync_best()

    def commit(self, crew_id: str, order_id: str) -> None:
        """The crew sets off for ``order_id``: it leads the crew's route and is frozen there."""
        r = self._crew_index[crew_id]
        j = self._order_index[order_id]
        if self.S.route_of[j] >= 0:
            self.remove(j)
        insert_k.insert_at(self.D, self.S, r, int(self.S.frozen[r]), j)
        self.S.frozen[r] += 1
        self._reroute(r)

    def pull(self, crew_id: str) -> str | None:
        """A free crew with nothing planned takes the queued or unplanned order it can start
        soonest ahead of the plan (weighted by customers and priority) to the head of its route."""
        r = self._crew_index[crew_id]
        j = int(live_k.best_pull(self.D, self.S, r))
        if j < 0:
            return None
        self.remove(j)
        insert_k.insert_at(self.D, self.S, r, int(self.S.frozen[r]), j)
        self._sync_best()
        return self.order_ids[j]

    def divert_gain(self, crew_id: str, order_id: str) -> int:
        """Plan cost saved if the crew dropped its committed job for ``order_id`` (the job
        it drops goes back to the plan); negative when diverting would cost more."""
        r = self._crew_index[crew_id]
        j = self._order_index[order_id]
        if self.S.frozen[r] == 0 or (self.D.crew_skills[r] & self.D.order_skill[j]) == 0:
            return -1
        routes, rlen, frozen = self.S.routes.copy(), self.S.rlen.copy(), self.S.frozen.copy()
        before = self.cost
        dropped = int(self.S.routes[r, 0])
        self.S.frozen[r] = 0
        self.remove(dropped)
        self.commit(crew_id, order_id)
        insert_k.insert_if_cheaper(self.D, self.S, self.NB, self.CN, dropped, self.rng)
        gain = before - int(route_k.total_cost(self.D, self.S))
        changed = np.flatnonzero((self.S.rlen != rlen) | (self.S.routes != routes).any(axis=1))
        for r in changed.tolist():
            for j in self.S.routes[r, :self.S.rlen[r]]:
                self.S.route_of[j] = -1
        self.S.routes[:, :] = routes
        self.S.rlen[:] = rlen
        self.S.frozen[:] = frozen
        for r in changed.tolist():
            route_k.recompute_route(self.D, self.S, r)
        self._sync_best()
        return gain

    def divert(self, crew_id: str, order_id: str) -> str:
        """Drop the crew's committed job for ``order_id``; returns the dropped order, which
        goes back to the plan."""
        r = self._crew_index[crew_id]
        dropped = self.order_ids[self.S.routes[r, 0]]
        self.S.frozen[r] = 0
        self.remove(self._order_index[dropped])
        self.commit(crew_id, order_id)
        self.insert(self._order_index[dropped])
        return dropped


def _grown(a: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    """``a`` copied into a buffer of ``n`` rows (the rest filled with ``fill``)."""
    out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
    m = min(len(a), n)
    out[:m] = a[:m]
    return out
