"""``solve(problem, stop, seed=...)``: construction, then ruin-and-recreate improvement with
simulated annealing (for the distance objective, with a 2-opt* descent between chunks, or an
iterated local search where routes are long and most windows narrow), in numba kernels;
``DispatchSolver`` keeps a plan alive for live use (insert a new order, remove one, re-optimise
with jobs frozen).

The kernels' own cost is checked against ``routing.evaluate`` on every result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from routing import _kernels_route as route_k
from routing._kernels_local import ALL_MOVES
from routing._kernels_neighbours import nearest_lists
from routing.arrays import (
    KernelData,
    State,
    empty_state,
    kernel_data,
    routes_from_arrays,
    state_from_routes,
)
from routing.evaluate import evaluate
from routing.problem import Problem
from routing.search import SearchCore


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
    ``open_route`` (distance objective): the share of ruin-and-recreate iterations whose
    recreate first puts one removed order on a route of its own. Greedy insertion never opens
    a route while a detour costs less than a round trip from the depot, so the count of routes
    only falls (Gehring-Homberger R2_10_1: 31 after construction, 29 after annealing, against
    37 in the best-known plan, which annealing from that plan also brought down to 30 within
    3 s); these moves let it rise again where that pays. Unset (None), the share is
    ``open_route_auto`` where nearly every window is narrow (a share ``narrow_share`` within
    ``narrow_window`` of the crews' shift) and the first plan's routes long (``long_route``
    orders a route or more), and 0 elsewhere (``SearchCore.opening_share``). Tuned at 1,000,000
    iterations (about 60 s), seed 1, on Gehring-Homberger 1000 instances 6-10 of every class
    (the benchmark's are 1-5; the share itself, 0.5, was first tried on its R2_10_1 and
    RC2_10_1) and on tight variants of R2/RC2 6-10 (every window cut to
    120, R2_10_1's width): a share of 0.5 gained 0.83 % on the tight R2 variants, changed
    neither the tight RC2 variants (+0.05 %) nor the original R2/RC2 (-0.06, +0.01 %), and lost
    0.46-0.85 % on RC1, R1 and C2 (short routes, or wide windows), which the rule leaves out.
    ``ils`` (distance objective): search by iterated local search (``_kernels_ils``) instead
    of annealing: each iteration a ruin and recreate, then relocate and 2-opt* passes from the
    routes it changed, accepted when the cost beats the current plan's or the one
    ``ils_history`` iterations ago (late acceptance, PyVRP's scheme), ``ils_chunk`` iterations
    between checks of the time. Unset (None): where the first plan's routes are long
    (``ils_long_route`` orders a route or more) and most orders' windows narrow (a share
    ``ils_narrow_share`` within ``narrow_window`` of the shift). Measured on the tuning
    instances (seed 1, 60 s, against annealing): tight variants of R2 6-10 -1.47 % (5 of 5
    better, 40-47 routes against 33-37: annealing's greedy recreates let the count of routes
    only fall, where most windows are narrow the best plans have many routes), of RC2 6-10
    -0.29 % (4 of 5); originals with narrow share 0.75 (R2_10_6) -0.69 %, and up to 2.9 % worse
    where most windows are wide (R2_10_7, R2_10_8), which the rule leaves to annealing. The
    route length: with first plans of 17-20 orders a route (windows cut to 30 on R2 7-10, to 60
    on RC2 6-10) -0.88 % (seed 1, 8 of 9 better) and -0.72 % (seed 2, 7 of 9), R2 -1.2 to -2.0 %
    each, RC2 (17.2) -0.37 and -0.07 % on the mean; with 11.5-15.4 (C2 6-10, three quarters of
    the windows cut to 160 and a quarter the whole horizon, as C2_10_2) +0.41 % (2 of 5, +1.18 %
    at 15.4); with 8-10 (R1 and RC1 6-10 with most windows narrow) +0.35 % (1 of 4): hence 17.
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
    open_route: float | None = None
    open_route_auto: float = 0.5
    ils: bool | None = None
    ils_narrow_share: float = 0.7
    ils_history: int = 300
    ils_chunk: int = 20
    ils_long_route: int = 17
    long_route: int = 20
    narrow_window: float = 0.05
    narrow_share: float = 0.9

    def __post_init__(self) -> None:
        for name in ("ils_history", "ils_chunk", "chunk_iterations", "ils_long_route", "long_route"):
            if getattr(self, name) < 1:
                raise ValueError(f"SolverParams.{name} must be at least 1, not {getattr(self, name)}")

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
    """A solver's plan and how it got there; ``search`` names what improved it (``annealing`` or
    ``iterated``, the iterated local search, for ours; a peer's method for the others)."""

    plan: Plan
    cost: int
    history: list[tuple[float, int]]
    iterations: int
    construct_s: float
    runtime_s: float
    search: str


