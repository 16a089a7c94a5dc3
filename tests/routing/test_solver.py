"""The solver against brute force on tiny instances, its bookkeeping against the evaluator,
determinism for a seed, incremental operations, and the OR-Tools reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from routing import _kernels_insert as insert_k
from routing import _kernels_route as route_k
from routing import _kernels_ruin as ruin_k
from routing import _kernels_tail as tail_k
from routing.arrays import kernel_data, state_from_routes
from routing.evaluate import PlanError, evaluate
from routing.heuristics import nearest_available, rule_of_thumb
from routing.io import problem_from_dict, read_instance, read_vrptw
from routing.ortools_backend import solve_ortools
from routing.problem import Problem
from routing.solver import DispatchSolver, MaxIterations, SolverParams, solve
from tests.routing.naive import brute_force_optimum

DATA = Path(__file__).parents[1] / "data"
SOLOMON = DATA / "solomon"


def _random_instance(seed: int, n: int = 7) -> Problem:
    rng = np.random.default_rng(seed)
    crews = [{"id": f"C{i}", "x": float(rng.uniform(0, 8000)), "y": float(rng.uniform(0, 8000)),
              "start": int(rng.integers(0, 900)), "end": 40000, "skills": ["lv", "mv"] if i else ["lv"]}
             for i in range(2)]
    orders = []
    for j in range(n):
        rep = -int(rng.integers(0, 3600))
        orders.append({"id": f"W{j}", "x": float(rng.uniform(0, 8000)), "y": float(rng.uniform(0, 8000)),
                       "reported": rep, "deadline": rep + 2700, "service": int(rng.integers(300, 3600)),
                       "skill": "mv" if j % 3 == 0 else "lv", "customers": int(rng.integers(1, 200)),
                       "priority": 10 if j == 1 else 1, "earliest": int(rng.integers(0, 2)) * 1800})
    return problem_from_dict({"name": f"rand{seed}", "horizon": 40000, "lateness_weight": 100,
                              "travel": {"kind": "euclidean", "speed_kmh": 30.0, "detour": 1.3},
                              "crews": crews, "orders": orders})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_solver_finds_the_brute_force_optimum_on_tiny_instances(seed: int) -> None:
    p = _random_instance(seed)
    optimum, _ = brute_force_optimum(p)
    result = solve(p, MaxIterations(3000), seed=seed)
    assert result.cost == optimum
    assert evaluate(p, result.plan.routes).cost == result.cost


def test_insert_delta_matches_full_recomputation() -> None:
    p = _random_instance(7, n=8)
    d = kernel_data(p)
    rng = np.random.default_rng(0)
    for _ in range(30):
        perm = [p.order_ids[j] for j in rng.permutation(p.n_orders)]
        held_out, rest = perm[0], perm[1:]
        cut = int(rng.integers(0, len(rest) + 1))
        routes = {"C0": rest[:cut], "C1": rest[cut:]}
        s = state_from_routes(p, routes)
        for r in range(p.n_crews):
            route_k.recompute_route(d, s, r)
        before = evaluate(p, routes, strict=False).cost
        c = p.order_ids.index(held_out)
        for r, crew in enumerate(p.crew_ids):
            for pos in range(len(routes[crew]) + 1):
                delta = insert_k.insert_delta(d, s, r, pos, c)
                new = {k: list(v) for k, v in routes.items()}
                new[crew].insert(pos, held_out)
                if not p.crew_skills[r] & p.order_skill[c]:
                    assert delta >= route_k.INF
                    continue
                after = evaluate(p, new, strict=False).cost
                # ``before`` charged the held-out order as unassigned; the delta is routes only
                assert delta == after - before + route_k.unassigned_cost(d, c)


def _move_agrees(p: Problem, routes: dict[str, list[str]], delta: int, before: int) -> bool:
    """A kernel's cost change for a move against the evaluator on the plan after it: INF
    exactly when that plan breaks a limit. Returns whether the move was feasible."""
    try:
        after = evaluate(p, routes).cost
    except PlanError:
        assert delta >= route_k.INF
        return False
    assert delta == after - before
    return True


def test_distance_insert_delta_matches_full_recomputation() -> None:
    """VRPTW (R101: tight windows, capacity, closed routes): the O(1) insertion against the
    evaluator, feasibility included."""
    p = read_vrptw(SOLOMON / "R101.txt", "solomon")
    routes = solve(p, MaxIterations(300), seed=3).plan.routes
    d = kernel_data(p)
    rng = np.random.default_rng(1)
    checked = infeasible = 0
    for c_id in rng.choice(p.order_ids, 16, replace=False):
        held = {k: [o for o in v if o != c_id] for k, v in routes.items()}
        s = state_from_routes(p, held)
        for r in range(p.n_crews):
            route_k.recompute_route(d, s, r)
        before = evaluate(p, held, strict=False).cost
        c = p.order_ids.index(c_id)
        for r, crew in enumerate(p.crew_ids[:12]):
            for pos in range(len(held[crew]) + 1):
                new = {k: list(v) for k, v in held.items()}
                new[crew].insert(pos, str(c_id))
                # ``before`` charged the held-out order as unassigned
                ok = _move_agrees(p, new, insert_k.insert_delta(d, s, r, pos, c),
                                  before - route_k.unassigned_cost(d, c))
                checked, infeasible = checked + ok, infeasible + (not ok)
    assert checked >= 20 and infeasible > 100


def test_tails_exchange_delta_matches_full_recomputation() -> None:
    """2-opt* on R101 (tight windows, capacity, closed routes) against the evaluator: every
    pair of cut points between a few routes, feasible or not, whole routes included."""
    p = read_vrptw(SOLOMON / "R101.txt", "solomon")
    routes = solve(p, MaxIterations(300), seed=5).plan.routes
    d = kernel_data(p)
    s = state_from_routes(p, routes)
    for r in range(p.n_crews):
        route_k.recompute_route(d, s, r)
    before = evaluate(p, routes).cost
    used = [r for r, c in enumerate(p.crew_ids) if routes[c]][:8]
    checked = infeasible = 0
    for r1 in used:
        for r2 in used:
            if r1 >= r2:
                continue
            c1, c2 = p.crew_ids[r1], p.crew_ids[r2]
            for i in range(-1, len(routes[c1])):
                for j in range(-1, len(routes[c2])):
                    new = dict(routes)
                    new[c1] = routes[c1][:i + 1] + routes[c2][j + 1:]
                    new[c2] = routes[c2][:j + 1] + routes[c1][i + 1:]
                    ok = _move_agrees(p, new, tail_k.tails_exchange_delta(d, s, r1, i, r2, j), before)
                    checked, infeasible = checked + ok, infeasible + (not ok)
    assert checked > 50 and infeasible > 200


def _every_route(solver: DispatchSolver) -> np.ndarray:
    return np.ones(int(solver.core.D.n_crews), dtype=np.bool_)


def test_tails_exchange_descent_saves_what_it_says_and_stays_feasible() -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=3)
    before = int(route_k.total_cost(solver.core.D, solver.core.S))
    dirty = _every_route(solver)
    saved = int(tail_k.tails_exchange_descent(solver.core.D, solver.core.S, solver.core.NB,
                                                 tail_k.neighbour_legs(solver.core.D, solver.core.NB), dirty))
    plan = solver.plan()
    assert saved > 0 and not plan.unassigned and not dirty.any()
    assert evaluate(p, plan.routes).cost == before - saved == plan.cost


def test_a_descent_over_the_changed_routes_applies_what_one_over_all_does() -> None:
    """From a 2-opt* local optimum, an annealing chunk changes some routes; the descent that
    prices only pairs with a changed route ends at the same plan, saving the same, as one that
    prices every pair (a move's gain depends on its two routes only)."""
    p = read_vrptw(SOLOMON / "R101.txt", "solomon")
    solvers = [DispatchSolver(p, seed=5), DispatchSolver(p, seed=5)]
    saved = []
    for k, solver in enumerate(solvers):
        c = solver.core
        tail_k.tails_exchange_descent(c.D, c.S, c.NB, tail_k.neighbour_legs(c.D, c.NB), _every_route(solver))
        cost = int(route_k.total_cost(c.D, c.S))
        changed = np.zeros(int(c.D.n_crews), dtype=np.bool_)
        ruin_k.sisr_iterations(c.D, c.S, c.best, c.NB, c.CN, 20, 50.0, 50.0, np.int64(cost), np.int64(cost),
                               c.params.avg_removed, c.params.max_string, c.params.blink, changed, False, 0.0,
                               c.rng)
        routed = c.S.rlen > 0
        assert 0 < changed[routed].sum() < routed.sum()  # some routes changed, some not
        dirty = changed if k == 0 else _every_route(solver)
        legs = tail_k.neighbour_legs(c.D, c.NB)
        saved.append(int(tail_k.tails_exchange_descent(c.D, c.S, c.NB, legs, dirty)))
    assert saved[0] == saved[1] > 0
    assert solvers[0].plan().routes == solvers[1].plan().routes


def test_annealing_that_opens_routes_keeps_its_books() -> None:
    """Recreates that first put an order on a route of its own (``open_share`` 1): at a
    temperature that accepts every move the count of routes rises above the first plan's, and
    the cost the annealing returns is the evaluator's."""
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=3)
    core = solver.core
    first = int(np.count_nonzero(core.S.rlen))
    changed = np.zeros(p.n_crews, dtype=np.bool_)
    cur, _, accepted = ruin_k.sisr_iterations(
        core.D, core.S, core.best, core.NB, core.CN, 50, 1e9, 1e9, np.int64(solver.cost),
        np.int64(solver.best_cost), 10.0, 10, 0.01, changed, False, 1.0, core.rng)
    assert accepted == 50 and int(np.count_nonzero(core.S.rlen)) > first
    assert cur == route_k.total_cost(core.D, core.S) == evaluate(p, solver.plan().routes).cost


