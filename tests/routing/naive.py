"""Slow, obviously correct reference code the kernels are tested against."""

from __future__ import annotations

import itertools

from routing.evaluate import PlanError, evaluate
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
