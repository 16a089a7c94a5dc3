"""The engine on a small region: a call becomes an order and a crew; a second call under the
same transformer merges the order and the crew on its way keeps it; bad events are refused."""

from __future__ import annotations

import pytest

from dispatch.crews import Crew
from dispatch.engine import DispatchEngine, EventError
from dispatch.events import (
    Assign,
    CallReceived,
    CallUnlocated,
    CrewArrived,
    Handover,
    RepairFinished,
    ShiftStarted,
)
from dispatch.orders import OrderStatus
from dispatch.policy import NearestAvailableCrew
from grid_model.network import NodeKind
from grid_model.region import Region
from grid_model.storm import Call
from routing.travel import RoadTravel


@pytest.fixture(scope="module")
def travel(small_region: Region) -> RoadTravel:
    return RoadTravel(small_region.roads)


def _engine(region: Region, travel: RoadTravel) -> DispatchEngine:
    d = region.depots[0]
    crews = [Crew("C1", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv"}), 0, 16.0),
             Crew("C2", d.depot_id, d.x_m + 5000, d.y_m, frozenset({"lv"}), 0, 16.0)]
    return DispatchEngine(region, crews, NearestAvailableCrew(), travel=travel)


def _two_drop_customers(region: Region) -> tuple[str, str, int]:
    """Customers under the two drops of a transformer's only LV outlet, and that outlet."""
    net = region.network
    cust = region.customers
    for x in net.nodes_of_kind(NodeKind.TRANSFORMER):
        sl = net.subtree(int(x))
        outlets = [i for i in range(sl.start, sl.stop) if net.kind[i] == NodeKind.LV_BRANCH]
        drops = [i for i in range(sl.start, sl.stop) if net.kind[i] == NodeKind.SERVICE_DROP]
        if len(outlets) == 1 and len(drops) == 2:
            ids = [cust.loc[cust["node_idx"] == d + 2, "customer_id"].iat[0] for d in drops]
            return ids[0], ids[1], outlets[0]
    raise AssertionError("no transformer with one outlet of two drops")


def test_merge_hands_the_en_route_crew_to_the_surviving_order(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    eng.handle(ShiftStarted(0, "C1"))
    eng.handle(ShiftStarted(0, "C2"))
    first = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    assert len(first) == 1 and isinstance(first[0], Assign)
    w1 = eng.orders[first[0].order_id]
    assert w1.status == OrderStatus.ASSIGNED and w1.skill == "lv"
    crew = first[0].crew_id
    second = eng.handle(CallReceived(200, Call("K2", 200, customer_id=b)))
    handover = [d for d in second if isinstance(d, Handover)]
    assert len(handover) == 1 and handover[0].from_order_id == w1.order_id
    w2 = eng.orders[handover[0].order_id]
    assert w1.status == OrderStatus.MERGED and w1.merged_into == w2.order_id
    assert w2.node_idx == outlet and w2.crew_id == crew and w2.first_report_s == 100
    assert w2.deadline_s == 100 + eng.limits.arrival_limit(w2.area)
    eng.handle(CrewArrived(900, crew, w2.order_id))
    assert w2.status == OrderStatus.ON_SITE and w2.arrived_s == 900
    eng.handle(RepairFinished(5000, crew, w2.order_id, (outlet,)))
    assert w2.status == OrderStatus.CLOSED and w2.repaired_s == 5000
    assert eng.crews[crew].status == "idle"


def test_bad_events_are_refused_and_change_nothing(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    eng.handle(ShiftStarted(50, "C1"))
    with pytest.raises(EventError, match="before the engine clock"):
        eng.handle(ShiftStarted(10, "C2"))
    with pytest.raises(EventError, match="unknown crew 'C9'"):
        eng.handle(ShiftStarted(60, "C9"))
    with pytest.raises(EventError, match="unknown work order 'W404'"):
        eng.handle(CrewArrived(70, "C1", "W404"))
    out = eng.handle(CallReceived(80, Call("K1", 80, address="火星路 1 号")))
    assert isinstance(out[0], CallUnlocated) and eng.unlocated[0].call_id == "K1"
    assert not eng.orders and eng.crews["C1"].status == "idle"


def test_repair_reported_for_an_order_never_reached_is_refused(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, _ = _two_drop_customers(small_region)
    eng.handle(ShiftStarted(0, "C1"))
    (assign,) = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    with pytest.raises(Exception, match="cannot go from assigned to repaired"):
        eng.handle(RepairFinished(300, assign.crew_id, assign.order_id, ()))
    assert eng.orders[assign.order_id].status == OrderStatus.ASSIGNED