def _narrowed(p: Problem, half_width_s: int) -> Problem:
    """``p`` with each order's window cut to ``half_width_s`` either side of when its first
    plan starts it (so every order still fits somewhere)."""
    solver = DispatchSolver(p, seed=1)
    s = solver.core.S
    start = np.array([s.fin[s.route_of[j], s.pos_of[j]] - p.service_s[j] for j in range(p.n_orders)])
    return dataclasses.replace(p, earliest_s=start - half_width_s, deadline_s=start + half_width_s)


def test_routes_are_opened_where_windows_are_narrow_and_routes_long() -> None:
    """``SolverParams.open_route`` unset: recreates open routes (``open_route_auto``) only when
    nearly every window is narrow and the first plan's routes are long (here: 10 orders, the
    100 orders of RC201 fill 6 routes); as set, otherwise."""
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    auto = SolverParams(long_route=10)
    shift = int(p.crew_end_s[0] - p.crew_start_s[0])
    assert np.mean(p.deadline_s - p.earliest_s <= 0.05 * shift) < 0.9
    assert DispatchSolver(p, seed=1, params=auto).core.opening_share() == 0.0
    narrow = _narrowed(p, int(0.02 * shift))
    long_routes = DispatchSolver(narrow, seed=1, params=auto)
    assert p.n_orders >= 10 * np.count_nonzero(long_routes.core.S.rlen)
    assert long_routes.core.opening_share() == 0.5
    long_routes.improve(MaxIterations(500))
    assert long_routes.core.opening_share() == 0.5  # decided on the first plan, kept
    assert DispatchSolver(narrow, seed=1).core.opening_share() == 0.0  # 20 orders a route by default
    forced = SolverParams(long_route=10, open_route=0.2)
    assert DispatchSolver(narrow, seed=1, params=forced).core.opening_share() == 0.2
    short = dataclasses.replace(narrow, crew_capacity=np.full(p.n_crews, 150, dtype=np.int64))
    solver = DispatchSolver(short, seed=1, params=auto)
    assert p.n_orders < 10 * np.count_nonzero(solver.core.S.rlen)
    assert solver.core.opening_share() == 0.0
    dispatch = DispatchSolver(_random_instance(1), seed=1, params=SolverParams(open_route=0.5))
    assert dispatch.core.opening_share() == 0.0  # the dispatch objective: no route-opening recreates


