"""What a dispatch policy may read of the engine: a narrow, read-only view. Policies never
change the engine's state; they answer ``decide`` with (job, crew) pairs the engine carries out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dispatch.jobs import Job
from dispatch.orders import WorkOrder
from dispatch.roster import CrewAvailability, CrewState
from routing.travel import RoadTravel


@dataclass(frozen=True, slots=True)
class Unreached:
    """The orders of an incident still waiting for their first crew: their deadlines, and
    whether any serves a critical customer."""

    deadlines_s: tuple[int, ...]
    critical: bool

    @property
    def count(self) -> int:
        return len(self.deadlines_s)


class DispatchView(Protocol):
    """The engine as a policy sees it."""

    @property
    def orders(self) -> Mapping[str, WorkOrder]: ...

    @property
    def jobs(self) -> Mapping[str, Job]: ...

    @property
    def crews(self) -> Mapping[str, CrewState]: ...

    @property
    def has_responders(self) -> bool: ...

    @property
    def travel(self) -> RoadTravel:
        """Road travel times, for a policy that plans."""
        ...

    def live_jobs(self) -> list[Job]:
        """Jobs waiting for a crew, on a crew's way or being worked."""
        ...

    def order_of(self, job: Job) -> WorkOrder: ...

    def unreached(self, order: WorkOrder) -> Unreached | None:
        """The order's incident's orders not yet reached, or None when all are."""
        ...

    def customers_behind(self, job: Job) -> tuple[int, bool]:
        """Customers behind the job's element, and whether other open work upstream holds
        them dark anyway."""
        ...

    def open_order_above(self, order: WorkOrder) -> WorkOrder | None:
        """The nearest open order upstream of ``order`` (its customers wait for it too)."""
        ...

    def availability(self, crew_id: str, t_s: int) -> CrewAvailability: ...

    def travel_from_crews(self, crew_ids: list[str], job: Job) -> np.ndarray:
        """Seconds from each crew's position to the job's site."""
        ...

    def position(self, crew_id: str, t_s: int) -> tuple[float, float]: ...

    def fits_duty(self, crew_id: str, job: Job, t_s: int, travel_s: float) -> bool:
        """Whether the crew, leaving now, can do its share of the job inside its duty limit."""
        ...

    def share_s(self, job: Job, crews: int) -> int:
        """A crew's share of the job's work when ``crews`` work it together."""
        ...
