"""The optimizer policy: one live plan of every job (first responses and repairs) for every
crew, improved as the storm unfolds: first responses inside the promised arrival limits,
repairs restoring the most customers soonest, no crew past its duty limit.

Each event takes the fast path: new jobs are inserted at their cheapest place, jobs that end
are retired, jobs whose weights changed (an order absorbed others, or was reached) are
re-costed, crews that move are re-timed, and every idle crew is sent to the head of its route.
An idle crew with nothing planned pulls the queued or unplanned job it can start soonest ahead
of plan. Every ``replan_interval_s`` of storm clock (sooner after a dispatcher's override, or
when a job came back with no place in the plan) the plan is rebuilt from the engine's state
and improved by ruin and recreate for a fixed number of iterations, so a replay is
deterministic for its seed.

The objective is docs/formats.md's, with each crew's end at its duty limit and every job finished
by then. A job's weight: a repair weighs every customer behind its element (a tenth,
``blocked_weight_share``, when open work upstream holds them dark anyway), so repairs high
in the feeder go first; a first response weighs the same customers times
``first_response_weight_share``, since the repair waits for its diagnosis. The job that will
be an order's first arrival carries the arrival promise: past the earliest deadline of the
orders not yet reached that can still be reached in time, every second costs
``arrival_priority`` times the lateness weight for each of them, and ``late_priority`` times it
for each already late (a promise already broken weighs less than one that can still be kept);
``critical_priority`` times more with a critical customer among them. Precedence is by
construction: a repair job exists only once its device is identified.

Teams: a repair with many customers behind a long job (a feeder or recloser lockout) is
planned as ``team_size`` jobs at the same place, each a share of the work; the first carries
every customer, each further one what it saves. Whichever crew comes first leads, the others
join it on site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatch.crews import SKILLS
from dispatch.jobs import LIVE_JOB, Job, JobKind, JobStatus
from dispatch.roster import CrewStatus
from dispatch.view import DispatchView
from routing.live import LivePlan, NewOrder
from routing.problem import Problem, TravelKind
from routing.solver import MaxIterations
from routing.travel import with_road_travel

# Deadline of a job that carries no arrival promise: never late.
NO_DEADLINE_S = 2**40
# In the plan a first response needs a skill of its own, which every crew has.
RESPOND = "respond"
PLAN_SKILLS = (*SKILLS, RESPOND)


@dataclass(frozen=True, slots=True)
class OptimizerParams:
    """Re-planning cadence and effort, the objective's weights, and the diversion rule."""

    replan_interval_s: int = 30 * 60
    improve_iterations: int = 300
    lateness_weight: int = 10
    arrival_priority: int = 5
    late_priority: int = 1
    critical_priority: int = 10
    first_response_weight_share: float = 1.0
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
        self._new: list[Job] = []
        self._changed: dict[str, Job] = {}
        self._crews: set[str] = set()
        self._idle: set[str] = set()
        self._last_replan: int | None = None
        self._override = False
        self._plan_ids: dict[str, list[str]] = {}
        self._slots: dict[str, int] = {}
        self._live_ids: set[str] = set()
        self._nothing_to_pull: set[str] = set()
        self._idle_seen = -1

    # -- what the engine tells us ------------------------------------------------------
    def on_job(self, job: Job) -> None:
        self._new.append(job)

    def on_job_change(self, job: Job) -> None:
        self._changed[job.job_id] = job

    def on_crew_free(self, crew_id: str) -> None:
        self._idle.add(crew_id)
        self._crews.add(crew_id)
        self._idle_seen = -1

    def on_crew_change(self, crew_id: str) -> None:
        self._idle.discard(crew_id)
        self._crews.add(crew_id)

    def on_override(self) -> None:
        """A dispatcher moved crews by hand: re-plan from the engine's state at the next event."""
        self._override = True

    def planned_finish(self, job_id: str) -> int | None:
        """When the last share of the job ends in the plan (None if none is planned)."""
        if self.plan is None:
            return None
        ends = [self.plan.finish_s(i) for i in self._plan_ids.get(job_id, ()) if i in self._live_ids]
        planned = [e for e in ends if e is not None]
        return max(planned) if planned else None

    # -- jobs as the plan sees them ----------------------------------------------------
    def team_size(self, job: Job) -> int:
        """The crews the plan puts on the job (see ``_team_slots``)."""
        return self._slots.get(job.job_id, 1)

    def _team_slots(self, view: DispatchView, job: Job) -> int:
        """How many crews the job should get: ``team_size`` for a long repair behind many
        customers, else one."""
        big = job.kind == JobKind.REPAIR and view.customers_behind(job)[0] >= self.params.team_min_customers \
            and job.service_s >= self.params.team_min_repair_s
        slots = self.params.team_size if big else 1
        self._slots[job.job_id] = slots
        return slots

    def _plan_job(self, view: DispatchView, job: Job, place: int, plan_id: str, t_s: int) -> NewOrder:
        """One crew's share of a job (see the module docstring for its weights)."""
        p = self.params
        order = view.order_of(job)
        customers, blocked = view.customers_behind(job)
        weight = max(1, customers)
        if blocked:
            weight = max(1, round(weight * p.blocked_weight_share))
        if job.kind == JobKind.FIRST_RESPONSE:
            weight = max(1, round(weight * p.first_response_weight_share))
        if place:
            weight = -(-weight // (place * (place + 1)))
        deadline, priority = NO_DEADLINE_S, 0
        unreached = view.unreached(order) if place == 0 else None
        if unreached is not None:
            critical = p.critical_priority if unreached.critical else 1
            can_make = [d for d in unreached.deadlines_s if d >= t_s]
            late = unreached.count - len(can_make)
            deadline = min(can_make) if can_make else t_s
            priority = (p.arrival_priority * len(can_make) + p.late_priority * late) * critical
        service = view.share_s(job, self._team_slots(view, job))
        return NewOrder(plan_id, job.x_m, job.y_m, order.first_report_s, deadline, service, weight, priority,
                        job.skill or RESPOND)

    def _open_slots(self, view: DispatchView, job: Job, t_s: int) -> list[NewOrder]:
        """The plan's jobs for a job: one per crew it should still get."""
        slots = self._team_slots(view, job)
        return [self._plan_job(view, job, k, job.job_id if k == 0 else f"{job.job_id}+{k}", t_s)
                for k in range(len(job.team), slots)]

    def _committed_slot(self, view: DispatchView, job: Job, crew_id: str, t_s: int) -> NewOrder:
        place = job.team.index(crew_id)
        return self._plan_job(view, job, place, job.job_id if place == 0 else f"{job.job_id}+{crew_id}", t_s)

    # -- deciding ----------------------------------------------------------------------
    def decide(self, view: DispatchView, t_s: int) -> list[tuple[str, str]]:
        if self._replan_due(t_s):
            self.replan(view, t_s)
        elif self.plan is not None:
            diverted = self._apply(view, t_s)
            return diverted + self._send_idle(view, diverted)
        return self._send_idle(view, [])

    def _replan_due(self, t_s: int) -> bool:
        if self.plan is None:
            return bool(self._new)
        if self._override:
            return True
        since = t_s - (self._last_replan or 0)
        return since >= self.params.replan_interval_s and bool(self._new or self._changed or self._crews)

    def replan(self, view: DispatchView, t_s: int) -> None:
        """Rebuild the plan from the engine's live jobs and every crew's availability, then
        improve it."""
        self._new.clear()
        self._changed.clear()
        self._crews.clear()
        self._override = False
        self._nothing_to_pull.clear()
        self._last_replan = t_s
        self._idle = {c for c, s in view.crews.items() if s.status == CrewStatus.IDLE}
        previous = {c: self.plan.route(c) for c in self.plan.crew_ids} if self.plan is not None else {}
        problem, initial = self._snapshot(view, t_s, previous)
        self.plan = LivePlan(problem, travel=view.travel, seed=self.params.seed, initial=initial)
        self.plan.search(MaxIterations(self.params.improve_iterations))
        self.plan_version += 1
        self.stats.replans += 1

    def _snapshot(self, view: DispatchView, t_s: int, previous: dict[str, list[str]]
                  ) -> tuple[Problem, dict[str, list[str]]]:
        """The live jobs and crews as a problem, and the routes to start from: each crew's
        committed job, then what the previous plan had it do next (a warm start)."""
        crew_ids = list(view.crews)
        avail = [view.availability(c, t_s) for c in crew_ids]
        jobs: list[NewOrder] = []
        initial: dict[str, list[str]] = {}
        self._plan_ids = {}
        for c, a in zip(crew_ids, avail, strict=True):
            if a.committed:
                job = view.jobs[a.committed]
                new = self._committed_slot(view, job, c, t_s)
                jobs.append(new)
                initial[c] = [new.order_id]
                self._plan_ids.setdefault(job.job_id, []).append(new.order_id)
        for job in view.live_jobs():
            if job.status == JobStatus.NEW or len(job.team) < self._team_slots(view, job):
                for new in self._open_slots(view, job, t_s):
                    jobs.append(new)
                    self._plan_ids.setdefault(job.job_id, []).append(new.order_id)
        self._live_ids = {j.order_id for j in jobs}
        placed = {i for seq in initial.values() for i in seq}
        for c in crew_ids:
            rest = [i for i in previous.get(c, []) if i in self._live_ids and i not in placed]
            if rest:
                initial[c] = initial.get(c, []) + rest
                placed.update(rest)
        p = self.params
        i64 = np.int64
        problem = Problem(
            name=f"storm@{t_s}", crew_ids=tuple(crew_ids), order_ids=tuple(j.order_id for j in jobs),
            skill_names=PLAN_SKILLS,
            x=np.array([a.x_m for a in avail] + [j.x for j in jobs], dtype=np.float64),
            y=np.array([a.y_m for a in avail] + [j.y for j in jobs], dtype=np.float64),
            crew_start_s=np.array([a.free_s for a in avail], dtype=i64),
            crew_end_s=np.array([max(a.end_s, a.free_s) for a in avail], dtype=i64),
            crew_skills=np.array([_skill_mask((*view.crews[c].crew.skills, RESPOND)) for c in crew_ids],
                                 dtype=i64),
            crew_capacity=np.zeros(len(crew_ids), dtype=i64),
            reported_s=np.array([j.reported_s for j in jobs], dtype=i64),
            earliest_s=np.zeros(len(jobs), dtype=i64),
            deadline_s=np.array([j.deadline_s for j in jobs], dtype=i64),
            service_s=np.array([j.service_s for j in jobs], dtype=i64),
            customers=np.array([j.customers for j in jobs], dtype=i64),
            priority=np.array([j.priority for j in jobs], dtype=i64),
            demand=np.zeros(len(jobs), dtype=i64),
            order_skill=np.array([_skill_mask(j.skill) for j in jobs], dtype=i64),
            horizon_s=t_s + p.horizon_s, lateness_weight=p.lateness_weight,
            travel_kind=TravelKind.EUCLIDEAN,
            shift_work_s=max(view.crews[c].crew.duty.relay_s for c in crew_ids),
            frozen=np.array([1 if a.committed else 0 for a in avail], dtype=i64),
        )
        return with_road_travel(problem, view.travel), initial

    def _apply(self, view: DispatchView, t_s: int) -> list[tuple[str, str]]:
        """Fast path: bring the live plan up to date with what changed since the last event."""
        plan = self.plan
        assert plan is not None
        for crew_id in sorted(self._crews):
            self._sync_crew(view, crew_id, t_s)
        self._crews.clear()
        for job in self._changed.values():
            self._sync_job(view, job, t_s)
        self._changed.clear()
        out: list[tuple[str, str]] = []
        if self._new:
            plan.advance(sorted(self._idle), t_s)
            self._nothing_to_pull.clear()
        for job in self._new:
            if job.status != JobStatus.NEW or job.job_id in self._plan_ids:
                continue
            for new in self._open_slots(view, job, t_s):
                plan.add(new)
                self._plan_ids.setdefault(job.job_id, []).append(new.order_id)
                self._live_ids.add(new.order_id)
            order = view.order_of(job)
            if order.critical or order.customers >= self.params.divert_for_customers:
                out += self._maybe_divert(view, job, t_s, {c for _, c in out})
        self._new.clear()
        return out

    def _retire(self, plan_id: str) -> None:
        assert self.plan is not None
        if plan_id in self._live_ids:
            self.plan.retire(plan_id)
            self._live_ids.discard(plan_id)

    def _sync_job(self, view: DispatchView, job: Job, t_s: int) -> None:
        """A job changed: ended (its shares leave the plan), taken by a crew the plan did not
        send (committed now), given back with no share left in the plan (re-plan), or its
        weights moved (re-costed)."""
        plan = self.plan
        assert plan is not None
        ids = self._plan_ids.get(job.job_id, [])
        if job.status not in LIVE_JOB:
            for plan_id in self._plan_ids.pop(job.job_id, []):
                self._retire(plan_id)
            return
        live = [i for i in ids if i in self._live_ids]
        if job.status == JobStatus.NEW and not live:
            self._override = bool(ids) or self._override
            return
        committed = {i for c in job.team for i in plan.committed(c)}
        for crew_id in job.team:
            state = view.crews[crew_id]
            if state.status == CrewStatus.EN_ROUTE and state.job_id == job.job_id \
                    and not any(i in committed for i in plan.committed(crew_id)):
                free = [i for i in live if i not in committed]
                if free:
                    plan.commit(crew_id, free[0])
                    committed.add(free[0])
        for plan_id in live:
            if plan_id in committed:
                continue
            slot = plan_id.rpartition("+")[2]
            if plan_id != job.job_id and not slot.isdigit():
                continue
            new = self._plan_job(view, job, 0 if plan_id == job.job_id else int(slot), plan_id, t_s)
            plan.update(plan_id, deadline_s=new.deadline_s, priority=new.priority, customers=new.customers)

    def _sync_crew(self, view: DispatchView, crew_id: str, t_s: int) -> None:
        """Re-time a crew from its availability; a job it reached or dropped leaves the plan."""
        plan = self.plan
        assert plan is not None
        state = view.crews[crew_id]
        for plan_id in plan.committed(crew_id):
            if state.status != CrewStatus.EN_ROUTE or state.job_id != job_of(plan_id):
                self._retire(plan_id)
        a = view.availability(crew_id, t_s)
        plan.move_crew(crew_id, start_s=a.free_s, x=a.x_m, y=a.y_m, end_s=max(a.end_s, a.free_s))

    def _maybe_divert(self, view: DispatchView, job: Job, t_s: int,
                      taken: set[str]) -> list[tuple[str, str]]:
        """For a critical or large new job, divert the nearby en-route crew that saves the
        plan most, when the saving passes ``divert_min_gain`` (a crew diverted already in this
        decision is not diverted again)."""
        plan = self.plan
        assert plan is not None
        en_route = [c for c, s in view.crews.items()
                    if s.status == CrewStatus.EN_ROUTE and c not in taken
                    and (not job.skill or job.skill in s.crew.skills)
                    and view.jobs[s.job_id].team == [c] and view.jobs[s.job_id].job_id in self._plan_ids]
        if not en_route or job.job_id not in self._live_ids:
            return []
        here = np.array([view.position(c, t_s) for c in en_route])
        dist = np.hypot(here[:, 0] - job.x_m, here[:, 1] - job.y_m)
        best_gain, best_crew = self.params.divert_min_gain - 1, ""
        for k in np.argsort(dist, kind="stable")[: self.params.divert_candidates]:
            crew_id = en_route[int(k)]
            x, y = here[int(k)]
            plan.move_crew(crew_id, start_s=t_s, x=float(x), y=float(y))
            gain = plan.divert_gain(crew_id, job.job_id)
            if gain > best_gain:
                best_gain, best_crew = gain, crew_id
        if not best_crew:
            return []
        plan.divert(best_crew, job.job_id)
        self.stats.diversions += 1
        return [(job.job_id, best_crew)]

    def _send_idle(self, view: DispatchView, diverted: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Every idle crew sets off for the head of its route (looked at again only once the
        plan or the idle crews changed); ``diverted`` are this decision's diversions."""
        plan = self.plan
        if plan is None or plan.changes == self._idle_seen:
            return []
        out = []
        joining: dict[str, int] = {}
        for job_id, _ in diverted:
            joining[job_id] = joining.get(job_id, 0) + 1
        for crew_id in sorted(self._idle):
            head = plan.head(crew_id)
            if head is None and crew_id not in self._nothing_to_pull:
                head = plan.pull(crew_id)
            if head is None:
                self._nothing_to_pull.add(crew_id)
                continue
            job = view.jobs[job_of(head)]
            crews = len(job.team) + joining.get(job.job_id, 0)
            if crews and (crew_id in job.team or crews >= self._team_slots(view, job)):
                self._retire(head)
                continue
            plan.commit(crew_id, head)
            joining[job.job_id] = joining.get(job.job_id, 0) + 1
            out.append((job.job_id, crew_id))
        for _, crew_id in out:
            self._idle.discard(crew_id)
        self._idle_seen = plan.changes
        return out


def job_of(plan_id: str) -> str:
    """The job a plan entry belongs to (team shares are ``<job>+<slot>``)."""
    return plan_id.partition("+")[0]


def _skill_mask(skills: str | tuple[str, ...] | frozenset[str]) -> int:
    names = (skills,) if isinstance(skills, str) else skills
    return sum(1 << PLAN_SKILLS.index(s) for s in names)