def test_the_iterated_local_search_runs_where_most_windows_are_narrow_and_routes_long() -> None:
    """``SolverParams.ils`` unset: iterated local search where a share ``ils_narrow_share`` of
    the windows is narrow and the first plan's routes long (``ils_long_route``: the 100 orders
    of RC201 fill 6 routes), annealing elsewhere; as set, otherwise. An annealing chunk is 250
    iterations, a local search chunk 20."""
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    auto = SolverParams(ils_long_route=15)
    shift = int(p.crew_end_s[0] - p.crew_start_s[0])
    assert np.mean(p.deadline_s - p.earliest_s <= 0.05 * shift) < 0.7
    assert not DispatchSolver(p, seed=1, params=auto).core.iterated()
    narrow = _narrowed(p, int(0.02 * shift))
    solver = DispatchSolver(narrow, seed=1, params=auto)
    assert np.count_nonzero(solver.core.S.rlen) == 6 and solver.core.iterated()
    result = solver.improve(MaxIterations(100))
    assert result.iterations == 100 and result.cost == evaluate(narrow, result.plan.routes).cost
    assert result.search == "iterated"
    assert not DispatchSolver(narrow, seed=1).core.iterated()  # 16.7 orders a route, the default 17
    strict = SolverParams(ils_long_route=15, ils_narrow_share=1.01)
    assert not DispatchSolver(narrow, seed=1, params=strict).core.iterated()
    assert DispatchSolver(p, seed=1, params=SolverParams(ils=True)).core.iterated()
    annealing = DispatchSolver(p, seed=1, params=SolverParams(ils=False))
    assert not annealing.core.iterated()
    annealed = annealing.improve(MaxIterations(100))
    assert annealed.search == "annealing" and annealed.iterations == 250
    dispatch = DispatchSolver(_random_instance(1), seed=1, params=SolverParams(ils=True))
    assert not dispatch.core.iterated()  # the dispatch objective: annealing and local search


