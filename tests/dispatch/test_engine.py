"""The engine on a small region: a call becomes an order and a crew; a second call under the
same transformer merges the order and the crew on its way keeps it; ETRs follow the order
through its life and count the open order upstream; callbacks close orders; a cancelled
order frees its crew; alerts warn before a limit is broken; bad events are refused."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch.crews import Crew
from dispatch.engine import DispatchEngine, EventError
from dispatch.events import (
    Alert,
    AmiMessage,
    Assign,
    CallbackDone,
    CallReceived,
    CallUnlocated,
    ClockTick,
    CrewArrived,
    Decision,
    DeviceOperated,
    EtrUpdate,
    FaultFound,
    GeneratorConnected,
    GeneratorReleased,
    Handover,
    OrderCancelled,
    Recall,
    RepairFinished,
    SendGenerator,
    ShiftStarted,
)
from dispatch.generators import GeneratorTruck
from dispatch.kpis import etr_accuracy
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


def _only(decisions: list[Decision], kind: type) -> list:  # type: ignore[type-arg]
    return [d for d in decisions if isinstance(d, kind)]


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


def _lone_call_dispatched(eng: DispatchEngine, region: Region) -> tuple[str, Assign, list[Decision]]:
    """C1 on shift; a customer calls at t=100 and C1 is sent: (customer, assignment, decisions)."""
    a, _, _ = _two_drop_customers(region)
    eng.handle(ShiftStarted(0, "C1"))
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    (assign,) = _only(out, Assign)
    return a, assign, out


def test_merge_hands_the_en_route_crew_to_the_surviving_order(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    eng.handle(ShiftStarted(0, "C1"))
    eng.handle(ShiftStarted(0, "C2"))
    first = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    (assign,) = _only(first, Assign)
    w1 = eng.orders[assign.order_id]
    assert w1.status == OrderStatus.EN_ROUTE and w1.skill == "lv"
    assert [s for _, s in w1.history] == [OrderStatus.NEW, OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE]
    crew = assign.crew_id
    second = eng.handle(CallReceived(200, Call("K2", 200, customer_id=b)))
    handover = _only(second, Handover)
    assert len(handover) == 1 and handover[0].from_order_id == w1.order_id
    w2 = eng.orders[handover[0].order_id]
    assert w1.status == OrderStatus.MERGED and w1.merged_into == w2.order_id
    assert w2.node_idx == outlet and w2.crew_id == crew and w2.first_report_s == 100
    assert w2.deadline_s == 100 + eng.limits.arrival_limit(w2.area)
    eng.handle(CrewArrived(900, crew, w2.order_id))
    assert w2.status == OrderStatus.ON_SITE and w2.arrived_s == 900
    eng.handle(RepairFinished(5000, crew, w2.order_id, (outlet,)))
    assert w2.status == OrderStatus.REPAIRED and w2.repaired_s == 5000
    assert eng.crews[crew].status == "idle"
    eng.handle(CallbackDone(6200, w2.order_id))
    assert w2.status == OrderStatus.CLOSED and w2.history[-2:] == [
        (6200, OrderStatus.CALLBACK_DONE), (6200, OrderStatus.CLOSED)]
    assert eng.log.callbacks == 1
    with pytest.raises(EventError, match="callback for W000002, which is closed"):
        eng.handle(CallbackDone(6300, w2.order_id))


def test_etr_follows_the_order_and_waits_for_the_open_order_upstream(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, assign, out = _lone_call_dispatched(eng, small_region)
    order = eng.orders[assign.order_id]
    estimate = eng.repair_estimate(order)
    (etr,) = _only(out, EtrUpdate)
    assert etr.etr_s == 100 + assign.travel_s + estimate == eng.etr[order.order_id]
    assert eng.customer_etr(a) == etr.etr_s
    arrive = 100 + assign.travel_s + 1200  # twenty minutes late: the ETR moves with it
    out = eng.handle(CrewArrived(arrive, assign.crew_id, order.order_id))
    assert _only(out, EtrUpdate)[0].etr_s == arrive + estimate
    assert [e for _, o, e in eng.etr_history if o == order.order_id] == [etr.etr_s, arrive + estimate]
    # Calls from every customer of the other transformers of the feeder roll up to an MV order above the one
    # being worked: the worked order's customers are back only when both are repaired.
    net = small_region.network
    cust = small_region.customers
    feeder = next(n for n in net.path_up(order.node_idx) if net.kind[n] == NodeKind.FEEDER_HEAD)
    sl = net.subtree(feeder)
    t = arrive
    for x in range(sl.start, sl.stop):
        if net.kind[x] == NodeKind.TRANSFORMER and not net.is_ancestor(x, order.node_idx):
            t += 1
            rows = cust[(cust["node_idx"] > x) & (cust["node_idx"] < x + net.size[x])]
            for cid in rows["customer_id"]:
                eng.handle(CallReceived(t, Call(f"K{t}{cid}", t, customer_id=str(cid))))
    upstream = [o for o in eng.open_orders()
                if o is not order and net.is_ancestor(o.node_idx, order.node_idx)]
    assert upstream, "the calls should have rolled up to an order above the worked one"
    eng.handle(ClockTick(t + 1))
    up_etr = max(eng.etr[o.order_id] for o in upstream)
    assert eng.etr[order.order_id] == max(arrive + estimate, up_etr)


def test_a_cancelled_order_frees_its_crew_and_alerts_warn_before_the_limit(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, _ = _two_drop_customers(small_region)
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    order = eng.orders[_only(out, EtrUpdate)[0].order_id]
    assert order.status == OrderStatus.NEW  # nobody on shift yet
    warn_at = order.deadline_s - eng.limits.alert_before_s["arrival"]
    assert not _only(eng.handle(ClockTick(warn_at - 1)), Alert)
    (alert,) = _only(eng.handle(ClockTick(warn_at)), Alert)
    assert (alert.order_id, alert.kind, alert.due_s) == (order.order_id, "arrival_limit", order.deadline_s)
    (assign,) = _only(eng.handle(ShiftStarted(warn_at + 10, "C1")), Assign)
    out = eng.handle(OrderCancelled(warn_at + 20, order.order_id, "customer reports power back"))
    assert _only(out, Recall) == [Recall(warn_at + 20, order.order_id, assign.crew_id)]
    assert order.status == OrderStatus.CANCELLED and eng.crews["C1"].status == "idle"
    with pytest.raises(EventError, match=r"cannot cancel W000001: it is cancelled"):
        eng.handle(OrderCancelled(warn_at + 30, order.order_id, "again"))


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
    (assign,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    with pytest.raises(EventError, match="reports W000001 repaired but is en_route"):
        eng.handle(RepairFinished(300, assign.crew_id, assign.order_id, ()))
    assert eng.orders[assign.order_id].status == OrderStatus.EN_ROUTE
    with pytest.raises(EventError, match="callback for W000001, which is en_route, not repaired"):
        eng.handle(CallbackDone(310, assign.order_id))


def test_a_feeder_breaker_report_opens_one_order_for_the_whole_feeder(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    net = small_region.network
    feeder = int(net.nodes_of_kind(NodeKind.FEEDER_HEAD)[0])
    out = eng.handle(DeviceOperated(100, net.device_id[feeder]))
    (order,) = eng.orders.values()
    assert order.node_idx == feeder and order.skill in ("mv", "cable")
    assert order.customers == int(net.count_below(net.kind == NodeKind.CUSTOMER)[feeder])
    assert _only(out, EtrUpdate)[0].order_id == order.order_id
    with pytest.raises(EventError, match="unknown device 'CB-NOWHERE'"):
        eng.handle(DeviceOperated(200, "CB-NOWHERE"))
    assert len(eng.orders) == 1


def test_a_critical_customer_gets_the_nearest_generator_truck_until_the_repair(
        small_region: Region, travel: RoadTravel) -> None:
    d = small_region.depots[0]
    far = small_region.depots[-1]
    trucks = [GeneratorTruck("G-NEAR", d.depot_id, d.x_m, d.y_m),
              GeneratorTruck("G-FAR", far.depot_id, far.x_m + 20_000, far.y_m)]
    crews = [Crew("C1", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv", "cable"}), 0, 16.0)]
    eng = DispatchEngine(small_region, crews, NearestAvailableCrew(), travel=travel, generators=trucks)
    cust = small_region.customers
    row = cust[cust["critical"] != ""].iloc[0]
    node = int(row["node_idx"])
    d_near = np.hypot(small_region.network.x_m[node] - d.x_m, small_region.network.y_m[node] - d.y_m)
    assert d_near < np.hypot(small_region.network.x_m[node] - far.x_m - 20_000,
                             small_region.network.y_m[node] - far.y_m)
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=str(row["customer_id"]))))
    (send,) = _only(out, SendGenerator)
    order = eng.orders[send.order_id]
    assert (send.truck_id, send.node_idx) == ("G-NEAR", node) and order.critical == 1
    fleet = eng.generators.trucks
    assert fleet["G-NEAR"].status == "en_route" and fleet["G-FAR"].status == "idle"
    with pytest.raises(EventError, match="generator truck G-FAR connected but is idle"):
        eng.handle(GeneratorConnected(200, "G-FAR"))
    assert not _only(eng.handle(GeneratorConnected(100 + send.travel_s, "G-NEAR")), GeneratorReleased)
    assert eng.generators.trucks["G-NEAR"].status == "connected" and eng.log.generators_connected == 1
    (assign,) = _only(eng.handle(ShiftStarted(3000, "C1")), Assign)
    eng.handle(CrewArrived(3000 + assign.travel_s, "C1", order.order_id))
    out = eng.handle(RepairFinished(9000, "C1", order.order_id, (node,)))
    assert _only(out, GeneratorReleased) == [GeneratorReleased(9000, "G-NEAR", node)]
    assert eng.generators.trucks["G-NEAR"].status == "idle"


def test_meters_report_an_outage_and_its_end(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    cust = small_region.customers
    a, b, _ = _two_drop_customers(small_region)
    meter = {c: str(cust.loc[cust["customer_id"] == c, "meter_id"].iat[0]) for c in (a, b)}
    out = eng.handle(AmiMessage(100, meter[a], "last_gasp"))
    (order,) = eng.orders.values()
    assert small_region.network.kind[order.node_idx] == NodeKind.SERVICE_DROP  # not customer-side
    eng.handle(ShiftStarted(120, "C1"))
    assert order.status == OrderStatus.EN_ROUTE
    out = eng.handle(AmiMessage(400, meter[a], "restore"))  # back before the crew got there
    assert order.status == OrderStatus.CANCELLED
    assert _only(out, Recall) == [Recall(400, order.order_id, order.crew_id)]
    assert eng.crews[order.crew_id].status == "idle"
    with pytest.raises(EventError, match="unknown meter id 'M-NOWHERE'"):
        eng.handle(AmiMessage(500, "M-NOWHERE", "last_gasp"))
    with pytest.raises(EventError, match="kind must be last_gasp or restore, got 'ping'"):
        eng.handle(AmiMessage(510, meter[b], "ping"))


def test_a_refused_event_does_not_move_the_clock(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    eng.handle(ShiftStarted(50, "C1"))
    with pytest.raises(EventError, match="unknown crew 'C9'"):
        eng.handle(ShiftStarted(900, "C9"))
    eng.handle(ShiftStarted(60, "C2"))  # still accepted: the bad event changed nothing
    assert eng.clock_s == 60 and eng.crews["C2"].status == "idle"


def test_etr_accuracy_compares_the_first_quote_with_the_repair(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    _, assign, out = _lone_call_dispatched(eng, small_region)
    first = _only(out, EtrUpdate)[0].etr_s
    eng.handle(CrewArrived(100 + assign.travel_s, assign.crew_id, assign.order_id))
    eng.handle(RepairFinished(first + 5400, assign.crew_id, assign.order_id, ()))
    assert etr_accuracy(eng) == {"etr_first_mae_hours": 1.5, "etr_first_within_1h_rate": 0.0}


def test_a_fault_found_upstream_moves_the_order_and_turns_back_crews_below(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    net = small_region.network
    cust = small_region.customers
    feeder = int(net.nodes_of_kind(NodeKind.FEEDER_HEAD)[0])
    xfmrs = [int(x) for x in net.nodes_of_kind(NodeKind.TRANSFORMER) if net.is_ancestor(feeder, int(x))][:2]
    first = [str(cust.loc[(cust["node_idx"] > x) & (cust["node_idx"] < x + net.size[x]),
                          "customer_id"].iat[0]) for x in xfmrs]
    eng.handle(ShiftStarted(0, "C1"))
    eng.handle(ShiftStarted(0, "C2"))
    (go_a,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=first[0]))), Assign)
    (go_b,) = _only(eng.handle(CallReceived(110, Call("K2", 110, customer_id=first[1]))), Assign)
    a, b = eng.orders[go_a.order_id], eng.orders[go_b.order_id]
    with pytest.raises(EventError, match="must be on site"):
        eng.handle(FaultFound(150, go_a.crew_id, a.order_id, net.node_id[feeder]))
    eng.handle(CrewArrived(100 + go_a.travel_s, go_a.crew_id, a.order_id))
    with pytest.raises(EventError, match="the element upstream"):
        eng.handle(FaultFound(100 + go_a.travel_s, go_a.crew_id, a.order_id, net.node_id[xfmrs[1]]))
    out = eng.handle(FaultFound(100 + go_a.travel_s, go_a.crew_id, a.order_id, net.node_id[feeder]))
    assert a.node_idx == feeder and a.element_id == net.device_id[feeder]
    assert a.customers == int(net.count_below(net.kind == NodeKind.CUSTOMER)[feeder])
    assert b.status == OrderStatus.MERGED and b.merged_into == a.order_id
    assert _only(out, Recall) == [Recall(100 + go_a.travel_s, b.order_id, go_b.crew_id)]
    assert eng.crews[go_b.crew_id].status == "idle" and eng.open_order_above(a) is None
