"""Crew state: where each crew is, what it is doing, and its hours of service.

off -> idle -> en route -> on site -> idle ...; a crew goes off at the end of its duty whatever
it is doing (a job it is on is handed back), and a duty period never runs past
``duty_end_s``: its start plus the crew's duty limit. Busy and duty seconds feed utilisation;
a crew reporting work past its duty limit is counted as a breach (it is what happened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dispatch.crews import Crew, CrewRole


class CrewStatus(StrEnum):
    OFF = "off"
    IDLE = "idle"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"


ON_A_JOB = (CrewStatus.EN_ROUTE, CrewStatus.ON_SITE)
SENDABLE = (CrewStatus.IDLE, CrewStatus.EN_ROUTE)


@dataclass(slots=True)
class CrewState:
    """One crew now. En route, (x_m, y_m) is where the leg began at ``leg_start_s``; it
    arrives at ``eta_s``. ``off_since_s`` is when its last duty period ended (None: never on)."""

    crew: Crew
    x_m: float
    y_m: float
    status: CrewStatus = CrewStatus.OFF
    job_id: str = ""
    duty_since_s: int = 0
    duty_end_s: int = 0
    off_since_s: int | None = None
    arrived_s: int = 0
    busy_s: int = 0
    duty_s: int = 0
    busy_since_s: int = 0
    leg_start_s: int = 0
    eta_s: int = 0
    breached: bool = False
    visits: list[str] = field(default_factory=list)

    @property
    def crew_id(self) -> str:
        return self.crew.crew_id

    @property
    def role(self) -> CrewRole:
        return self.crew.role

    def start_duty(self, t_s: int, shift_end_s: int) -> bool:
        """On duty from ``t_s`` until the shift's end, never past the duty limit; returns False
        when the rest since the last duty period was shorter than the crew's rest rule."""
        rested = self.off_since_s is None or t_s - self.off_since_s >= self.crew.duty.min_rest_s
        self.status = CrewStatus.IDLE
        self.x_m, self.y_m = self.crew.x_m, self.crew.y_m
        self.duty_since_s = t_s
        self.duty_end_s = min(shift_end_s, t_s + self.crew.duty.max_duty_s)
        self.breached = False
        return rested

    def end_duty(self, t_s: int) -> None:
        """Off duty now: book the duty time (and busy time of a job it leaves)."""
        if self.status in ON_A_JOB:
            self.busy_s += t_s - self.busy_since_s
        self.duty_s += t_s - self.duty_since_s
        self.status = CrewStatus.OFF
        self.job_id = ""
        self.off_since_s = t_s

    def set_off(self, job_id: str, t_s: int, travel_s: int) -> None:
        """Leave for ``job_id`` from where it is now (x_m, y_m)."""
        if self.status == CrewStatus.IDLE:
            self.busy_since_s = t_s
        self.status = CrewStatus.EN_ROUTE
        self.job_id = job_id
        self.leg_start_s = t_s
        self.eta_s = t_s + travel_s

    def arrive(self, t_s: int, x_m: float, y_m: float) -> None:
        self.status = CrewStatus.ON_SITE
        self.arrived_s = t_s
        self.x_m, self.y_m = x_m, y_m
        self.visits.append(self.job_id)

    def free(self, t_s: int) -> None:
        """The job ends for this crew (done, or called off): it is idle where it is."""
        self.busy_s += t_s - self.busy_since_s
        self.status = CrewStatus.IDLE
        self.job_id = ""

    def past_duty(self, t_s: int) -> bool:
        """Whether the crew is on duty beyond its duty limit at ``t_s``."""
        return self.status != CrewStatus.OFF and t_s > self.duty_end_s

    def close_books(self, t_s: int) -> None:
        """At the end of a run: count duty and busy time of a crew still on duty."""
        if self.status != CrewStatus.OFF:
            self.duty_s += t_s - self.duty_since_s
            if self.status in ON_A_JOB:
                self.busy_s += t_s - self.busy_since_s


@dataclass(frozen=True, slots=True)
class CrewAvailability:
    """When and where a crew is next free to start a job, until when it may work (its duty
    limit), and the job it is committed to (driving there) meanwhile; what a planner needs."""

    free_s: int
    end_s: int
    x_m: float
    y_m: float
    committed: str
