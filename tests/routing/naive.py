"""Slow, obviously correct reference code the kernels are tested against."""

from __future__ import annotations

import itertools

from routing.evaluate import PlanError, evaluate, travel_between, unassigned_cost
from routing.problem import Problem


def brute_force_optimum(p: Problem) -> tuple[int, dict[str, list[str]]]:
    """Cheapest plan serving every order, by trying every order sequence and crew split."""
    assert p.n_crews == 2, "the reference enumerates two crews"
    best: tuple[int, dict[str, list[str]]] = (2**62, {})
    for perm in itertools.permutations(p.order_ids):
        for cut in range(len(perm) + 1):
            routes = {p.crew_ids[0]: list(perm[:cut]), p.crew_ids[1]: list(perm[cut:])}
            try:
                cost = evaluate(p, routes).cost
            except PlanError:
                continue
            if cost < best[0]:
                best = (cost, routes)
    return best


def brute_force_with_unassigned(p: Problem) -> tuple[int, dict[str, list[str]]]:
    """Cheapest plan of any kind (orders may stay unassigned), for a handful of orders: every
    route of every crew by depth-first search, then every split of the orders among crews."""
    best_route = [_cheapest_routes(p, c) for c in range(p.n_crews)]
    n = p.n_orders
    left = sum(unassigned_cost(p, j) for j in range(n))
    # table[mask]: least cost of serving exactly ``mask`` with the crews seen so far.
    table: dict[int, tuple[int, list[list[int]]]] = {0: (0, [])}
    for routes in best_route:
        grown: dict[int, tuple[int, list[list[int]]]] = {}
        for mask, (cost, plan) in table.items():
            for sub, (rc, seq) in routes.items():
                if mask & sub:
                    continue
                cand = (cost + rc, [*plan, seq])
                if (mask | sub) not in grown or cand[0] < grown[mask | sub][0]:
                    grown[mask | sub] = cand
        table = grown
    best = (2**62, {})
    for mask, (cost, plan) in table.items():
        total = cost + left - sum(unassigned_cost(p, j) for j in range(n) if mask >> j & 1)
        if total < best[0]:
            best = (total, {p.crew_ids[c]: [p.order_ids[j] for j in seq] for c, seq in enumerate(plan)})
    return best


def _cheapest_routes(p: Problem, c: int) -> dict[int, tuple[int, list[int]]]:
    """Crew ``c``'s cheapest feasible route for each set of orders (bit mask), its own cost."""
    out: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    k = p.n_crews

    def grow(seq: list[int], mask: int, t: int, pos: int, cost: int) -> None:
        for j in range(p.n_orders):
            if mask >> j & 1 or not p.crew_skills[c] & p.order_skill[j]:
                continue
            a = max(t + travel_between(p, pos, k + j), int(p.earliest_s[j]))
            owed = min(int(p.service_s[j]), p.shift_work_s) if p.shift_work_s > 0 else 0
            if a + owed > p.crew_end_s[c]:
                continue
            f = a + int(p.service_s[j])
            step = int(p.customers[j] * (f - p.reported_s[j])
                       + p.lateness_weight * p.priority[j] * max(0, a - int(p.deadline_s[j])))
            new = mask | 1 << j
            if new not in out or cost + step < out[new][0]:
                out[new] = (cost + step, [*seq, j])
            grow([*seq, j], new, f, k + j, cost + step)

    grow([], 0, int(p.crew_start_s[c]), c, 0)
    return out
