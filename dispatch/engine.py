"""The event-driven dispatch engine: events in, decisions out, on the storm clock.

One engine serves live use and replay: it sees only what a utility sees (calls, crew
reports), never the storm's ground truth. Calls are resolved and grouped into incidents by
``grid_model``; each incident gets a work order; the policy assigns crews.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.alerts import LimitAlerts
from dispatch.crews import Crew
from dispatch.estimates import RepairEstimates
from dispatch.etr import EtrBook
from dispatch.events import (
    AmiMessage,
    Assign,
    CallbackDone,
    CallReceived,
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
    FaultFound,
    GeneratorConnected,
    Handover,
    OrderCancelled,
    PlannedOutageAnnounced,
    Recall,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.generators import GeneratorFleet, GeneratorTruck
from dispatch.limits import ServiceLimits
from dispatch.orders import OPEN, WAITING, OrderStatus, WorkOrder
from dispatch.policy import DispatchPolicy
from grid_model.network import AREA_NAMES, Construction, DeviceKind, NodeKind
from grid_model.predict import IncidentChange, IncidentKind, OutagePredictor
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call
from routing.travel import RoadTravel

log = logging.getLogger(__name__)

_LV_KINDS = (NodeKind.CUSTOMER, NodeKind.METER_BOX, NodeKind.SERVICE_DROP, NodeKind.LV_BRANCH)


@dataclass(slots=True)
class CrewState:
    """Where a crew is and what it is doing; busy and duty seconds feed utilisation.
    En route, (x_m, y_m) is where the leg began at ``leg_start_s``; it arrives at ``eta_s``."""

    crew: Crew
    x_m: float
    y_m: float
    status: str = "off"
    order_id: str = ""
    going_off: bool = False
    shift_end_s: int = 0
    busy_s: int = 0
    duty_s: int = 0
    duty_since: int = 0
    busy_since: int = 0
    leg_start_s: int = 0
    eta_s: int = 0
    visits: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CrewAvailability:
    """When and where a crew is next free to start a job, until when it may, and the job it
    is committed to (driving there) meanwhile; what a planner needs of a crew."""

    free_s: int
    end_s: int
    x_m: float
    y_m: float
    committed: str


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
    callbacks: int = 0
    generators_connected: int = 0
    rejected: list[str] = field(default_factory=list)


class DispatchEngine:
    """Holds work orders, crews and incidents; ``handle`` one event at a time."""

    def __init__(self, region: Region, crews: list[Crew], policy: DispatchPolicy, *,
                 travel: RoadTravel, limits: ServiceLimits | None = None,
                 estimates: RepairEstimates | None = None,
                 generators: list[GeneratorTruck] | None = None) -> None:
        self.region = region
        self.net = region.network
        self.policy = policy
        self.travel = travel
        self.limits = limits or ServiceLimits()
        self.estimates = estimates or RepairEstimates()
        self.resolver = CallResolver(region)
        self.predictor = OutagePredictor(self.net)
        self._device_index = {d: i for i, d in enumerate(self.net.device_id) if d}
        self._node_index = self.net.index_of()
        self.clock_s: int | None = None
        self.orders: dict[str, WorkOrder] = {}
        self.order_of_incident: dict[str, str] = {}
        self.crews = {c.crew_id: CrewState(c, c.x_m, c.y_m) for c in crews}
        self.unlocated: list[UnlocatedCall] = []
        self.log = EngineLog()
        self._customers_below = self.net.count_below(self.net.kind == NodeKind.CUSTOMER)
        self._critical = region.critical_node_mask()
        self._critical_below = self.net.count_below(self._critical)
        self.generators = GeneratorFleet(generators or [], self.net, travel)
        self._open_order_at = np.full(self.net.n_nodes, -1, dtype=np.int64)
        self._order_list: list[WorkOrder] = []
        self._order_pos: dict[str, int] = {}
        self._first_open = 0
        self._order_snap: dict[str, tuple[int, float]] = {}
        self._crew_snap: dict[str, tuple[int, float]] = {}
        self.etrs = EtrBook()
        self.alerts = LimitAlerts(self.limits)
        self._handlers: dict[type, Callable[[Any], list[Decision]]] = {
            ClockTick: lambda ev: [], CallReceived: self._on_call, PlannedOutageAnnounced: self._on_planned,
            ShiftStarted: self._on_shift_start, ShiftEnded: self._on_shift_end,
            CrewArrived: self._on_arrived, RepairFinished: self._on_repaired,
            CrewReleased: self._on_released, FaultFound: self._on_fault_found,
            CallbackDone: self._on_callback,
            OrderCancelled: self._on_cancelled, CrewPosition: self._on_position,
            DeviceOperated: self._on_device, AmiMessage: self._on_ami,
            GeneratorConnected: self._on_generator, DispatcherAssigned: self._on_dispatcher_assign}

    @property
    def etr(self) -> dict[str, int]:
        """The current ETR (storm clock seconds) of each open order."""
        return self.etrs.current

    @property
    def etr_history(self) -> list[tuple[int, str, int]]:
        """Every ETR quoted: (when, order, ETR)."""
        return self.etrs.history

    # -- queries the policy uses -------------------------------------------------------
    def knows_device(self, device_id: str) -> bool:
        """Whether ``device_id`` is a protective device of the network."""
        return device_id in self._device_index

    def idle_crews(self, skill: str) -> list[str]:
        return [cid for cid, s in self.crews.items() if s.status == "idle" and skill in s.crew.skills]

    def is_idle(self, crew_id: str) -> bool:
        return self.crews[crew_id].status == "idle"

    def crew_skills(self, crew_id: str) -> frozenset[str]:
        return self.crews[crew_id].crew.skills

    def open_orders(self) -> list[WorkOrder]:
        """Orders waiting for a crew, on a crew's way or being worked."""
        self._skip_closed()
        return [o for o in self._order_list[self._first_open:] if o.status in OPEN]

    def repair_estimate(self, order: WorkOrder) -> int:
        return self.estimates.repair_s(self.net, order.node_idx)

    def position(self, crew_id: str, t_s: int) -> tuple[float, float]:
        """Where the crew is at ``t_s``: en route, straight-line progress along its leg."""
        s = self.crews[crew_id]
        if s.status != "en_route" or s.eta_s <= s.leg_start_s:
            return s.x_m, s.y_m
        dest = self.orders[s.order_id]
        f = min(1.0, max(0.0, (t_s - s.leg_start_s) / (s.eta_s - s.leg_start_s)))
        return s.x_m + f * (dest.x_m - s.x_m), s.y_m + f * (dest.y_m - s.y_m)

    def availability(self, crew_id: str, t_s: int) -> CrewAvailability:
        """When and where the crew can next start a job (see ``CrewAvailability``)."""
        s = self.crews[crew_id]
        if s.status == "off":
            shift = s.crew.shift_at(t_s)
            start, end = shift if shift else (t_s, t_s)
            return CrewAvailability(max(start, t_s), end, s.crew.x_m, s.crew.y_m, "")
        end = s.shift_end_s
        if s.status == "idle":
            return CrewAvailability(t_s, end, s.x_m, s.y_m, "")
        order = self.orders[s.order_id]
        if s.status == "en_route":
            return CrewAvailability(s.leg_start_s, t_s if s.going_off else end, s.x_m, s.y_m,
                                    s.order_id)
        share = self.repair_estimate(order) // len(order.team)
        # past its estimate, a repair is expected to need a quarter of it again
        free = max(t_s + share // 4, (order.arrived_s or t_s) + share)
        return CrewAvailability(free, free if s.going_off else max(end, free), s.x_m, s.y_m, "")

    def travel_from_crews(self, crew_ids: list[str], order: WorkOrder) -> np.ndarray:
        """Seconds from each crew's position to the order."""
        nodes = np.empty(len(crew_ids), dtype=np.int64)
        access = np.empty(len(crew_ids))
        for k, cid in enumerate(crew_ids):
            nodes[k], access[k] = self._crew_position(cid)
        b_node, b_access = self._order_snap[order.order_id]
        return self.travel.between_snapped(nodes, access, b_node, b_access)

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
        if isinstance(event, RepairFinished | OrderCancelled | AmiMessage) and self.generators.serving:
            out.extend(self.generators.release(self._covered, event.t_s))
        if settle:
            out.extend(self.settle(event.t_s))
        return out

    def settle(self, t_s: int) -> list[Decision]:
        """The decisions due now: the policy's assignments, alerts, re-quoted ETRs."""
        out = self._dispatch(t_s)
        out.extend(self.alerts.due(t_s, self.orders))
        out.extend(self.etrs.refresh(t_s, self.policy.plan_version, self.open_orders, self.orders,
                                     lambda order: self._etr_of(order, t_s)))
        return out

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

    def _on_planned(self, ev: PlannedOutageAnnounced) -> list[Decision]:
        device_idx = self._device_index.get(ev.device_id)
        if device_idx is None:
            raise EventError(f"planned outage {ev.outage_id}: unknown device {ev.device_id!r}")
        self.predictor.add_planned(ev.outage_id, device_idx, ev.start_s, ev.end_s)
        return []

    def _on_call(self, ev: CallReceived) -> list[Decision]:
        res = self.resolver.resolve(ev.call)
        if not res.located:
            self.unlocated.append(UnlocatedCall(ev.call.call_id, ev.t_s, res.reason))
            return [CallUnlocated(ev.t_s, ev.call.call_id, res.reason)]
        change = self.predictor.add_call(ev.call.call_id, res.node_idx, ev.t_s)
        return self._on_change(change, ev.t_s)

    def _on_device(self, ev: DeviceOperated) -> list[Decision]:
        device = self._device_index.get(ev.device_id)
        if device is None:
            raise EventError(f"device report: unknown device {ev.device_id!r}")
        change = self.predictor.add_device_report(f"SCADA:{ev.device_id}@{ev.t_s}", device, ev.t_s)
        return self._on_change(change, ev.t_s)

    def _on_ami(self, ev: AmiMessage) -> list[Decision]:
        """A last gasp is grouped like a call; when every meter that reported to an incident
        is back, its order, still waiting or on its way, is cancelled."""
        if ev.kind not in ("last_gasp", "restore"):
            raise EventError(f"AMI message from {ev.meter_id}: kind must be last_gasp or restore, "
                             f"got {ev.kind!r}")
        msg_id = f"AMI:{ev.meter_id}@{ev.t_s}"
        res = self.resolver.resolve(Call(msg_id, ev.t_s, meter_id=ev.meter_id))
        if not res.located:
            raise EventError(f"AMI message: {res.reason}")
        if ev.kind == "last_gasp":
            return self._on_change(self.predictor.add_last_gasp(msg_id, res.node_idx, ev.t_s), ev.t_s)
        over = self.predictor.add_restore(msg_id, res.node_idx, ev.t_s)
        order = self.orders.get(self.order_of_incident.get(over or "", ""))
        if order is None or order.status not in WAITING:
            return []
        return self._cancel(order, ev.t_s)

    def _on_change(self, change: IncidentChange, t_s: int) -> list[Decision]:
        """A new incident gets a work order that absorbs the orders of incidents it merged."""
        inc = self.predictor.incident(change.incident_id)
        if inc.kind == IncidentKind.PLANNED or not change.created:
            return []
        order = self._new_order(inc.incident_id, inc.node_idx, inc.first_report_s, t_s)
        out: list[Decision] = []
        for child_id in change.merged:
            out.extend(self._merge_order(child_id, order, t_s))
        if order.status == OrderStatus.NEW:
            self.policy.on_order(order)
        if order.critical and self.generators.trucks:
            sl = self.net.subtree(order.node_idx)
            nodes = (np.flatnonzero(self._critical[sl]) + sl.start).tolist()
            out.extend(self.generators.send(order.order_id, nodes, t_s))
        below = self._open_order_at[self.net.subtree(order.node_idx)]
        self.etrs.touch(order.order_id, *(self._order_list[k].order_id for k in below[below >= 0].tolist()))
        return out

    def _new_order(self, incident_id: str, node: int, first_report_s: int, t_s: int) -> WorkOrder:
        net = self.net
        kind = NodeKind(net.kind[node])
        if kind in _LV_KINDS:
            limit_class = "lv"
        elif kind == NodeKind.TRANSFORMER:
            limit_class = "mv"  # pad- or pole-mounted, replacing a transformer is MV work
        else:
            limit_class = "cable" if net.construction[node] == Construction.CABLE else "mv"
        area = AREA_NAMES[net.area[node]]
        order = WorkOrder(
            order_id=f"W{len(self._order_list) + 1:06d}", incident_id=incident_id, node_idx=node,
            element_id=net.device_id[node] if net.device[node] != DeviceKind.NONE else net.node_id[node],
            x_m=float(net.x_m[node]), y_m=float(net.y_m[node]), area=area, skill=limit_class,
            limit_class=limit_class, first_report_s=first_report_s,
            deadline_s=first_report_s + self.limits.arrival_limit(area),
            customers=int(self._customers_below[node]),
            critical=int(self._critical_below[node]),
        )
        order.history.append((t_s, OrderStatus.NEW))
        self.alerts.watch(order)
        self.orders[order.order_id] = order
        self.order_of_incident[incident_id] = order.order_id
        self._order_list.append(order)
        self._order_pos[order.order_id] = len(self._order_list) - 1
        self._open_order_at[node] = len(self._order_list) - 1
        nodes, access = self.travel.snap(order.x_m, order.y_m)
        self._order_snap[order.order_id] = (int(nodes[0]), float(access[0]))
        return order

    def _merge_order(self, incident_id: str, into: WorkOrder, t_s: int) -> list[Decision]:
        """Fold the order of a merged incident into ``into``; a crew on its way keeps going
        and takes over the surviving order. A crew already on site finishes its job."""
        child = self.orders.get(self.order_of_incident.get(incident_id, ""))
        if child is None or child.status not in WAITING:
            return []
        crew_id = child.crew_id if child.status == OrderStatus.EN_ROUTE else ""
        helpers, child.assists = child.assists, []
        child.merged_into = into.order_id
        child.move(OrderStatus.MERGED, t_s)
        self._open_order_at[child.node_idx] = -1
        self.etrs.forget(child.order_id)
        into.first_report_s = min(into.first_report_s, child.first_report_s)
        if child.deadline_s < into.deadline_s:
            into.deadline_s = child.deadline_s
            self.alerts.watch(into)
        self.policy.on_order_change(child)
        out = [d for c in helpers for d in self._free_crew(c, child.order_id, t_s)]
        if not crew_id:
            return out
        if into.status == OrderStatus.NEW and into.skill in self.crews[crew_id].crew.skills:
            into.crew_id = crew_id
            into.move(OrderStatus.ASSIGNED, t_s)
            into.move(OrderStatus.EN_ROUTE, t_s)
            state = self.crews[crew_id]
            state.order_id = into.order_id
            state.eta_s = state.leg_start_s + round(float(self._travel_from(state, into)))
            self.policy.on_order_change(into)
            self.etrs.touch(into.order_id)
            return [*out, Handover(t_s, child.order_id, into.order_id, crew_id)]
        return out + self._free_crew(crew_id, child.order_id, t_s)

    def _free_crew(self, crew_id: str, order_id: str, t_s: int) -> list[Decision]:
        self._release(self.crews[crew_id], t_s)
        self.log.recalled += 1
        return [Recall(t_s, order_id, crew_id)]

    def _on_shift_start(self, ev: ShiftStarted) -> list[Decision]:
        state = self._crew(ev.crew_id)
        state.going_off = False
        shift = state.crew.shift_at(ev.t_s)
        state.shift_end_s = shift[1] if shift else ev.t_s
        if state.status == "off":
            state.x_m, state.y_m = state.crew.x_m, state.crew.y_m
            self._crew_snap.pop(ev.crew_id, None)
            state.status = "idle"
            state.duty_since = ev.t_s
            self.policy.on_crew_free(ev.crew_id)
        else:
            self.policy.on_crew_change(ev.crew_id)
        return []

    def _on_shift_end(self, ev: ShiftEnded) -> list[Decision]:
        state = self._crew(ev.crew_id)
        if state.status == "idle":
            state.status = "off"
            state.duty_s += ev.t_s - state.duty_since
        elif state.status != "off":
            state.going_off = True
        self.policy.on_crew_change(ev.crew_id)
        return []

    def _on_position(self, ev: CrewPosition) -> list[Decision]:
        """A GPS fix: an en-route crew's leg restarts from where it is, anyone else is there."""
        state = self._crew(ev.crew_id)
        state.x_m, state.y_m = ev.x_m, ev.y_m
        self._crew_snap.pop(ev.crew_id, None)
        if state.status == "en_route":
            state.leg_start_s = ev.t_s
            state.eta_s = ev.t_s + round(float(self._travel_from(state, self.orders[state.order_id])))
        self.policy.on_crew_change(ev.crew_id)
        return []

    def _crew_on(self, crew_id: str, order_id: str, what: str) -> tuple[CrewState, WorkOrder]:
        """The crew and the order it reports on; refused unless that is its assigned order."""
        state = self._crew(crew_id)
        order = self._order(order_id)
        if state.order_id != order.order_id or crew_id not in order.team:
            raise EventError(f"crew {crew_id} {what} {order_id} but is assigned "
                             f"{state.order_id or 'nothing'}")
        return state, order

    def _release(self, state: CrewState, t_s: int) -> None:
        """The crew's job ends (done or called off): book its busy time, make it available."""
        state.busy_s += t_s - state.busy_since
        state.order_id = ""
        self._become_available(state, t_s)

    def _on_arrived(self, ev: CrewArrived) -> list[Decision]:
        state, order = self._crew_on(ev.crew_id, ev.order_id, "arrived at")
        if state.status != "en_route":
            raise EventError(f"crew {ev.crew_id} arrived at {ev.order_id} but is {state.status}")
        if order.status != OrderStatus.ON_SITE:
            order.move(OrderStatus.ON_SITE, ev.t_s)
        state.visits.append(order.order_id)
        state.status = "on_site"
        state.x_m, state.y_m = order.x_m, order.y_m
        self._crew_snap[ev.crew_id] = self._order_snap[order.order_id]
        self.etrs.touch(order.order_id)
        self.policy.on_crew_change(ev.crew_id)
        return []

    def _on_repaired(self, ev: RepairFinished) -> list[Decision]:
        state, order = self._crew_on(ev.crew_id, ev.order_id, "reports repaired")
        if state.status != "on_site":
            raise EventError(f"crew {ev.crew_id} reports {ev.order_id} repaired but is {state.status}")
        order.move(OrderStatus.REPAIRED, ev.t_s)
        self.etrs.forget(order.order_id)
        self._close_incident(order, ev.t_s)
        for crew_id in order.team:
            self._release(self.crews[crew_id], ev.t_s)
        self.policy.on_order_change(order)
        return []

    def _on_released(self, ev: CrewReleased) -> list[Decision]:
        state, order = self._crew_on(ev.crew_id, ev.order_id, "leaves")
        if state.status != "on_site" or len(order.team) < 2:
            raise EventError(f"crew {ev.crew_id} cannot leave {ev.order_id}: only a crew on site "
                             f"with others on the job can")
        if order.crew_id == ev.crew_id:
            order.crew_id = order.assists.pop(0)
        else:
            order.assists.remove(ev.crew_id)
        self._release(state, ev.t_s)
        return []

    def _on_fault_found(self, ev: FaultFound) -> list[Decision]:
        """The crew on site found the cause upstream: the order moves there (more customers
        behind it) and absorbs the orders below it; crews on their way to those turn back."""
        state, order = self._crew_on(ev.crew_id, ev.order_id, "reports a fault for")
        node = self._node_index.get(ev.element_id)
        if state.status != "on_site" or node is None or node == order.node_idx \
                or not self.net.is_ancestor(node, order.node_idx):
            raise EventError(f"crew {ev.crew_id} reports a fault at {ev.element_id!r} for {ev.order_id}: "
                             f"it must be on site and the element upstream of the order's")
        change = self.predictor.relocate(order.incident_id, node)
        if self._open_order_at[order.node_idx] == self._order_pos[order.order_id]:
            self._open_order_at[order.node_idx] = -1
        net = self.net
        order.node_idx = node
        order.element_id = net.device_id[node] if net.device[node] != DeviceKind.NONE else net.node_id[node]
        order.customers = int(self._customers_below[node])
        order.critical = int(self._critical_below[node])
        self._open_order_at[node] = self._order_pos[order.order_id]
        out: list[Decision] = []
        for child_id in change.merged:
            out.extend(self._merge_order(child_id, order, ev.t_s))
        self.policy.on_order_change(order)
        self.etrs.touch(order.order_id)
        return out

    def _on_callback(self, ev: CallbackDone) -> list[Decision]:
        order = self._order(ev.order_id)
        if order.status != OrderStatus.REPAIRED:
            raise EventError(f"callback for {ev.order_id}, which is {order.status.value}, not repaired")
        order.move(OrderStatus.CALLBACK_DONE, ev.t_s)
        order.move(OrderStatus.CLOSED, ev.t_s)
        self.log.callbacks += 1
        return []

    def _on_cancelled(self, ev: OrderCancelled) -> list[Decision]:
        order = self._order(ev.order_id)
        if order.status not in WAITING:
            raise EventError(f"cannot cancel {ev.order_id}: it is {order.status.value}")
        return self._cancel(order, ev.t_s)

    def _cancel(self, order: WorkOrder, t_s: int) -> list[Decision]:
        """Cancel a waiting or en-route order; its crews are called back."""
        team = order.team if order.status == OrderStatus.EN_ROUTE else []
        order.move(OrderStatus.CANCELLED, t_s)
        self.etrs.forget(order.order_id)
        self._close_incident(order, t_s)
        self.policy.on_order_change(order)
        return [d for c in team for d in self._free_crew(c, order.order_id, t_s)]

    def callers_of(self, order_id: str) -> set[int]:
        """Nodes whose calls the order's incident (or the one it merged into) explains."""
        inc = self.predictor.incident(self.orders[order_id].incident_id)
        while inc.merged_into:
            inc = self.predictor.incident(inc.merged_into)
        return set(inc.caller_nodes)

    def _close_incident(self, order: WorkOrder, t_s: int) -> None:
        self.predictor.close(order.incident_id, t_s)
        if self._open_order_at[order.node_idx] >= 0 and \
                self._order_list[self._open_order_at[order.node_idx]] is order:
            self._open_order_at[order.node_idx] = -1

    def _become_available(self, state: CrewState, t_s: int) -> None:
        if state.going_off:
            state.status = "off"
            state.going_off = False
            state.duty_s += t_s - state.duty_since
            self.policy.on_crew_change(state.crew.crew_id)
        else:
            state.status = "idle"
            self.policy.on_crew_free(state.crew.crew_id)

    def _crew_position(self, crew_id: str) -> tuple[int, float]:
        snap = self._crew_snap.get(crew_id)
        if snap is None:
            s = self.crews[crew_id]
            nodes, access = self.travel.snap(s.x_m, s.y_m)
            snap = (int(nodes[0]), float(access[0]))
            self._crew_snap[crew_id] = snap
        return snap

    def _travel_from(self, state: CrewState, order: WorkOrder) -> float:
        return float(self.travel_from_crews([state.crew.crew_id], order)[0])

    def _dispatch(self, t_s: int) -> list[Decision]:
        """Carry out the policy's assignments; an en-route crew given another order is
        diverted from where it is now, and its old order waits again."""
        out: list[Decision] = []
        for order_id, crew_id in self.policy.decide(self, t_s):
            order, state = self.orders[order_id], self.crews[crew_id]
            helping = order.status in (OrderStatus.EN_ROUTE, OrderStatus.ON_SITE) and state.status == "idle"
            if not (order.status == OrderStatus.NEW or helping) or crew_id in order.team \
                    or state.status not in ("idle", "en_route") or order.skill not in state.crew.skills:
                raise AssertionError(f"policy {self.policy.name} sent {crew_id} ({state.status}) "
                                     f"to {order_id} ({order.status.value}, {order.skill})")
            if helping:
                out.append(self._send_assist(order, state, t_s))
                continue
            out.append(self._send(order, state, t_s))
        return out

    def _send(self, order: WorkOrder, state: CrewState, t_s: int) -> Decision:
        """Send the crew to a waiting order; an en-route crew is diverted from where it is
        now, and its old order waits again (or goes to a helper on its way)."""
        crew_id, order_id = state.crew.crew_id, order.order_id
        dropped = state.order_id if state.status == "en_route" else ""
        if dropped:
            state.x_m, state.y_m = self.position(crew_id, t_s)
            self._crew_snap.pop(crew_id, None)
            old = self.orders[dropped]
            if old.assists:  # a helper on its way takes the lead
                old.crew_id = old.assists.pop(0)
            else:
                old.crew_id = ""
                old.move(OrderStatus.NEW, t_s)
        else:
            state.busy_since = t_s
        travel = round(self._travel_from(state, order))
        order.crew_id = crew_id
        order.move(OrderStatus.ASSIGNED, t_s)
        order.move(OrderStatus.EN_ROUTE, t_s)
        state.status = "en_route"
        state.order_id = order_id
        state.leg_start_s = t_s
        state.eta_s = t_s + travel
        self.log.assigned += 1
        self.etrs.touch(order_id)
        if dropped:
            self.etrs.touch(dropped)
            self.log.diverted += 1
            return Divert(t_s, crew_id, dropped, order_id, travel)
        return Assign(t_s, order_id, crew_id, travel)

    def _on_dispatcher_assign(self, ev: DispatcherAssigned) -> list[Decision]:
        """A dispatcher's choice of crew for a waiting order (see ``DispatcherAssigned``)."""
        order, state = self._order(ev.order_id), self._crew(ev.crew_id)
        if order.status not in WAITING:
            raise EventError(f"cannot send a crew to {ev.order_id}: it is {order.status.value}")
        if state.status not in ("idle", "en_route"):
            raise EventError(f"crew {ev.crew_id} is {state.status}: only an idle or en-route crew "
                             f"can be sent")
        if order.skill not in state.crew.skills:
            raise EventError(f"crew {ev.crew_id} lacks the skill {order.skill} that {ev.order_id} needs")
        if ev.crew_id in order.team:
            raise EventError(f"crew {ev.crew_id} is already on {ev.order_id}")
        out: list[Decision] = []
        if order.crew_id:
            previous = order.crew_id
            order.crew_id = ""
            order.move(OrderStatus.NEW, ev.t_s)
            out.extend(self._free_crew(previous, order.order_id, ev.t_s))
        dropped = state.order_id if state.status == "en_route" else ""
        out.append(self._send(order, state, ev.t_s))
        for changed in (order, self.orders[dropped]) if dropped else (order,):
            self.policy.on_order_change(changed)
        self.policy.on_crew_change(ev.crew_id)
        self.policy.on_override()
        return out

    def _send_assist(self, order: WorkOrder, state: CrewState, t_s: int) -> Decision:
        """An idle crew joins the team of an order already being reached or worked."""
        travel = round(self._travel_from(state, order))
        order.assists.append(state.crew.crew_id)
        state.busy_since = t_s
        state.status = "en_route"
        state.order_id = order.order_id
        state.leg_start_s = t_s
        state.eta_s = t_s + travel
        self.log.assigned += 1
        self.log.assists += 1
        self.etrs.touch(order.order_id)
        return Assign(t_s, order.order_id, state.crew.crew_id, travel)

    def _on_generator(self, ev: GeneratorConnected) -> list[Decision]:
        self.generators.connect(ev.truck_id)
        self.log.generators_connected += 1
        return list(self.generators.release(self._covered, ev.t_s))

    def _covered(self, node: int) -> bool:
        """Whether an open order covers ``node`` (on it or upstream of it)."""
        return bool((self._open_order_at[self.net.path_up(node)] >= 0).any())

    def _own_finish(self, order: WorkOrder, t_s: int) -> int | None:
        """When the order's own repair should be done (never before now): on site, arrival
        plus the estimate; otherwise the policy's plan, or the crew's arrival plus the estimate."""
        if order.status == OrderStatus.ON_SITE and order.arrived_s is not None:
            return max(t_s, order.arrived_s + self.repair_estimate(order) // max(1, len(order.team)))
        planned = self.policy.planned_finish(order.order_id)
        if planned is not None:
            return max(t_s, planned)
        if order.status == OrderStatus.EN_ROUTE:
            return max(t_s, self.crews[order.crew_id].eta_s + self.repair_estimate(order))
        return None

    def _etr_of(self, order: WorkOrder, t_s: int) -> int:
        """Customers behind ``order`` are back when it and every open order upstream of it
        are repaired. An order no plan has reached is quoted at the policy's horizon."""
        etr = 0
        ups = [self._order_list[k] for k in self._open_order_at[self.net.path_up(order.node_idx)] if k >= 0]
        for up in [order, *ups]:
            finish = self._own_finish(up, t_s)
            etr = max(etr, finish if finish is not None else t_s + self.policy.horizon_s)
        return etr

    def open_order_above(self, order: WorkOrder) -> WorkOrder | None:
        """The nearest open order upstream of ``order`` (its customers wait for it too)."""
        for node in self.net.path_up(order.node_idx)[1:]:
            k = self._open_order_at[node]
            if k >= 0:
                return self._order_list[k]
        return None

    def customer_etr(self, customer_id: str) -> int | None:
        """The ETR of a customer behind an open order, or None when none covers it."""
        node = self.resolver.customer_node(customer_id)
        if node is None:
            return None
        for up in self.net.path_up(node):
            k = self._open_order_at[up]
            if k >= 0:
                return self.etrs.current.get(self._order_list[k].order_id)
        return None

    def _skip_closed(self) -> None:
        orders = self._order_list
        while self._first_open < len(orders) and orders[self._first_open].status not in OPEN:
            self._first_open += 1

    def has_open_work(self) -> bool:
        """True while any work order is waiting, on its way or being worked."""
        self._skip_closed()
        return any(o.status in OPEN for o in self._order_list[self._first_open:])

    def finish(self, t_s: int) -> None:
        """Close the books at the end of a run: count duty time of crews still on shift."""
        for state in self.crews.values():
            if state.status != "off":
                state.duty_s += t_s - state.duty_since
                if state.status in ("en_route", "on_site"):
                    state.busy_s += t_s - state.busy_since
