"""The distance objective's iterated local search: its descent on a tiny plan (an exact
move), a rejected iteration restoring the current plan, and its bookkeeping against the
evaluator on a literature instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routing import _kernels_ils as ils_k
from routing import _kernels_route as route_k
from routing import _kernels_tail as tail_k
from routing.arrays import Best
from routing.evaluate import evaluate
from routing.io import read_vrptw
from routing.solver import DispatchSolver, MaxIterations, SolverParams, solve

SOLOMON = Path(__file__).parents[1] / "data" / "solomon"

TWO_LINES = """TWO-LINES

VEHICLE
NUMBER     CAPACITY
  2         100

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0       0          0          0          0       1000          0
    1      10          0          1          0       1000          0
    2      20          0          1          0       1000          0
    3      30          0          1          0       1000          0
    4       0         10          1          0       1000          0
    5       0         20          1          0       1000          0
    6       0         30          1          0       1000          0
"""


def _descend(solver: DispatchSolver, changed: np.ndarray) -> int:
    c = solver.core
    legs = tail_k.neighbour_legs(c.D, c.NB)
    return int(ils_k.descend(c.D, c.S, c.NB, c.CN, legs, tail_k.crew_classes(c.D), changed))


def test_the_descent_relocates_then_exchanges_tails_on_a_tiny_plan(tmp_path: Path) -> None:
    path = tmp_path / "two-lines.txt"
    path.write_text(TWO_LINES)
    p = read_vrptw(path, "solomon")
    first, second = p.crew_ids
    solver = DispatchSolver(p, initial={first: ["1", "5", "2", "3"], second: ["4", "6"]})
    assert solver.plan().cost == 1605
    changed = np.array([True, False])
    saved = _descend(solver, changed)
    plan = solver.plan()
    # relocate: 5 to its line (between 4 and 6), 1 after 6 (1316); then 2-opt*: the rest of
    # the first line follows 1 (1116: 10 + 10 + 10 + 31.6 + 10 + 10 + 30, in tenths)
    assert plan.routes == {first: [], second: ["4", "5", "6", "1", "2", "3"]}
    assert saved == 1605 - 1116 and plan.cost == 1116 == evaluate(p, plan.routes).cost
    assert changed.tolist() == [True, True]  # the route it moved orders into is flagged too


def test_the_descent_saves_what_it_says_and_ends_where_nothing_moves() -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=3)
    before = int(route_k.total_cost(solver.core.D, solver.core.S))
    saved = _descend(solver, np.ones(p.n_crews, dtype=np.bool_))
    plan = solver.plan()
    assert saved > 0 and not plan.unassigned
    assert evaluate(p, plan.routes).cost == before - saved == plan.cost
    assert _descend(solver, np.ones(p.n_crews, dtype=np.bool_)) == 0
    assert solver.plan().routes == plan.routes


def test_a_rejected_iteration_gets_the_current_plan_back() -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=5)
    c = solver.core
    current = Best(c.S.routes.copy(), c.S.rlen.copy())
    plan, cost = solver.plan(), int(route_k.total_cost(c.D, c.S))
    changed = np.zeros(p.n_crews, dtype=np.bool_)
    changed[:3] = True
    assert _descend(solver, changed) > 0 and changed.sum() > 3  # routes beyond the first three
    assert solver.plan().routes != plan.routes
    ils_k._restore(c.D, c.S, current, changed)
    assert solver.plan().routes == plan.routes
    assert int(route_k.total_cost(c.D, c.S)) == cost == evaluate(p, plan.routes).cost
    routed = c.S.route_of >= 0
    assert routed.all() and (c.S.routes[c.S.route_of, c.S.pos_of] == np.arange(p.n_orders)).all()


def test_the_search_keeps_its_books_and_repeats_for_a_seed() -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    params = SolverParams(ils=True)
    first = DispatchSolver(p, seed=2, params=params).plan().cost
    runs = [solve(p, MaxIterations(400), seed=2, params=params) for _ in range(2)]
    assert runs[0].plan.routes == runs[1].plan.routes
    assert runs[0].cost == evaluate(p, runs[0].plan.routes).cost < first
    costs = [c for _, c in runs[0].history]
    assert costs == sorted(costs, reverse=True) and costs[-1] == runs[0].cost


def _snapshot(solver: DispatchSolver) -> dict[str, list[list[int]] | list[int]]:
    """A plan's routes and every per-route cache, each route up to its length."""
    s = solver.core.S
    per_route = {name: [getattr(s, name)[r, :s.rlen[r]].tolist() for r in range(s.rlen.shape[0])]
                 for name in ("routes", "fin", "cpre", "lpre", "aux")}
    routed = s.route_of >= 0  # an unassigned order's position is not kept
    return {**per_route, **{name: getattr(s, name).tolist()
                            for name in ("rlen", "route_of", "rcost", "load")},
            "pos_of": s.pos_of[routed].tolist()}


def test_iterations_all_rejected_leave_the_plan_and_its_caches_as_they_were() -> None:
    """Nothing beats a current and a late cost of 0: every ruin, recreate and descent is undone,
    orders the recreate left out or took in from the unassigned included."""
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=4)
    c = solver.core
    out = [c.S.routes[0, 1], c.S.routes[1, 0]]  # two orders unassigned in the current plan
    for j in out:
        c.remove(int(j))
    c.recount()
    before = _snapshot(solver)
    current = Best(c.S.routes.copy(), c.S.rlen.copy())
    best = Best(c.S.routes.copy(), c.S.rlen.copy())
    legs = tail_k.neighbour_legs(c.D, c.NB)
    zero = np.zeros(300, dtype=np.int64)
    cur, low, done = ils_k.ils_iterations(c.D, c.S, best, current, c.NB, c.CN, legs,
                                          tail_k.crew_classes(c.D), 300,
                                          np.int64(0), np.int64(0), zero, np.zeros(1, np.int64),
                                          10.0, 10, 0.01, 0.5, c.rng)
    assert (cur, low, done) == (0, 0, 300)
    assert _snapshot(solver) == before
    assert [int(c.S.route_of[j]) for j in out] == [-1, -1]
