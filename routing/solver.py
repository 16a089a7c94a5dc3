"""``solve(problem, stop, seed=...)``: construction, then ruin-and-recreate improvement with
simulated annealing (for the distance objective, with a 2-opt* descent between chunks), in
numba kernels; ``DispatchSolver`` keeps a plan alive for live use (insert a new order, remove
one, re-optimise with jobs frozen).

The kernels' own cost is checked against ``routing.evaluate`` on every result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from routing import _kernels_construct as construct_k
from routing import _kernels_insert as insert_k
from routing import _kernels_local as lkern
from routing import _kernels_route as route_k
from routing import _kernels_ruin as ruin_k
from routing import _kernels_tail as tail_k
from routing._kernels_local import ALL_MOVES, LocalQueue, local_queue
from routing._kernels_neighbours import nearest_lists
from routing._kernels_rng import rng_state
from routing.arrays import (
    Best,
    KernelData,
    State,
    empty_state,
    kernel_data,
    routes_from_arrays,
    state_from_routes,
)
from routing.evaluate import evaluate
from routing.problem import Objective, Problem

NO_STATS = np.zeros((0, 2), dtype=np.int64)


class StoppingCriterion(Protocol):
    def __call__(self, elapsed_s: float, iterations: int, since_improvement: int) -> bool: ...

    def fraction(self, elapsed_s: float, iterations: int) -> float: ...


@dataclass(frozen=True, slots=True)
class MaxRuntime:
    seconds: float

    def __call__(self, elapsed_s: float, iterations: int, since_improvement: int) -> bool:
        return elapsed_s >= self.seconds

    def fraction(self, elapsed_s: float, iterations: int) -> float:
        return min(1.0, elapsed_s / self.seconds) if self.seconds > 0 else 1.0


@dataclass(frozen=True, slots=True)
class MaxIterations:
    iterations: int

    def __call__(self, elapsed_s: float, iterations: int, since_improvement: int) -> bool:
        return iterations >= self.iterations

    def fraction(self, elapsed_s: float, iterations: int) -> float:
        return min(1.0, iterations / self.iterations) if self.iterations > 0 else 1.0


@dataclass(frozen=True, slots=True)
class NoImprovement:
    iterations: int
    budget: StoppingCriterion = field(default_factory=lambda: MaxRuntime(3600.0))

    def __call__(self, elapsed_s: float, iterations: int, since_improvement: int) -> bool:
        return since_improvement >= self.iterations or self.budget(elapsed_s, iterations, since_improvement)

    def fraction(self, elapsed_s: float, iterations: int) -> float:
        return self.budget.fraction(elapsed_s, iterations)


@dataclass(frozen=True, slots=True)
class SolverParams:
    """Granularity, string removal and annealing settings (SISR defaults). ``k_orders``:
    neighbours listed per order; by default 50 under hard time windows, where many positions
    next to a near order break a window, and 30 otherwise.

    Annealing temperature, distance objective: the mean routed cost per order times
    ``temp_start`` falling to ``temp_end``. Dispatch objective (``calibrate``): the temperatures
    at which a share ``accept_start`` falling to ``accept_end`` of the worsening moves in a
    sample of ``calibration_moves`` ruin-and-recreate moves from the first plan would be
    accepted (the cost of a move, not of a plan, sets the scale). ``local_search`` (dispatch
    objective): a descent with relocate, exchange, string and tail moves (``_kernels_local``)
    runs on the first plan and then on the routes each annealing chunk changed, in calls of
    ``ls_evals`` move evaluations, over the ``ls_near_first`` nearest orders of each until the
    first descent ends, then over the ``ls_near`` nearest (a wider neighbourhood: a route has
    ~30 orders, and in a 16 h storm half of an order's neighbours are unassigned), strings of up
    to ``ls_string`` orders (moved next to the ``ls_string_near`` nearest only), the moves in
    the mask
    ``ls_moves`` (``_kernels_local``), re-examining the whole of a changed route (``ls_window``
    0) or the orders within that many positions of a change, and the routes each annealing
    chunk changed (``ls_requeue``). ``drop_tails`` (dispatch objective): ruin and recreate may
    insert into a route full up to its crew's end, leaving out the orders that no longer fit.
    Annealing and local search settings were tuned on seed 1 of each storm family at
    10,000 orders / 300 crews (``benchmarks.run_routing --suite families``)."""

    k_orders: int | None = None
    k_crews: int = 8
    avg_removed: float = 10.0
    max_string: int = 10
    blink: float = 0.01
    temp_start: float = 2.0
    temp_end: float = 0.02
    chunk_iterations: int = 250
    calibrate: bool = True
    accept_start: float = 0.3
    accept_end: float = 0.02
    calibration_moves: int = 200
    local_search: bool = True
    ls_near_first: int = 30
    ls_near: int = 250
    ls_evals: int = 100_000
    ls_string: int = 3
    ls_string_near: int = 30
    ls_moves: int = ALL_MOVES
    ls_window: int = 3
    ls_requeue: bool = True
    drop_tails: bool = True

    def orders_listed(self, hard_windows: bool) -> int:
        """Neighbours listed per order (see ``k_orders``)."""
        if self.k_orders is not None:
            return self.k_orders
        return 50 if hard_windows else 30


@dataclass(frozen=True, slots=True)
class Plan:
    routes: dict[str, list[str]]
    unassigned: list[str]
    cost: int


@dataclass(frozen=True, slots=True)
class Result:
    plan: Plan
    cost: int
    history: list[tuple[float, int]]
    iterations: int
    construct_s: float
    runtime_s: float


class CostMismatchError(AssertionError):
    """The kernels' bookkeeping disagrees with the independent evaluator."""


class DispatchSolver:
    """A live plan for one problem: improve it, insert or remove orders, read it back."""

    def __init__(self, problem: Problem, *, seed: int = 0, params: SolverParams | None = None,
                 initial: dict[str, list[str]] | None = None) -> None:
        self._problem = problem
        self.params = params or SolverParams()
        self.rng = rng_state(seed)
        t0 = time.perf_counter()
        self._load(problem, initial)
        for r in range(problem.n_crews):
            route_k.recompute_route(self.D, self.S, r)
        if problem.objective == Objective.DISPATCH:
            construct_k.construct_by_rule(self.D, self.S, 1.0)
        construct_k.construct_by_insertion(self.D, self.S, self.NB, self.CN, self.rng)
        self.cost = int(route_k.total_cost(self.D, self.S))
        self.construct_s = time.perf_counter() - t0
        self.best = Best(self.S.routes.copy(), self.S.rlen.copy())
        self.best_cost = self.cost
        self._temps: tuple[float, float] | None = None
        self._drop = problem.objective == Objective.DISPATCH and self.params.drop_tails
        self._queue: LocalQueue | None = None
        self._nb_local: np.ndarray | None = None
        self._near = self.params.ls_near_first

    def _load(self, problem: Problem, initial: dict[str, list[str]] | None) -> None:
        """Kernel arrays, neighbour lists and a state holding ``initial`` (or nothing)."""
        self.crew_ids = problem.crew_ids
        self.order_ids = list(problem.order_ids)
        self.D = kernel_data(problem)
        self.NB, self.CN = nearest_lists(self.D, self.params.orders_listed(problem.hard_windows),
                                         self.params.k_crews)
        self.S: State = state_from_routes(problem, initial) if initial else empty_state(problem)

    @property
    def problem(self) -> Problem:
        return self._problem

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

    def improve(self, stop: StoppingCriterion, *, started: float | None = None) -> Result:
        """Improve until ``stop``; the best plan seen is kept and returned. ``started``
        (a ``time.perf_counter()`` value, default now): when the time limit started."""
        history, iterations, seconds = self.search(stop, started=started)
        return self.result(history, iterations, seconds)

    def search(self, stop: StoppingCriterion, *, started: float | None = None
               ) -> tuple[list[tuple[float, int]], int, float]:
        """Ruin and recreate (and, for the dispatch objective, a local search) until ``stop``
        and keep the best plan; returns the best cost over time, the ruin-and-recreate
        iterations run and the seconds taken, all counted from ``started`` (default now)."""
        t0 = time.perf_counter() if started is None else started
        history = [(time.perf_counter() - t0, self.best_cost)]
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
        changed = np.zeros(int(self.D.n_crews), dtype=np.bool_)
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
                    p.max_string, p.blink, changed, self._drop, self.rng)
                iterations += chunk
                if self.D.distance_objective:
                    self._exchange_tails()
                if queue is not None and p.ls_requeue:
                    lkern.queue_routes(self.S, queue, changed)
                since += chunk
            if self.best_cost < before:
                since = 0
                history.append((time.perf_counter() - t0, int(self.best_cost)))
        self._restore_best()
        return history, iterations, time.perf_counter() - t0

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
        self.best.routes[:, :] = self.S.routes
        self.best.rlen[:] = self.S.rlen

    def _exchange_tails(self) -> None:
        """Distance objective: 2-opt* descent on the current plan between annealing chunks
        (tail exchanges are moves ruin and recreate rarely finds; the best plan is kept)."""
        self.cost -= int(tail_k.tails_exchange_descent(self.D, self.S, self.NB))
        if self.cost < self.best_cost:
            self._keep_current()

    def _restore_best(self) -> None:
        self.S.route_of[:] = -1
        self.S.routes[:, :] = self.best.routes
        self.S.rlen[:] = self.best.rlen
        for r in range(int(self.D.n_crews)):
            route_k.recompute_route(self.D, self.S, r)
        self.cost = int(route_k.total_cost(self.D, self.S))

    def insert(self, order_idx: int) -> tuple[str, int] | None:
        """Put one unplanned order at its cheapest position; None if it stays unassigned."""
        if self.S.route_of[order_idx] >= 0:
            raise ValueError(f"order {self.order_ids[order_idx]} is already planned")
        r, p = insert_k.insert_if_cheaper(self.D, self.S, self.NB, self.CN, order_idx,
                                           self.rng)
        if r < 0:
            return None
        self._sync_best()
        return self.crew_ids[r], int(p)

    def remove(self, order_idx: int) -> None:
        """Take one order out of the plan (cancelled, merged or done elsewhere)."""
        r = int(self.S.route_of[order_idx])
        if r < 0:
            return
        buf = np.empty(1, dtype=np.int64)
        insert_k.remove_range(self.D, self.S, r, int(self.S.pos_of[order_idx]), 1, buf, 0)
        self._sync_best()

    def _sync_best(self) -> None:
        self.cost = int(route_k.total_cost(self.D, self.S))
        self.best.routes[:, :] = self.S.routes
        self.best.rlen[:] = self.S.rlen
        self.best_cost = self.cost

    def plan(self) -> Plan:
        return plan_of_state(self.problem, self.D, self.S)

    def result(self, history: list[tuple[float, int]], iterations: int, runtime_s: float) -> Result:
        plan = self.plan()
        check = evaluate(self.problem, plan.routes)
        if check.cost != plan.cost:
            raise CostMismatchError(f"solver cost {plan.cost} != evaluator cost {check.cost}")
        return Result(plan, plan.cost, history, iterations, self.construct_s, runtime_s)


def plan_of_state(problem: Problem, data: KernelData, state: State) -> Plan:
    """The routes, unassigned orders and cost held in a kernel state."""
    routes = routes_from_arrays(problem, state.routes, state.rlen)
    unassigned = [problem.order_ids[j] for j in np.flatnonzero(state.route_of < 0)]
    return Plan(routes, unassigned, int(route_k.total_cost(data, state)))


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


def solve(problem: Problem, stop: StoppingCriterion, *, seed: int = 0,
          params: SolverParams | None = None, initial: dict[str, list[str]] | None = None,
          started: float | None = None) -> Result:
    """Plan ``problem`` until ``stop``; deterministic for ``seed`` under an iteration limit.
    A time limit counts from ``started`` (a ``time.perf_counter()`` value; default: this
    call), so the first plan's construction is inside it."""
    t0 = time.perf_counter() if started is None else started
    return DispatchSolver(problem, seed=seed, params=params, initial=initial).improve(stop, started=t0)
