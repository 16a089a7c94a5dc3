"""The warm-up compiles what a real solve and a live plan use: after it, solving other instances
compiles no kernel again (a server warms up before it takes calls; a kernel compiled later would
stall a dispatcher's request for minutes on a fresh install)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numba
from numba.core.registry import CPUDispatcher

import routing
from routing.io import read_instance, read_vrptw
from routing.live import LivePlan, NewOrder
from routing.solver import DispatchSolver, MaxIterations, SolverParams
from routing.warm import warm_up

DATA = Path(__file__).parents[1] / "data"


def _kernels() -> dict[str, CPUDispatcher]:
    found = {}
    for info in pkgutil.iter_modules(routing.__path__):
        if info.name.startswith("_kernels"):
            module = importlib.import_module(f"routing.{info.name}")
            found.update({f"{info.name}.{name}": obj for name, obj in vars(module).items()
                          if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__})
    return found


def test_after_the_warm_up_other_instances_compile_nothing() -> None:
    warm_up()
    kernels = _kernels()
    before = {name: len(k.overloads) for name, k in kernels.items()}
    ran = ("_kernels_construct.construct_by_insertion", "_kernels_ruin.sisr_iterations",
           "_kernels_local.descend", "_kernels_tail.tails_exchange_descent", "_kernels_live.best_pull",
           "_kernels_bound.least_travel", "_kernels_ils.ils_iterations")
    assert all(before[name] >= 1 for name in ran)
    for p in (read_instance(DATA / "two_crews.instance.json"),
              read_vrptw(DATA / "solomon" / "C101.txt", "solomon")):
        DispatchSolver(p, seed=3).improve(MaxIterations(200))
    rc201 = read_vrptw(DATA / "solomon" / "RC201.txt", "solomon")
    DispatchSolver(rc201, seed=3, params=SolverParams(ils=True)).improve(MaxIterations(200))
    plan = LivePlan(read_instance(DATA / "two_crews.instance.json"), seed=3)
    plan.add(NewOrder("NEW", 1500.0, 800.0, 60, 3600, 1200, 12, 2, "lv"))
    plan.search(MaxIterations(200))
    grown = [name for name, k in kernels.items() if len(k.overloads) != before[name]]
    assert grown == [], f"compiled again after the warm-up: {grown} (numba {numba.__version__})"