@pytest.mark.parametrize("field", ["ils_history", "ils_chunk", "chunk_iterations", "ils_long_route",
                                   "long_route"])
def test_search_settings_below_one_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"SolverParams.{field} must be at least 1, not 0"):
        SolverParams(**{field: 0})


def test_same_seed_same_plan_under_an_iteration_limit() -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    a = solve(p, MaxIterations(500), seed=4)
    b = solve(p, MaxIterations(500), seed=4)
    assert a.plan.routes == b.plan.routes and a.cost == b.cost


def test_insert_and_remove_keep_the_books_straight() -> None:
    p = _random_instance(11, n=8)
    solver = DispatchSolver(p, seed=1)
    solver.improve(MaxIterations(300))
    solver.remove(3)
    assert p.order_ids[3] in solver.plan().unassigned
    assert evaluate(p, solver.plan().routes).cost == solver.plan().cost
    placed = solver.insert(3)
    assert placed is not None and placed[0] in p.crew_ids
    assert evaluate(p, solver.plan().routes).cost == solver.plan().cost
    with pytest.raises(ValueError, match="already planned"):
        solver.insert(3)


def test_frozen_jobs_stay_first_on_their_crew() -> None:
    base = _random_instance(12, n=8)
    first = solve(base, MaxIterations(300), seed=0).plan.routes
    frozen_counts = np.array([min(1, len(first[c])) for c in base.crew_ids], dtype=np.int64)
    import dataclasses

    p = dataclasses.replace(base, frozen=frozen_counts)
    again = solve(p, MaxIterations(500), seed=9, initial=first).plan.routes
    for c in p.crew_ids:
        if first[c]:
            assert again[c][0] == first[c][0]


def test_peers_build_complete_feasible_plans() -> None:
    p = _random_instance(5, n=8)
    for result, rule in ((rule_of_thumb(p), "rule of thumb"), (nearest_available(p), "nearest available")):
        assert not result.plan.unassigned and result.search == rule
        assert evaluate(p, result.plan.routes).cost == result.cost


def test_ortools_models_the_same_objective() -> None:
    p = _random_instance(2, n=6)
    optimum, _ = brute_force_optimum(p)
    ref = solve_ortools(p, seconds=3.0)
    assert ref.cost == evaluate(p, ref.plan.routes).cost
    assert ref.cost == optimum and ref.search == "or-tools guided local search"


@pytest.mark.parametrize("seed", [2, 5, 6])
def test_a_crew_near_its_end_takes_only_work_it_can_do_on_duty(seed: int) -> None:
    """With ``shift_work`` the plain optimum sends crew C0 to an order it would reach too late in
    its shift to work on; the solver and OR-Tools both find the optimum that respects it."""
    base = _random_instance(seed, n=6)
    ends = np.array([7200, 40000], dtype=base.crew_end_s.dtype)
    p = dataclasses.replace(base, crew_end_s=ends, shift_work_s=1800)
    _, plain_routes = brute_force_optimum(dataclasses.replace(base, crew_end_s=ends))
    with pytest.raises(PlanError, match="needs 1800 s of work"):
        evaluate(p, plain_routes)
    optimum, _ = brute_force_optimum(p)
    assert solve(p, MaxIterations(3000), seed=seed).cost == optimum
    ref = solve_ortools(p, seconds=2.0)
    assert ref.cost == evaluate(p, ref.plan.routes).cost >= optimum


def test_solomon_c101_reaches_the_known_optimum() -> None:
    p = read_vrptw(SOLOMON / "C101.txt", "solomon")
    result = solve(p, MaxIterations(5000), seed=1)
    assert not result.plan.unassigned
    assert result.cost == 8273  # 827.3 in tenths, DIMACS convention
