"""The event-driven dispatch engine: events in, decisions out, on the storm clock.

One engine serves live use and replay: it sees only what a utility sees (calls, SCADA, smart
meters, crews' reports), never the storm's ground truth. Calls are resolved and grouped into
incidents by ``grid_model``; each incident gets a work order (``dispatch.orders``), and the
order gets jobs (``dispatch.jobs``): a first response at once, repairs once the device is
identified (by the first responder, or by SCADA for a telemetered breaker). The policy picks
crews for jobs; the engine carries that out, keeps crews inside their hours of service
(``dispatch.roster``), quotes ETRs and owes every calling customer a callback
(``dispatch.callbacks``). An event it refuses raises ``EventError`` before changing anything.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from dispatch.alerts import LimitAlerts
from dispatch.callbacks import CallbackBook, CallbackOutcome
from dispatch.crews import SKILLS, Crew, CrewRole
from dispatch.estimates import RepairEstimates
from dispatch.etr import EtrBook
from dispatch.events import (
    Alert,
    AmiMessage,
    Assign,
    CallbackDone,
    CallbackMade,
    CallReceived,
    CallSettled,
    CallUnlocated,
    ClockTick,
    CrewArrived,
    CrewPosition,
    CrewReleased,
    Decision,
    DeviceOperated,
    DispatcherAssigned,
    Divert,
    Event,
    EventError,
    FaultLocated,
    Finding,
    FirstResponseDone,
    GeneratorConnected,
    Handover,
    Operate,
    OrderCancelled,
    OrderMoved,
    OutageReported,
    PlannedOutageAnnounced,
    PlannedOutageCancelled,
    PlannedOutageChanged,
    Recall,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
    StepHeld,
    StepMoved,
    StepReleased,
    SwitchingDone,
    SwitchRefused,
)
from dispatch.generators import GeneratorFleet, GeneratorTruck
from dispatch.jobs import LIVE_JOB, Job, JobKind, JobStatus
from dispatch.limits import ServiceLimits
from dispatch.orders import OPEN, WAITING, OrderOrigin, OrderStatus, WorkOrder, surviving
from dispatch.planned import PlannedBook, PlannedOutage
from dispatch.policy import DispatchPolicy
from dispatch.roster import ON_A_JOB, SENDABLE, CrewAvailability, CrewState, CrewStatus
from dispatch.switchboard import OverrideError, PlannedStep, StepStatus, Switchboard, SwitchingMode, describe
from dispatch.view import Unreached
from grid_model.network import AREA_NAMES, Construction, DeviceKind, NodeKind
from grid_model.predict import IncidentChange, IncidentKind, OutagePredictor, PredictionParams
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.rollup import RollupParams
from grid_model.storm import Call
from grid_model.switches import SwitchLayer
from grid_model.switching import MANUAL_STEP_S, Action, Phase
from routing.travel import RoadTravel

log = logging.getLogger(__name__)

_LV_KINDS = (NodeKind.CUSTOMER, NodeKind.METER_BOX, NodeKind.SERVICE_DROP, NodeKind.LV_BRANCH)
# What a call-taker's questions may settle on the call (see ``CallReceived``).
TRIAGE = ("", "customer_reset")
# An idle crew's GPS fix this soon after its duty limit is no breach: its shift end is due.
IDLE_PAST_DUTY_GRACE_S = 5 * 60

ENGINE_GROUPING = PredictionParams(rollup=RollupParams())
# How the engine may group reports into incidents: the roll-up rules (its default), or the
# posterior, regrouped every ``REGROUP_EVERY_S`` (finer incidents, more first responses).
GROUPINGS = {"rollup": ENGINE_GROUPING, "posterior": PredictionParams()}
# With the posterior grouping, how often the predictor regroups the open reports (storm clock).
REGROUP_EVERY_S = 15 * 60


@dataclass(slots=True)
class UnlocatedCall:
    call_id: str
    t_s: int
    reason: str


@dataclass(slots=True)
class EngineLog:
    assigned: int = 0
    recalled: int = 0
    diverted: int = 0
    assists: int = 0
    generators_connected: int = 0
    first_responses: int = 0
    fixed_on_first_visit: int = 0
    customer_side_faults: int = 0
    resolved_by_phone: int = 0
    reopened: int = 0
    handed_back_at_duty_end: int = 0
    hours_of_service_breaches: int = 0
    assignments_refused: int = 0
    rejected: list[str] = field(default_factory=list)


class DispatchEngine:
    """Holds work orders, jobs, crews and incidents; ``handle`` one event at a time."""

    def __init__(self, region: Region, crews: list[Crew], policy: DispatchPolicy, *,
                 travel: RoadTravel, limits: ServiceLimits | None = None,
                 estimates: RepairEstimates | None = None,
                 generators: list[GeneratorTruck] | None = None,
                 switches: SwitchLayer | None = None, switching: SwitchingMode = SwitchingMode.OFF,
                 grouping: PredictionParams = ENGINE_GROUPING) -> None:
        self.region = region
        self.net = region.network
        self.policy = policy
        self.travel = travel
        self.limits = limits or ServiceLimits()
        self.estimates = estimates or RepairEstimates()
        self.resolver = CallResolver(region)
        # The roll-up rules group faults more coarsely than the posterior places them, and one
        # first response per coarse incident covers a transformer area or feeder: dispatch does
        # better with them (benchmarks/README.md, "Outage prediction").
        self.predictor = OutagePredictor(self.net, grouping)
        self._regrouped_s: int | None = None
        self._device_index = {d: i for i, d in enumerate(self.net.device_id) if d}
        self._node_index = self.net.index_of()
        self.clock_s: int | None = None
        self.orders: dict[str, WorkOrder] = {}
        self.jobs: dict[str, Job] = {}
        self.order_of_incident: dict[str, str] = {}
        self.crews = {c.crew_id: CrewState(c, c.x_m, c.y_m) for c in crews}
        self.has_responders = any(c.role == CrewRole.FIRST_RESPONDER for c in crews)
        self.unlocated: list[UnlocatedCall] = []
        self.log = EngineLog()
        self.callbacks = CallbackBook()
        self._customers_below = self.net.count_below(self.net.kind == NodeKind.CUSTOMER)
        self._critical = region.critical_node_mask()
        self._critical_below = self.net.count_below(self._critical)
        self._customer_at = dict(zip(region.customers["node_idx"].tolist(),
                                     region.customers["customer_id"].tolist(), strict=True))
        self.generators = GeneratorFleet(generators or [], self.net, travel)
        self.switchboard = Switchboard(self.net, switches, switching) \
            if switches is not None and switching != SwitchingMode.OFF else None
        self._step_of_job: dict[str, PlannedStep] = {}
        self._open_order_at = np.full(self.net.n_nodes, -1, dtype=np.int64)
        self._parent: list[int] = self.net.parent.tolist()
        self._unreached: dict[str, Unreached | None] = {}
        # jobs a merge moved to another order: the order each was made for (its site is that one's)
        self._taken_in: dict[str, str] = {}
        self._order_list: list[WorkOrder] = []
        self._order_pos: dict[str, int] = {}
        self._first_open = 0
        self._live_jobs: dict[str, Job] = {}
        self._snap: dict[str, tuple[int, float]] = {}
        self._crew_snap: dict[str, tuple[int, float]] = {}
        self.planned = PlannedBook()
        self.etrs = EtrBook()
        self.alerts = LimitAlerts(self.limits)
        self._handlers: dict[type, Callable[[Any], list[Decision]]] = {
            ClockTick: lambda ev: [], CallReceived: self._on_call, PlannedOutageAnnounced: self._on_planned,
            PlannedOutageChanged: self._on_planned_changed,
            PlannedOutageCancelled: self._on_planned_cancelled,
            ShiftStarted: self._on_shift_start, ShiftEnded: self._on_shift_end,
            CrewArrived: self._on_arrived, FirstResponseDone: self._on_first_response,
            RepairFinished: self._on_repaired, CrewReleased: self._on_released,
            CallbackMade: self._on_callback_made, CallbackDone: self._on_callback_done,
            OrderCancelled: self._on_cancelled, CrewPosition: self._on_position,
            DeviceOperated: self._on_device, OutageReported: self._on_outage_report, AmiMessage: self._on_ami,
            GeneratorConnected: self._on_generator, DispatcherAssigned: self._on_dispatcher_assign,
            FaultLocated: self._on_fault_located, SwitchingDone: self._on_switching_done,
            SwitchRefused: self._on_switch_refused, StepHeld: self._on_step_held,
            StepReleased: self._on_step_released, StepMoved: self._on_step_moved}

    def switch_state(self) -> tuple[np.ndarray, dict[str, int]]:
        """What the engine believes of the MV network now: the nodes whose edge in is open (the
        devices of open orders, the switches switching holds open) and the closed ties with the
        customers each carries."""
        if self.switchboard is None:
            return self._mv_open_nodes(-1), {}
        return self.switchboard.believed_open(self._mv_open_nodes(-1)), dict(self.switchboard.tie_load)

    def step_of_job(self, job_id: str) -> PlannedStep | None:
        """The switching step a switching job carries out."""
        return self._step_of_job.get(job_id)

    @property
    def etr(self) -> dict[str, int]:
        """The current ETR (storm clock seconds) of each open order."""
        return self.etrs.current

    @property
    def etr_history(self) -> list[tuple[int, str, int]]:
        """Every ETR quoted: (when, order, ETR)."""
        return self.etrs.history

    # -- the view policies read (dispatch.view.DispatchView) ------------------------------
    def live_jobs(self) -> list[Job]:
        """Jobs waiting for a crew, on a crew's way or being worked."""
        return list(self._live_jobs.values())

    def order_of(self, job: Job) -> WorkOrder:
        return self.orders[job.order_id]

    def unreached(self, order: WorkOrder) -> Unreached | None:
        """The order's own and absorbed orders not yet reached (see ``Unreached``)."""
        if order.order_id in self._unreached:
            return self._unreached[order.order_id]
        group = [o for o in (order, *(self.orders[a] for a in order.absorbed)) if o.reached_s is None]
        out = Unreached(tuple(o.deadline_s for o in group), any(o.critical for o in group)) if group else None
        self._unreached[order.order_id] = out
        return out

    def open_order_above(self, order: WorkOrder) -> WorkOrder | None:
        k = self._open_order_from(self._parent[order.node_idx])
        return None if k < 0 else self._order_list[k]

    def _open_order_from(self, node: int) -> int:
        """Position of the nearest open order at or above ``node``, else -1."""
        parent, at = self._parent, self._open_order_at
        while node >= 0:
            k = int(at[node])
            if k >= 0:
                return k
            node = parent[node]
        return -1

    def customers_behind(self, job: Job) -> tuple[int, bool]:
        """Customers behind the job's element, and whether other open work upstream (an open
        order above its order, or another live job of its order above the job) holds them dark
        anyway."""
        order = self.orders[job.order_id]
        ps = self._step_of_job.get(job.job_id)
        if ps is not None and self.switchboard is not None:
            return (self.switchboard.value(ps) if ps.step.phase != Phase.NORMAL else order.customers), False
        blocked = self.open_order_above(order) is not None or any(
            other is not job and other.node_idx != job.node_idx
            and self.net.is_ancestor(other.node_idx, job.node_idx)
            for other in self._live_jobs_of(order))
        return int(self._customers_below[job.node_idx]), blocked

    def availability(self, crew_id: str, t_s: int) -> CrewAvailability:
        """When and where the crew can next start a job, and until when (its duty limit)."""
        s = self.crews[crew_id]
        if s.status == CrewStatus.OFF:
            shift = s.crew.shift_at(t_s)
            start, end = shift if shift else (t_s, t_s)
            if s.off_since_s is not None:
                start = max(start, s.off_since_s + s.crew.duty.min_rest_s)
            start = max(start, t_s)
            return CrewAvailability(start, max(start, min(end, start + s.crew.duty.max_duty_s)),
                                    s.crew.x_m, s.crew.y_m, "")
        end = s.duty_end_s
        if s.status == CrewStatus.IDLE:
            return CrewAvailability(t_s, max(t_s, end), s.x_m, s.y_m, "")
        job = self.jobs[s.job_id]
        if s.status == CrewStatus.EN_ROUTE:
            return CrewAvailability(s.leg_start_s, max(s.leg_start_s, end), s.x_m, s.y_m, s.job_id)
        free = min(end, max(t_s, self._finish_on_site(job, t_s)))
        return CrewAvailability(free, max(free, end), s.x_m, s.y_m, "")

    def travel_from_crews(self, crew_ids: list[str], job: Job) -> np.ndarray:
        """Seconds from each crew's position to the job's site."""
        nodes = np.empty(len(crew_ids), dtype=np.int64)
        access = np.empty(len(crew_ids))
        for k, cid in enumerate(crew_ids):
            nodes[k], access[k] = self._crew_position(cid)
        b_node, b_access = self._site_snap(job)
        return self.travel.between_snapped(nodes, access, b_node, b_access)

    def position(self, crew_id: str, t_s: int) -> tuple[float, float]:
        """Where the crew is at ``t_s``: en route, straight-line progress along its leg."""
        s = self.crews[crew_id]
        if s.status != CrewStatus.EN_ROUTE or s.eta_s <= s.leg_start_s:
            return s.x_m, s.y_m
        dest = self.jobs[s.job_id]
        f = min(1.0, max(0.0, (t_s - s.leg_start_s) / (s.eta_s - s.leg_start_s)))
        return s.x_m + f * (dest.x_m - s.x_m), s.y_m + f * (dest.y_m - s.y_m)

    def fits_duty(self, crew_id: str, job: Job, t_s: int, travel_s: float) -> bool:
        """Whether the crew, leaving now, can do its share of the job inside its duty limit
        (of relay work, the crew's relay; see ``DutyRules``)."""
        state = self.crews[crew_id]
        crews = max(len(job.team) + (0 if crew_id in job.team else 1), self.policy.team_size(job))
        work = min(self.share_s(job, crews), state.crew.duty.relay_s)
        return t_s + travel_s + work <= state.duty_end_s

    def share_s(self, job: Job, crews: int) -> int:
        """A crew's share of the work left on the job when ``crews`` work it together."""
        return self._work_left(job, self.clock_s or 0) // max(1, crews)

    # -- other queries ------------------------------------------------------------------
    def knows_device(self, device_id: str) -> bool:
        """Whether ``device_id`` is a protective device of the network."""
        return device_id in self._device_index

    def open_orders(self) -> list[WorkOrder]:
        """Orders not yet repaired: waiting for a crew, on a crew's way or being worked."""
        self._skip_closed()
        return [o for o in self._order_list[self._first_open:] if o.status in OPEN]

    def has_open_work(self) -> bool:
        """True while any order is open or any job is live."""
        return bool(self._live_jobs) or bool(self.open_orders())

    def crews_of(self, order: WorkOrder) -> list[str]:
        """Crews on the order's live jobs (leads first)."""
        return [c for j in order.jobs if (job := self.jobs[j]).status in LIVE_JOB for c in job.team]

    def confidence(self, order: WorkOrder) -> float:
        """How sure the prediction is that the order's element is the cause: the predictor's
        confidence in its incident; 1 once a crew repaired it, or a device report or a crew's
        finding placed it."""
        if order.repaired_s is not None or not self.predictor.knows(order.incident_id):
            return 1.0
        return self.predictor.confidence(self.predictor.incident(self._surviving_incident(order.incident_id)))

    def customer_etr(self, customer_id: str) -> int | None:
        """The ETR of a customer held dark by an open order (``dark_holder``), or None."""
        node = self.resolver.customer_node(customer_id)
        holder = self.dark_holder(node) if node is not None else None
        return None if holder is None else self.etrs.current.get(holder.order_id)

    def dark_holder(self, node: int) -> WorkOrder | None:
        """The open order holding ``node`` dark: the nearest above it, unless switching has
        brought the node back (its transformer fed over a tie, or from upstream once the
        faulted section is cut out; an LV outage nearer the node holds it dark whatever)."""
        holder_id = self.holder(node)
        if holder_id is None:
            return None
        holder = self.orders[holder_id]
        board = self.switchboard
        if board is None or not board.steps or self.net.kind[holder.node_idx] > NodeKind.MV_NODE:
            return holder
        supply = next(n for n in self.net.path_up(node) if self.net.kind[n] <= NodeKind.TRANSFORMER)
        if not self.net.is_ancestor(holder.node_idx, supply):
            return holder
        mv, fed = board.fed(self._mv_open_nodes(-1))
        return None if fed[mv.index[supply]] else holder

    # -- event handling ----------------------------------------------------------------
    def handle(self, event: Event, *, settle: bool = True) -> list[Decision]:
        """Apply one event and return the decisions it leads to. With ``settle`` false the
        policy is not asked yet: a caller applying a burst of events settles once after it."""
        if self.clock_s is not None and event.t_s < self.clock_s:
            raise EventError(f"event at {event.t_s} s is before the engine clock {self.clock_s} s")
        handler = self._handlers.get(type(event))
        if handler is None:
            raise EventError(f"unknown event {type(event).__name__}")
        out = handler(event)  # a refused event raises before it changes anything
        self.clock_s = event.t_s
        if isinstance(event, RepairFinished | FirstResponseDone | OrderCancelled | AmiMessage) \
                and self.generators.serving:
            out.extend(self.generators.release(self._covered, event.t_s))
        if settle:
            out.extend(self.settle(event.t_s))
        return out

    def settle(self, t_s: int) -> list[Decision]:
        """The decisions due now: a regrouping's moved orders (posterior grouping), the policy's
        assignments, alerts, callbacks after planned outages, re-quoted ETRs."""
        out = self._regroup(t_s)
        out.extend(self._dispatch(t_s))
        out.extend(self.alerts.due(t_s, self.orders))
        for outage_id in self.planned.ended(t_s):
            out.extend(self.callbacks.planned_ended(outage_id, t_s, self.holder))
        out.extend(self.etrs.refresh(t_s, self.policy.plan_version, self.open_orders, self.orders,
                                     lambda order: self._etr_of(order, t_s)))
        return out

    def finish(self, t_s: int) -> None:
        """Close the books at the end of a run: count duty time of crews still on duty."""
        for state in self.crews.values():
            state.close_books(t_s)

    # -- lookups that refuse -------------------------------------------------------------
    def _crew(self, crew_id: str) -> CrewState:
        try:
            return self.crews[crew_id]
        except KeyError:
            raise EventError(f"unknown crew {crew_id!r}") from None

    def _order(self, order_id: str) -> WorkOrder:
        try:
            return self.orders[order_id]
        except KeyError:
            raise EventError(f"unknown work order {order_id!r}") from None

    def _job(self, job_id: str) -> Job:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise EventError(f"unknown job {job_id!r}") from None

    def _crew_on(self, crew_id: str, job_id: str, what: str) -> tuple[CrewState, Job]:
        """The crew and the job it reports on; refused unless that is its job."""
        state = self._crew(crew_id)
        job = self._job(job_id)
        if state.job_id != job_id or crew_id not in job.team:
            raise EventError(f"crew {crew_id} {what} {job_id} but is on {state.job_id or 'no job'}")
        return state, job

    def _element_node(self, element_id: str) -> int | None:
        node = self._device_index.get(element_id)
        return self._node_index.get(element_id) if node is None else node

    # -- incidents and orders ----------------------------------------------------------
    def _on_planned(self, ev: PlannedOutageAnnounced) -> list[Decision]:
        device_idx = self._device_index.get(ev.device_id)
        if device_idx is None:
            raise EventError(f"planned outage {ev.outage_id}: unknown device {ev.device_id!r}")
        if self.predictor.knows(ev.outage_id):
            raise EventError(f"planned outage {ev.outage_id}: the id is taken by an incident or another "
                             f"planned outage")
        short = ev.owes_notice and ev.start_s < ev.t_s + self.planned.notice_s
        if ev.owes_notice:
            self.planned.check_window(ev.outage_id, ev.t_s, ev.start_s, ev.end_s, urgent=ev.urgent,
                                      reason=ev.reason, short=short)
        elif ev.end_s <= ev.start_s:
            raise EventError(f"planned outage {ev.outage_id}: ends at {ev.end_s} s, not after its start "
                             f"{ev.start_s} s")
        self.predictor.add_planned(ev.outage_id, device_idx, ev.start_s, ev.end_s)
        self.planned.add(PlannedOutage(ev.outage_id, ev.device_id, device_idx, ev.start_s, ev.end_s, ev.t_s,
                                       short, ev.reason))
        return []

    def _on_planned_changed(self, ev: PlannedOutageChanged) -> list[Decision]:
        outage = self.planned.live(ev.outage_id, ev.t_s)
        self.planned.move(outage, ev.t_s, ev.start_s, ev.end_s, urgent=ev.urgent, reason=ev.reason)
        self.predictor.move_planned(ev.outage_id, ev.start_s, ev.end_s)
        return []

    def _on_planned_cancelled(self, ev: PlannedOutageCancelled) -> list[Decision]:
        self.planned.cancel(self.planned.live(ev.outage_id, ev.t_s), ev.t_s, ev.reason)
        self.predictor.cancel_planned(ev.outage_id)
        return []

    def customers_below(self, node: int) -> list[tuple[int, str]]:
        """The customers (node, id) supplied through ``node``."""
        sl = self.net.subtree(node)
        nodes = (np.flatnonzero(self.net.kind[sl] == NodeKind.CUSTOMER) + sl.start).tolist()
        return [(n, self.customer_id(n)) for n in nodes]

    def customer_id(self, node: int) -> str:
        """The customer number at a customer node (its node id where the grid has none)."""
        return self._customer_at.get(node, self.net.node_id[node])

    def _on_call(self, ev: CallReceived) -> list[Decision]:
        if ev.triage not in TRIAGE:
            raise EventError(f"call {ev.call.call_id}: triage must be one of {', '.join(TRIAGE)}, "
                             f"got {ev.triage!r}")
        res = self.resolver.resolve(ev.call)
        if not res.located:
            self.unlocated.append(UnlocatedCall(ev.call.call_id, ev.t_s, res.reason))
            return [CallUnlocated(ev.t_s, ev.call.call_id, res.reason)]
        if ev.triage == "customer_reset":
            self.log.resolved_by_phone += 1
            self.log.customer_side_faults += 1
            return [CallSettled(ev.t_s, ev.call.call_id, self.customer_id(res.node_idx), res.node_idx)]
        change = self.predictor.add_call(ev.call.call_id, res.node_idx, ev.t_s)
        out = self._on_change(change, ev.t_s, OrderOrigin.CALL)
        self._owe_callback(change.incident_id, res.node_idx, ev.t_s)
        return out

    def _owe_callback(self, incident_id: str, node: int, t_s: int) -> None:
        """The caller at ``node`` is owed a callback about the incident's order (theirs not yet
        due comes to it from another order)."""
        customer_id = self.customer_id(node)
        inc = self.predictor.incident(incident_id)
        if inc.kind == IncidentKind.PLANNED:
            self.callbacks.owe_after_planned(incident_id, customer_id, node, t_s)
            return
        order = self._surviving(self.orders[self.order_of_incident[self._surviving_incident(incident_id)]])
        if order.status in OPEN:
            came_from = self.callbacks.owe(order.order_id, customer_id, node, t_s)
            if came_from is not None:  # the order it left, if repaired, may have none left: closed
                self._maybe_close(self.orders[came_from], t_s)

    def _on_device(self, ev: DeviceOperated) -> list[Decision]:
        """A telemetered trip: the device's incident, and with switching, the remote plan for
        the section its fault indicators point to (they must lie below it, on one path)."""
        device = self._device_index.get(ev.device_id)
        flagged = self._indicated(ev, device)
        out = self._device_incident("SCADA", ev.device_id, ev.t_s, OrderOrigin.SCADA)
        board = self.switchboard
        if board is None or device is None:
            return out
        board.tripped_again(device)
        order = self._order_at_device(device)
        if order is not None:
            section = flagged[-1] if flagged else device
            board.plan(order.order_id, section, self._mv_open_nodes(device), remote=True, repair=device)
            out.extend(self._run_switching(ev.t_s))
        return out

    def _on_outage_report(self, ev: OutageReported) -> list[Decision]:
        return self._device_incident("REPORT", ev.device_id, ev.t_s, OrderOrigin.REPORT)

    def _device_incident(self, source: str, device_id: str, t_s: int, origin: OrderOrigin) -> list[Decision]:
        """An incident at a protective device, for certain (SCADA: identified, its repair is
        sent at once) or as reported (a first responder goes to find what operated)."""
        device = self._device_index.get(device_id)
        if device is None:
            raise EventError(f"{source.lower()} report: unknown device {device_id!r}")
        change = self.predictor.add_device_report(f"{source}:{device_id}@{t_s}", device, t_s)
        planned = self.predictor.incident(change.incident_id).kind == IncidentKind.PLANNED
        if not change.created and origin == OrderOrigin.SCADA and not planned:
            self._identified(change.incident_id, device, t_s)
        return self._on_change(change, t_s, origin)

    def _identified(self, incident_id: str, device: int, t_s: int) -> None:
        """SCADA reports a device of an incident already open: its repair is known, whatever
        the incident's first response found before it opened."""
        order = self._surviving(self.orders[self.order_of_incident[self._surviving_incident(incident_id)]])
        _, _, limit_class = self._site(device)
        if order.status in OPEN and not any(j.kind == JobKind.REPAIR and j.node_idx == device
                                            for j in self._live_jobs_of(order)):
            estimate = self.estimates.repair_s(self.net, device)
            self._new_job(order, JobKind.REPAIR, device, limit_class, estimate, t_s)

    def _on_ami(self, ev: AmiMessage) -> list[Decision]:
        """A last gasp is grouped like a call; when every meter that reported to an incident
        is back, its order, if no crew has reached it yet, is cancelled."""
        if ev.kind not in ("last_gasp", "restore"):
            raise EventError(f"AMI message from {ev.meter_id}: kind must be last_gasp or restore, "
                             f"got {ev.kind!r}")
        msg_id = f"AMI:{ev.meter_id}@{ev.t_s}"
        res = self.resolver.resolve(Call(msg_id, ev.t_s, meter_id=ev.meter_id))
        if not res.located:
            raise EventError(f"AMI message: {res.reason}")
        if ev.kind == "last_gasp":
            return self._on_change(self.predictor.add_last_gasp(msg_id, res.node_idx, ev.t_s), ev.t_s,
                                   OrderOrigin.AMI)
        over = self.predictor.add_restore(msg_id, res.node_idx, ev.t_s)
        order = self.orders.get(self.order_of_incident.get(over or "", ""))
        if order is None or order.status not in WAITING or self._worked_job(order) is not None or (
                self.switchboard is not None and self.switchboard.pending(order.order_id)):
            return []
        return self._cancel_order(order, ev.t_s)

    def _worked_job(self, order: WorkOrder) -> str | None:
        """A job of a waiting order a crew is at work on (one it took in with a merged order)."""
        return next((job.job_id for job in self._live_jobs_of(order) if job.status == JobStatus.ON_SITE),
                    None)

    def _on_change(self, change: IncidentChange, t_s: int, origin: OrderOrigin,
                   promised_from_s: int | None = None) -> list[Decision]:
        """A new incident gets a work order and its first job; the orders of the incidents it
        merged fold into it (a crew on its way to one of them takes the new job). The order's
        arrival limit runs from ``promised_from_s`` (its reports' first, for an order split off
        by a regrouping; now by default)."""
        inc = self.predictor.incident(change.incident_id)
        if inc.kind == IncidentKind.PLANNED or not change.created:
            return []
        order = self._new_order(inc.incident_id, inc.node_idx, t_s, origin, promised_from_s)
        if origin == OrderOrigin.SCADA:
            self._new_job(order, JobKind.REPAIR, order.node_idx, order.skill,
                          self.estimates.repair_s(self.net, order.node_idx), t_s)
        else:
            self._new_job(order, JobKind.FIRST_RESPONSE, order.node_idx, "", self.estimates.first_response_s,
                          t_s)
        out: list[Decision] = []
        for child_id in change.merged:
            out.extend(self._merge_order(child_id, order, t_s))
        out.extend(self._send_generators(order, t_s))
        below = self._open_order_at[self.net.subtree(order.node_idx)]
        self.etrs.touch(order.order_id, *(self._order_list[k].order_id for k in below[below >= 0].tolist()))
        return out

    def _send_generators(self, order: WorkOrder, t_s: int) -> list[Decision]:
        """Trucks to the critical customers behind the order not yet served."""
        if not (order.critical and self.generators.trucks):
            return []
        sl = self.net.subtree(order.node_idx)
        nodes = (np.flatnonzero(self._critical[sl]) + sl.start).tolist()
        return list(self.generators.send(order.order_id, nodes, t_s))

    def _regroup(self, t_s: int) -> list[Decision]:
        """With the posterior grouping, every ``REGROUP_EVERY_S``: the predictor reads the open
        reports again per customer (``OutagePredictor.regroup``), and the orders no crew was sent
        to follow their incidents: moved (their first response with them), split into new orders,
        merged; each caller's callback goes with their report, and a caller whose supply came back
        (no report left) and whose order moved away from them goes with the order holding them
        dark again, or is called back now."""
        if self.predictor.params.rollup is not None or (
                self._regrouped_s is not None and t_s - self._regrouped_s < REGROUP_EVERY_S):
            return []
        self._regrouped_s = t_s
        change = self.predictor.regroup(t_s, fixed=self._acted_on)
        order_of = self.order_of_incident
        out: list[Decision] = []
        for incident_id, _ in change.moved:
            order = self.orders[order_of[incident_id]]
            out.append(self._move_order(order, self.predictor.incident(incident_id).node_idx, t_s))
            out.extend(self._send_generators(order, t_s))
        for incident_id in change.created:
            first = self.predictor.incident(incident_id).first_report_s
            out.extend(self._on_change(IncidentChange(incident_id, True), t_s, OrderOrigin.CALL, first))
        for node, frm, to in change.regrouped:
            self.callbacks.move_caller(order_of[frm], order_of[to], self.customer_id(node))
        for child, into in change.merged:
            out.extend(self._merge_order(child, self.orders[order_of[into]], t_s))
        for incident_id, _ in change.moved:
            order = self._surviving(self.orders[order_of[incident_id]])
            out.extend(self.callbacks.release_uncovered(
                order.order_id, partial(self.net.is_ancestor, order.node_idx), t_s, self.holder))
        if self.generators.serving:
            out.extend(self.generators.release(self._covered, t_s))
        return out

    def _acted_on(self, incident_id: str) -> bool:
        """Whether the incident's order is past what a regrouping may change: a crew sent or
        there, work found beyond its first response, switching planned for it."""
        order = self.orders.get(self.order_of_incident.get(incident_id, ""))
        if order is None or order.status != OrderStatus.NEW or order.reached_s is not None:
            return True
        if self.switchboard is not None and self.switchboard.pending(order.order_id):
            return True
        return any(job.kind != JobKind.FIRST_RESPONSE or job.status != JobStatus.NEW or job.crew_id
                   for job in self._live_jobs_of(order))

    def _move_order(self, order: WorkOrder, node: int, t_s: int) -> OrderMoved:
        """A regrouping moved the order's incident: its site and its first response go there."""
        self._move_site(order, node)
        for job in self._live_jobs_of(order):
            job.node_idx, job.element_id, job.limit_class = node, order.element_id, order.limit_class
            job.x_m, job.y_m = order.x_m, order.y_m
            self._snap.pop(job.job_id, None)
            self.policy.on_job_change(job)
        self.etrs.touch(order.order_id)
        return OrderMoved(t_s, order.order_id, node, order.element_id, order.customers)

    def _move_site(self, order: WorkOrder, node: int) -> None:
        """The order's site is now ``node``: its element, place, repair class and customers
        behind it (its promise, made when it opened, stands)."""
        if self._open_order_at[order.node_idx] == self._order_pos[order.order_id]:
            self._open_order_at[order.node_idx] = -1
        element, _, limit_class = self._site(node)
        order.node_idx, order.element_id = node, element
        order.site_reached_s = None  # nobody is at the new site yet
        order.x_m, order.y_m = float(self.net.x_m[node]), float(self.net.y_m[node])
        order.skill = order.limit_class = limit_class
        order.customers = int(self._customers_below[node])
        order.critical = int(self._critical_below[node])
        self._open_order_at[node] = self._order_pos[order.order_id]
        self._unreached.pop(order.order_id, None)  # its critical customers may have changed
        self._watch_limits(order)

    def _site(self, node: int) -> tuple[str, str, str]:
        """Element id, area and repair class (lv, mv or cable) of a site."""
        net = self.net
        kind = NodeKind(net.kind[node])
        if kind in _LV_KINDS:
            limit_class = "lv"
        elif kind == NodeKind.TRANSFORMER:
            limit_class = "mv"  # pad- or pole-mounted, replacing a transformer is MV work
        else:
            limit_class = "cable" if net.construction[node] == Construction.CABLE else "mv"
        element = net.device_id[node] if net.device[node] != DeviceKind.NONE else net.node_id[node]
        return element, AREA_NAMES[net.area[node]], limit_class

    def _new_order(self, incident_id: str, node: int, t_s: int, origin: OrderOrigin,
                   promised_from_s: int | None = None) -> WorkOrder:
        element, area, limit_class = self._site(node)
        first = t_s if promised_from_s is None else promised_from_s
        order = WorkOrder(
            order_id=f"W{len(self._order_list) + 1:06d}", incident_id=incident_id, node_idx=node,
            element_id=element, x_m=float(self.net.x_m[node]), y_m=float(self.net.y_m[node]), area=area,
            skill=limit_class, limit_class=limit_class, first_report_s=first,
            deadline_s=first + self.limits.arrival_limit(area), customers=int(self._customers_below[node]),
            critical=int(self._critical_below[node]), origin=origin)
        order.history.append((t_s, OrderStatus.NEW))
        self.orders[order.order_id] = order
        self.alerts.watch(order, self.orders)
        self.order_of_incident[incident_id] = order.order_id
        self._order_list.append(order)
        self._order_pos[order.order_id] = len(self._order_list) - 1
        self._open_order_at[node] = len(self._order_list) - 1
        return order

    def _new_job(self, order: WorkOrder, kind: JobKind, node: int, skill: str, service_s: int,
                 t_s: int) -> Job:
        element, _, limit_class = self._site(node)
        letter = "F" if kind == JobKind.FIRST_RESPONSE else "R"
        job = Job(job_id=f"{order.order_id}-{letter}{len(order.jobs) + 1}", kind=kind,
                  order_id=order.order_id, node_idx=node, element_id=element,
                  x_m=float(self.net.x_m[node]), y_m=float(self.net.y_m[node]),
                  skill=skill, limit_class=limit_class, service_s=max(0, int(service_s)), created_s=t_s)
        job.history.append((t_s, JobStatus.NEW))
        self.jobs[job.job_id] = job
        self._live_jobs[job.job_id] = job
        order.jobs.append(job.job_id)
        self.policy.on_job(job)
        self.etrs.touch(order.order_id)
        return job

    def _watch_limits(self, order: WorkOrder) -> None:
        """Watch the limits of ``order`` and the orders it absorbed again: its site or the
        order carrying its work changed, and with it the fault class that sets a repair limit."""
        for o in (order, *(self.orders[i] for i in order.absorbed)):
            self.alerts.watch(o, self.orders)

    def _surviving(self, order: WorkOrder) -> WorkOrder:
        return surviving(order, self.orders)

    def _surviving_incident(self, incident_id: str) -> str:
        inc = self.predictor.incident(incident_id)
        while inc.merged_into:
            inc = self.predictor.incident(inc.merged_into)
        return inc.incident_id

    def _merge_order(self, incident_id: str, into: WorkOrder, t_s: int) -> list[Decision]:
        """Fold the order of a merged incident into ``into``: its first response is no longer
        needed (a crew on its way takes a job of ``into`` it can do, else turns back); jobs
        being worked and repairs found go with it; so do its callers' callbacks. Orders of
        an incident already reached are reached now."""
        child = self.orders.get(self.order_of_incident.get(incident_id, ""))
        if child is None or child.status not in OPEN or child is into:
            return []
        out: list[Decision] = []
        for job_id in child.jobs:
            job = self.jobs[job_id]
            if job.status not in LIVE_JOB or job.order_id != child.order_id:
                continue
            if job.kind == JobKind.FIRST_RESPONSE and job.status != JobStatus.ON_SITE:
                out.extend(self._hand_over_or_recall(job, into, t_s))
            else:
                self._taken_in.setdefault(job_id, child.order_id)
                job.order_id = into.order_id
                into.jobs.append(job_id)
                self.policy.on_job_change(job)
        if self.switchboard is not None:
            self.switchboard.merge(child.order_id, into.order_id)
        child.merged_into = into.order_id
        child.move(OrderStatus.MERGED, t_s)
        into.absorbed += [child.order_id, *child.absorbed]
        self._watch_limits(child)
        self._unreached.pop(into.order_id, None)
        for job in self._live_jobs_of(into):
            self.policy.on_job_change(job)
        self.callbacks.move(child.order_id, into.order_id)
        if self._open_order_at[child.node_idx] == self._order_pos[child.order_id]:
            self._open_order_at[child.node_idx] = -1
        self.etrs.forget(child.order_id)
        if into.site_reached_s is not None:
            self._reach(into, t_s, into.reached_by)
        self._refresh_waiting(into, t_s)
        return out

    def _hand_over_or_recall(self, job: Job, into: WorkOrder, t_s: int) -> list[Decision]:
        """A first response no longer needed: its crews on the way take a waiting job of
        ``into`` they can do and can finish on duty, or turn back."""
        team = job.team
        job.crew_id, job.helpers = "", []
        self._end_job(job, JobStatus.CANCELLED, t_s)
        out: list[Decision] = []
        for crew_id in team:
            state = self.crews[crew_id]
            target = next((self.jobs[j] for j in into.jobs if self.jobs[j].status == JobStatus.NEW
                           and (not self.jobs[j].skill or self.jobs[j].skill in state.crew.skills)), None)
            if target is not None:
                state.x_m, state.y_m = self.position(crew_id, t_s)
                self._crew_snap.pop(crew_id, None)
                travel = round(float(self.travel_from_crews([crew_id], target)[0]))
                if self.fits_duty(crew_id, target, t_s, travel):
                    target.crew_id = crew_id
                    target.move(JobStatus.EN_ROUTE, t_s)
                    state.job_id = target.job_id
                    state.leg_start_s, state.eta_s = t_s, t_s + travel
                    self.policy.on_job_change(target)
                    self.policy.on_crew_change(crew_id)
                    self.etrs.touch(into.order_id)
                    out.append(Handover(t_s, job.order_id, into.order_id, crew_id, target.job_id,
                                        target.node_idx, travel, target.kind.value, target.skill))
                    continue
            out.append(self._recall(state, job, t_s))
        return out

    def _reach(self, order: WorkOrder, t_s: int, role: str) -> None:
        """A crew is at the order's site: the order and every order it absorbed are reached."""
        self._unreached.pop(order.order_id, None)
        if order.status in WAITING:
            order.move(OrderStatus.ON_SITE, t_s)
        order.reach(t_s, role)
        if order.site_reached_s is None:
            order.site_reached_s = t_s
        for other in order.absorbed:
            self.orders[other].reach(t_s, role)

    def _refresh_waiting(self, order: WorkOrder, t_s: int) -> None:
        """A waiting order is en route while a crew of one of its jobs is on its way."""
        if order.status not in WAITING:
            return
        moving = any(self.jobs[j].status == JobStatus.EN_ROUTE for j in order.jobs
                     if self.jobs[j].order_id == order.order_id)
        if moving and order.status == OrderStatus.NEW:
            order.move(OrderStatus.ASSIGNED, t_s)
            order.move(OrderStatus.EN_ROUTE, t_s)
        elif not moving and order.status != OrderStatus.NEW:
            order.move(OrderStatus.NEW, t_s)

    def _live_jobs_of(self, order: WorkOrder) -> list[Job]:
        return [job for j in order.jobs
                if (job := self.jobs[j]).status in LIVE_JOB and job.order_id == order.order_id]

    def _repairs_over(self, order: WorkOrder, t_s: int, role: str, crew: CrewState | None = None
                      ) -> list[Decision]:
        """Switching plans whose element is repaired return to normal (``crew``, the crew that
        finished the last job, takes its next manual step); once nothing at all is left, the
        order is restored."""
        if order.status not in OPEN:
            return []
        out: list[Decision] = []
        board = self.switchboard
        if board is not None:
            repairing = {j.node_idx for j in self._live_jobs_of(order)
                         if j.kind == JobKind.REPAIR and self.net.kind[j.node_idx] <= NodeKind.TRANSFORMER}
            out.extend(self._cancel_step_jobs(board.release_repaired(order.order_id, repairing), t_s))
            out.extend(self._run_switching(t_s))
            if crew is not None:
                out.extend(self._keep_switching(order, crew, t_s))
        live = self._live_jobs_of(order)
        if not live and not (board is not None and board.pending(order.order_id)):
            out.extend(self._restore(order, t_s, role))
        return out

    # -- switching ---------------------------------------------------------------------
    def _indicated(self, ev: DeviceOperated, device: int | None) -> list[int]:
        """The remote switches whose fault indicators a trip reports: known remote switches,
        below the device, on one path (one fault's current); refused otherwise."""
        if not ev.indicators:
            return []
        board = self.switchboard
        if board is None:
            raise EventError(f"scada report of {ev.device_id}: fault indicators, but no switches are known")
        nodes = []
        for switch_id in ev.indicators:
            node = board.remote_node_of(switch_id)
            if node is None:
                raise EventError(f"scada report of {ev.device_id}: no remote switch {switch_id!r}")
            if device is not None and not self.net.is_ancestor(device, node):
                raise EventError(f"scada report of {ev.device_id}: the fault indicator {switch_id} lies "
                                 f"outside what it feeds")
            nodes.append(node)
        nodes.sort()
        if not all(self.net.is_ancestor(a, b) for a, b in itertools.pairwise(nodes)):
            raise EventError(f"scada report of {ev.device_id}: fault indicators {', '.join(ev.indicators)} "
                             f"do not lie on one path")
        return nodes

    def _order_at_device(self, device: int) -> WorkOrder | None:
        holder = self.holder(device)
        return self.orders[holder] if holder is not None else None

    def _mv_open_nodes(self, known: int) -> np.ndarray:
        """The MV elements the engine believes open: ``known`` (a device SCADA or a crew on site
        reports open), and those of open work orders."""
        out = np.zeros(self.net.n_nodes, dtype=bool)
        for order in self.open_orders():
            if self.net.kind[order.node_idx] <= NodeKind.MV_NODE:
                out[order.node_idx] = True
        if known >= 0:
            out[known] = True
        return out

    def _run_switching(self, t_s: int) -> list[Decision]:
        """Carry out the switching steps now due: remote ones at once (the field answers with
        ``SwitchRefused`` if one did not hold), manual ones as switching jobs of the order."""
        board = self.switchboard
        out: list[Decision] = []
        while board is not None and (due := board.due()):
            for ps in due:
                order = self._surviving(self.orders[ps.order_id])
                if order.status not in OPEN:
                    board.drop(ps)
                    continue
                if board.moot(ps):
                    ps.status = StepStatus.DONE
                    continue
                if not self._still_safe(ps):
                    out.extend(self._drop_step(ps, t_s))
                    continue
                if ps.step.remote:
                    board.done(ps)
                    out.append(Operate(t_s, order.order_id, ps.step.element_id, ps.step.action, ps.step_id))
                    continue
                job = self._new_job(order, JobKind.SWITCHING, ps.step.node, "mv", MANUAL_STEP_S, t_s)
                ps.job_id = job.job_id
                self._step_of_job[job.job_id] = ps
        return out

    def _keep_switching(self, order: WorkOrder, state: CrewState, t_s: int) -> list[Decision]:
        """The crew that finished the order's repair or last switching step goes on to its next
        manual switching step (it is on the feeder, and holds the switching orders)."""
        job = next((j for j in self._live_jobs_of(order) if j.kind == JobKind.SWITCHING
                    and j.status == JobStatus.NEW), None)
        if job is None or state.status != CrewStatus.IDLE or job.skill not in state.crew.skills:
            return []
        travel = self._travel_now(state, job, t_s)
        if not self.fits_duty(state.crew_id, job, t_s, travel):
            return []
        sent = self._send(job, state, t_s, travel)
        self.policy.on_crew_change(state.crew_id)
        self.policy.on_job_change(job)
        return [sent]

    def _still_safe(self, ps: PlannedStep) -> bool:
        """A tie is closed only while its far end has supply as far as the engine knows (the
        far feeder may have tripped since the plan was made)."""
        step = ps.step
        if step.tie is None or step.action != Action.CLOSE or self.switchboard is None:
            return True
        far = step.tie.b if step.node == step.tie.a else step.tie.a
        open_nodes = self.switchboard.believed_open(self._mv_open_nodes(-1))
        return not any(open_nodes[n] for n in self.net.path_up(far))

    def _drop_step(self, ps: PlannedStep, t_s: int) -> list[Decision]:
        """Drop a step (and the isolate and restore steps after it); their jobs are cancelled."""
        return self._cancel_step_jobs(self.switchboard.drop(ps), t_s) if self.switchboard is not None else []

    def _cancel_step_jobs(self, steps: list[PlannedStep], t_s: int) -> list[Decision]:
        """Cancel the switching jobs of steps that are moot or dropped (their crews recalled);
        an order left with no crew on its way waits again."""
        out: list[Decision] = []
        for ps in steps:
            job = self.jobs[ps.job_id]
            if job.status in LIVE_JOB:
                out.extend(self._cancel_job(job, t_s))
                self._refresh_waiting(self.orders[job.order_id], t_s)
        return out

    def _on_fault_located(self, ev: FaultLocated) -> list[Decision]:
        """A crew on the repair of an operated MV device has patrolled its line and says where
        the faults are: they are switched around with the manual switches and ties too."""
        state, job = self._crew_on(ev.crew_id, ev.job_id, "reports faults found for")
        if job.kind != JobKind.REPAIR or state.status != CrewStatus.ON_SITE:
            raise EventError(f"crew {ev.crew_id} reports faults found for {ev.job_id}: it must be on site "
                             f"of a repair job")
        if not ev.element_ids:
            raise EventError(f"faults found for {ev.job_id}: no element named")
        nodes = []
        for element_id in ev.element_ids:
            node = self._element_node(element_id)
            if node is None or not self.net.is_ancestor(job.node_idx, node):
                raise EventError(f"faults found for {ev.job_id}: {element_id!r} is not an element below "
                                 f"{job.element_id}")
            if self.net.kind[node] > NodeKind.TRANSFORMER:
                raise EventError(f"faults found for {ev.job_id}: {element_id} is not on the MV network (a "
                                 f"patrol finds the faults that operated {job.element_id})")
            nodes.append(node)
        board = self.switchboard
        order = self._surviving(self.orders[job.order_id])
        if board is None or board.mode != SwitchingMode.FULL or order.status not in OPEN:
            return []
        board.plan(order.order_id, nodes, self._mv_open_nodes(job.node_idx), remote=False,
                   repair=job.node_idx)
        return self._run_switching(ev.t_s)

    def _on_switching_done(self, ev: SwitchingDone) -> list[Decision]:
        """A crew operated a manual switch: the step is done and the next ones may follow."""
        state, job = self._crew_on(ev.crew_id, ev.job_id, "reports switching for")
        ps = self._step_of_job.get(job.job_id)
        if ps is None or state.status != CrewStatus.ON_SITE:
            raise EventError(f"crew {ev.crew_id} reports switching for {ev.job_id}: it must be on site of a "
                             f"switching job")
        out = self._duty_check(state, ev.t_s)
        out.extend(self._finish_job(job, ev.t_s))
        order = self._surviving(self.orders[job.order_id])
        if ps.status == StepStatus.DUE and self.switchboard is not None:
            if self._still_safe(ps):
                self.switchboard.done(ps)
                out.append(Operate(ev.t_s, order.order_id, ps.step.element_id, ps.step.action, ps.step_id))
            else:
                out.extend(self._drop_step(ps, ev.t_s))
        out.extend(self._run_switching(ev.t_s))
        out.extend(self._repairs_over(order, ev.t_s, state.role.value, state))
        out.extend(self._keep_switching(order, state, ev.t_s))
        return out

    def _on_switch_refused(self, ev: SwitchRefused) -> list[Decision]:
        """A step did not hold: an isolate or restore step is dropped with those after it (their
        jobs cancelled); a return to normal that tripped means a fault nobody knew of in the
        section: a first responder goes to the switch to find it, and the step waits for its
        repair. Refused once the order is closed (a remote return to normal is taken as done when
        sent, and the order closed with it): what is dark then is a new outage."""
        board = self.switchboard
        ps = board.steps[ev.step_id] if board is not None and 0 <= ev.step_id < len(board.steps) else None
        if board is None or ps is None or ps.status != StepStatus.DONE or not ps.operated \
                or (ps.step.element_id, ps.step.action) != (ev.element_id, ev.action):
            raise EventError(f"switching step {ev.step_id} ({ev.action} {ev.element_id}) refused, but no "
                             f"such step was carried out (one whose switch was already so is done without "
                             f"operating it)")
        order = self._surviving(self.orders[ps.order_id])
        if order.status not in OPEN:
            raise EventError(f"switching step {ev.step_id} ({ev.action} {ev.element_id}) refused, but its "
                             f"work order {order.order_id} is {order.status.value}: report what is dark now "
                             f"as a new outage (calls, a device report)")
        board.undo(ps)
        out = self._drop_step(ps, ev.t_s)
        if ps.status == StepStatus.WAITING:
            self._new_job(order, JobKind.FIRST_RESPONSE, ps.step.node, "", self.estimates.first_response_s,
                          ev.t_s)
            return out
        out.extend(self._repairs_over(order, ev.t_s, "") if not self._live_jobs_of(order) else [])
        return out

    def _on_step_held(self, ev: StepHeld) -> list[Decision]:
        """A dispatcher holds a step; a crew on its way to it is called back."""
        board = self._overridden(ev.step_id, "hold")
        with _overriding():
            called_off = board.hold(ev.step_id, ev.reason)
        return self._cancel_step_jobs(called_off, ev.t_s)

    def _on_step_released(self, ev: StepReleased) -> list[Decision]:
        """A dispatcher releases a held step: it comes due when the steps it waits for are done."""
        board = self._overridden(ev.step_id, "release")
        with _overriding():
            board.release(ev.step_id)
        return self._run_switching(ev.t_s)

    def _on_step_moved(self, ev: StepMoved) -> list[Decision]:
        """A dispatcher has a step carried out before another (refused when unsafe); the other,
        if a crew was on its way to it, waits now."""
        board = self._overridden(ev.before, "move a step before")
        self._overridden(ev.step_id, "move")
        with _overriding():
            waits = board.move_before(ev.step_id, ev.before, self._mv_open_nodes(-1))
        out = self._cancel_step_jobs(waits, ev.t_s)
        out.extend(self._run_switching(ev.t_s))
        return out

    def _overridden(self, step_id: int, what: str) -> Switchboard:
        """The board, for a dispatcher's override of a step no crew is carrying out now."""
        if self.switchboard is None:
            raise EventError(f"cannot {what} switching step {step_id}: switching is off")
        with _overriding():
            ps = self.switchboard.open_step(step_id)
        job = self.jobs.get(ps.job_id) if ps.status == StepStatus.DUE and ps.job_id else None
        if job is not None and job.status == JobStatus.ON_SITE:
            raise EventError(f"cannot {what} switching step {step_id} ({describe(ps)}): crew {job.crew_id} "
                             f"is at the switch carrying it out")
        return self.switchboard

    def _restore(self, order: WorkOrder, t_s: int, role: str) -> list[Decision]:
        """Nothing is left to do for the order: its customers are back (or advised). An order
        no crew had reached (its work came with the orders merged into it) is reached now, by
        the crew (of ``role``) that finished it."""
        if order.status in WAITING:
            self._reach(order, t_s, role)
        order.move(OrderStatus.REPAIRED, t_s)
        self.etrs.forget(order.order_id)
        self._close_incident(order, t_s)
        out: list[Decision] = list(self.callbacks.release(order.order_id, t_s, self.holder))
        self._maybe_close(order, t_s)
        return out

    def _maybe_close(self, order: WorkOrder, t_s: int) -> None:
        """A repaired order whose callers have all been called back is closed."""
        if order.status == OrderStatus.REPAIRED and self.callbacks.all_done(order.order_id):
            order.move(OrderStatus.CALLBACK_DONE, t_s)
            order.move(OrderStatus.CLOSED, t_s)

    def _cancel_order(self, order: WorkOrder, t_s: int) -> list[Decision]:
        """Cancel an order no crew has reached; its jobs' crews are called back, its callers
        called back."""
        out: list[Decision] = []
        for job in self._live_jobs_of(order):
            out.extend(self._cancel_job(job, t_s))
        order.move(OrderStatus.CANCELLED, t_s)
        self.etrs.forget(order.order_id)
        self._close_incident(order, t_s)
        out.extend(self.callbacks.release(order.order_id, t_s, self.holder))
        return out

    def _close_incident(self, order: WorkOrder, t_s: int) -> None:
        self.predictor.close(order.incident_id, t_s)
        k = self._open_order_at[order.node_idx]
        if k >= 0 and self._order_list[k] is order:
            self._open_order_at[order.node_idx] = -1

    def holder(self, node: int) -> str | None:
        """The open order nearest above ``node`` (holding it dark), if any."""
        k = self._open_order_from(node)
        return None if k < 0 else self._order_list[k].order_id

    def _covered(self, node: int) -> bool:
        """Whether an open order covers ``node`` (on it or upstream of it)."""
        return self._open_order_from(node) >= 0

    # -- jobs and crews ----------------------------------------------------------------
    def _end_job(self, job: Job, to: JobStatus, t_s: int) -> None:
        job.move(to, t_s)
        self._live_jobs.pop(job.job_id, None)
        self.policy.on_job_change(job)

    def _cancel_job(self, job: Job, t_s: int) -> list[Decision]:
        team = job.team
        job.crew_id, job.helpers = "", []
        self._end_job(job, JobStatus.CANCELLED, t_s)
        return [self._recall(self.crews[c], job, t_s) for c in team]

    def _recall(self, state: CrewState, job: Job, t_s: int) -> Recall:
        """The crew leaves ``job`` (already taken off it): free again where it is now."""
        if state.status == CrewStatus.EN_ROUTE:
            state.x_m, state.y_m = self.position(state.crew_id, t_s)
            self._crew_snap.pop(state.crew_id, None)
        state.free(t_s)
        self.log.recalled += 1
        self.policy.on_crew_free(state.crew_id)
        return Recall(t_s, job.order_id, state.crew_id, job.job_id)

    def _detach(self, state: CrewState, t_s: int) -> Job:
        """Take the crew off its job: a helper just leaves; a lead hands the lead to a helper,
        or, with none, gives the job back (new again, the work it did booked)."""
        job = self.jobs[state.job_id]
        crew_id = state.crew_id
        if state.status == CrewStatus.ON_SITE:
            job.worked_s += t_s - state.arrived_s
        if job.crew_id == crew_id:
            job.crew_id = job.helpers.pop(0) if job.helpers else ""
        else:
            job.helpers.remove(crew_id)
        if not job.team:
            job.move(JobStatus.NEW, t_s)
        elif job.status == JobStatus.ON_SITE and \
                all(self.crews[c].status != CrewStatus.ON_SITE for c in job.team):
            job.move(JobStatus.EN_ROUTE, t_s)
        self.policy.on_job_change(job)
        self._refresh_waiting(self.orders[job.order_id], t_s)
        self.etrs.touch(job.order_id)
        return job

    def _work_left(self, job: Job, t_s: int) -> int:
        """Expected crew-seconds of work left: the estimate less what crews did, and at least
        a quarter of the estimate once it runs over."""
        done = job.worked_s + sum(t_s - self.crews[c].arrived_s for c in job.team
                                  if self.crews[c].status == CrewStatus.ON_SITE)
        return max(job.service_s - done, job.service_s // 4) if done else job.service_s

    def _finish_on_site(self, job: Job, t_s: int) -> int:
        on_site = sum(1 for c in job.team if self.crews[c].status == CrewStatus.ON_SITE)
        return t_s + self._work_left(job, t_s) // max(1, on_site)

    def _duty_check(self, state: CrewState, t_s: int) -> list[Decision]:
        """A crew reporting work past its duty limit: accepted, counted and alerted once."""
        if not state.past_duty(t_s) or state.breached:
            return []
        state.breached = True
        self.log.hours_of_service_breaches += 1
        return [Alert(t_s, state.crew_id, "hours_of_service", state.duty_end_s)]

    def _on_shift_start(self, ev: ShiftStarted) -> list[Decision]:
        state = self._crew(ev.crew_id)
        if state.status != CrewStatus.OFF:
            return []
        shift = state.crew.shift_at(ev.t_s)
        end = shift[1] if shift and shift[0] <= ev.t_s else ev.t_s + state.crew.duty.max_duty_s
        self._crew_snap.pop(ev.crew_id, None)
        out: list[Decision] = []
        if not state.start_duty(ev.t_s, end):
            self.log.hours_of_service_breaches += 1
            state.breached = True
            out.append(Alert(ev.t_s, ev.crew_id, "hours_of_service",
                             (state.off_since_s or 0) + state.crew.duty.min_rest_s))
        self.policy.on_crew_free(ev.crew_id)
        return out

    def _on_shift_end(self, ev: ShiftEnded) -> list[Decision]:
        """The crew's duty ends: whatever it is on is handed back (the work it did counts)."""
        state = self._crew(ev.crew_id)
        if state.status == CrewStatus.OFF:
            return []
        out: list[Decision] = []
        if state.status in ON_A_JOB:
            job = self._detach(state, ev.t_s)
            self.log.handed_back_at_duty_end += 1
            out.append(Recall(ev.t_s, job.order_id, ev.crew_id, job.job_id))
        state.end_duty(ev.t_s)
        self._crew_snap.pop(ev.crew_id, None)
        self.policy.on_crew_change(ev.crew_id)
        return out

    def _on_position(self, ev: CrewPosition) -> list[Decision]:
        """A GPS fix: an en-route crew's leg restarts from where it is, anyone else is there."""
        state = self._crew(ev.crew_id)
        state.x_m, state.y_m = ev.x_m, ev.y_m
        self._crew_snap.pop(ev.crew_id, None)
        if state.status == CrewStatus.EN_ROUTE:
            state.leg_start_s = ev.t_s
            travel = self.travel_from_crews([ev.crew_id], self.jobs[state.job_id])[0]
            state.eta_s = ev.t_s + round(float(travel))
        self.policy.on_crew_change(ev.crew_id)
        if state.status not in ON_A_JOB and ev.t_s <= state.duty_end_s + IDLE_PAST_DUTY_GRACE_S:
            return []  # its shift end is on its way (the live clock applies it within a tick)
        return self._duty_check(state, ev.t_s)

    def _on_arrived(self, ev: CrewArrived) -> list[Decision]:
        state, job = self._crew_on(ev.crew_id, ev.job_id, "arrived at")
        if state.status != CrewStatus.EN_ROUTE:
            raise EventError(f"crew {ev.crew_id} arrived at {ev.job_id} but is {state.status.value}")
        if job.status == JobStatus.EN_ROUTE:
            job.move(JobStatus.ON_SITE, ev.t_s)
        state.arrive(ev.t_s, job.x_m, job.y_m)
        self._crew_snap[ev.crew_id] = self._site_snap(job)
        order = self.orders[job.order_id]
        owner = self._taken_in.get(job.job_id)
        if job.kind == JobKind.SWITCHING:
            if order.status in WAITING:  # a crew works on it; a switch is not the incident's site
                order.move(OrderStatus.ON_SITE, ev.t_s)
                self._unreached.pop(order.order_id, None)
        elif owner is None:
            self._reach(order, ev.t_s, state.role.value)
        else:  # a job the order took in with a merged order: the crew is at that order's site
            self._reach(self.orders[owner], ev.t_s, state.role.value)
            self._unreached.pop(order.order_id, None)
            self._refresh_waiting(order, ev.t_s)
        self.etrs.touch(job.order_id)
        self.policy.on_crew_change(ev.crew_id)
        return self._duty_check(state, ev.t_s)

    def _finish_job(self, job: Job, t_s: int) -> list[Decision]:
        """The job is done: every crew on it is free again; one still on its way to help is
        called back."""
        out: list[Decision] = []
        team = job.team
        job.crew_id, job.helpers = "", []
        for crew_id in team:
            state = self.crews[crew_id]
            if state.status == CrewStatus.EN_ROUTE:
                out.append(self._recall(state, job, t_s))
                continue
            job.worked_s += t_s - state.arrived_s
            state.free(t_s)
            self.policy.on_crew_free(crew_id)
        self._end_job(job, JobStatus.DONE, t_s)
        return out

    def _on_first_response(self, ev: FirstResponseDone) -> list[Decision]:
        """The responder's findings: a cause upstream moves the incident there; what it fixed
        or found customer-side needs nothing more; the rest becomes repair jobs. With nothing
        left to do the order is repaired."""
        state, job = self._crew_on(ev.crew_id, ev.job_id, "reports a first response for")
        if job.kind != JobKind.FIRST_RESPONSE or state.status != CrewStatus.ON_SITE:
            raise EventError(f"crew {ev.crew_id} reports a first response for {ev.job_id}: it must be on "
                             f"site of a first-response job")
        nodes = [self._finding_node(f, job) for f in ev.findings]
        on_path = [n for n in nodes if self.net.is_ancestor(n, job.node_idx)]
        anchor = min(on_path) if on_path else job.node_idx
        found = [(self._checked_finding(f, n, job, anchor), f)
                 for n, f in zip(nodes, ev.findings, strict=True)]
        out = self._duty_check(state, ev.t_s)
        out.extend(self._finish_job(job, ev.t_s))
        self.log.first_responses += 1
        order = self.orders[job.order_id]
        order.diagnosed = True
        above = [node for node, _ in found
                 if node != order.node_idx and self.net.is_ancestor(node, order.node_idx)]
        if above:
            out.extend(self._relocate(order, min(above), ev.t_s))
            order = self._surviving(order)
        utility = [f for _, f in found if not f.customer_side]
        if found and all(f.fixed for f in utility) and any(f.fixed for f in utility):
            self.log.fixed_on_first_visit += 1
        if found and not utility and job.node_idx == order.node_idx:
            order.customer_side = True  # not when the visit was at the site of an order it took in
        self._found(order, found, ev.t_s)
        if self.net.is_ancestor(job.node_idx, order.node_idx) or above:
            for other in self._live_jobs_of(order):
                if other.kind == JobKind.FIRST_RESPONSE and other.status == JobStatus.NEW:
                    self._end_job(other, JobStatus.CANCELLED, ev.t_s)
        out.extend(self._repairs_over(order, ev.t_s, state.role.value))
        self.etrs.touch(order.order_id)
        return out

    def _found(self, order: WorkOrder, found: list[tuple[int, Finding]], t_s: int) -> None:
        """Findings become repair jobs of the order (one per element and skill), but for what
        was fixed on the spot or is the customer's own (counted)."""
        self.log.customer_side_faults += sum(1 for _, f in found if f.customer_side)
        for node, f in found:
            if not f.fixed and not f.customer_side and not any(
                    j.node_idx == node and j.skill == f.skill for j in self._live_jobs_of(order)):
                self._new_job(order, JobKind.REPAIR, node, f.skill, f.repair_s, t_s)

    def _finding_node(self, f: Finding, job: Job) -> int:
        node = self._element_node(f.element_id)
        if node is None:
            raise EventError(f"first response for {job.job_id}: unknown element {f.element_id!r}")
        return node

    def transformer_area(self, node: int) -> int | None:
        """The transformer whose LV area ``node`` lies in (None for an MV node, or an LV node
        fed straight from MV, as an imported grid's MV customers are)."""
        kind = self.net.kind
        while node >= 0 and kind[node] > NodeKind.TRANSFORMER:
            node = self._parent[node]
        return node if node >= 0 and kind[node] == NodeKind.TRANSFORMER else None

    def _checked_finding(self, f: Finding, node: int, job: Job, anchor: int) -> int:
        """The finding's node; refused unless it is on the site's supply path, below the
        highest finding there (the cause) or in the site's transformer area (a responder walks
        it), with a known skill (none only for customer-side findings) and a repair time."""
        area = self.transformer_area(job.node_idx)
        if not (self.net.is_ancestor(node, job.node_idx) or self.net.is_ancestor(anchor, node)
                or (area is not None and self.net.is_ancestor(area, node))):
            raise EventError(f"first response for {job.job_id}: {f.element_id} is neither on the supply path "
                             f"of the site {job.element_id}, nor below the cause found there, nor in the "
                             f"site's transformer area")
        if f.skill not in SKILLS and not (f.customer_side and not f.skill):
            raise EventError(f"first response for {job.job_id}: finding {f.element_id} needs a skill of "
                             f"{', '.join(SKILLS)}, got {f.skill!r}")
        if f.repair_s < 0:
            raise EventError(f"first response for {job.job_id}: repair time of {f.element_id} is negative")
        return node

    def _relocate(self, order: WorkOrder, node: int, t_s: int) -> list[Decision]:
        """The cause lies upstream at ``node``: the order moves there (more customers behind
        it) and absorbs the orders below; or, when an open order already covers ``node``,
        it folds into that one."""
        holder = self.holder(node)
        if holder is not None and holder != order.order_id:
            upper = self.orders[holder]
            self.predictor.merge(order.incident_id, upper.incident_id)
            return self._merge_order(order.incident_id, upper, t_s)
        change = self.predictor.relocate(order.incident_id, node)
        self._move_site(order, node)  # nobody is at the cause yet: the orders it absorbs wait for one
        out: list[Decision] = []
        for child_id in change.merged:
            out.extend(self._merge_order(child_id, order, t_s))
        return out

    def _on_repaired(self, ev: RepairFinished) -> list[Decision]:
        """A repair is done; what the crew saw still open below it, or at the element itself
        needing a skill the repair did not have, becomes repair jobs of the same order
        (customers' own faults are counted: the crew advised them)."""
        state, job = self._crew_on(ev.crew_id, ev.job_id, "reports repaired")
        if job.kind != JobKind.REPAIR or state.status != CrewStatus.ON_SITE:
            raise EventError(f"crew {ev.crew_id} reports {ev.job_id} repaired but is {state.status.value} "
                             f"on a {job.kind.value} job")
        below = []
        for f in ev.findings:
            node = self._finding_node(f, job)
            if not self.net.is_ancestor(job.node_idx, node):
                raise EventError(f"repair of {job.job_id}: {f.element_id} is not below the repaired "
                                 f"{job.element_id}")
            if node == job.node_idx and (f.customer_side or f.skill == job.skill):
                raise EventError(f"repair of {job.job_id}: {f.element_id} is the repaired element; only work "
                                 f"of another skill than {job.skill} can be left there")
            below.append((self._checked_finding(f, node, job, job.node_idx), f))
        out = self._duty_check(state, ev.t_s)
        out.extend(self._finish_job(job, ev.t_s))
        order = self.orders[job.order_id]
        self._found(order, below, ev.t_s)
        out.extend(self._repairs_over(order, ev.t_s, state.role.value, state))
        self.etrs.touch(order.order_id)
        return out

    def _on_released(self, ev: CrewReleased) -> list[Decision]:
        state, job = self._crew_on(ev.crew_id, ev.job_id, "leaves")
        if state.status != CrewStatus.ON_SITE or len(job.team) < 2:
            raise EventError(f"crew {ev.crew_id} cannot leave {ev.job_id}: only a crew on site "
                             f"with others on the job can")
        out = self._duty_check(state, ev.t_s)
        self._detach(state, ev.t_s)
        state.free(ev.t_s)
        self.policy.on_crew_free(ev.crew_id)
        return out

    def _on_callback_made(self, ev: CallbackMade) -> list[Decision]:
        """A callback's outcome; a customer still dark reopens work: their call is grouped
        again and a new order opens where no open incident explains it."""
        try:
            outcome = CallbackOutcome(ev.outcome)
        except ValueError:
            raise EventError(f"callback {ev.callback_id}: outcome must be one of "
                             f"{', '.join(o.value for o in CallbackOutcome)}, got {ev.outcome!r}") from None
        if ev.callback_id not in self.callbacks.callbacks:
            raise EventError(f"unknown callback {ev.callback_id!r}")
        try:
            cb = self.callbacks.record(ev.callback_id, outcome, ev.t_s)
        except ValueError as exc:
            raise EventError(str(exc)) from None
        out: list[Decision] = []
        if outcome == CallbackOutcome.STILL_DARK:
            self.log.reopened += 1
            change = self.predictor.add_call(f"CB:{cb.callback_id}@{ev.t_s}", cb.node_idx, ev.t_s)
            out = self._on_change(change, ev.t_s, OrderOrigin.CALLBACK)
            self._owe_callback(change.incident_id, cb.node_idx, ev.t_s)
        if cb.outcome is not None:
            order = self.orders.get(cb.order_id)
            if order is not None:
                self._maybe_close(order, ev.t_s)
        return out

    def _on_callback_done(self, ev: CallbackDone) -> list[Decision]:
        """Every due callback of the order was made and found the customer's supply back."""
        order = self._order(ev.order_id)
        due = self.callbacks.due_of(order.order_id)
        if order.status != OrderStatus.REPAIRED or not due:
            raise EventError(f"callback for {ev.order_id}, which is {order.status.value}, "
                             f"{'not repaired' if order.status != OrderStatus.REPAIRED else 'has none due'}")
        for cb in due:
            self.callbacks.record(cb.callback_id, CallbackOutcome.RESTORED, ev.t_s)
        self._maybe_close(order, ev.t_s)
        return []

    def _on_cancelled(self, ev: OrderCancelled) -> list[Decision]:
        order = self._order(ev.order_id)
        if order.status not in WAITING:
            raise EventError(f"cannot cancel {ev.order_id}: it is {order.status.value}")
        working = self._worked_job(order)
        if working is not None:
            raise EventError(f"cannot cancel {ev.order_id}: a crew is at work on it ({working}, a job it "
                             f"took in with a merged order)")
        if self.switchboard is not None and self.switchboard.pending(order.order_id):
            raise EventError(f"cannot cancel {ev.order_id}: its switching is not back to normal "
                             f"({', '.join(self.switchboard.off_normal(order.order_id))})")
        return self._cancel_order(order, ev.t_s)

    def _on_generator(self, ev: GeneratorConnected) -> list[Decision]:
        self.generators.connect(ev.truck_id)
        self.log.generators_connected += 1
        return list(self.generators.release(self._covered, ev.t_s))

    # -- sending crews -----------------------------------------------------------------
    def _dispatch(self, t_s: int) -> list[Decision]:
        """Carry out the policy's assignments; one the crew cannot finish on duty, or no longer
        possible, is skipped (counted) and the policy told of the crew."""
        out: list[Decision] = []
        for job_id, crew_id in self.policy.decide(self, t_s):
            job, state = self.jobs[job_id], self.crews[crew_id]
            helping = job.status in (JobStatus.EN_ROUTE, JobStatus.ON_SITE) and \
                state.status == CrewStatus.IDLE and len(job.team) < self.policy.team_size(job)
            if not (job.status == JobStatus.NEW or helping) or crew_id in job.team \
                    or state.status not in SENDABLE or (job.skill and job.skill not in state.crew.skills):
                raise AssertionError(f"policy {self.policy.name} sent {crew_id} ({state.status.value}) "
                                     f"to {job_id} ({job.status.value}, {job.skill or 'any skill'})")
            travel = self._travel_now(state, job, t_s)
            if not self.fits_duty(crew_id, job, t_s, travel):
                self.log.assignments_refused += 1
                self.policy.on_crew_change(crew_id)
                if state.status == CrewStatus.IDLE:
                    self.policy.on_crew_free(crew_id)
                continue
            out.append(self._send(job, state, t_s, travel))
        return out

    def _send(self, job: Job, state: CrewState, t_s: int, travel: int) -> Decision:
        """Send the crew to the job (as its lead, or to help a team already on it); an
        en-route crew is diverted from where it is now, and its old job waits again."""
        crew_id = state.crew_id
        dropped = None
        if state.status == CrewStatus.EN_ROUTE:
            state.x_m, state.y_m = self.position(crew_id, t_s)
            self._crew_snap.pop(crew_id, None)
            dropped = self._detach(state, t_s)
        if job.crew_id:
            job.helpers.append(crew_id)
            self.log.assists += 1
        else:
            job.crew_id = crew_id
        if job.status == JobStatus.NEW:
            job.move(JobStatus.EN_ROUTE, t_s)
        state.set_off(job.job_id, t_s, travel)
        self._refresh_waiting(self.orders[job.order_id], t_s)
        self.log.assigned += 1
        self.etrs.touch(job.order_id)
        if dropped is not None:
            self.log.diverted += 1
            return Divert(t_s, crew_id, dropped.order_id, job.order_id, travel, dropped.job_id, job.job_id,
                          job.kind.value, job.node_idx, job.skill)
        return Assign(t_s, job.order_id, crew_id, travel, job.job_id, job.kind.value, job.node_idx, job.skill)

    def _on_dispatcher_assign(self, ev: DispatcherAssigned) -> list[Decision]:
        """A dispatcher's choice of crew (see ``DispatcherAssigned``)."""
        order, state = self._order(ev.order_id), self._crew(ev.crew_id)
        if order.status not in OPEN:
            raise EventError(f"cannot send a crew to {ev.order_id}: it is {order.status.value}")
        if state.status not in SENDABLE:
            raise EventError(f"crew {ev.crew_id} is {state.status.value}: only an idle or en-route crew "
                             f"can be sent")
        job = self._assignable_job(order, state, ev.job_id)
        if ev.crew_id in job.team:
            raise EventError(f"crew {ev.crew_id} is already on {job.job_id}")
        travel = self._travel_now(state, job, ev.t_s)
        if not self.fits_duty(ev.crew_id, job, ev.t_s, travel):
            raise EventError(f"crew {ev.crew_id} cannot finish {job.job_id} before its duty limit at "
                             f"{state.duty_end_s} s")
        out: list[Decision] = []
        lead = self.crews[job.crew_id] if job.crew_id else None
        if lead is not None and job.status == JobStatus.EN_ROUTE and lead.status == CrewStatus.EN_ROUTE:
            self._detach(lead, ev.t_s)
            out.append(self._recall(lead, job, ev.t_s))
        out.append(self._send(job, state, ev.t_s, travel))
        self.policy.on_crew_change(ev.crew_id)
        self.policy.on_override()
        return out

    def _assignable_job(self, order: WorkOrder, state: CrewState, job_id: str) -> Job:
        """The job a dispatcher sends a crew to: the one named, else the order's first job
        waiting for a crew that the crew can do."""
        skills = state.crew.skills
        if job_id:
            job = self._job(job_id)
            if job.order_id != order.order_id or job.status not in (JobStatus.NEW, JobStatus.EN_ROUTE):
                raise EventError(f"job {job_id} is not a job of {order.order_id} waiting for a crew")
            if job.skill and job.skill not in skills:
                raise EventError(f"crew {state.crew_id} lacks the skill {job.skill} that {job_id} needs")
            return job
        waiting = [j for j in self._live_jobs_of(order) if j.status in (JobStatus.NEW, JobStatus.EN_ROUTE)]
        for job in waiting:
            if not job.skill or job.skill in skills:
                return job
        if waiting:
            raise EventError(f"crew {state.crew_id} lacks the skill {waiting[0].skill} that {order.order_id} "
                             f"needs")
        raise EventError(f"work order {order.order_id} has no job waiting for a crew")

    # -- positions, ETRs ---------------------------------------------------------------
    def _travel_now(self, state: CrewState, job: Job, t_s: int) -> int:
        """Seconds from where the crew is now (on its way: part way along its leg) to the job."""
        if state.status == CrewStatus.EN_ROUTE:
            x, y = self.position(state.crew_id, t_s)
            nodes, access = self.travel.snap(x, y)
            b_node, b_access = self._site_snap(job)
            return round(float(self.travel.between_snapped(nodes, access, b_node, b_access)[0]))
        return round(float(self.travel_from_crews([state.crew_id], job)[0]))

    def _site_snap(self, job: Job) -> tuple[int, float]:
        snap = self._snap.get(job.job_id)
        if snap is None:
            nodes, access = self.travel.snap(job.x_m, job.y_m)
            snap = (int(nodes[0]), float(access[0]))
            self._snap[job.job_id] = snap
        return snap

    def _crew_position(self, crew_id: str) -> tuple[int, float]:
        snap = self._crew_snap.get(crew_id)
        if snap is None:
            s = self.crews[crew_id]
            nodes, access = self.travel.snap(s.x_m, s.y_m)
            snap = (int(nodes[0]), float(access[0]))
            self._crew_snap[crew_id] = snap
        return snap

    def _job_finish(self, job: Job, t_s: int) -> int | None:
        """When the job should be done (never before now): on site from the work left;
        otherwise the policy's plan, or the lead's arrival plus the work."""
        if job.status == JobStatus.ON_SITE:
            return self._finish_on_site(job, t_s)
        planned = self.policy.planned_finish(job.job_id)
        if planned is not None:
            return max(t_s, planned)
        if job.status == JobStatus.EN_ROUTE and job.crew_id:
            return max(t_s, self.crews[job.crew_id].eta_s + self._work_left(job, t_s))
        return None

    def _own_finish(self, order: WorkOrder, t_s: int) -> int | None:
        """When the order's own work should be done: its last job, and after a first response
        still to come, the repair its site's class usually needs."""
        finish = t_s
        for job in self._live_jobs_of(order):
            f = self._job_finish(job, t_s)
            if f is None:
                return None
            if job.kind == JobKind.FIRST_RESPONSE and not order.diagnosed:
                f += self.estimates.repair_s(self.net, order.node_idx)
            finish = max(finish, f)
        return finish

    def _etr_of(self, order: WorkOrder, t_s: int) -> int:
        """Customers behind ``order`` are back when it and every open order upstream of it
        are done. An order no plan has reached is quoted at the policy's horizon."""
        etr = 0
        ups = [self._order_list[k] for k in self._open_order_at[self.net.path_up(order.node_idx)] if k >= 0]
        for up in [order, *ups]:
            finish = self._own_finish(up, t_s)
            etr = max(etr, finish if finish is not None else t_s + self.policy.horizon_s)
        return etr

    def _skip_closed(self) -> None:
        orders = self._order_list
        while self._first_open < len(orders) and orders[self._first_open].status not in OPEN:
            self._first_open += 1



@contextmanager
def _overriding() -> Iterator[None]:
    """A switchboard override whose refusal is the event's (it changed nothing)."""
    try:
        yield
    except OverrideError as exc:
        raise EventError(str(exc)) from None
