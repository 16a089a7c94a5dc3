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
class PlannedOutageChanged:
    """A planned outage's window moves (customers below it are told again). Bringing its start
    earlier needs the notice period, unless ``urgent`` with a ``reason``."""

    t_s: int
    outage_id: str
    start_s: int
    end_s: int
    urgent: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PlannedOutageCancelled:
    """A planned outage that has not started is called off (customers below it are told)."""

    t_s: int
    outage_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallReceived:
    """A trouble call. ``triage`` is what the call-taker's questions settled on the call:
    ``customer_reset`` when the customer's own breaker had tripped and resetting it brought the
    supply back (a customer-side fault found by phone: no work order)."""

    t_s: int
    call: Call
    triage: str = ""


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
    """A crew reached the site of its job."""

    t_s: int
    crew_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class Finding:
    """What a first responder found at or near the site: an open element (a device that
    operated, a service drop, a customer's own breaker) with the skill and crew-seconds its
    repair needs; ``fixed`` when the responder fixed it on the spot, ``customer_side`` when it
    is the customer's own installation (the customer was advised; no utility repair)."""

    element_id: str
    skill: str
    repair_s: int
    fixed: bool = False
    customer_side: bool = False


@dataclass(frozen=True, slots=True)
class FirstResponseDone:
    """The first responder's visit is over: ``findings`` is everything it found open (none:
    the supply is back, nothing to do). A finding upstream of the site moves the incident
    there."""

    t_s: int
    crew_id: str
    job_id: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class RepairFinished:
    """A crew finished; ``restored_nodes`` are the elements it repaired and re-energised.
    ``findings``: what it saw still open below once it re-energised (a nested fault, kept as a
    repair job of its own, checked right after the parent is restored)."""

    t_s: int
    crew_id: str
    job_id: str
    restored_nodes: tuple[int, ...]
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class CrewReleased:
    """A helping crew leaves a team job before it is done (not needed on site)."""

    t_s: int
    crew_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class CallbackMade:
    """The call-taker called a customer back: ``restored``, ``still_dark`` (work reopens) or
    ``no_answer`` (to be tried again)."""

    t_s: int
    callback_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class CallbackDone:
    """The call-taker has called back every customer of the order whose callback is due, and
    each has supply again."""

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
    """A telemetered protective device (SCADA on a feeder breaker) reports it opened: the
    device is identified, its repair can be sent at once. ``indicators``: the remote switches
    below it whose fault passage indicators saw the fault current (read with the trip)."""

    t_s: int
    device_id: str
    indicators: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FaultLocated:
    """A crew on an MV repair job has patrolled the line from the operated device and found
    where the faults are (``element_ids``): the control room can switch around them."""

    t_s: int
    crew_id: str
    job_id: str
    element_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SwitchingDone:
    """The crew on a switching job has operated the switch."""

    t_s: int
    crew_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class SwitchRefused:
    """A switching step did not hold: the device tripped on a fault nobody knew of, or the
    step was refused as unsafe (``reason``); the state is as before it. ``step_id``: the
    ``Operate`` decision's."""

    t_s: int
    element_id: str
    action: str
    reason: str
    step_id: int = -1


@dataclass(frozen=True, slots=True)
class StepHeld:
    """A dispatcher holds switching step ``step_id`` (``reason``): it, and the steps after it,
    wait until it is released; a crew on its way to it is called back."""

    t_s: int
    step_id: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StepReleased:
    """A dispatcher releases a held switching step."""

    t_s: int
    step_id: int


@dataclass(frozen=True, slots=True)
class StepMoved:
    """A dispatcher has switching step ``step_id`` carried out before step ``before`` of the
    same work order (refused when that would be unsafe)."""

    t_s: int
    step_id: int
    before: int


@dataclass(frozen=True, slots=True)
class OutageReported:
    """An outage is known below ``device_id`` (an outage record of a history), but nobody has
    been there: a first responder goes to find what operated."""

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
    """A dispatcher sends ``crew_id`` to ``order_id``'s job ``job_id`` (by default the first
    job of the order waiting for a crew the crew can do), overriding the plan: a crew already
    on its way there is called back, and the crew's own trip, if any, waits again."""

    t_s: int
    order_id: str
    crew_id: str
    job_id: str = ""


