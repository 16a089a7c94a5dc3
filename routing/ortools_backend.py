"""The same ``Problem`` solved by OR-Tools routing, with the docs/formats.md objective modelled
exactly: the reference on small instances and a peer in benchmarks.

Completion cost ``customers * (a + service - reported)`` is a soft upper bound of 0 on the
time cumul (coefficient ``customers``) plus a constant; lateness ``lambda * priority *
max(0, a - deadline)`` is a soft upper bound on a twin time dimension held equal to the
first; an unassigned order is a disjunction whose penalty is its FORMATS cost less that
same constant. Skills restrict each order's vehicles.
"""

from __future__ import annotations

import time

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.evaluate import evaluate, travel_between
from routing.problem import Objective, Problem
from routing.solver import Plan, Result


def solve_ortools(problem: Problem, seconds: float, *, metaheuristic: str = "GUIDED_LOCAL_SEARCH"
                  ) -> Result:
    """Best plan OR-Tools finds within ``seconds``; an empty plan when it finds none."""
    p = problem
    k, n = p.n_crews, p.n_orders
    dummy = k + n
    ends = list(range(k)) if p.closed_routes else [dummy] * k
    manager = pywrapcp.RoutingIndexManager(k + n + 1, k, list(range(k)), ends)
    routing = pywrapcp.RoutingModel(manager)

    def node_travel(a: int, b: int) -> int:
        if a == dummy or b == dummy:
            return 0
        return travel_between(p, a, b)

    def transit(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        service = int(p.service_s[a - k]) if k <= a < k + n else 0
        return service + node_travel(a, b)

    t_cb = routing.RegisterTransitCallback(transit)
    horizon = int(max(p.horizon_s, int(p.crew_end_s.max()))) * 4 + 10**6
    routing.AddDimension(t_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    if p.objective == Objective.DISTANCE:
        d_cb = routing.RegisterTransitCallback(
            lambda i, j: node_travel(manager.IndexToNode(i), manager.IndexToNode(j)))
        routing.SetArcCostEvaluatorOfAllVehicles(d_cb)
    else:
        routing.AddDimension(t_cb, horizon, horizon, False, "late")
        late_dim = routing.GetDimensionOrDie("late")
    if p.demand.any() and p.crew_capacity.any():
        q_cb = routing.RegisterUnaryTransitCallback(
            lambda i: int(p.demand[manager.IndexToNode(i) - k]) if k <= manager.IndexToNode(i) < k + n else 0)
        routing.AddDimensionWithVehicleCapacity(q_cb, 0, [int(c) for c in p.crew_capacity], True, "load")
    for v in range(k):
        time_dim.CumulVar(routing.Start(v)).SetValue(int(p.crew_start_s[v]))
        if p.objective != Objective.DISTANCE:
            late_dim.CumulVar(routing.Start(v)).SetValue(int(p.crew_start_s[v]))
        if p.closed_routes:
            time_dim.CumulVar(routing.End(v)).SetMax(int(p.crew_end_s[v]))
    same_end = bool((p.crew_end_s == p.crew_end_s[0]).all())
    solver = routing.solver()
    for j in range(n):
        idx = manager.NodeToIndex(k + j)
        cumul = time_dim.CumulVar(idx)
        cumul.SetMin(int(p.earliest_s[j]))
        if p.hard_windows:
            cumul.SetMax(int(p.deadline_s[j]))
        work = min(int(p.service_s[j]), p.shift_work_s)
        if same_end:
            cumul.SetMax(min(cumul.Max(), int(p.crew_end_s[0]) - work))
        else:
            ends_by_vehicle = [horizon] + [int(e) - work for e in p.crew_end_s]
            solver.Add(cumul <= solver.Element(ends_by_vehicle, routing.VehicleVar(idx) + 1))
        allowed = [v for v in range(k) if p.crew_skills[v] & p.order_skill[j]]
        routing.VehicleVar(idx).SetValues([-1, *allowed])
        if p.objective == Objective.DISTANCE:
            routing.AddDisjunction([idx], 10**12)
            continue
        time_dim.SetCumulVarSoftUpperBound(idx, 0, int(p.customers[j]))
        solver.Add(late_dim.CumulVar(idx) == cumul)
        if p.lateness_weight * p.priority[j] > 0:
            late_dim.SetCumulVarSoftUpperBound(idx, int(p.deadline_s[j]),
                                               int(p.lateness_weight * p.priority[j]))
        penalty = int(p.customers[j]) * p.horizon_s + int(p.lateness_weight * p.priority[j]) * max(
            0, p.horizon_s - int(p.deadline_s[j]))
        routing.AddDisjunction([idx], max(0, penalty))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    t0 = time.perf_counter()
    sol = routing.SolveWithParameters(params)
    runtime = time.perf_counter() - t0
    routes: dict[str, list[str]] = {c: [] for c in p.crew_ids}
    if sol is not None:
        for v in range(k):
            idx = sol.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(idx):
                routes[p.crew_ids[v]].append(p.order_ids[manager.IndexToNode(idx) - k])
                idx = sol.Value(routing.NextVar(idx))
    ev = evaluate(p, routes)
    planned = {o for seq in routes.values() for o in seq}
    plan = Plan(routes, [o for o in p.order_ids if o not in planned], ev.cost)
    return Result(plan, ev.cost, [(runtime, ev.cost)] if sol is not None else [], 0, runtime, runtime,
                  f"or-tools {metaheuristic.lower().replace('_', ' ')}")
