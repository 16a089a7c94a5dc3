"""Every routing kernel compiled, or loaded from numba's disk cache, before its first real use.

On a fresh install numba compiles the kernels at their first call, which takes minutes: a server
does it before it takes calls (not inside a dispatcher's first request), and benchmarks report
it apart from run time.
"""

from __future__ import annotations

import dataclasses
import time

from routing.bound import lower_bound
from routing.heuristics import nearest_available, rule_of_thumb
from routing.io import problem_from_dict
from routing.live import LivePlan, NewOrder
from routing.problem import Objective, TravelKind
from routing.solver import DispatchSolver, MaxIterations, SolverParams

_TINY = {"name": "warm", "horizon": 9000, "travel": {"kind": "euclidean", "speed_kmh": 30.0},
         "crews": [{"id": f"C{k}", "x": 0.0, "y": 0.0, "start": 0, "end": 9000, "skills": ["lv"]}
                   for k in range(2)],
         "orders": [{"id": f"W{i}", "x": 100.0 * i, "y": 0.0, "reported": 0, "deadline": 900,
                     "service": 60, "skill": "lv", "customers": 1, "priority": 1} for i in range(4)]}


def warm_up() -> float:
    """Run each kernel once on a tiny instance: the solver's (dispatch and VRPTW objectives,
    annealing and iterated local search), the live plan's, the rules' and the lower bound's.
    Returns the seconds it took (compile, or load from the cache)."""
    t0 = time.perf_counter()
    p = problem_from_dict(_TINY)
    solver = DispatchSolver(p)
    solver.improve(MaxIterations(10))
    solver.remove(0)
    solver.insert(0)
    vrptw = dataclasses.replace(p, objective=Objective.DISTANCE, travel_kind=TravelKind.DIMACS,
                                closed_routes=True, hard_windows=True, lateness_weight=0)
    DispatchSolver(vrptw).improve(MaxIterations(10))
    DispatchSolver(vrptw, params=SolverParams(ils=True)).improve(MaxIterations(10))
    rule_of_thumb(p)
    nearest_available(p)
    lower_bound(p)
    plan = LivePlan(p)
    plan.add(NewOrder("W9", 50.0, 50.0, 0, 900, 60, 1, 1, "lv"))
    plan.search(MaxIterations(10))
    plan.advance(["C0"], 10)
    head = plan.head("C0")
    if head is not None:
        plan.commit("C0", head)
        plan.divert_gain("C0", "W9")
    plan.pull("C1")
    plan.move_crew("C1", start_s=20, x=10.0, y=10.0)
    plan.update("W9", deadline_s=1200, priority=1, customers=2)
    plan.retire("W9")
    return time.perf_counter() - t0
