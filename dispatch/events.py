"""Events the engine consumes and decisions it emits. Times are seconds on the storm clock."""

from __future__ import annotations

from dataclasses import dataclass

from grid_model.storm import Call
from grid_model.stormfile import PlannedOutageEvent

# A planned outage reaches the engine as the storm file records it.
PlannedOutageAnnounced = PlannedOutageEvent


@dataclass(frozen=True, slots=True)
class CallReceived:
    t_s: int
    call: Call


@dataclass(frozen=True, slots=True)
class ShiftStarted:
    t_s: int
    crew_id: str


@dataclass(frozen=True, slots=True)
class ShiftEnded:
    t_s: int
    crew_id: str


@dataclass(frozen=True, slots=True)
class CrewArrived:
    t_s: int
    crew_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class RepairFinished:
    """A crew finished; ``restored_nodes`` are the elements it repaired and re-energised."""

    t_s: int
    crew_id: str
    order_id: str
    restored_nodes: tuple[int, ...]


Event = CallReceived | PlannedOutageAnnounced | ShiftStarted | ShiftEnded | CrewArrived | RepairFinished


@dataclass(frozen=True, slots=True)
class Assign:
    t_s: int
    order_id: str
    crew_id: str
    travel_s: int


@dataclass(frozen=True, slots=True)
class Recall:
    """An en-route crew's job was cancelled (restored by another repair); it is free again."""

    t_s: int
    order_id: str
    crew_id: str


@dataclass(frozen=True, slots=True)
class Handover:
    """An en-route crew's order merged into ``order_id``; the crew keeps driving to its site."""

    t_s: int
    from_order_id: str
    order_id: str
    crew_id: str


@dataclass(frozen=True, slots=True)
class CallUnlocated:
    t_s: int
    call_id: str
    reason: str


Decision = Assign | Handover | Recall | CallUnlocated
