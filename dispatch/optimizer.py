"""The optimizer policy: a live plan of every waiting order for every crew, improved as the
storm unfolds, restoring the most customers soonest within the promised arrival limits.

Each event takes the fast path: new orders are inserted at their cheapest place, orders that
leave are retired, crews that move are re-timed, and every idle crew is sent to the head of
its route. Every ``replan_interval_s`` of storm clock (sooner when an idle crew has nothing
while orders wait) the plan is rebuilt from the engine's state and improved by ruin and
recreate for a fixed number of iterations, so a replay is deterministic for its seed.

Restoration-aware weights: an order is weighted by every customer behind it, including
those also behind open orders further down. The plan's customer-minutes then bound the
restoration customer-minutes from above (a customer behind faults in series is back at the
later repair, which is at most the sum of both), so repairs high in the feeder that hold many
customers dark go first, and a downstream repair gains nothing from jumping ahead of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dispatch.orders import OrderStatus, WorkOrder
from routing.live import LivePlan, NewOrder
from routing.problem import Problem, TravelKind
from routing.solver import MaxIterations
from routing.travel import with_road_travel

if TYPE_CHECKING:
    from dispatch.engine import DispatchEngine

SKILLS = ("lv", "mv", "cable")


@dataclass(frozen=True, slots=True)
class OptimizerParams:
    """Re-planning cadence and effort, the objective's weights, and the diversion rule."""

    replan_interval_s: int = 15 * 60
    min_replan_gap_s: int = 2 * 60
    improve_iterations: int = 600
    lateness_weight: int = 100
    critical_priority: int = 10
    divert_min_gain: int = 20 * 3600
    divert_for_customers: int = 200
    divert_candidates: int = 3
    horizon_s: int = 24 * 3600
    seed: int = 0


@dataclass(slots=True)
class OptimizerStats:
    replans: int = 0
    replan_s: float = 0.0
    diversions: int = 0
    fast_path_s: list[float] = field(default_factory=list)


