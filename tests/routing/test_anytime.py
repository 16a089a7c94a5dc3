"""The anytime phase on long routes (issue 19): the O(1) prices of the dispatch objective
against the evaluator, the local search's and the annealing's bookkeeping, the improvement on
a generated 72 h / 12-depot storm within an iteration budget, the time limit counted from before
the construction, the storm families' generator, and the public API's example (README)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

import routing
from dispatch.storm_families import FAMILIES, OTHER_72H, family_instance
from routing import _kernels_insert as insert_k
from routing import _kernels_live as live_k
from routing import _kernels_local as lkern
from routing import _kernels_route as route_k
from routing import _kernels_ruin as ruin_k
from routing.arrays import kernel_data, state_from_routes
from routing.evaluate import evaluate, unassigned_reason, unassigned_reasons
from routing.io import problem_from_dict
from routing.problem import Problem
from routing.search import NO_STATS
from routing.solver import DispatchSolver, MaxIterations, MaxRuntime, SolverParams, solve

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data"


def _long_routes(seed: int, n: int = 40, crews: int = 3, horizon: int = 30 * 3600) -> Problem:
    """Routes of ~13 orders with waits for ``earliest``, deadlines on both sides of the
    arrivals, critical orders and a horizon some routes run into."""
    rng = np.random.default_rng(seed)
    cr = [{"id": f"C{i}", "x": float(rng.uniform(0, 20000)), "y": float(rng.uniform(0, 20000)),
           "start": int(rng.integers(0, 1800)), "end": horizon, "skills": ["lv", "mv"] if i else ["lv"]}
          for i in range(crews)]
    orders = []
    for j in range(n):
        rep = -int(rng.integers(0, 3600))
        orders.append({"id": f"W{j}", "x": float(rng.uniform(0, 20000)), "y": float(rng.uniform(0, 20000)),
                       "reported": rep, "deadline": rep + int(rng.integers(1800, 40000)),
                       "service": int(rng.integers(600, 7200)), "skill": "mv" if j % 4 == 0 else "lv",
                       "customers": int(rng.integers(1, 300)), "priority": 10 if j % 9 == 0 else 1,
                       "earliest": int(rng.integers(0, 30000)) if j % 5 == 0 else 0})
    return problem_from_dict({"name": f"long{seed}", "horizon": horizon, "lateness_weight": 100,
                              "travel": {"kind": "euclidean", "speed_kmh": 30.0, "detour": 1.3},
                              "crews": cr, "orders": orders})


def _random_plan(p: Problem, rng: np.random.Generator, leave_out: int = 4) -> dict[str, list[str]]:
    routes: dict[str, list[str]] = {c: [] for c in p.crew_ids}
    for j in rng.permutation(p.n_orders)[leave_out:]:
        able = [c for r, c in enumerate(p.crew_ids) if p.crew_skills[r] & p.order_skill[j]]
        routes[able[int(rng.integers(len(able)))]].append(p.order_ids[j])
    return routes


def _state(p: Problem, routes: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    d = kernel_data(p)
    s = state_from_routes(p, routes)
    for r in range(p.n_crews):
        route_k.recompute_route(d, s, r)
    return d, s


def _cost(p: Problem, routes: dict[str, list[str]]) -> int | None:
    """The evaluator's cost, None if the plan breaks a rule (a crew's end)."""
    try:
        return evaluate(p, routes).cost
    except routing.PlanError:
        return None


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_tail_and_insertion_prices_match_the_evaluator(seed: int) -> None:
    """``insert_delta`` (O(1) shift or re-timing) and ``insert_drop_delta`` (a full route
    gives up its last orders) against the evaluator on every position."""
    p = _long_routes(seed, horizon=16 * 3600)
    rng = np.random.default_rng(seed)
    routes = _random_plan(p, rng)
    d, s = _state(p, routes)
    # the evaluator refuses a plan with an order past a crew's end: start from one that keeps them
    for r in range(p.n_crews):
        live_k.drop_unfit(d, s, r)
    routes = routing.solver.plan_of_state(p, d, s).routes
    before = evaluate(p, routes).cost
    checked = dropped = 0
    for c in np.flatnonzero(s.route_of < 0):
        base = before - route_k.unassigned_cost(d, c)  # the prices leave out c's own unassigned cost
        for r, crew in enumerate(p.crew_ids):
            for pos in range(len(routes[crew]) + 1):
                new = {k: list(v) for k, v in routes.items()}
                new[crew].insert(pos, p.order_ids[c])
                plain = insert_k.insert_delta(d, s, r, pos, c)
                after = _cost(p, new)
                if after is None:
                    assert plain >= route_k.INF
                else:
                    assert plain == after - base
                delta, cut = insert_k.insert_drop_delta(d, s, r, pos, c)
                if not p.crew_skills[r] & p.order_skill[c] or delta >= route_k.INF:
                    continue
                new[crew] = new[crew][:cut + 1] if cut < len(routes[crew]) else new[crew]
                assert delta == evaluate(p, new).cost - base
                checked += 1
                dropped += cut < len(routes[crew])
    assert checked > 50 and dropped > 5


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_local_search_keeps_its_books_and_the_rules(seed: int) -> None:
    p = _long_routes(seed, n=60, horizon=(16 if seed % 2 else 40) * 3600)
    solver = DispatchSolver(p, seed=seed)
    d, s = solver.core.D, solver.core.S
    before = int(route_k.total_cost(d, s))
    q = lkern.local_queue(p.n_orders)
    lkern.queue_orders(q, np.arange(p.n_orders), solver.core.rng)
    stats = np.zeros((9, 2), dtype=np.int64)
    saved, _ = lkern.descend(d, s, solver.core.NB, solver.core.CN, q, 10**9, 3, 1000, lkern.ALL_MOVES, 1000,
                             False, 0, stats)
    after = int(route_k.total_cost(d, s))
    assert q.is_empty()  # the queue ran dry: a local optimum
    assert saved == before - after and saved == int(stats[:, lkern.STAT_SAVED].sum()) and saved > 0
    assert evaluate(p, solver.plan().routes).cost == after


def test_annealing_that_leaves_out_route_tails_keeps_its_books() -> None:
    p = _long_routes(8, n=60, horizon=16 * 3600)
    solver = DispatchSolver(p, seed=8)
    changed = np.zeros(p.n_crews, dtype=np.bool_)
    cur, _, accepted = ruin_k.sisr_iterations(
        solver.core.D, solver.core.S, solver.core.best, solver.core.NB, solver.core.CN, 400, 1e7, 1e5,
        np.int64(solver.cost), np.int64(solver.best_cost), 6.0, 5, 0.01, changed, True, 0.0,
        solver.core.rng)
    assert accepted > 0 and changed.any()
    assert cur == route_k.total_cost(solver.core.D, solver.core.S) == evaluate(p, solver.plan().routes).cost


def test_anytime_phase_improves_a_72h_12_depot_storm_within_an_iteration_budget() -> None:
    """600 orders, 18 crews (~33 orders a route): one annealing chunk after the local search
    (the previous search, per-order temperature and no local search, gains 0.3 % here)."""
    p = problem_from_dict(family_instance("other-72h", n_orders=600, n_crews=18, seed=3))
    solver = DispatchSolver(p, seed=3)
    first = solver.best_cost
    result = solver.improve(MaxIterations(250))
    assert result.cost <= 0.96 * first
    assert evaluate(p, result.plan.routes).cost == result.cost
    again = solve(p, MaxIterations(250), seed=3)
    assert again.plan.routes == result.plan.routes  # deterministic for a seed


def test_time_limit_counts_from_before_the_construction() -> None:
    """The stop sees the time since ``started``: a limit already spent before the search
    starts runs no iteration, and the reported runtime counts from ``started``."""
    p = problem_from_dict(family_instance("other-72h", n_orders=300, n_crews=9, seed=4))
    seen: list[float] = []

    class Spy(MaxRuntime):
        def __call__(self, elapsed_s: float, iterations: int, since_improvement: int) -> bool:
            seen.append(elapsed_s)
            return super().__call__(elapsed_s, iterations, since_improvement)

    started = time.perf_counter() - 5.0  # as if construction had taken five seconds
    result = solve(p, Spy(3.0), seed=4, started=started)
    assert result.iterations == 0 and seen[0] >= 5.0 and result.runtime_s >= 5.0
    t0 = time.perf_counter()
    result = solve(p, MaxRuntime(0.5), seed=4)
    total = time.perf_counter() - t0
    assert result.runtime_s <= total and total < 0.5 + 2.0  # generous: shared machines


def test_storm_families_are_deterministic_per_seed_and_shaped_as_named() -> None:
    a = family_instance(OTHER_72H, n_orders=500, n_crews=40, seed=9)
    assert a == family_instance("other-72h", n_orders=500, n_crews=40, seed=9)
    assert a != family_instance("other-72h", n_orders=500, n_crews=40, seed=10)
    p = problem_from_dict(a)
    assert p.horizon_s == 72 * 3600 and len({(c["x"], c["y"]) for c in a["crews"]}) == 12  # type: ignore[union-attr]
    skills = [tuple(c["skills"]) for c in a["crews"]]  # type: ignore[union-attr]
    assert skills.count(("lv",)) == 20 and skills.count(("cable", "lv", "mv")) == 6
    service_min = p.service_s / 60
    assert service_min.min() >= 20 and service_min.max() <= 900
    assert np.all(-p.reported_s <= 3600)
    for name, fam in FAMILIES.items():
        if fam is not None:
            q = problem_from_dict(family_instance(name, n_orders=200, n_crews=20, seed=1))
            assert q.n_orders == 200 and q.n_crews == 20


def test_unassigned_reasons_match_one_by_one() -> None:
    p = _long_routes(3, n=30, crews=3, horizon=3 * 3600)
    js = list(range(p.n_orders))
    assert unassigned_reasons(p, js) == [unassigned_reason(p, j) for j in js]


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The public API's example in the README's routing section, verbatim but for where it
    writes the plan."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Routing"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    monkeypatch.chdir(ROOT)  # the example reads an instance of the repository's tests
    code_in_tmp = code.group(1).replace('"two_crews.plan.json"', repr(str(tmp_path / "two_crews.plan.json")))
    exec(compile(code_in_tmp, "README.md", "exec"), {})
    plan = json.loads((tmp_path / "two_crews.plan.json").read_text())
    assert plan["lower_bound"] <= plan["solver"]["cost"]
    assert set(routing.__all__) <= set(dir(routing))
    assert SolverParams is routing.SolverParams and NO_STATS.size == 0
