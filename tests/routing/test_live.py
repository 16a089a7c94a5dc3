"""The live plan: orders join, leave and are committed; the plan's cost always agrees with the
independent evaluator; restoration weights put an upstream repair first; diversions are
priced on the whole plan."""

from __future__ import annotations

import numpy as np
import pytest

from routing.evaluate import evaluate
from routing.io import problem_from_dict
from routing.live import LivePlan, NewOrder
from routing.problem import Problem
from routing.solver import MaxIterations


def _problem(orders: list[dict[str, object]], crews: int = 2) -> Problem:
    return problem_from_dict({
        "name": "live", "horizon": 86_400, "lateness_weight": 1,
        "travel": {"kind": "euclidean", "speed_kmh": 36.0, "detour": 1.0},
        "crews": [{"id": f"C{i}", "x": 0.0, "y": 1000.0 * i, "start": 0, "end": 80_000,
                   "skills": ["lv", "mv"]} for i in range(crews)],
        "orders": orders})


def _order(oid: str, x: float, y: float, customers: int = 1, service: int = 600,
           skill: str = "lv") -> dict[str, object]:
    return {"id": oid, "x": x, "y": y, "reported": 0, "deadline": 2700, "service": service,
            "skill": skill, "customers": customers, "priority": 1}


def _agrees(plan: LivePlan) -> None:
    routes = {c: plan.route(c) for c in plan.crew_ids}
    assert evaluate(plan.problem, routes).cost == plan.cost


def test_orders_join_and_leave_and_the_cost_matches_the_evaluator() -> None:
    plan = LivePlan(_problem([_order("W0", 500.0, 0.0)]))
    rng = np.random.default_rng(3)
    for k in range(1, 150):  # past the initial buffer of 64: the arrays grow
        crew = plan.add(NewOrder(f"W{k}", float(rng.uniform(0, 9000)), float(rng.uniform(0, 9000)),
                                 int(rng.integers(-600, 0)), 2700, 900, int(rng.integers(1, 50)), 1, "lv"))
        assert crew in plan.crew_ids
    _agrees(plan)
    assert sum(len(plan.route(c)) for c in plan.crew_ids) == 150
    before = plan.cost
    for k in range(0, 150, 3):
        plan.retire(f"W{k}")
    assert plan.cost < before
    assert not any(f"W{k}" in plan.route(c) for k in range(0, 150, 3) for c in plan.crew_ids)
    plan.search(MaxIterations(500))
    _agrees(plan)
    assert plan.finish_s("W0") is None and plan.finish_s("W1") is not None


def test_a_committed_job_stays_first_while_the_plan_is_improved() -> None:
    plan = LivePlan(_problem([_order(f"W{k}", 1000.0 * k, 0.0) for k in range(1, 9)]))
    plan.commit("C0", "W8")
    assert plan.committed("C0") == ["W8"] and plan.head("C0") != "W8"
    plan.search(MaxIterations(1000))
    assert plan.route("C0")[0] == "W8" and plan.committed("C0") == ["W8"]
    _agrees(plan)
    plan.retire("W8")  # the crew reached it: no longer the plan's business
    assert plan.committed("C0") == []
    _agrees(plan)


def test_the_upstream_repair_holding_more_customers_goes_first() -> None:
    # One crew. The downstream fault is next door; the upstream one, 6 km away, holds the
    # downstream customers too, so its weight is all of them.
    plan = LivePlan(_problem([_order("DOWN", 300.0, 0.0, customers=40, service=1800, skill="mv"),
                              _order("UP", 6000.0, 0.0, customers=400, service=3600, skill="mv")],
                             crews=1))
    plan.search(MaxIterations(200))
    assert plan.route("C0") == ["UP", "DOWN"]


@pytest.mark.parametrize(("min_gain", "diverted"), [(0, True), (10**9, False)])
def test_a_diversion_is_taken_only_when_it_saves_more_than_the_threshold(
        min_gain: int, diverted: bool) -> None:
    plan = LivePlan(_problem([_order("FAR", 20_000.0, 0.0)], crews=1))
    plan.commit("C0", "FAR")
    plan.add(NewOrder("NEAR", 200.0, 0.0, 0, 2700, 600, 300, 1, "lv"))
    assert plan.route("C0") == ["FAR", "NEAR"]
    before = plan.cost
    gain = plan.divert_gain("C0", "NEAR")
    assert plan.route("C0") == ["FAR", "NEAR"] and plan.cost == before  # only priced
    assert gain > 0
    if gain >= min_gain:
        assert plan.divert("C0", "NEAR") == "FAR"
    assert (plan.route("C0") == ["NEAR", "FAR"]) is diverted
    assert plan.cost == (before - gain if diverted else before)
    _agrees(plan)


def test_a_crew_moved_past_its_shift_end_gives_its_queue_away() -> None:
    plan = LivePlan(_problem([_order(f"W{k}", 800.0 * k, 500.0) for k in range(1, 7)]))
    moved = plan.route("C0")
    assert moved
    plan.move_crew("C0", start_s=1000, x=0.0, y=0.0, end_s=1000)
    assert plan.route("C0") == []
    assert sorted(plan.route("C1")) == sorted(f"W{k}" for k in range(1, 7))
    _agrees(plan)


def test_a_travel_matrix_cannot_grow() -> None:
    p = problem_from_dict({"name": "m", "horizon": 100, "lateness_weight": 1,
                           "travel": {"kind": "matrix", "seconds": [[0, 5], [5, 0]]},
                           "crews": [{"id": "C0", "x": 0, "y": 0, "start": 0, "end": 99, "skills": ["lv"]}],
                           "orders": [_order("W0", 0.0, 0.0)]})
    with pytest.raises(ValueError, match="cannot grow a travel matrix"):
        LivePlan(p)


def test_the_evaluators_snapshot_follows_a_crew_that_moves() -> None:
    plan = LivePlan(_problem([_order(f"W{k}", 900.0 * k, 0.0) for k in range(1, 5)]))
    _agrees(plan)  # takes a snapshot
    plan.move_crew("C1", start_s=3000, x=4000.0, y=0.0)
    plan.advance(["C0"], 600)
    _agrees(plan)
    assert int(plan.problem.crew_start_s[1]) == 3000 and int(plan.problem.crew_start_s[0]) == 600
