"""Insertion kernels: the shared "insert if cheaper than leaving out" step (an order goes in
where its cheapest position costs less than leaving it unassigned, and stays out otherwise),
the positions a blink skips, the legs the distance prices read from the prefix costs, and the
caches an edit or a rejected iteration leaves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from routing import _kernels_insert as insert_k
from routing import _kernels_route as route_k
from routing import _kernels_ruin as ruin_k
from routing._kernels_config import INF
from routing._kernels_neighbours import nearest_lists
from routing._kernels_rng import rng_state
from routing.arrays import empty_state, kernel_data
from routing.evaluate import evaluate
from routing.io import problem_from_dict, read_vrptw
from routing.problem import Problem
from routing.solver import DispatchSolver

SOLOMON = Path(__file__).parents[1] / "data" / "solomon"


def _problem() -> Problem:
    """One crew, 10 m/s; a near order, and one 60 km away that the crew would reach long after
    the horizon (1 h), so leaving it out is cheaper."""
    orders = [{"id": oid, "x": x, "y": 0.0, "reported": 0, "deadline": 2700, "service": 600,
               "skill": "lv", "customers": 10, "priority": 1}
              for oid, x in (("NEAR", 500.0), ("FAR", 60_000.0))]
    return problem_from_dict({
        "name": "insert", "horizon": 3600, "lateness_weight": 1,
        "travel": {"kind": "euclidean", "speed_kmh": 36.0, "detour": 1.0},
        "crews": [{"id": "C0", "x": 0.0, "y": 0.0, "start": 0, "end": 80_000, "skills": ["lv"]}],
        "orders": orders})


def test_an_order_goes_in_only_where_that_costs_less_than_leaving_it_out() -> None:
    p = _problem()
    d, s = kernel_data(p), empty_state(p)
    nb, cn = nearest_lists(d, 30, 8)
    route_k.recompute_route(d, s, 0)
    near, far = p.order_ids.index("NEAR"), p.order_ids.index("FAR")
    assert insert_k.insert_if_cheaper(d, s, nb, cn, near, rng_state(0)) == (0, 0)
    assert s.route_of[near] == 0 and s.rlen[0] == 1
    # FAR fits the crew's shift, but costs more in the route than out of it: it stays out
    assert insert_k.insert_delta(d, s, 0, 1, far) < INF
    assert insert_k.insert_delta(d, s, 0, 1, far) > route_k.unassigned_cost(d, far)
    assert insert_k.insert_if_cheaper(d, s, nb, cn, far, rng_state(0))[0] == -1
    assert s.route_of[far] == -1 and s.rlen[0] == 1
    # the independent evaluator agrees that the plan without FAR is the cheaper one
    assert evaluate(p, {"C0": ["NEAR"]}).cost < evaluate(p, {"C0": ["NEAR", "FAR"]}).cost


def test_a_blink_skips_each_position_with_its_own_chance() -> None:
    """The gaps between skipped positions are geometric: each position is skipped with
    probability ``blink``, whatever came before."""
    rng = rng_state(7)
    gaps = np.array([insert_k._until_blink(0.1, rng) for _ in range(20_000)])
    assert gaps.min() >= 0
    assert abs(gaps.mean() - 9.0) < 0.3  # (1 - 0.1) / 0.1 positions priced per skip
    assert abs((gaps == 0).mean() - 0.1) < 0.01
    assert insert_k._until_blink(0.0, rng) == -1  # no blink: nothing is skipped


def test_the_legs_read_from_the_prefix_costs_are_the_travel_between_the_stops() -> None:
    p = read_vrptw(SOLOMON / "RC201.txt", "solomon")
    solver = DispatchSolver(p, seed=2)
    d, s = solver.core.D, solver.core.S
    n_crews = int(d.n_crews)
    checked = 0
    for r in range(n_crews):
        stops = [r] + [n_crews + int(j) for j in s.routes[r, :s.rlen[r]]] + ([r] if s.rlen[r] else [])
        for k in range(int(s.rlen[r]) + 1):
            want = route_k.travel(d, stops[k], stops[k + 1]) if s.rlen[r] else 0
            assert route_k.leg_into(s, r, k) == want
            checked += 1
    assert checked > 100


def _caches(d, s, r: int) -> tuple:  # type: ignore[no-untyped-def]
    """Route ``r``'s timing caches as the kernels read them: up to its length (the distance
    objective's latest starts one a position, the dispatch suffix arrays seven)."""
    n = int(s.rlen[r])
    width = 1 if d.distance_objective else route_k.SUFFIX_FIELDS
    return (s.routes[r, :n].tolist(), s.fin[r, :n].tolist(), s.cpre[r, :n].tolist(),
            s.lpre[r, :n].tolist(), s.aux[r, :n * width].tolist(), int(s.rcost[r]), int(s.load[r]),
            s.pos_of[s.routes[r, :n]].tolist())


