"""Dispatchers' rules, as peers for the solver: what a control room does without an optimizer."""

from __future__ import annotations

import time
from collections.abc import Callable

from routing import _kernels_construct as construct_k
from routing.arrays import KernelData, State, empty_state, kernel_data
from routing.problem import Problem
from routing.solver import Plan, Result, plan_of_state


def rule_of_thumb(problem: Problem) -> Result:
    """The crew that frees up first takes the job with the most customers per hour of work."""
    return _run(problem, lambda d, s: construct_k.construct_by_rule(d, s, 0.0), "rule of thumb")


def nearest_available(problem: Problem) -> Result:
    """Most urgent order first (earliest deadline), to the crew that can get there first."""
    return _run(problem, construct_k.construct_nearest_available, "nearest available")


def _run(problem: Problem, build: Callable[[KernelData, State], None], rule: str) -> Result:
    t0 = time.perf_counter()
    d = kernel_data(problem)
    s = empty_state(problem)
    build(d, s)
    plan: Plan = plan_of_state(problem, d, s)
    seconds = time.perf_counter() - t0
    return Result(plan, plan.cost, [(seconds, plan.cost)], 0, seconds, seconds, rule)