class CostMismatchError(AssertionError):
    """The kernels' bookkeeping disagrees with the independent evaluator."""


class DispatchSolver:
    """A plan for one problem: improve it, insert or remove orders, read it back. The arrays
    and the search are its ``core`` (``routing.search.SearchCore``)."""

    def __init__(self, problem: Problem, *, seed: int = 0, params: SolverParams | None = None,
                 initial: dict[str, list[str]] | None = None) -> None:
        self._problem = problem
        self.params = params or SolverParams()
        t0 = time.perf_counter()
        self.crew_ids = problem.crew_ids
        self.order_ids = list(problem.order_ids)
        data = kernel_data(problem)
        near, crews = nearest_lists(data, self.params.orders_listed(problem.hard_windows),
                                    self.params.k_crews)
        state = state_from_routes(problem, initial) if initial else empty_state(problem)
        self.core = SearchCore(data, state, near, crews, self.params, seed=seed)
        self.core.construct()
        self.construct_s = time.perf_counter() - t0

    @property
    def problem(self) -> Problem:
        return self._problem

    @property
    def cost(self) -> int:
        """The current plan's cost."""
        return self.core.cost

    @property
    def best_cost(self) -> int:
        """The best plan's cost."""
        return self.core.best_cost

    def improve(self, stop: StoppingCriterion, *, started: float | None = None) -> Result:
        """Improve until ``stop``; the best plan seen is kept and returned. ``started``
        (a ``time.perf_counter()`` value, default now): when the time limit started."""
        history, iterations, seconds = self.search(stop, started=started)
        return self.result(history, iterations, seconds)

    def search(self, stop: StoppingCriterion, *, started: float | None = None
               ) -> tuple[list[tuple[float, int]], int, float]:
        """``SearchCore.search``: improve until ``stop``, then hold the best plan."""
        return self.core.search(stop, started=started)

    def insert(self, order_idx: int) -> tuple[str, int] | None:
        """Put one unplanned order at its cheapest position; None if it stays unassigned."""
        if self.core.S.route_of[order_idx] >= 0:
            raise ValueError(f"order {self.order_ids[order_idx]} is already planned")
        r, p = self.core.insert(order_idx)
        if r < 0:
            return None
        self.core.adopt()
        return self.crew_ids[r], p

    def remove(self, order_idx: int) -> None:
        """Take one order out of the plan (cancelled, merged or done elsewhere)."""
        if self.core.remove(order_idx):
            self.core.adopt()

    def plan(self) -> Plan:
        return plan_of_state(self.problem, self.core.D, self.core.S)

    def result(self, history: list[tuple[float, int]], iterations: int, runtime_s: float) -> Result:
        plan = self.plan()
        check = evaluate(self.problem, plan.routes)
        if check.cost != plan.cost:
            raise CostMismatchError(f"solver cost {plan.cost} != evaluator cost {check.cost}")
        search = "iterated" if self.core.iterated() else "annealing"
        return Result(plan, plan.cost, history, iterations, self.construct_s, runtime_s, search)


def plan_of_state(problem: Problem, data: KernelData, state: State) -> Plan:
    """The routes, unassigned orders and cost held in a kernel state."""
    routes = routes_from_arrays(problem, state.routes, state.rlen)
    unassigned = [problem.order_ids[j] for j in np.flatnonzero(state.route_of < 0)]
    return Plan(routes, unassigned, int(route_k.total_cost(data, state)))


def solve(problem: Problem, stop: StoppingCriterion, *, seed: int = 0,
          params: SolverParams | None = None, initial: dict[str, list[str]] | None = None,
          started: float | None = None) -> Result:
    """Plan ``problem`` until ``stop``; deterministic for ``seed`` under an iteration limit.
    A time limit counts from ``started`` (a ``time.perf_counter()`` value; default: this
    call), so the first plan's construction is inside it."""
    t0 = time.perf_counter() if started is None else started
    return DispatchSolver(problem, seed=seed, params=params, initial=initial).improve(stop, started=t0)
