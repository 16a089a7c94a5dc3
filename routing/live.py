"""A plan kept alive through a storm: orders join and leave, crews move, start jobs and go
off duty, and the plan is improved between events.

``LivePlan`` runs the search core of ``routing.search`` on growable arrays: the kernels see views of
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
from routing.arrays import KernelData, State, blank_state, kernel_data, route_capacity
from routing.problem import Problem, TravelKind, skill_bits
from routing.search import SearchCore
from routing.solver import SolverParams, StoppingCriterion
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


class LivePlan:
    """A plan whose orders and crews change while it runs, searched by a ``SearchCore``
    (``core``) over views of its growable buffers."""

    def __init__(self, problem: Problem, *, travel: RoadTravel | None = None, seed: int = 0,
                 params: SolverParams | None = None,
                 initial: dict[str, list[str]] | None = None) -> None:
        if problem.travel_kind == TravelKind.MATRIX:
            raise ValueError("a live plan cannot grow a travel matrix; use euclidean or road travel")
        if problem.travel_kind == TravelKind.ROAD and travel is None:
            raise ValueError("a live plan on road travel needs the RoadTravel to snap new orders")
        self.params = params or LIVE_PARAMS
        self._travel = travel
        self._snapshot: Problem | None = None
        self._best_stale = False
        self.changes = 0
        self._buffers(problem)
        self.core = SearchCore(*self._views(), self.params, seed=seed)
        core = self.core
        nearest_rows(core.D, np.arange(self._n, dtype=np.int64), core.NB, core.CN)
        for crew_id, seq in (initial or {}).items():
            r = self._crew_index[crew_id]
            for i, o in enumerate(seq):
                self._state.routes[r, i] = self._order_index[o]
            self._state.rlen[r] = len(seq)
            live_k.drop_unfit(core.D, core.S, r)
        core.construct()

    # -- buffers -------------------------------------------------------------------------
    def _buffers(self, problem: Problem) -> None:
        """Growable copies of the problem's arrays, with room for twice its orders."""
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

    def _views(self) -> tuple[KernelData, State, np.ndarray, np.ndarray]:
        """Kernel data, state and neighbour lists as views of the live length of every buffer."""
        n, k = self._n, len(self.crew_ids)
        o, pt = self._orders, self._points
        fields = {name: o[name][:n] for name in _ORDER_ARRAYS}
        fields.update({name: pt[name][:k + n] for name in pt})
        if self._base.travel_kind != TravelKind.ROAD:
            fields["point_node"] = self._full.point_node
            fields["point_access"] = self._full.point_access
        fields.update(self._crew)
        st = self._state
        self._snapshot = None
        return (self._full._replace(n_orders=np.int64(n), **fields),
                st._replace(route_of=st.route_of[:n], pos_of=st.pos_of[:n]),
                self._nb[:n], self._cn[:n])

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
                order_skill=o["order_skill"][:n].copy(), frozen=self.core.S.frozen.copy())
        return self._snapshot

    def has_order(self, order_id: str) -> bool:
        return order_id in self._order_index

    def route(self, crew_id: str) -> list[str]:
        r = self._crew_index[crew_id]
        return [self.order_ids[j] for j in self.core.S.routes[r, :self.core.S.rlen[r]]]

    def committed(self, crew_id: str) -> list[str]:
        """The crew's frozen leading orders (the job it is driving to)."""
        r = self._crew_index[crew_id]
        return [self.order_ids[j] for j in self.core.S.routes[r, :self.core.S.frozen[r]]]

    def head(self, crew_id: str) -> str | None:
        """The first order of the crew's route that it is not yet committed to."""
        r = self._crew_index[crew_id]
        f = self.core.S.frozen[r]
        return self.order_ids[self.core.S.routes[r, f]] if self.core.S.rlen[r] > f else None

    def finish_s(self, order_id: str) -> int | None:
        """Planned finish of an order, or None when it is not in any route."""
        j = self._order_index[order_id]
        r = self.core.S.route_of[j]
        return None if r < 0 else int(self.core.S.fin[r, self.core.S.pos_of[j]])

    @property
    def cost(self) -> int:
        """The current plan's cost."""
        return self.core.cost

    def search(self, stop: StoppingCriterion, *, started: float | None = None
               ) -> tuple[list[tuple[float, int]], int, float]:
        """``SearchCore.search`` from the plan as the changes left it."""
        if self._best_stale:
            self.core.adopt()
            self._best_stale = False
        return self.core.search(stop, started=started)

    def _changed(self) -> None:
        """Between searches only the cost is kept current; the best copy is taken when a
        search starts (saves a copy of every route on each live change). Every change comes
        through here, so the evaluator's snapshot is dropped too, and ``changes`` counts it."""
        self.changes += 1
        self.core.recount()
        self._best_stale = True
        self._snapshot = None

    def _insert(self, order_idx: int) -> str | None:
        """Put an unplanned order at its cheapest position; its crew, or None if it stays out."""
        r, _ = self.core.insert(order_idx)
        if r < 0:
            return None
        self._changed()
        return self.crew_ids[r]

    def _remove(self, order_idx: int) -> None:
        """Take an order out of the plan (if it is in it)."""
        if self.core.remove(order_idx):
            self._changed()

    # -- changes -------------------------------------------------------------------------
    def advance(self, crew_ids: list[str], t_s: int) -> None:
        """These crews (idle ones) cannot start before ``t_s``; re-time their routes."""
        rows = np.array([self._crew_index[c] for c in crew_ids], dtype=np.int64)
        live_k.advance_starts(self.core.D, self.core.S, rows, np.int64(t_s))
        self._changed()

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
        self.core.bind(*self._views())
        nearest_rows(self.core.D, np.array([j], dtype=np.int64), self.core.NB, self.core.CN)
        return self._insert(j)

    def update(self, order_id: str, *, deadline_s: int, priority: int, customers: int) -> None:
        """An order's weights or deadline changed (it absorbed others, or was reached): re-cost
        its route; the order keeps its place."""
        j = self._order_index[order_id]
        o = self._orders
        o["deadline"][j], o["priority"][j], o["customers"][j] = deadline_s, priority, customers
        self._snapshot = None
        r = int(self.core.S.route_of[j])
        if r >= 0:
            route_k.recompute_route(self.core.D, self.core.S, r)
        self._changed()

    def retire(self, order_id: str) -> None:
        """The order leaves the plan for good (done, merged, cancelled)."""
        j = self._order_index[order_id]
        for name in ("customers", "priority", "order_skill"):
            self._orders[name][j] = 0
        self._snapshot = None
        r = int(self.core.S.route_of[j])
        if r >= 0:
            if self.core.S.pos_of[j] < self.core.S.frozen[r]:
                self.core.S.frozen[r] -= 1
            self._remove(j)
        else:
            self._changed()

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
        if route_k.recompute_route(self.core.D, self.core.S, r):
            self._changed()
            return
        st = self.core.S
        f = int(st.frozen[r])
        out = np.empty(st.rlen[r] - f, dtype=np.int64)
        n_out = insert_k.remove_range(self.core.D, st, r, f, st.rlen[r] - f, out, 0)
        for c in out[:n_out]:
            self.core.insert(int(c))
        self._changed()

    def commit(self, crew_id: str, order_id: str) -> None:
        """The crew sets off for ``order_id``: it leads the crew's route and is frozen there."""
        r = self._crew_index[crew_id]
        j = self._order_index[order_id]
        if self.core.S.route_of[j] >= 0:
            self._remove(j)
        insert_k.insert_at(self.core.D, self.core.S, r, int(self.core.S.frozen[r]), j)
        self.core.S.frozen[r] += 1
        self._reroute(r)

    def pull(self, crew_id: str) -> str | None:
        """A free crew with nothing planned takes the queued or unplanned order it can start
        soonest ahead of the plan (weighted by customers and priority) to the head of its route."""
        r = self._crew_index[crew_id]
        j = int(live_k.best_pull(self.core.D, self.core.S, r))
        if j < 0:
            return None
        self._remove(j)
        insert_k.insert_at(self.core.D, self.core.S, r, int(self.core.S.frozen[r]), j)
        self._changed()
        return self.order_ids[j]

    def divert_gain(self, crew_id: str, order_id: str) -> int:
        """Plan cost saved if the crew dropped its committed job for ``order_id`` (the job
        it drops goes back to the plan); negative when diverting would cost more."""
        r = self._crew_index[crew_id]
        j = self._order_index[order_id]
        data, st = self.core.D, self.core.S
        if st.frozen[r] == 0 or (data.crew_skills[r] & data.order_skill[j]) == 0:
            return -1
        routes, rlen, frozen = st.routes.copy(), st.rlen.copy(), st.frozen.copy()
        before = self.cost
        dropped = int(st.routes[r, 0])
        st.frozen[r] = 0
        self._remove(dropped)
        self.commit(crew_id, order_id)
        self.core.insert(dropped)
        gain = before - int(route_k.total_cost(data, st))
        changed = np.flatnonzero((st.rlen != rlen) | (st.routes != routes).any(axis=1))
        for r in changed.tolist():
            for j in st.routes[r, :st.rlen[r]]:
                st.route_of[j] = -1
        st.routes[:, :] = routes
        st.rlen[:] = rlen
        st.frozen[:] = frozen
        for r in changed.tolist():
            route_k.recompute_route(data, st, r)
        self._changed()
        return gain

    def divert(self, crew_id: str, order_id: str) -> str:
        """Drop the crew's committed job for ``order_id``; returns the dropped order, which
        goes back to the plan."""
        r = self._crew_index[crew_id]
        dropped = self.order_ids[self.core.S.routes[r, 0]]
        self.core.S.frozen[r] = 0
        self._remove(self._order_index[dropped])
        self.commit(crew_id, order_id)
        self._insert(self._order_index[dropped])
        return dropped


def _grown(a: np.ndarray, n: int, fill: int = 0) -> np.ndarray:
    """``a`` copied into a buffer of ``n`` rows (the rest filled with ``fill``)."""
    out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
    m = min(len(a), n)
    out[:m] = a[:m]
    return out
