"""The optimizer policy: a live plan of every waiting order for every crew, improved as the
storm unfolds, restoring the most customers soonest within the promised arrival limits.

Each event takes the fast path: new orders are inserted at their cheapest place, orders that
leave are retired, crews that move are re-timed, and every idle crew is sent to the head of
its route. Every ``replan_interval_s`` of storm clock (sooner when an idle crew has nothing
while orders wait) the plan is rebuilt from the engine's state and improved by ruin and
recreate for a fixed number of iterations, so a replay is deterministic for its seed.

Teams: an order with many customers behind a long repair (a feeder or recloser lockout) is
planned as ``team_size`` jobs at the same place, each a share of the work; the first carries
every customer, each further one what it saves. Whichever crew comes first leads, the others
join it on site and share the work (a utility sends several crews to patrol and repair a
locked-out feeder). An idle crew with nothing planned pulls the queued job it can start
soonest ahead of plan.

Restoration-aware weights: an order is weighted by every customer behind it, including
those also behind open orders further down. The plan's customer-minutes then bound the
restoration customer-minutes from above (a customer behind faults in series is back at the
later repair, which is at most the sum of both), so repairs high in the feeder that hold many
customers dark go first. An order below another open order weighs ``blocked_weight_share``
of its customers: they come back only when the order above is repaired too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dispatch.orders import OPEN, OrderStatus, WorkOrder
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

    replan_interval_s: int = 30 * 60
    min_replan_gap_s: int = 10 * 60
    improve_iterations: int = 300
    lateness_weight: int = 10
    critical_priority: int = 10
    divert_min_gain: int = 20 * 3600
    divert_for_customers: int = 200
    divert_candidates: int = 3
    team_min_customers: int = 300
    team_min_repair_s: int = 3 * 3600
    team_size: int = 3
    blocked_weight_share: float = 0.1
    horizon_s: int = 24 * 3600
    seed: int = 0


@dataclass(slots=True)
class OptimizerStats:
    replans: int = 0
    diversions: int = 0


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
        self._override = False
        self._jobs_of: dict[str, list[str]] = {}
        self._nothing_to_pull: set[str] = set()

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

    def on_override(self) -> None:
        """A dispatcher moved crews by hand: re-plan from the engine's state at the next event."""
        self._override = True

    def planned_finish(self, order_id: str) -> int | None:
        """When the last job of the order ends in the plan (None if none is planned)."""
        if self.plan is None:
            return None
        ends = [self.plan.finish_s(j) for j in self._jobs_of.get(order_id, ())]
        planned = [e for e in ends if e is not None]
        return max(planned) if planned else None

    def _team_slots(self, engine: DispatchEngine, order: WorkOrder) -> int:
        """How many crews the order should get: ``team_size`` for a long repair behind many
        customers, else one."""
        big = order.customers >= self.params.team_min_customers and \
            engine.repair_estimate(order) >= self.params.team_min_repair_s
        return self.params.team_size if big else 1

    def _job(self, engine: DispatchEngine, order: WorkOrder, job_id: str, place: int) -> NewOrder:
        """One crew's share of an order: the work is shared by the team it should get; the
        lead carries every customer, the k-th helper what it saves (1/(k(k+1)) of them:
        a second crew halves the time left, a third cuts a third of that), so leads of
        other outages go before helpers."""
        slots = self._team_slots(engine, order)
        weight = max(1, order.customers)
        if engine.open_order_above(order) is not None:
            weight = max(1, round(weight * self.params.blocked_weight_share))
        if place:
            weight = -(-weight // (place * (place + 1)))
        p = self.params
        return NewOrder(job_id, order.x_m, order.y_m, order.first_report_s, order.deadline_s,
                        engine.repair_estimate(order) // slots, weight,
                        p.critical_priority if order.critical else 1, order.skill)

    def _jobs(self, engine: DispatchEngine, order: WorkOrder) -> list[NewOrder]:
        """The plan's jobs for an order: one per crew it should still get."""
        have = len(order.team)
        slots = self._team_slots(engine, order)
        return [self._job(engine, order, order.order_id if k == 0 else f"{order.order_id}+{k}", k)
                for k in range(have, slots)]

    def _committed_job(self, engine: DispatchEngine, order: WorkOrder, crew_id: str) -> NewOrder:
        place = order.team.index(crew_id)
        return self._job(engine, order, order.order_id if place == 0 else f"{order.order_id}+{crew_id}",
                         place)

    # -- deciding ----------------------------------------------------------------------
    def decide(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]:
        if self._replan_due(t_s):
            self.replan(engine, t_s)
        elif self.plan is not None:
            return self._apply(engine, t_s) + self._send_idle(engine)
        return self._send_idle(engine)

    def _replan_due(self, t_s: int) -> bool:
        if self.plan is None:
            return bool(self._new)
        if self._override:
            return True
        since = t_s - (self._last_replan or 0)
        if self._starved and since >= self.params.min_replan_gap_s:
            return True
        return since >= self.params.replan_interval_s and bool(self._new or self._changed or self._crews)

    def replan(self, engine: DispatchEngine, t_s: int) -> None:
        """Rebuild the plan from the engine's waiting and committed orders and every crew's
        availability, then improve it."""
        self._new.clear()
        self._changed.clear()
        self._crews.clear()
        self._starved = False
        self._override = False
        self._nothing_to_pull.clear()
        self._last_replan = t_s
        self._idle = {c for c, s in engine.crews.items() if s.status == "idle"}
        problem, initial = self._snapshot(engine, t_s)
        self.plan = LivePlan(problem, travel=engine.travel, seed=self.params.seed, initial=initial)
        self.plan.search(MaxIterations(self.params.improve_iterations))
        self.plan_version += 1
        self.stats.replans += 1

    def _snapshot(self, engine: DispatchEngine, t_s: int) -> tuple[Problem, dict[str, list[str]]]:
        crew_ids = list(engine.crews)
        avail = [engine.availability(c, t_s) for c in crew_ids]
        jobs: list[NewOrder] = []
        initial: dict[str, list[str]] = {}
        for c, a in zip(crew_ids, avail, strict=True):
            if a.committed:
                job = self._committed_job(engine, engine.orders[a.committed], c)
                jobs.append(job)
                initial[c] = [job.order_id]
        for o in engine.open_orders():
            jobs += self._jobs(engine, o)
        self._jobs_of = {}
        for job in jobs:
            self._jobs_of.setdefault(job_order(job.order_id), []).append(job.order_id)
        p = self.params
        i64 = np.int64
        problem = Problem(
            name=f"storm@{t_s}", crew_ids=tuple(crew_ids), order_ids=tuple(j.order_id for j in jobs),
            skill_names=SKILLS,
            x=np.array([a.x_m for a in avail] + [j.x for j in jobs], dtype=np.float64),
            y=np.array([a.y_m for a in avail] + [j.y for j in jobs], dtype=np.float64),
            crew_start_s=np.array([a.free_s for a in avail], dtype=i64),
            crew_end_s=np.array([max(a.end_s, a.free_s) for a in avail], dtype=i64),
            crew_skills=np.array([_skill_mask(engine.crews[c].crew.skills) for c in crew_ids], dtype=i64),
            crew_capacity=np.zeros(len(crew_ids), dtype=i64),
            reported_s=np.array([j.reported_s for j in jobs], dtype=i64),
            earliest_s=np.zeros(len(jobs), dtype=i64),
            deadline_s=np.array([j.deadline_s for j in jobs], dtype=i64),
            service_s=np.array([j.service_s for j in jobs], dtype=i64),
            customers=np.array([j.customers for j in jobs], dtype=i64),
            priority=np.array([j.priority for j in jobs], dtype=i64),
            demand=np.zeros(len(jobs), dtype=i64),
            order_skill=np.array([_skill_mask({j.skill}) for j in jobs], dtype=i64),
            horizon_s=t_s + p.horizon_s, lateness_weight=p.lateness_weight,
            travel_kind=TravelKind.EUCLIDEAN,
            frozen=np.array([1 if a.committed else 0 for a in avail], dtype=i64),
        )
        return with_road_travel(problem, engine.travel), initial

    def _apply(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]:
        """Fast path: bring the live plan up to date with what changed since the last event."""
        plan = self.plan
        assert plan is not None
        for order in self._changed:
            if order.status == OrderStatus.EN_ROUTE and plan.has_order(order.order_id):
                plan.commit(order.crew_id, order.order_id)
            elif order.status not in OPEN:
                for job in self._jobs_of.pop(order.order_id, ()):
                    plan.retire(job)
        self._changed.clear()
        for crew_id in sorted(self._crews):
            self._sync_crew(engine, crew_id, t_s)
        self._crews.clear()
        out: list[tuple[str, str]] = []
        if self._new:
            plan.advance(sorted(self._idle), t_s)
            self._nothing_to_pull.clear()
        for order in self._new:
            if order.status != OrderStatus.NEW:
                continue
            for new_job in self._jobs(engine, order):
                plan.add(new_job)
                self._jobs_of.setdefault(order.order_id, []).append(new_job.order_id)
            if order.critical or order.customers >= self.params.divert_for_customers:
                out += self._maybe_divert(engine, order, t_s)
        self._new.clear()
        return out

    def _sync_crew(self, engine: DispatchEngine, crew_id: str, t_s: int) -> None:
        """Re-time a crew from its availability; a job it reached or dropped leaves the plan."""
        plan = self.plan
        assert plan is not None
        state = engine.crews[crew_id]
        for job in plan.committed(crew_id):
            if state.status != "en_route" or state.order_id != job_order(job):
                plan.retire(job)
        a = engine.availability(crew_id, t_s)
        plan.move_crew(crew_id, start_s=a.free_s, x=a.x_m, y=a.y_m, end_s=max(a.end_s, a.free_s))

    def _maybe_divert(self, engine: DispatchEngine, order: WorkOrder, t_s: int) -> list[tuple[str, str]]:
        """For a critical or large new order, divert the nearby en-route crew that saves the
        plan most, when the saving passes ``divert_min_gain``."""
        plan = self.plan
        assert plan is not None
        en_route = [c for c, s in engine.crews.items()
                    if s.status == "en_route" and order.skill in s.crew.skills and not s.going_off
                    and engine.orders[s.order_id].team == [c]]
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
            if head is None and crew_id not in self._nothing_to_pull:
                head = plan.pull(crew_id)
            if head is None:
                self._nothing_to_pull.add(crew_id)
                starved = starved or plan.has_unplanned(crew_id)
                continue
            order = engine.orders[job_order(head)]
            joinable = order.status in (OrderStatus.EN_ROUTE, OrderStatus.ON_SITE) and \
                crew_id not in order.team and len(order.team) < self._team_slots(engine, order)
            if order.status != OrderStatus.NEW and not joinable:
                plan.retire(head)
                starved = starved or plan.has_unplanned(crew_id)
                continue
            plan.commit(crew_id, head)
            out.append((order.order_id, crew_id))
        for _, crew_id in out:
            self._idle.discard(crew_id)
        self._starved = starved
        return out


def job_order(job_id: str) -> str:
    """The work order a plan job belongs to (team jobs are ``<order>+<slot>``)."""
    return job_id.partition("+")[0]


def _skill_mask(skills: set[str] | frozenset[str]) -> int:
    return sum(1 << SKILLS.index(s) for s in skills)
