"""``SearchCore``: one plan's kernel arrays and the search over them, shared by
``routing.solver.DispatchSolver`` (a fixed problem) and ``routing.live.LivePlan`` (orders and
crews that change between searches).

The core builds the first plan, improves it (ruin and recreate with simulated annealing; for
the distance objective a 2-opt* descent between annealing chunks, or where routes are long and
most windows narrow an iterated local search instead; for the dispatch objective a local
search), keeps the best plan, inserts and removes single orders, and owns the random
state its kernels draw from (``_kernels_rng``): two cores never share a stream.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from routing import _kernels_construct as construct_k
from routing import _kernels_ils as ils_k
from routing import _kernels_insert as insert_k
from routing import _kernels_local as lkern
from routing import _kernels_route as route_k
from routing import _kernels_ruin as ruin_k
from routing import _kernels_tail as tail_k
from routing._kernels_local import LocalQueue, local_queue
from routing._kernels_neighbours import nearest_lists
from routing._kernels_rng import rng_state
from routing.arrays import Best, KernelData, State

if TYPE_CHECKING:
    from routing.solver import SolverParams, StoppingCriterion

NO_STATS = np.zeros((0, 2), dtype=np.int64)


class SearchCore:
    """The kernel arrays of one plan (``D``, ``S``, neighbour lists ``NB`` and ``CN``), its
    cost, the best plan seen (``best``, ``best_cost``) and the search state (temperatures,
    local search queue, random state ``rng``)."""

    def __init__(self, data: KernelData, state: State, near: np.ndarray, crews: np.ndarray,
                 params: SolverParams, *, seed: int) -> None:
        self.params = params
        self.rng = rng_state(seed)
        self.bind(data, state, near, crews)
        self.cost = 0
        self.best = Best(state.routes.copy(), state.rlen.copy())
        self.best_cost = 0
        self._temps: tuple[float, float] | None = None
        self._drop = not data.distance_objective and params.drop_tails
        self._open = 0.0
        self._ils = False
        self._queue: LocalQueue | None = None
        self._nb_local: np.ndarray | None = None
        self._near = params.ls_near_first

    def bind(self, data: KernelData, state: State, near: np.ndarray, crews: np.ndarray) -> None:
        """Work on these arrays from now on (a live plan's views, after orders joined): the
        problem's arrays ``D``, the plan ``S``, each order's nearest orders ``NB`` and crews ``CN``."""
        self.D, self.S, self.NB, self.CN = data, state, near, crews
        self._legs: tuple[np.ndarray, np.ndarray] | None = None  # neighbour_legs of NB, on first use

    def construct(self) -> None:
        """The first plan, around the routes ``S`` holds: for the dispatch objective the
        weighted rule of thumb, then cheapest insertion of every order left."""
        for r in range(int(self.D.n_crews)):
            route_k.recompute_route(self.D, self.S, r)
        if not self.D.distance_objective:
            construct_k.construct_by_rule(self.D, self.S, 1.0)
        construct_k.construct_by_insertion(self.D, self.S, self.NB, self.CN, self.rng)
        self.cost = int(route_k.total_cost(self.D, self.S))
        self.best = Best(self.S.routes.copy(), self.S.rlen.copy())
        self.best_cost = self.cost
        self._open, self._ils = self._opening_rule(), self._local_search_rule()

    def opening_share(self) -> float:
        """The share of recreates that first open a route, decided on the first plan."""
        return self._open

    def iterated(self) -> bool:
        """Whether the search is the iterated local search, decided on the first plan."""
        return self._ils

    def _dense_long_routes(self, long_route: int) -> float:
        """Distance objective under hard windows whose first plan's routes are long (at least
        ``long_route`` orders a route on the mean): the share of orders whose window is
        narrow (within ``narrow_window`` of the crews' shift); else 0."""
        p, data = self.params, self.D
        routes = int(np.count_nonzero(self.S.rlen))
        if (not data.distance_objective or not data.hard_windows or routes == 0
                or int(data.n_orders) < long_route * routes):
            return 0.0
        shift = float(np.median(data.crew_end - data.crew_start))
        return float(np.mean(data.deadline - data.earliest <= p.narrow_window * shift))

    def _opening_rule(self) -> float:
        """The share of recreates that first open a route (``SolverParams.open_route``): as
        set, or when unset ``open_route_auto`` where the first plan's routes are long and
        nearly every order's window narrow (a share ``narrow_share``), else none."""
        p = self.params
        if not self.D.distance_objective:
            return 0.0
        if p.open_route is not None:
            return p.open_route
        return p.open_route_auto if self._dense_long_routes(p.long_route) >= p.narrow_share else 0.0

    def _local_search_rule(self) -> bool:
        """Whether to search by iterated local search (``SolverParams.ils``): as set, or when
        unset where the first plan's routes are long (``ils_long_route``) and most orders'
        windows narrow (a share ``ils_narrow_share``)."""
        p = self.params
        if not self.D.distance_objective:
            return False
        if p.ils is not None:
            return p.ils
        return self._dense_long_routes(p.ils_long_route) >= p.ils_narrow_share

    def search(self, stop: StoppingCriterion, *, started: float | None = None
               ) -> tuple[list[tuple[float, int]], int, float]:
        """Ruin and recreate (and, for the dispatch objective, a local search; where
        ``iterated``, the iterated local search) until ``stop`` and keep the best plan; returns
        the best cost over time, the ruin-and-recreate iterations run and the seconds taken, all
        counted from ``started`` (default now)."""
        t0 = time.perf_counter() if started is None else started
        history = [(time.perf_counter() - t0, self.best_cost)]
        if self._ils:
            return self._iterated_local_search(stop, t0, history)
        iterations = since = 0
        p = self.params
        chunk = p.chunk_iterations
        dispatch = not self.D.distance_objective
        if dispatch and p.calibrate and self._temps is None and self.D.n_orders >= 2:
            self._calibrate()
        queue = None
        if dispatch and p.local_search:
            if self._queue is None or self._queue.orders.shape[0] != self.D.n_orders:
                self._queue = local_queue(int(self.D.n_orders))
            queue = self._queue
            lkern.queue_orders(queue, np.flatnonzero(self.D.order_skill != 0), self.rng)
            near = self._local_lists()
        # the routes each annealing chunk changed: what the local search queues (dispatch), or
        # what the 2-opt* descent prices (distance objective: every route the first time)
        changed = np.full(int(self.D.n_crews), self.D.distance_objective, dtype=np.bool_)
        while True:
            elapsed = time.perf_counter() - t0
            if stop(elapsed, iterations, since) or self.D.n_orders < 2:
                break
            before = self.best_cost
            if queue is not None and queue.is_empty() and self._near < p.ls_near:
                # the first descent is over: widen the neighbourhood and look at every order again
                self._near = p.ls_near
                lkern.queue_orders(queue, np.flatnonzero(self.D.order_skill != 0), self.rng)
            if queue is not None and not queue.is_empty():
                saved, _ = lkern.descend(self.D, self.S, near, self.CN, queue, p.ls_evals,
                                         p.ls_string, p.ls_string_near, p.ls_moves, self._near,
                                         False, p.ls_window, NO_STATS)
                self.cost -= int(saved)
                if self.cost < self.best_cost:
                    self._keep_current()
            else:
                f0 = stop.fraction(elapsed, iterations)
                self.cost, self.best_cost, _ = ruin_k.sisr_iterations(
                    self.D, self.S, self.best, self.NB, self.CN, chunk,
                    self._temperature(f0), self._temperature(min(1.0, f0 + 0.02)),
                    np.int64(self.cost), np.int64(self.best_cost), p.avg_removed,
                    p.max_string, p.blink, changed, self._drop, self._open, self.rng)
                iterations += chunk
                if self.D.distance_objective:
                    self._exchange_tails(changed)
                if queue is not None and p.ls_requeue:
                    lkern.queue_routes(self.S, queue, changed)
                since += chunk
            if self.best_cost < before:
                since = 0
                history.append((time.perf_counter() - t0, int(self.best_cost)))
        self._restore_best()
        return history, iterations, time.perf_counter() - t0

    def _iterated_local_search(self, stop: StoppingCriterion, t0: float,
                               history: list[tuple[float, int]]
                               ) -> tuple[list[tuple[float, int]], int, float]:
        """``search`` where ``iterated``: a descent of the first plan, then ``_kernels_ils``
        until ``stop``; the iterations counted are local search iterations."""
        p = self.params
        if self._legs is None:
            self._legs = tail_k.neighbour_legs(self.D, self.NB)
        cls = tail_k.crew_classes(self.D)
        every = np.ones(int(self.D.n_crews), dtype=np.bool_)
        ils_k.descend(self.D, self.S, self.NB, self.CN, self._legs, cls, every)
        self.recount()
        if self.cost < self.best_cost:
            self._keep_current()
            history.append((time.perf_counter() - t0, self.best_cost))
        current = Best(self.S.routes.copy(), self.S.rlen.copy())
        hist = np.full(p.ils_history, self.cost, dtype=np.int64)
        at = np.zeros(1, dtype=np.int64)
        iterations = since = 0
        while True:
            elapsed = time.perf_counter() - t0
            if stop(elapsed, iterations, since) or self.D.n_orders < 2:
                break
            before = self.best_cost
            cost, best, done = ils_k.ils_iterations(
                self.D, self.S, self.best, current, self.NB, self.CN, self._legs, cls,
                p.ils_chunk, np.int64(self.cost), np.int64(self.best_cost), hist, at,
                p.avg_removed, p.max_string, p.blink, self._open, self.rng)
            self.cost, self.best_cost = int(cost), int(best)
            iterations += int(done)
            since += int(done)
            if self.best_cost < before:
                since = 0
                history.append((time.perf_counter() - t0, self.best_cost))
            if done < p.ils_chunk:  # nothing left to ruin
                break
        self._restore_best()
        return history, iterations, time.perf_counter() - t0

    def insert(self, order_idx: int) -> tuple[int, int]:
        """Put an unplanned order at its cheapest position unless leaving it out costs no more;
        returns (route, position), route -1: left out. The cost is the caller's to recount."""
        r, p = insert_k.insert_if_cheaper(self.D, self.S, self.NB, self.CN, order_idx, self.rng)
        return int(r), int(p)

    def remove(self, order_idx: int) -> bool:
        """Take an order out of its route; False if it was not planned. The cost is the
        caller's to recount."""
        r = int(self.S.route_of[order_idx])
        if r < 0:
            return False
        buf = np.empty(1, dtype=np.int64)
        insert_k.remove_range(self.D, self.S, r, int(self.S.pos_of[order_idx]), 1, buf, 0)
        return True

    def recount(self) -> None:
        """The current plan's cost, counted again after an edit."""
        self.cost = int(route_k.total_cost(self.D, self.S))

    def adopt(self) -> None:
        """Recount, and take the current plan as the best (after edits from outside)."""
        self.recount()
        self._keep_current()

    def _temperature(self, frac: float) -> float:
        p = self.params
        if self._temps is not None:
            t0, t1 = self._temps
            return t0 * (t1 / t0) ** frac if t0 > 0 else 0.0
        routed = int(np.sum(self.S.rcost))
        per_order = max(1.0, routed / max(1, int(self.D.n_orders)))
        return per_order * p.temp_start * (p.temp_end / p.temp_start) ** frac

    def _calibrate(self) -> None:
        """Dispatch objective: the start and end temperatures from the cost changes of a
        sample of ruin-and-recreate moves (``SolverParams``)."""
        p = self.params
        deltas = ruin_k.sample_deltas(self.D, self.S, self.NB, self.CN, p.calibration_moves,
                                      p.avg_removed, p.max_string, p.blink, self._drop, self.rng)
        worse = deltas[deltas > 0].astype(np.float64)
        self._temps = (accepting(worse, p.accept_start), accepting(worse, p.accept_end))

    def _local_lists(self) -> np.ndarray:
        """The local search's neighbour lists: ``ls_near`` long (built once, on the first
        search: the first plan does not wait for them), the ``NB`` lists at their head."""
        k = int(self.NB.shape[1])
        want = max(k, self.params.ls_near)
        if want == k:
            return self.NB
        if self._nb_local is None or self._nb_local.shape[0] != self.NB.shape[0]:
            self._nb_local, _ = nearest_lists(self.D, want, 1)
        return self._nb_local

    def _keep_current(self) -> None:
        self.best_cost = self.cost
        ruin_k.keep_best(self.S, self.best)

    def _exchange_tails(self, changed: np.ndarray) -> None:
        """Distance objective: 2-opt* descent on the current plan between annealing chunks
        (tail exchanges are moves ruin and recreate rarely finds; the best plan is kept), over
        the pairs of routes with one ``changed`` since the last descent (it clears the flags)."""
        if self._legs is None:
            self._legs = tail_k.neighbour_legs(self.D, self.NB)
        self.cost -= int(tail_k.tails_exchange_descent(self.D, self.S, self.NB, self._legs, changed))
        if self.cost < self.best_cost:
            self._keep_current()

    def _restore_best(self) -> None:
        self.S.route_of[:] = -1
        self.S.routes[:, :] = self.best.routes
        self.S.rlen[:] = self.best.rlen
        for r in range(int(self.D.n_crews)):
            route_k.recompute_route(self.D, self.S, r)
        self.recount()


def accepting(worse: np.ndarray, share: float) -> float:
    """The temperature at which simulated annealing would accept a share ``share`` of moves
    that worsen the cost by ``worse`` (the mean of exp(-delta / T) is ``share``); 0 when
    there are none."""
    if worse.size == 0 or share <= 0.0:
        return 0.0
    lo, hi = 0.0, float(worse.max())
    while float(np.mean(np.exp(-worse / hi))) < share:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid > 0 and float(np.mean(np.exp(-worse / mid))) < share:
            lo = mid
        else:
            hi = mid
    return hi
