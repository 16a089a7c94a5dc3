"""The shared "insert if cheaper than leaving out" step: an order goes in where its cheapest
position costs less than leaving it unassigned, and stays out otherwise."""

from __future__ import annotations

from routing import _kernels_insert as insert_k
from routing import _kernels_route as route_k
from routing._kernels_config import INF
from routing._kernels_neighbours import nearest_lists
from routing._kernels_rng import rng_state
from routing.arrays import empty_state, kernel_data
from routing.evaluate import evaluate
from routing.io import problem_from_dict
from routing.problem import Problem


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
