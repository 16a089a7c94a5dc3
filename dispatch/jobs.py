"""Jobs: what crews are sent to do for a work order. Every incident first gets a first
response (go, make safe, find the device, fix it on the spot if it is small); what the
responder cannot fix becomes repair jobs with the skill and duration the diagnosis gives. A
device reported by SCADA is identified already: its repair job is made at once.

new -> en route -> on site -> done; a job not yet done may be cancelled, and a crew on its way
(or one that leaves at the end of its duty) gives the job back: it is new again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    REPAIR = "repair"
    SWITCHING = "switching"  # operate a manual switch or tie of the order's switching plan


class JobStatus(StrEnum):
    NEW = "new"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    DONE = "done"
    CANCELLED = "cancelled"


# Jobs a crew may still be sent to; live jobs also count those being worked.
WAITING_JOB = (JobStatus.NEW, JobStatus.EN_ROUTE)
LIVE_JOB = (JobStatus.NEW, JobStatus.EN_ROUTE, JobStatus.ON_SITE)

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.NEW: frozenset({JobStatus.EN_ROUTE, JobStatus.CANCELLED}),
    JobStatus.EN_ROUTE: frozenset({JobStatus.ON_SITE, JobStatus.NEW, JobStatus.CANCELLED}),
    JobStatus.ON_SITE: frozenset({JobStatus.DONE, JobStatus.EN_ROUTE, JobStatus.NEW, JobStatus.CANCELLED}),
    JobStatus.DONE: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class JobTransitionError(ValueError):
    """A job step not allowed from the job's current status."""


@dataclass(slots=True)
class Job:
    """One crew task at one place. ``skill`` is what the work needs ("" for a first response:
    any crew may do it); ``service_s`` the expected crew-seconds on site, of which crews that
    left before the end did ``worked_s``; ``crew_id`` leads it and ``helpers`` joined a large
    repair. ``arrived_s`` is the first crew's arrival."""

    job_id: str
    kind: JobKind
    order_id: str
    node_idx: int
    element_id: str
    x_m: float
    y_m: float
    skill: str
    limit_class: str
    service_s: int
    created_s: int
    status: JobStatus = JobStatus.NEW
    crew_id: str = ""
    helpers: list[str] = field(default_factory=list)
    arrived_s: int | None = None
    done_s: int | None = None
    worked_s: int = 0
    history: list[tuple[int, JobStatus]] = field(default_factory=list)

    def move(self, to: JobStatus, t_s: int) -> None:
        """Step the lifecycle; raises ``JobTransitionError`` for a step it does not allow."""
        if to not in ALLOWED[self.status]:
            raise JobTransitionError(f"job {self.job_id}: cannot go from {self.status.value} to {to.value}")
        self.status = to
        self.history.append((t_s, to))
        if to == JobStatus.ON_SITE and self.arrived_s is None:
            self.arrived_s = t_s
        elif to == JobStatus.DONE:
            self.done_s = t_s

    @property
    def team(self) -> list[str]:
        return [self.crew_id, *self.helpers] if self.crew_id else list(self.helpers)