class RestorationOptimizer:
    """Dispatch policy backed by a ``LivePlan`` (see the module docstring)."""

    name = "optimizer"

    def __init__(self, params: OptimizerParams | None = None) -> None:
        self.params = params or OptimizerParams()
        self.horizon_s = self.params.horizon_s
        self.plan_version = 0
        self.plan: LivePlan | None = None
        self.stats = OptimizerStats()
        self._new: list[WorkOrder] = []
        self._changed: list[WorkOrder] = []
        self._crews: set[str] = set()
        self._idle: set[str] = set()
        self._last_replan: int | None = None
        self._starved = False

    # -- what the engine tells us ------------------------------------------------------
    def on_order(self, order: WorkOrder) -> None:
        self._new.append(order)

    def on_order_change(self, order: WorkOrder) -> None:
        self._changed.append(order)

    def on_crew_free(self, crew_id: str) -> None:
        self._idle.add(crew_id)
        self._crews.add(crew_id)

    def on_crew_change(self, crew_id: str) -> None:
        self._idle.discard(crew_id)
        self._crews.add(crew_id)

    def planned_finish(self, order_id: str) -> int | None:
        if self.plan is None or not self.plan.has_order(order_id):
            return None
        return self.plan.finish_s(order_id)

    # -- deciding ----------------------------------------------------------------------
    def decide(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]:
        t0 = time.perf_counter()
        if self._replan_due(t_s):
            self.replan(engine, t_s)
        elif self.plan is not None:
            out = self._apply(engine, t_s)
            out += self._send_idle(engine)
            self.stats.fast_path_s.append(time.perf_counter() - t0)
            return out
        return self._send_idle(engine)

    def _replan_due(self, t_s: int) -> bool:
        if self.plan is None:
            return bool(self._new)
        since = t_s - (self._last_replan or 0)
        if self._starved and since >= self.params.min_replan_gap_s:
            return True
        return since >= self.params.replan_interval_s and bool(self._new or self._changed or self._crews)

    def replan(self, engine: DispatchEngine, t_s: int) -> None:
        """Rebuild the plan from the engine's waiting and committed orders and every crew's
        availability, then improve it."""
        t0 = time.perf_counter()
        self._new.clear()
        self._changed.clear()
        self._crews.clear()
        self._starved = False
        self._last_replan = t_s
        self._idle = {c for c, s in engine.crews.items() if s.status == "idle"}
        problem, initial = self._snapshot(engine, t_s)
        self.plan = LivePlan(problem, travel=engine.travel, seed=self.params.seed, initial=initial)
        self.plan.search(MaxIterations(self.params.improve_iterations))
        self.plan_version += 1
        self.stats.replans += 1
        self.stats.replan_s += time.perf_counter() - t0

    def _snapshot(self, engine: DispatchEngine, t_s: int) -> tuple[Problem, dict[str, list[str]]]:
        crew_ids = list(engine.crews)
        avail = [engine.availability(c, t_s) for c in crew_ids]
        orders = [o for o in engine.open_orders()
                  if o.status in (OrderStatus.NEW, OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE)]
        p = self.params
        i64 = np.int64
        problem = Problem(
            name=f"storm@{t_s}", crew_ids=tuple(crew_ids), order_ids=tuple(o.order_id for o in orders),
            skill_names=SKILLS,
            x=np.array([a.x_m for a in avail] + [o.x_m for o in orders], dtype=np.float64),
            y=np.array([a.y_m for a in avail] + [o.y_m for o in orders], dtype=np.float64),
            crew_start_s=np.array([a.free_s for a in avail], dtype=i64),
            crew_end_s=np.array([max(a.end_s, a.free_s) for a in avail], dtype=i64),
            crew_skills=np.array([_skill_mask(engine.crews[c].crew.skills) for c in crew_ids], dtype=i64),
            crew_capacity=np.zeros(len(crew_ids), dtype=i64),
            reported_s=np.array([o.first_report_s for o in orders], dtype=i64),
            earliest_s=np.zeros(len(orders), dtype=i64),
            deadline_s=np.array([o.deadline_s for o in orders], dtype=i64),
            service_s=np.array([engine.repair_estimate(o) for o in orders], dtype=i64),
            customers=np.array([max(1, o.customers) for o in orders], dtype=i64),
            priority=np.array([p.critical_priority if o.critical else 1 for o in orders], dtype=i64),
            demand=np.zeros(len(orders), dtype=i64),
            order_skill=np.array([_skill_mask({o.skill}) for o in orders], dtype=i64),
            horizon_s=t_s + p.horizon_s, lateness_weight=p.lateness_weight,
            travel_kind=TravelKind.EUCLIDEAN,
            frozen=np.array([1 if a.committed else 0 for a in avail], dtype=i64),
        )
        initial = {c: [a.committed] for c, a in zip(crew_ids, avail, strict=True) if a.committed}
        return with_road_travel(problem, engine.travel), initial

    def _apply(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]:
        """Fast path: bring the live plan up to date with what changed since the last event."""
        plan = self.plan
        assert plan is not None
        for order in self._changed:
            if not plan.has_order(order.order_id):
                continue
            if order.status in (OrderStatus.MERGED, OrderStatus.CANCELLED):
                plan.retire(order.order_id)
            elif order.status == OrderStatus.EN_ROUTE:
                plan.commit(order.crew_id, order.order_id)
        self._changed.clear()
        for crew_id in sorted(self._crews):
            self._sync_crew(engine, crew_id, t_s)
        self._crews.clear()
        out: list[tuple[str, str]] = []
        if self._new:
            plan.advance(sorted(self._idle), t_s)
        for order in self._new:
            if order.status != OrderStatus.NEW:
                continue
            plan.add(NewOrder(order.order_id, order.x_m, order.y_m, order.first_report_s,
                              order.deadline_s, engine.repair_estimate(order), max(1, order.customers),
                              self.params.critical_priority if order.critical else 1, order.skill))
            if order.critical or order.customers >= self.params.divert_for_customers:
                out += self._maybe_divert(engine, order, t_s)
        self._new.clear()
        return out

    def _sync_crew(self, engine: DispatchEngine, crew_id: str, t_s: int) -> None:
        """Re-time a crew from its availability; a job it reached or dropped leaves the plan."""
        plan = self.plan
        assert plan is not None
        state = engine.crews[crew_id]
        for order_id in plan.committed(crew_id):
            if state.status != "en_route" or state.order_id != order_id:
                plan.retire(order_id)
        a = engine.availability(crew_id, t_s)
        plan.move_crew(crew_id, start_s=a.free_s, x=a.x_m, y=a.y_m, end_s=max(a.end_s, a.free_s))

    def _maybe_divert(self, engine: DispatchEngine, order: WorkOrder, t_s: int) -> list[tuple[str, str]]:
        """For a critical or large new order, divert the nearby en-route crew that saves the
        plan most, when the saving passes ``divert_min_gain``."""
        plan = self.plan
        assert plan is not None
        en_route = [c for c, s in engine.crews.items()
                    if s.status == "en_route" and order.skill in s.crew.skills and not s.going_off]
        if not en_route:
            return []
        here = np.array([engine.position(c, t_s) for c in en_route])
        dist = np.hypot(here[:, 0] - order.x_m, here[:, 1] - order.y_m)
        best_gain, best_crew = self.params.divert_min_gain - 1, ""
        for k in np.argsort(dist, kind="stable")[: self.params.divert_candidates]:
            crew_id = en_route[int(k)]
            x, y = here[int(k)]
            plan.move_crew(crew_id, start_s=t_s, x=float(x), y=float(y))
            gain = plan.divert_gain(crew_id, order.order_id)
            if gain > best_gain:
                best_gain, best_crew = gain, crew_id
        if not best_crew:
            return []
        plan.divert(best_crew, order.order_id)
        self.stats.diversions += 1
        return [(order.order_id, best_crew)]

    def _send_idle(self, engine: DispatchEngine) -> list[tuple[str, str]]:
        """Every idle crew sets off for the head of its route."""
        plan = self.plan
        if plan is None:
            return []
        out = []
        starved = False
        for crew_id in sorted(self._idle):
            head = plan.head(crew_id)
            if head is None:
                starved = True
                continue
            if engine.orders[head].status != OrderStatus.NEW:
                plan.retire(head)
                starved = True
                continue
            plan.commit(crew_id, head)
            out.append((head, crew_id))
        for _, crew_id in out:
            self._idle.discard(crew_id)
        self._starved = starved and plan.has_waiting()
        return out


def _skill_mask(skills: set[str] | frozenset[str]) -> int:
    return sum(1 << SKILLS.index(s) for s in skills)
