"""The event-driven dispatch engine: events in, decisions out, on the storm clock.

One engine serves live use and replay: it sees only what a utility sees (calls, crew
reports), never the storm's ground truth. Calls are resolved and grouped into incidents by
``grid_model``; each incident gets a work order; the policy assigns crews.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from dispatch.crews import Crew
from dispatch.events import (
    Assign,
    CallReceived,
    CallUnlocated,
    CrewArrived,
    Decision,
    Event,
    Handover,
    PlannedOutageAnnounced,
    Recall,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.limits import ServiceLimits
from dispatch.orders import OrderStatus, WorkOrder
from dispatch.policy import DispatchPolicy
from grid_model.network import AREA_NAMES, Construction, DeviceKind, NodeKind
from grid_model.predict import IncidentKind, OutagePredictor
from grid_model.region import Region
from grid_model.resolve import CallResolver
from routing.travel import RoadTravel

log = logging.getLogger(__name__)

_LV_KINDS = (NodeKind.CUSTOMER, NodeKind.METER_BOX, NodeKind.SERVICE_DROP, NodeKind.LV_BRANCH)


class EventError(ValueError):
    """An event the engine cannot accept (out of order, unknown crew or order)."""


@dataclass(slots=True)
class CrewState:
    """Where a crew is and what it is doing; busy and duty seconds feed utilisation."""

    crew: Crew
    x_m: float
    y_m: float
    status: str = "off"
    order_id: str = ""
    going_off: bool = False
    busy_s: int = 0
    duty_s: int = 0
    duty_since: int = 0
    leg_start_s: int = 0
    visits: list[str] = field(default_factory=list)


@dataclass(slots=True)
class UnlocatedCall:
    call_id: str
    t_s: int
    reason: str


@dataclass(slots=True)
class EngineLog:
    assigned: int = 0
    recalled: int = 0
    rejected: list[str] = field(default_factory=list)


class DispatchEngine:
    """Holds work orders, crews and incidents; ``handle`` one event at a time."""

    def __init__(self, region: Region, crews: list[Crew], policy: DispatchPolicy, *,
                 travel: RoadTravel, limits: ServiceLimits | None = None) -> None:
        self.region = region
        self.net = region.network
        self.policy = policy
        self.travel = travel
        self.limits = limits or ServiceLimits()
        self.resolver = CallResolver(region)
        self.predictor = OutagePredictor(self.net)
        self.clock_s: int | None = None
        self.orders: dict[str, WorkOrder] = {}
        self.order_of_incident: dict[str, str] = {}
        self.crews = {c.crew_id: CrewState(c, c.x_m, c.y_m) for c in crews}
        self.unlocated: list[UnlocatedCall] = []
        self.log = EngineLog()
        self._customers_below = self.net.count_below(self.net.kind == NodeKind.CUSTOMER)
        self._critical_below = self.net.count_below(region.critical_node_mask())
        self._open_order_at = np.full(self.net.n_nodes, -1, dtype=np.int64)
        self._order_list: list[WorkOrder] = []
        self._first_open = 0
        self._order_snap: dict[str, tuple[int, float]] = {}
        self._crew_snap: dict[str, tuple[int, float]] = {}

    # -- queries the policy uses -------------------------------------------------------
    def idle_crews(self, skill: str) -> list[str]:
        return [cid for cid, s in self.crews.items() if s.status == "idle" and skill in s.crew.skills]

    def is_idle(self, crew_id: str) -> bool:
        return self.crews[crew_id].status == "idle"

    def crew_skills(self, crew_id: str) -> frozenset[str]:
        return self.crews[crew_id].crew.skills

    def travel_from_crews(self, crew_ids: list[str], order: WorkOrder) -> np.ndarray:
        """Seconds from each crew's position to the order."""
        nodes = np.empty(len(crew_ids), dtype=np.int64)
        access = np.empty(len(crew_ids))
        for k, cid in enumerate(crew_ids):
            nodes[k], access[k] = self._crew_position(cid)
        b_node, b_access = self._order_snap[order.order_id]
        return self.travel.between_snapped(nodes, access, b_node, b_access)

    # -- event handling ----------------------------------------------------------------
    def handle(self, event: Event) -> list[Decision]:
        """Apply one event and return the decisions it leads to."""
        if self.clock_s is not None and event.t_s < self.clock_s:
            raise EventError(f"event at {event.t_s} s is before the engine clock {self.clock_s} s")
        self.clock_s = event.t_s
        out: list[Decision] = []
        if isinstance(event, CallReceived):
            out.extend(self._on_call(event))
        elif isinstance(event, PlannedOutageAnnounced):
            self._on_planned(event)
        elif isinstance(event, ShiftStarted):
            self._on_shift_start(event)
        elif isinstance(event, ShiftEnded):
            self._on_shift_end(event)
        elif isinstance(event, CrewArrived):
            self._on_arrived(event)
        elif isinstance(event, RepairFinished):
            out.extend(self._on_repaired(event))
        else:
            raise EventError(f"unknown event {type(event).__name__}")
        out.extend(self._dispatch(event.t_s))
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

    def _on_planned(self, ev: PlannedOutageAnnounced) -> None:
        try:
            device_idx = self.net.device_id.index(ev.device_id)
        except ValueError:
            raise EventError(f"planned outage {ev.outage_id}: unknown device {ev.device_id!r}") from None
        self.predictor.add_planned(ev.outage_id, device_idx, ev.start_s, ev.end_s)

    def _on_call(self, ev: CallReceived) -> list[Decision]:
        res = self.resolver.resolve(ev.call)
        if not res.located:
            self.unlocated.append(UnlocatedCall(ev.call.call_id, ev.t_s, res.reason))
            return [CallUnlocated(ev.t_s, ev.call.call_id, res.reason)]
        change = self.predictor.add_call(ev.call.call_id, res.node_idx, ev.t_s)
        inc = self.predictor.incident(change.incident_id)
        if inc.kind == IncidentKind.PLANNED or not change.created:
            return []
        order = self._new_order(inc.incident_id, inc.node_idx, inc.first_report_s, ev.t_s)
        out: list[Decision] = []
        for child_id in change.merged:
            out.extend(self._merge_order(child_id, order, ev.t_s))
        if order.status == OrderStatus.NEW:
            self.policy.on_order(order)
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
        self.orders[order.order_id] = order
        self.order_of_incident[incident_id] = order.order_id
        self._order_list.append(order)
        self._open_order_at[node] = len(self._order_list) - 1
        nodes, access = self.travel.snap(order.x_m, order.y_m)
        self._order_snap[order.order_id] = (int(nodes[0]), float(access[0]))
        return order

    def _merge_order(self, incident_id: str, into: WorkOrder, t_s: int) -> list[Decision]:
        """Fold the order of a merged incident into ``into``; a crew on its way keeps going
        and takes over the surviving order. A crew already on site finishes its job."""
        child = self.orders.get(self.order_of_incident.get(incident_id, ""))
        if child is None or child.status not in (OrderStatus.NEW, OrderStatus.ASSIGNED):
            return []
        crew_id = child.crew_id
        child.merged_into = into.order_id
        child.move(OrderStatus.MERGED, t_s)
        self._open_order_at[child.node_idx] = -1
        into.first_report_s = min(into.first_report_s, child.first_report_s)
        into.deadline_s = min(into.deadline_s, child.deadline_s)
        if not crew_id:
            return []
        if into.status == OrderStatus.NEW and into.skill in self.crews[crew_id].crew.skills:
            into.crew_id = crew_id
            into.move(OrderStatus.ASSIGNED, t_s)
            self.crews[crew_id].order_id = into.order_id
            return [Handover(t_s, child.order_id, into.order_id, crew_id)]
        return self._free_crew(crew_id, child.order_id, t_s)

    def _free_crew(self, crew_id: str, order_id: str, t_s: int) -> list[Decision]:
        self._release(self.crews[crew_id], t_s)
        self.log.recalled += 1
        return [Recall(t_s, order_id, crew_id)]

    def _on_shift_start(self, ev: ShiftStarted) -> None:
        state = self._crew(ev.crew_id)
        state.going_off = False
        if state.status == "off":
            state.x_m, state.y_m = state.crew.x_m, state.crew.y_m
            self._crew_snap.pop(ev.crew_id, None)
            state.status = "idle"
            state.duty_since = ev.t_s
            self.policy.on_crew_free(ev.crew_id)

    def _on_shift_end(self, ev: ShiftEnded) -> None:
        state = self._crew(ev.crew_id)
        if state.status == "idle":
            state.status = "off"
            state.duty_s += ev.t_s - state.duty_since
        elif state.status != "off":
            state.going_off = True

    def _crew_on(self, crew_id: str, order_id: str, what: str) -> tuple[CrewState, WorkOrder]:
        """The crew and the order it reports on; refused unless that is its assigned order."""
        state = self._crew(crew_id)
        order = self._order(order_id)
        if state.order_id != order.order_id:
            raise EventError(f"crew {crew_id} {what} {order_id} but is assigned "
                             f"{state.order_id or 'nothing'}")
        return state, order

    def _release(self, state: CrewState, t_s: int) -> None:
        """The crew's job ends (done or called off): book its busy time, make it available."""
        state.busy_s += t_s - state.leg_start_s
        state.order_id = ""
        self._become_available(state, t_s)

    def _on_arrived(self, ev: CrewArrived) -> None:
        state, order = self._crew_on(ev.crew_id, ev.order_id, "arrived at")
        order.move(OrderStatus.ON_SITE, ev.t_s)
        state.visits.append(order.order_id)
        state.status = "on_site"
        state.x_m, state.y_m = order.x_m, order.y_m
        self._crew_snap[ev.crew_id] = self._order_snap[order.order_id]

    def _on_repaired(self, ev: RepairFinished) -> list[Decision]:
        state, order = self._crew_on(ev.crew_id, ev.order_id, "reports repaired")
        order.move(OrderStatus.REPAIRED, ev.t_s)
        order.move(OrderStatus.CLOSED, ev.t_s)
        self._close_incident(order, ev.t_s)
        self._release(state, ev.t_s)
        return []

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

    def _dispatch(self, t_s: int) -> list[Decision]:
        out: list[Decision] = []
        for order_id, crew_id in self.policy.decide(self, t_s):
            order, state = self.orders[order_id], self.crews[crew_id]
            travel = round(float(self.travel_from_crews([crew_id], order)[0]))
            order.crew_id = crew_id
            order.move(OrderStatus.ASSIGNED, t_s)
            state.status = "en_route"
            state.order_id = order_id
            state.leg_start_s = t_s
            self.log.assigned += 1
            out.append(Assign(t_s, order_id, crew_id, travel))
        return out

    def has_open_work(self) -> bool:
        """True while any work order is waiting, on its way or being worked."""
        active = (OrderStatus.NEW, OrderStatus.ASSIGNED, OrderStatus.ON_SITE)
        orders = self._order_list
        while self._first_open < len(orders) and orders[self._first_open].status not in active:
            self._first_open += 1
        return any(o.status in active for o in orders[self._first_open:])

    def finish(self, t_s: int) -> None:
        """Close the books at the end of a run: count duty time of crews still on shift."""
        for state in self.crews.values():
            if state.status != "off":
                state.duty_s += t_s - state.duty_since
                if state.status in ("en_route", "on_site"):
                    state.busy_s += t_s - state.leg_start_s