def _assert_as_recomputed(d, s) -> None:  # type: ignore[no-untyped-def]
    for r in range(int(d.n_crews)):
        kept = _caches(d, s, r)
        route_k.recompute_route(d, s, r)
        assert kept == _caches(d, s, r), f"route {r}"


def _storm() -> Problem:
    """The dispatch objective, soft windows and waits: 30 orders, 3 crews."""
    rng = np.random.default_rng(4)
    orders = [{"id": f"W{j}", "x": float(rng.uniform(0, 20_000)), "y": float(rng.uniform(0, 20_000)),
               "reported": 0, "deadline": int(rng.integers(1800, 20_000)), "service": 900,
               "earliest": int(rng.integers(0, 2)) * 3600, "skill": "lv",
               "customers": int(rng.integers(1, 90)), "priority": 1} for j in range(30)]
    crews = [{"id": f"C{i}", "x": 10_000.0, "y": 10_000.0, "start": 0, "end": 60_000, "skills": ["lv"]}
             for i in range(3)]
    return problem_from_dict({"name": "storm", "horizon": 60_000, "lateness_weight": 10,
                              "travel": {"kind": "euclidean", "speed_kmh": 30.0, "detour": 1.3},
                              "crews": crews, "orders": orders})


def test_edits_and_rejected_iterations_leave_the_caches_a_full_retiming_would() -> None:
    """Insertions and removals re-time a route from the edit on (the distance objective's
    latest starts only before it), and a rejected annealing iteration copies its routes'
    caches back: each leaves every cache as a re-timing of the whole route would, for the
    distance objective (R101: tight windows, capacity) and the dispatch objective."""
    for p in (read_vrptw(SOLOMON / "R101.txt", "solomon"), _storm()):
        solver = DispatchSolver(p, seed=2)
        c = solver.core
        d, s = c.D, c.S
        rng = np.random.default_rng(3)
        buf = np.empty(p.n_orders, dtype=np.int64)
        for _ in range(40):
            r = int(rng.choice(np.flatnonzero(s.rlen > 1)))
            start = int(rng.integers(0, s.rlen[r]))
            n = int(rng.integers(1, min(3, int(s.rlen[r]) - start) + 1))
            insert_k.remove_range(d, s, r, start, n, buf, 0)
            for k in range(n):
                to = int(rng.integers(0, p.n_crews))
                insert_k.insert_at(d, s, to, int(rng.integers(0, s.rlen[to] + 1)), int(buf[k]))
            _assert_as_recomputed(d, s)
        cost = int(route_k.total_cost(d, s))
        changed = np.zeros(p.n_crews, dtype=np.bool_)
        # a temperature of 0 rejects every worsening iteration: most are undone
        ruin_k.sisr_iterations(d, s, c.best, c.NB, c.CN, 200, 0.0, 0.0, np.int64(cost), np.int64(cost),
                               10.0, 10, 0.01, changed, c.params.drop_tails and not d.distance_objective,
                               0.0, c.rng)
        _assert_as_recomputed(d, s)
