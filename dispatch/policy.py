"""The dispatch policy protocol, and the baseline every other policy is measured against."""

from __future__ import annotations

import heapq
from typing import Protocol

import numpy as np

from dispatch.crews import CrewRole
from dispatch.jobs import Job, JobKind, JobStatus
from dispatch.roster import CrewStatus
from dispatch.view import DispatchView


class DispatchPolicy(Protocol):
    """Told of new jobs, jobs changed by others (taken, merged, cancelled, given back), freed
    crews and other crew changes, and a dispatcher overriding it; asked for (job_id, crew_id)
    assignments. Sending an en-route crew to another job diverts it. A policy that plans says
    when each job should be done and bumps ``plan_version`` when it re-plans (the engine then
    re-quotes every ETR); ``horizon_s`` is how far ahead a job left out of its plan is quoted."""

    name: str
    plan_version: int
    horizon_s: int

    def on_job(self, job: Job) -> None: ...

    def on_job_change(self, job: Job) -> None: ...

    def on_crew_free(self, crew_id: str) -> None: ...

    def on_crew_change(self, crew_id: str) -> None: ...

    def on_override(self) -> None: ...

    def decide(self, view: DispatchView, t_s: int) -> list[tuple[str, str]]: ...

    def planned_finish(self, job_id: str) -> int | None: ...

    def team_size(self, job: Job) -> int:
        """How many crews the policy means to put on the job (their shares of the work are
        what each must finish on duty)."""
        ...


Urgency = tuple[int, int, int]


class NearestAvailableCrew:
    """Baseline, a dispatcher's rule: a new first response goes to the nearest idle first
    responder, a repair to the nearest idle repair crew with the skill (when the roster has no
    crew of that role, any crew that can do it); the most urgent jobs first (critical customers,
    then the earliest arrival deadline); a freed crew takes the most urgent waiting job it can
    do. No crew is sent to a job it cannot finish inside its duty limit. Keep it unchanged: it
    is the yardstick."""

    name = "baseline"
    plan_version = 0
    horizon_s = 24 * 3600

    def __init__(self) -> None:
        self._new: list[Job] = []
        self._freed: list[str] = []
        self._backlog: dict[str, list[tuple[Urgency, int, Job]]] = {}
        self._seq = 0

    def on_job(self, job: Job) -> None:
        self._new.append(job)

    def on_crew_free(self, crew_id: str) -> None:
        self._freed.append(crew_id)

    def on_job_change(self, job: Job) -> None:
        """A job waiting again (its crew taken away or off duty) goes back in the backlog;
        others are checked for status when they come up."""
        if job.status == JobStatus.NEW:
            self._new.append(job)

    def on_override(self) -> None:
        """Nothing to re-plan: the next free crew takes the most urgent waiting job."""

    def on_crew_change(self, crew_id: str) -> None:
        """Nothing to do: only idle crews are ever sent."""

    def planned_finish(self, job_id: str) -> int | None:
        """No plan beyond the next job: the engine quotes assigned jobs itself."""
        return None

    def team_size(self, job: Job) -> int:
        """One crew a job."""
        return 1

    @staticmethod
    def _queue(job: Job) -> str:
        return "first_response" if job.kind == JobKind.FIRST_RESPONSE else job.skill

    def _candidates(self, view: DispatchView, job: Job, taken: set[str]) -> list[str]:
        """Idle crews of the job's role (any role when none of the roster has it) with the skill."""
        role = CrewRole.FIRST_RESPONDER if job.kind == JobKind.FIRST_RESPONSE else CrewRole.REPAIR
        idle = [s for c, s in view.crews.items() if s.status == CrewStatus.IDLE and c not in taken
                and (not job.skill or job.skill in s.crew.skills)]
        if job.kind == JobKind.REPAIR or view.has_responders:
            of_role = [s for s in idle if s.role == role]
            if of_role or any(s.role == role and (not job.skill or job.skill in s.crew.skills)
                              for s in view.crews.values()):
                idle = of_role
        return [s.crew_id for s in idle]

    def decide(self, view: DispatchView, t_s: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        taken: set[str] = set()
        seen: set[str] = set()
        for job in sorted(self._new, key=lambda j: view.order_of(j).urgency):
            if job.status != JobStatus.NEW or job.job_id in seen:
                continue
            seen.add(job.job_id)
            idle = self._candidates(view, job, taken)
            travel = view.travel_from_crews(idle, job) if idle else np.zeros(0)
            crew = ""
            for k in np.argsort(travel, kind="stable").tolist():
                if view.fits_duty(idle[k], job, t_s, float(travel[k])):
                    crew = idle[k]
                    break
            if crew:
                taken.add(crew)
                out.append((job.job_id, crew))
            else:
                self._seq += 1
                heapq.heappush(self._backlog.setdefault(self._queue(job), []),
                               (view.order_of(job).urgency, self._seq, job))
        self._new.clear()
        for crew_id in self._freed:
            state = view.crews[crew_id]
            if crew_id in taken or state.status != CrewStatus.IDLE:
                continue
            waiting = self._pop_most_urgent(view, crew_id, t_s)
            if waiting is not None:
                taken.add(crew_id)
                out.append((waiting.job_id, crew_id))
        self._freed.clear()
        return out

    def _queues_of(self, view: DispatchView, crew_id: str) -> list[str]:
        """The backlogs a freed crew takes from: its role's (and any it may cover for)."""
        state = view.crews[crew_id]
        repair = sorted(state.crew.skills)
        if state.role == CrewRole.FIRST_RESPONDER:
            has_repair_crews = any(s.role == CrewRole.REPAIR for s in view.crews.values())
            return ["first_response"] + ([] if has_repair_crews else repair)
        return repair + ([] if view.has_responders else ["first_response"])

    def _pop_most_urgent(self, view: DispatchView, crew_id: str, t_s: int) -> Job | None:
        """The most urgent waiting job the crew may take and can finish inside its duty."""
        best: tuple[Urgency, int, Job] | None = None
        best_queue = ""
        for queue in self._queues_of(view, crew_id):
            heap = self._backlog.get(queue, [])
            while heap and heap[0][2].status != JobStatus.NEW:
                heapq.heappop(heap)
            for entry in heapq.nsmallest(len(heap), heap):
                job = entry[2]
                if job.status != JobStatus.NEW:
                    continue
                travel = float(view.travel_from_crews([crew_id], job)[0])
                if view.fits_duty(crew_id, job, t_s, travel):
                    if best is None or entry[:2] < best[:2]:
                        best, best_queue = entry, queue
                    break
        if best is None:
            return None
        self._backlog[best_queue].remove(best)
        heapq.heapify(self._backlog[best_queue])
        return best[2]
