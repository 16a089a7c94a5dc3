"""Travel times and crew routing on plain arrays; knows nothing of grids or HTTP.

The public API (``__all__``)::

    import routing

    problem = routing.read_instance("storm.instance.json")       # docs/formats.md
    result = routing.solve(problem, routing.MaxRuntime(10.0), seed=1)
    print(result.cost, len(result.plan.unassigned), "unassigned")
    assert routing.evaluate(problem, result.plan.routes).cost == result.cost

Names load on first use, so ``import routing`` alone does not load the numba kernels
(``evaluate`` is bound at once: its module has the same name and would shadow it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from routing.evaluate import Evaluation, PlanError, evaluate, unassigned_reason, unassigned_reasons

if TYPE_CHECKING:
    from routing.bound import lower_bound
    from routing.io import (
        problem_from_dict,
        problem_to_dict,
        read_instance,
        read_vrptw,
        write_plan,
    )
    from routing.problem import Objective, Problem, ProblemError, TravelKind
    from routing.solver import (
        DispatchSolver,
        MaxIterations,
        MaxRuntime,
        NoImprovement,
        Plan,
        Result,
        SolverParams,
        StoppingCriterion,
        solve,
    )

_WHERE = {
    "Problem": "routing.problem", "ProblemError": "routing.problem", "Objective": "routing.problem",
    "TravelKind": "routing.problem",
    "solve": "routing.solver", "DispatchSolver": "routing.solver", "SolverParams": "routing.solver",
    "Result": "routing.solver", "Plan": "routing.solver", "StoppingCriterion": "routing.solver",
    "MaxRuntime": "routing.solver", "MaxIterations": "routing.solver",
    "NoImprovement": "routing.solver",
    "read_instance": "routing.io", "read_vrptw": "routing.io", "problem_from_dict": "routing.io",
    "problem_to_dict": "routing.io", "write_plan": "routing.io",
    "lower_bound": "routing.bound",
}

__all__ = [
    "DispatchSolver",
    "Evaluation",
    "MaxIterations",
    "MaxRuntime",
    "NoImprovement",
    "Objective",
    "Plan",
    "PlanError",
    "Problem",
    "ProblemError",
    "Result",
    "SolverParams",
    "StoppingCriterion",
    "TravelKind",
    "evaluate",
    "lower_bound",
    "problem_from_dict",
    "problem_to_dict",
    "read_instance",
    "read_vrptw",
    "solve",
    "unassigned_reason",
    "unassigned_reasons",
    "write_plan",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'routing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
