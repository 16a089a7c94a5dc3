"""Events the engine consumes and decisions it emits. Times are seconds on the storm clock."""

from __future__ import annotations

from dataclasses import dataclass

from grid_model.storm import Call
from grid_model.stormfile import PlannedOutageEvent


class EventError(ValueError):
    """An event the engine cannot accept (out of order, unknown crew or order, impossible)."""


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


@dataclass(frozen=True, slots=True)
class CrewReleased:
    """A helping crew leaves a team job before it is done (not needed on site)."""

    t_s: int
    crew_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class FaultFound:
    """A crew on site reports the fault is at ``element_id``, upstream of its order's site."""

    t_s: int
    crew_id: str
    order_id: str
    element_id: str


@dataclass(frozen=True, slots=True)
class CallbackDone:
    """The call-taker has called the customers back after the repair; the order can close."""

    t_s: int
    order_id: str


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """A dispatcher cancels an order (duplicate, customer reports power back, hoax)."""

    t_s: int
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CrewPosition:
    """A crew's reported position (vehicle GPS), in the region's projected metres."""

    t_s: int
    crew_id: str
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class DeviceOperated:
    """A telemetered protective device (SCADA on a feeder breaker) reports it opened."""

    t_s: int
    device_id: str


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """A smart meter's message through its concentrator: ``last_gasp`` (supply lost) or
    ``restore`` (supply back)."""

    t_s: int
    meter_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class GeneratorConnected:
    """A generator truck has arrived and supplies its critical customer."""

    t_s: int
    truck_id: str


@dataclass(frozen=True, slots=True)
class DispatcherAssigned:
    """A dispatcher sends ``crew_id`` to ``order_id``, overriding the plan: a crew already on
    its way there is called back, and the crew's own trip, if any, waits again."""

    t_s: int
    order_id: str
    crew_id: str


@dataclass(frozen=True, slots=True)
class ClockTick:
    """Time passes with nothing else happening: alerts fall due, plans age."""

    t_s: int


Event = (CallReceived | PlannedOutageAnnounced | ShiftStarted | ShiftEnded | CrewArrived | RepairFinished
         | CrewReleased | FaultFound | CallbackDone | OrderCancelled | CrewPosition | DeviceOperated
         | AmiMessage | GeneratorConnected | DispatcherAssigned | ClockTick)


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
class Divert:
    """An en-route crew drops ``from_order_id`` (back to the queue) for ``order_id``."""

    t_s: int
    crew_id: str
    from_order_id: str
    order_id: str
    travel_s: int


@dataclass(frozen=True, slots=True)
class CallUnlocated:
    t_s: int
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class EtrUpdate:
    """An order's estimated restoration time (storm clock seconds) was set or moved."""

    t_s: int
    order_id: str
    etr_s: int


@dataclass(frozen=True, slots=True)
class Alert:
    """An order is about to break a promise: ``kind`` is ``arrival_limit`` or ``repair_limit``."""

    t_s: int
    order_id: str
    kind: str
    due_s: int


@dataclass(frozen=True, slots=True)
class SendGenerator:
    """A generator truck goes to the critical customer at ``node_idx`` behind ``order_id``."""

    t_s: int
    truck_id: str
    order_id: str
    node_idx: int
    travel_s: int


@dataclass(frozen=True, slots=True)
class GeneratorReleased:
    """The customer's supply is back (or never needed it): the truck is free again."""

    t_s: int
    truck_id: str
    node_idx: int


Decision = (Assign | Divert | Handover | Recall | CallUnlocated | EtrUpdate | Alert | SendGenerator
            | GeneratorReleased)