@dataclass(frozen=True, slots=True)
class ClockTick:
    """Time passes with nothing else happening: alerts fall due, plans age."""

    t_s: int


Event = (CallReceived | PlannedOutageAnnounced | PlannedOutageChanged | PlannedOutageCancelled | ShiftStarted
         | ShiftEnded | CrewArrived | FirstResponseDone | RepairFinished | CrewReleased | CallbackMade
         | CallbackDone | OrderCancelled | CrewPosition | DeviceOperated | OutageReported | AmiMessage
         | GeneratorConnected | DispatcherAssigned | ClockTick | FaultLocated | SwitchingDone | SwitchRefused
         | StepHeld | StepReleased | StepMoved)


@dataclass(frozen=True, slots=True)
class Assign:
    """``crew_id`` sets off for job ``job_id`` (of ``order_id``, a ``kind`` job at the
    network node ``node_idx`` needing ``skill``, "" for any), there in ``travel_s``."""

    t_s: int
    order_id: str
    crew_id: str
    travel_s: int
    job_id: str
    kind: str
    node_idx: int
    skill: str


@dataclass(frozen=True, slots=True)
class Recall:
    """The crew leaves ``job_id``: called back on its way (the job was cancelled or taken by
    another crew) or off at the end of its duty, on its way or on site; it is free again."""

    t_s: int
    order_id: str
    crew_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class Handover:
    """An en-route crew's job ended (its order merged into ``order_id``); the crew keeps
    driving, now to the ``kind`` job ``job_id`` at node ``node_idx`` needing ``skill``, there
    in ``travel_s`` from now."""

    t_s: int
    from_order_id: str
    order_id: str
    crew_id: str
    job_id: str
    node_idx: int
    travel_s: int
    kind: str
    skill: str


@dataclass(frozen=True, slots=True)
class Divert:
    """An en-route crew drops ``from_job_id`` (back to the queue) for job ``job_id``."""

    t_s: int
    crew_id: str
    from_order_id: str
    order_id: str
    travel_s: int
    from_job_id: str
    job_id: str
    kind: str
    node_idx: int
    skill: str


@dataclass(frozen=True, slots=True)
class CallUnlocated:
    t_s: int
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderMoved:
    """The grouping moved a work order no crew was sent to yet: its site is now ``node_idx``
    (``element_id``, behind which ``customers`` are out), its first response there."""

    t_s: int
    order_id: str
    node_idx: int
    element_id: str
    customers: int


@dataclass(frozen=True, slots=True)
class EtrUpdate:
    """An order's estimated restoration time (storm clock seconds) was set or moved."""

    t_s: int
    order_id: str
    etr_s: int


@dataclass(frozen=True, slots=True)
class Alert:
    """A promise or rule is about to break: ``kind`` is ``arrival_limit`` or ``repair_limit``
    (for ``order_id``), or ``hours_of_service`` (``order_id`` names the crew working past its
    duty limit, due at that limit)."""

    t_s: int
    order_id: str
    kind: str
    due_s: int


@dataclass(frozen=True, slots=True)
class CallbackDue:
    """The customer ``customer_id`` (at ``node_idx``) who called about ``order_id`` should
    have supply again: call them back."""

    t_s: int
    callback_id: str
    order_id: str
    customer_id: str
    node_idx: int


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


@dataclass(frozen=True, slots=True)
class Operate:
    """The control room operates a switch, device or tie (remote), or confirms a crew did
    (manual): ``action`` open or close, step ``step_id`` of work order ``order_id``'s plans."""

    t_s: int
    order_id: str
    element_id: str
    action: str
    step_id: int = -1


@dataclass(frozen=True, slots=True)
class CallSettled:
    """A call settled on the phone: the customer's own breaker, reset (customer-side advice
    given, no work order)."""

    t_s: int
    call_id: str
    customer_id: str
    node_idx: int


Decision = (Assign | Divert | Handover | Recall | CallUnlocated | EtrUpdate | Alert | CallbackDue
            | SendGenerator | GeneratorReleased | CallSettled | Operate | OrderMoved)
