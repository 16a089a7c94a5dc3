"""The storm lower bound: never above the brute-force optimum (tiny seeded instances with
skills, crew starts and ends, release times, deadlines, shift_work, non-metric matrices and
unassigned orders), for the leads and trails it chooses and for random ones that meet the
proof's conditions; never below the bound with each order's least leg in as its lead, and
above it where there is travel; exact where it can be worked out by hand, below the solver's
cost on generated storms, and refused for instances it is not about."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dispatch.instances import storm_instance
from grid_model.region import Region
from routing.bound import (
    bound_with,
    lead_trail,
    lead_trail_violation,
    lower_bound,
    most_leads,
    plain_lead_trail,
)
from routing.evaluate import evaluate
from routing.io import problem_from_dict, problem_to_dict, read_vrptw
from routing.problem import Problem, ProblemError, TravelKind
from routing.solver import MaxIterations, solve
from tests.routing.naive import brute_force_with_unassigned

SOLOMON = Path(__file__).parents[1] / "data" / "solomon"
SKILL_SETS = (["lv"], ["mv"], ["lv", "mv"], ["cable", "lv"])


def _tiny(seed: int) -> Problem:
    """2-3 crews, 4-6 orders; every feature of the objective drawn at random."""
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 4)), int(rng.integers(4, 7))
    spot = seed % 3 == 0  # everyone at one place: travel 0, capacity is all that binds
    def xy() -> float:
        return 0.0 if spot else float(rng.uniform(0, 6000))
    crews = [{"id": f"C{i}", "x": xy(), "y": xy(), "start": int(rng.integers(-600, 1800)),
              "end": int(rng.integers(1800, 14000)), "skills": SKILL_SETS[int(rng.integers(0, 4))]}
             for i in range(k)]
    known = sorted({s for c in crews for s in c["skills"]})
    orders = []
    for j in range(n):
        rep = -int(rng.integers(0, 7200))
        orders.append({"id": f"W{j}", "x": xy(), "y": xy(), "reported": rep,
                       "deadline": rep + int(rng.integers(0, 10000)),
                       "service": int(rng.choice([0, int(rng.integers(60, 5000))])),
                       "skill": known[int(rng.integers(0, len(known)))],
                       "customers": int(rng.integers(0, 300)), "priority": int(rng.choice([1, 1, 10])),
                       "earliest": int(rng.choice([0, 0, int(rng.integers(0, 5000))]))})
    inst: dict[str, Any] = {
        "name": f"tiny{seed}", "horizon": int(rng.integers(3000, 12000)),
        "lateness_weight": int(rng.choice([0, 100, 300])),
        "travel": {"kind": "euclidean", "speed_kmh": float(rng.uniform(10, 60)), "detour": 1.3},
        "crews": crews, "orders": orders}
    if rng.random() < 0.3:
        inst["shift_work"] = int(rng.integers(0, 3600))
    if not spot and rng.random() < 0.3:  # asymmetric, no triangle inequality
        m = rng.integers(0, 3000, size=(k + n, k + n))
        np.fill_diagonal(m, 0)
        inst["travel"] = {"kind": "matrix", "seconds": m.tolist()}
    return problem_from_dict(inst)


def test_bound_never_exceeds_the_brute_force_optimum() -> None:
    ratios = []
    rng = np.random.default_rng(0)
    for seed in range(200):
        p = _tiny(seed)
        optimum, plan = brute_force_with_unassigned(p)
        assert evaluate(p, plan).cost == optimum  # the reference agrees with the evaluator
        bound = lower_bound(p)
        assert 0 <= bound <= optimum, f"seed {seed}: bound {bound} > optimum {optimum}"
        ratios.append(bound / optimum)
        # the proof holds for any leads and trails that meet its conditions, not only the chosen
        for trail in (-(rng.random(p.n_orders) * (p.service_s + 1)).astype(np.int64), -p.service_s):
            assert bound_with(p, most_leads(p, trail), trail) <= optimum, f"seed {seed}: {trail}"
    assert np.mean(ratios) > 0.9  # and it is not trivially loose (0.94 when written)


def test_bound_is_never_below_the_nearest_leg_bound_and_above_it_with_travel() -> None:
    higher = 0
    for seed in range(60):
        p = _tiny(seed)
        plain = bound_with(p, *plain_lead_trail(p))
        bound = lower_bound(p)
        assert bound >= plain, f"seed {seed}"
        higher += seed % 3 != 0 and bound > plain  # seed % 3 == 0: all at one place, no travel
    assert higher >= 10  # 27 of the 40 with travel when written


def test_chosen_leads_and_trails_meet_every_condition(small_region: Region) -> None:
    storms = [problem_from_dict(storm_instance(small_region, n_orders=80, n_crews=6, seed=seed))
              for seed in (1, 2)]
    for p in [_tiny(seed) for seed in range(40)] + storms:
        lead, trail = lead_trail(p)
        assert lead_trail_violation(p, lead, trail) <= 0
        assert np.all(trail <= 0) and np.all(p.service_s + trail >= 0) and np.all(lead >= 0)
    lead, trail = lead_trail(storms[0])
    tau, _ = plain_lead_trail(storms[0])
    assert np.sum(lead + trail) != np.sum(tau)  # not the plain choice


def _two_orders() -> Problem:
    # points: crew C0, orders W0 and W1; legs C0->W0 100, C0->W1 300, W0->W1 50, W1->W0 80
    seconds = [[0, 100, 300], [100, 0, 50], [300, 80, 0]]
    return _one_crew([{"reported": 0, "deadline": 0, "service": 600, "customers": 1}] * 2,
                     seconds=seconds)


@pytest.mark.parametrize(("lead", "trail", "by"), [
    ([80, 50], [0, 0], 0),  # each order's least leg in, no trail: valid (with equality)
    ([80, 90], [-40, 0], 0),  # W0's trail cut by 40 s lets W1's lead grow by 40 s
    ([80, 50], [10, 0], 10),  # W0 -> W1: 50 + 10 > 50
    ([80, 91], [-40, 0], 1),  # W0 -> W1: 91 - 40 > 50
    ([120, 50], [0, -40], 20),  # the crew's start -> W0: 120 > 100 (W1 -> W0: 120 - 40 = 80, fine)
    ([80, 50], [-601, 0], 1),  # W0's trail longer than its service
    ([-1, 50], [0, 0], 1),  # a negative lead
])
def test_leads_and_trails_that_break_a_condition_are_refused(lead: list[int], trail: list[int],
                                                             by: int) -> None:
    p = _two_orders()
    assert lead_trail_violation(p, np.array(lead), np.array(trail)) == by
    if by > 0:
        with pytest.raises(ValueError, match=f"break a condition by {by} s"):
            bound_with(p, np.array(lead), np.array(trail))
    else:
        assert bound_with(p, np.array(lead), np.array(trail)) <= brute_force_with_unassigned(p)[0]


def test_leads_and_trails_the_kernels_sums_would_wrap_are_refused() -> None:
    """Found in review: a trail of 2**63 - 1 wrapped the checker's int64 sums to a pass, and the
    bound then came out far above the optimum."""
    p = _two_orders()
    for lead, trail in (([80, 50], [0, 2**63 - 1]), ([2**41, 50], [0, 0]), ([80, 50], [-(2**41), 0])):
        with pytest.raises(ValueError, match="within 1099511627776 s of 0"):
            bound_with(p, np.array(lead), np.array(trail))


def test_most_leads_are_the_leads_the_trails_allow() -> None:
    p = _two_orders()
    assert most_leads(p, np.array([0, 0])).tolist() == [80, 50]
    assert most_leads(p, np.array([-40, 0])).tolist() == [80, 90]
    assert most_leads(p, np.array([-600, -600])).tolist() == [100, 300]  # the crew's start caps
    for bad in ([1, 0], [-601, 0]):
        with pytest.raises(ValueError, match="between minus the service and 0"):
            most_leads(p, np.array(bad))


def test_bound_never_exceeds_the_optimum_over_short_rounded_legs() -> None:
    # Legs of a few seconds, each rounded, and services of at least 1 s: the euclidean case,
    # where the bound trusts the triangle inequality up to the rounding.
    for seed in range(100):
        p = _tiny(seed)
        if p.travel_kind != TravelKind.EUCLIDEAN:
            continue
        p = dataclasses.replace(p, x=p.x / 200, y=p.y / 200, service_s=np.maximum(1, p.service_s % 5))
        assert lower_bound(p) <= brute_force_with_unassigned(p)[0], f"seed {seed}"


def _one_crew(orders: list[dict[str, Any]], *, end: int = 20480, crews: int = 1,
              seconds: list[list[int]] | None = None) -> Problem:
    k = crews
    travel: dict[str, Any] = ({"kind": "matrix", "seconds": seconds} if seconds else
                              {"kind": "euclidean", "speed_kmh": 30.0})
    return problem_from_dict({
        "name": "hand", "horizon": 20480, "lateness_weight": 100, "travel": travel,
        "crews": [{"id": f"C{i}", "x": 0.0, "y": 0.0, "start": 0, "end": end, "skills": ["lv"]}
                  for i in range(k)],
        "orders": [{"id": f"W{j}", "x": 0.0, "y": 0.0, "skill": "lv", "priority": 1, **o}
                   for j, o in enumerate(orders)]})


@pytest.mark.parametrize(("order", "end", "leg"), [
    ({"reported": -600, "deadline": -100, "service": 900, "customers": 7}, 20480, 0),  # late already
    ({"reported": -600, "deadline": 5000, "service": 900, "customers": 7}, 20480, 1200),  # on time
    ({"reported": 0, "deadline": 100, "service": 900, "customers": 3, "earliest": 600}, 20480, 300),
    ({"reported": 0, "deadline": 100, "service": 900, "customers": 3}, 1000, 1200),  # cannot reach
])
def test_bound_is_the_optimum_for_one_order_and_one_crew(order: dict[str, Any], end: int,
                                                         leg: int) -> None:
    p = _one_crew([order], end=end, seconds=[[0, leg], [leg, 0]])
    optimum, _ = brute_force_with_unassigned(p)
    assert lower_bound(p) == optimum


def test_bound_is_the_optimum_for_identical_orders_at_the_crews_place() -> None:
    # Shortest-first on 1 or 2 crews; the mean busy time bound is exact for identical jobs.
    orders = [{"reported": 0, "deadline": 0, "service": 600, "customers": 1} for _ in range(4)]
    for crews in (1, 2):
        p = _one_crew(orders, crews=crews)
        optimum, _ = brute_force_with_unassigned(p)
        assert lower_bound(p) == optimum


def test_capacity_raises_the_bound_above_each_order_alone() -> None:
    orders = [{"reported": 0, "deadline": 0, "service": 600 * (j + 1), "customers": 1 + j}
              for j in range(5)]
    p = _one_crew(orders)
    each_alone = sum(o["customers"] * o["service"] for o in orders)  # all started at 0
    optimum, _ = brute_force_with_unassigned(p)
    assert each_alone < lower_bound(p) <= optimum


def test_many_skill_types_keep_the_bound_valid() -> None:
    # Seven order types: Hall's conditions are kept for each type and for all together only.
    crew_skills = (["s0", "s1", "s2", "s6"], ["s2", "s3", "s4"], ["s4", "s5", "s6", "s0"])
    for seed in range(10):
        rng = np.random.default_rng(seed)
        crews = [{"id": f"C{i}", "x": 0.0, "y": 0.0, "start": int(rng.integers(0, 900)), "end": 9000,
                  "skills": skills} for i, skills in enumerate(crew_skills)]
        orders = [{"id": f"W{j}", "x": 0.0, "y": 0.0, "reported": 0, "deadline": 0,
                   "service": int(rng.integers(300, 3000)), "skill": f"s{j}",
                   "customers": int(rng.integers(1, 50)), "priority": 1} for j in range(7)]
        p = problem_from_dict({"name": "skills", "horizon": 9000, "lateness_weight": 10,
                               "travel": {"kind": "euclidean", "speed_kmh": 30.0},
                               "crews": crews, "orders": orders})
        assert lower_bound(p) <= brute_force_with_unassigned(p)[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_bound_is_below_the_solvers_cost_on_a_generated_storm(small_region: Region, seed: int) -> None:
    p = problem_from_dict(storm_instance(small_region, n_orders=80, n_crews=6, seed=seed))
    cost = solve(p, MaxIterations(2000), seed=seed).cost
    assert 0.5 * cost < lower_bound(p) <= cost


def test_bound_refuses_instances_it_is_not_about() -> None:
    with pytest.raises(ProblemError, match="only for dispatch"):
        lower_bound(read_vrptw(SOLOMON / "C101.txt", "solomon"))
    p = _one_crew([{"reported": 0, "deadline": 0, "service": 60, "customers": 1}])
    with pytest.raises(ProblemError, match="lateness_weight must be >= 0"):
        lower_bound(problem_from_dict({**problem_to_dict(p), "lateness_weight": -1}))
