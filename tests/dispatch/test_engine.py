"""The engine on a small region: every call gets a first response, which finds the device
and hands repairs over; merged orders keep their own reports and are reached with the order
they merged into; every calling customer is called back; crews keep their hours of service
and skills; bad events are refused and change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch.crews import Crew, CrewRole
from dispatch.engine import REGROUP_EVERY_S, DispatchEngine, EventError
from dispatch.events import (
    Alert,
    AmiMessage,
    Assign,
    CallbackDone,
    CallbackDue,
    CallbackMade,
    CallReceived,
    CallSettled,
    CallUnlocated,
    ClockTick,
    CrewArrived,
    CrewPosition,
    Decision,
    DeviceOperated,
    DispatcherAssigned,
    Divert,
    EtrUpdate,
    Finding,
    FirstResponseDone,
    GeneratorConnected,
    GeneratorReleased,
    Handover,
    OrderCancelled,
    OrderMoved,
    OutageReported,
    Recall,
    RepairFinished,
    SendGenerator,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.generators import GeneratorTruck
from dispatch.jobs import JobKind, JobStatus
from dispatch.kpis import etr_accuracy
from dispatch.optimizer import OptimizerParams, RestorationOptimizer
from dispatch.orders import OrderOrigin, OrderStatus
from dispatch.policy import DispatchPolicy, NearestAvailableCrew
from dispatch.roster import CrewStatus
from grid_model.network import NodeKind
from grid_model.predict import PredictionParams
from grid_model.priors import DEFAULT_PRIORS
from grid_model.region import Region
from grid_model.storm import Call
from routing.travel import RoadTravel

H = 3600


def _engine(region: Region, travel: RoadTravel, policy: DispatchPolicy | None = None,
            extra: tuple[Crew, ...] = (), **kw: object) -> DispatchEngine:
    """A responder FR1 and repair crews R1 (every skill) and R2 (lv), all on a 16 h shift from 0."""
    d = region.depots[0]
    crews = [Crew("FR1", d.depot_id, d.x_m, d.y_m, frozenset({"lv"}), 0, 16.0, role=CrewRole.FIRST_RESPONDER),
             Crew("R1", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv", "cable"}), 0, 16.0),
             Crew("R2", d.depot_id, d.x_m + 5000, d.y_m, frozenset({"lv"}), 0, 16.0), *extra]
    return DispatchEngine(region, crews, policy or NearestAvailableCrew(), travel=travel, **kw)  # type: ignore[arg-type]


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


def _node(region: Region, customer_id: str) -> int:
    cust = region.customers
    return int(cust.loc[cust["customer_id"] == customer_id, "node_idx"].iat[0])


def _on_shift(eng: DispatchEngine, t: int, *crews: str) -> list[Decision]:
    out: list[Decision] = []
    for c in crews:
        out += eng.handle(ShiftStarted(t, c))
    return out


def test_merged_orders_keep_their_own_reports_and_are_reached_with_the_surviving_one(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    w1 = eng.orders[go.order_id]
    assert (go.crew_id, go.kind, go.job_id) == ("FR1", "first_response", f"{w1.order_id}-F1")
    assert w1.status == OrderStatus.EN_ROUTE and w1.origin == OrderOrigin.CALL
    (handover,) = _only(eng.handle(CallReceived(200, Call("K2", 200, customer_id=b))), Handover)
    w2 = eng.orders[handover.order_id]
    assert w1.status == OrderStatus.MERGED and w1.merged_into == w2.order_id and w2.node_idx == outlet
    assert (w1.first_report_s, w2.first_report_s) == (100, 200)
    assert w2.deadline_s == 200 + eng.limits.arrival_limit(w2.area)
    assert eng.jobs[go.job_id].status == JobStatus.CANCELLED and handover.job_id == f"{w2.order_id}-F1"
    arrive = 200 + handover.travel_s
    eng.handle(CrewArrived(arrive, "FR1", handover.job_id))
    assert (w1.reached_s, w2.reached_s) == (arrive, arrive)
    assert w1.reached_by == w2.reached_by == "first_responder" and w2.status == OrderStatus.ON_SITE
    # a third customer calling after the crew got there is reached at once: no new order
    assert not eng.handle(CallReceived(arrive + 60, Call("K3", arrive + 60, customer_id=b)))
    assert len(eng.orders) == 2


def test_a_first_response_hands_the_repair_over_and_every_caller_is_called_back(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    _on_shift(eng, 0, "FR1", "R2")
    eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    (handover,) = _only(eng.handle(CallReceived(200, Call("K2", 200, customer_id=b))), Handover)
    order = eng.orders[handover.order_id]
    t = 200 + handover.travel_s
    eng.handle(CrewArrived(t, "FR1", handover.job_id))
    element = small_region.network.device_id[outlet]
    out = eng.handle(FirstResponseDone(t + 1200, "FR1", handover.job_id, (Finding(element, "lv", 2 * H),)))
    (go,) = _only(out, Assign)
    repair = eng.jobs[go.job_id]
    assert (repair.kind, repair.skill, repair.service_s, repair.node_idx) == (JobKind.REPAIR, "lv", 2 * H,
                                                                                outlet)
    assert go.crew_id == "R2"  # a repair crew, not the responder
    assert eng.crews["FR1"].status == CrewStatus.IDLE
    assert order.diagnosed and eng.log.first_responses == 1
    eng.handle(CrewArrived(t + 1200 + go.travel_s, "R2", go.job_id))
    out = eng.handle(RepairFinished(t + 9000, "R2", go.job_id, (outlet,)))
    assert order.status == OrderStatus.REPAIRED and order.repaired_s == t + 9000
    due = _only(out, CallbackDue)
    assert sorted(d.customer_id for d in due) == sorted([a, b])
    assert {d.order_id for d in due} == {order.order_id}
    eng.handle(CallbackMade(t + 10_000, due[0].callback_id, "no_answer"))
    eng.handle(CallbackMade(t + 10_100, due[0].callback_id, "restored"))
    assert order.status == OrderStatus.REPAIRED  # one caller still to call back
    eng.handle(CallbackMade(t + 10_200, due[1].callback_id, "restored"))
    assert order.status == OrderStatus.CLOSED and eng.callbacks.done == 2
    with pytest.raises(EventError, match="is done"):
        eng.handle(CallbackMade(t + 10_300, due[1].callback_id, "restored"))


def test_a_cause_found_upstream_moves_the_order_and_its_repair_class(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, outlet = _two_drop_customers(small_region)
    net = small_region.network
    xfmr = int(net.parent[outlet])
    _on_shift(eng, 0, "FR1", "R1", "R2")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    order = eng.orders[go.order_id]
    assert order.limit_class == "lv" and go.crew_id == "FR1"
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    out = eng.handle(FirstResponseDone(3000, "FR1", go.job_id, (Finding(net.device_id[xfmr], "mv", 4 * H),)))
    assert order.node_idx == xfmr and order.element_id == net.device_id[xfmr]
    assert (order.skill, order.limit_class) == ("mv", "mv")
    assert order.customers == int(net.count_below(net.kind == NodeKind.CUSTOMER)[xfmr])
    (go2,) = _only(out, Assign)
    assert go2.crew_id == "R1" and go2.skill == "mv"  # R2 has no mv skill


def test_fixed_on_the_spot_and_customer_side_need_no_repair(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, _ = _two_drop_customers(small_region)
    net = small_region.network
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    out = eng.handle(FirstResponseDone(2500, "FR1", go.job_id, (Finding(a, "", 1800, customer_side=True),)))
    first = eng.orders[go.order_id]
    assert first.status == OrderStatus.REPAIRED and first.customer_side
    assert [d.customer_id for d in _only(out, CallbackDue)] == [a]
    assert eng.log.customer_side_faults == 1 and not _only(out, Assign)
    (go2,) = _only(eng.handle(CallReceived(3000, Call("K2", 3000, customer_id=b))), Assign)
    eng.handle(CrewArrived(3000 + go2.travel_s, "FR1", go2.job_id))
    drop = int(net.parent[net.parent[_node(small_region, b)]])
    eng.handle(FirstResponseDone(6000, "FR1", go2.job_id, (Finding(net.node_id[drop], "lv", 0, fixed=True),)))
    second = eng.orders[go2.order_id]
    assert second.status == OrderStatus.REPAIRED and not second.customer_side
    assert eng.log.fixed_on_first_visit == 1
    assert not [j for j in eng.jobs.values() if j.kind == JobKind.REPAIR]


def test_a_callback_that_finds_the_customer_dark_reopens_work(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, _ = _two_drop_customers(small_region)
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    (due,) = _only(eng.handle(FirstResponseDone(2500, "FR1", go.job_id, ())), CallbackDue)  # nothing found
    out = eng.handle(CallbackMade(4000, due.callback_id, "still_dark"))
    reopened = [o for o in eng.orders.values() if o.origin == OrderOrigin.CALLBACK]
    assert len(reopened) == 1 and reopened[0].first_report_s == 4000 and eng.log.reopened == 1
    assert _only(out, Assign)[0].job_id == f"{reopened[0].order_id}-F1"
    assert eng.orders[go.order_id].status == OrderStatus.CLOSED  # its callback has an outcome


def test_a_customer_who_resets_their_own_breaker_on_the_phone_gets_no_order(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, _ = _two_drop_customers(small_region)
    (settled,) = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a), triage="customer_reset"))
    assert settled == CallSettled(100, "K1", a, _node(small_region, a))
    assert not eng.orders and eng.log.resolved_by_phone == 1 and eng.log.customer_side_faults == 1
    with pytest.raises(EventError, match="triage must be one of"):
        eng.handle(CallReceived(200, Call("K2", 200, customer_id=a), triage="hung up"))


def test_crews_keep_their_hours_of_service(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, outlet = _two_drop_customers(small_region)
    end = 16 * H
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(end - 3 * H, Call("K1", end - 3 * H, customer_id=a))), Assign)
    t = end - 3 * H + go.travel_s
    eng.handle(CrewArrived(t, "FR1", go.job_id))
    element = small_region.network.device_id[outlet]
    out = eng.handle(FirstResponseDone(t + 1200, "FR1", go.job_id, (Finding(element, "lv", 4 * H),)))
    assert not _only(out, Assign)  # nobody to repair it: R2 is off duty
    repair = next(j for j in eng.jobs.values() if j.kind == JobKind.REPAIR)
    # R2 comes on with 2 h of its duty left: a 4 h repair does not fit, it waits
    out = eng.handle(ShiftStarted(end - 2 * H, "R2"))
    assert not _only(out, Assign) and repair.status == JobStatus.NEW
    assert eng.crews["R2"].duty_end_s == end
    # R1 comes on for a full duty period and takes it; at its duty limit it hands it back
    eng.handle(ShiftEnded(end, "R2"))
    (go_r1,) = _only(eng.handle(ShiftStarted(end + 8 * H, "R1")), Assign)
    assert go_r1.job_id == repair.job_id and eng.crews["R1"].duty_end_s == end + 24 * H
    eng.handle(CrewArrived(end + 8 * H + go_r1.travel_s, "R1", repair.job_id))
    out = eng.handle(ShiftEnded(end + 24 * H, "R1"))
    assert _only(out, Recall) == [Recall(end + 24 * H, repair.order_id, "R1", repair.job_id)]
    assert repair.status == JobStatus.NEW and repair.worked_s == 16 * H - go_r1.travel_s
    assert eng.crews["R1"].status == CrewStatus.OFF and eng.log.handed_back_at_duty_end == 1
    # back after 2 h of rest instead of 8: accepted (it is what happened), counted, alerted
    (alert,) = _only(eng.handle(ShiftStarted(end + 26 * H, "R1")), Alert)
    assert (alert.kind, alert.order_id) == ("hours_of_service", "R1")
    assert eng.log.hours_of_service_breaches == 1
    # a crew reporting past its duty limit (its shift end never came through): accepted,
    # counted and alerted once
    assert eng.crews["FR1"].duty_end_s == end
    (alert,) = _only(eng.handle(CrewPosition(end + 27 * H, "FR1", 0.0, 0.0)), Alert)
    assert (alert.order_id, alert.due_s) == ("FR1", end) and eng.log.hours_of_service_breaches == 2
    assert not _only(eng.handle(CrewPosition(end + 27 * H + 60, "FR1", 0.0, 0.0)), Alert)


def test_reassigning_a_helper_keeps_every_team_consistent(small_region: Region, travel: RoadTravel) -> None:
    params = OptimizerParams(team_min_customers=1, team_min_repair_s=0, team_size=2)
    d = small_region.depots[0]
    r3 = Crew("R3", d.depot_id, d.x_m, d.y_m + 3000, frozenset({"lv", "mv", "cable"}), 0, 16.0)
    eng = _engine(small_region, travel, RestorationOptimizer(params), extra=(r3,))
    net = small_region.network
    feeders = [int(f) for f in net.nodes_of_kind(NodeKind.FEEDER_HEAD)][:2]
    _on_shift(eng, 0, "R1", "R2", "R3", "FR1")
    out = eng.handle(DeviceOperated(100, net.device_id[feeders[0]]))
    first = next(j for j in eng.jobs.values())
    assert first.kind == JobKind.REPAIR and len(first.team) == 2  # SCADA: repaired at once, as a team
    helper = first.helpers[0]
    lead = first.crew_id
    eng.handle(DeviceOperated(200, net.device_id[feeders[1]]))
    second = next(j for j in eng.jobs.values() if j is not first)
    out = eng.handle(DispatcherAssigned(300, second.order_id, helper))
    assert first.crew_id == lead and helper not in first.team and second.crew_id == helper
    (divert,) = _only(out, Divert)  # the helper was on its way: diverted, the lead drives on
    assert (divert.crew_id, divert.from_job_id, divert.job_id) == (helper, first.job_id, second.job_id)
    assert eng.crews[helper].job_id == second.job_id and eng.crews[lead].job_id == first.job_id
    eng.handle(ClockTick(400))  # the override re-plans: no crash, teams still consistent
    for crew_id, state in eng.crews.items():
        if state.job_id:
            assert crew_id in eng.jobs[state.job_id].team
    for job in eng.jobs.values():
        for crew_id in job.team:
            assert eng.crews[crew_id].job_id == job.job_id


def test_a_feeder_breaker_report_sends_a_repair_at_once(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    net = small_region.network
    feeder = int(net.nodes_of_kind(NodeKind.FEEDER_HEAD)[0])
    _on_shift(eng, 0, "FR1", "R1")
    out = eng.handle(DeviceOperated(100, net.device_id[feeder]))
    (order,) = eng.orders.values()
    (job,) = (eng.jobs[j] for j in order.jobs)
    assert order.origin == OrderOrigin.SCADA and job.kind == JobKind.REPAIR and job.skill in ("mv", "cable")
    assert order.customers == int(net.count_below(net.kind == NodeKind.CUSTOMER)[feeder])
    assert _only(out, Assign)[0].crew_id == "R1"
    with pytest.raises(EventError, match="unknown device 'CB-NOWHERE'"):
        eng.handle(DeviceOperated(200, "CB-NOWHERE"))
    assert len(eng.orders) == 1


def test_bad_reports_are_refused_and_change_nothing(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    net = small_region.network
    eng.handle(ShiftStarted(50, "FR1"))
    with pytest.raises(EventError, match="before the engine clock"):
        eng.handle(ShiftStarted(10, "R2"))
    with pytest.raises(EventError, match="unknown crew 'C9'"):
        eng.handle(ShiftStarted(60, "C9"))
    with pytest.raises(EventError, match="unknown job 'W404-F1'"):
        eng.handle(CrewArrived(70, "FR1", "W404-F1"))
    out = eng.handle(CallReceived(80, Call("K0", 80, address="火星路 1 号")))
    assert isinstance(out[0], CallUnlocated) and eng.unlocated[0].call_id == "K0"
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    with pytest.raises(EventError, match="must be on site of a first-response job"):
        eng.handle(FirstResponseDone(150, "FR1", go.job_id, ()))
    with pytest.raises(EventError, match=r"reports .* repaired but is en_route"):
        eng.handle(RepairFinished(150, "FR1", go.job_id, ()))
    with pytest.raises(EventError, match=r"R1 arrived at .* but is on no job"):
        eng.handle(CrewArrived(160, "R1", go.job_id))
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    other_feeder = next(int(f) for f in net.nodes_of_kind(NodeKind.FEEDER_HEAD)
                        if not net.is_ancestor(int(f), outlet))
    t = 100 + go.travel_s + 10
    for finding, reason in [(Finding("NOWHERE", "lv", 60), "unknown element 'NOWHERE'"),
                            (Finding(net.device_id[other_feeder], "mv", 60), "neither on the supply path"),
                            (Finding(net.device_id[outlet], "hv", 60), "needs a skill of lv, mv, cable"),
                            (Finding(net.device_id[outlet], "lv", -5), "repair time .* is negative")]:
        with pytest.raises(EventError, match=reason):
            eng.handle(FirstResponseDone(t, "FR1", go.job_id, (finding,)))
    assert eng.jobs[go.job_id].status == JobStatus.ON_SITE and eng.log.first_responses == 0
    order = eng.orders[go.order_id]
    with pytest.raises(EventError, match=r"callback for .* not repaired"):
        eng.handle(CallbackDone(t, order.order_id))
    with pytest.raises(EventError, match="unknown callback"):
        eng.handle(CallbackMade(t, f"{order.order_id}:{b}", "restored"))
    with pytest.raises(EventError, match="not due"):
        eng.handle(CallbackMade(t, f"{order.order_id}:{a}", "restored"))
    with pytest.raises(EventError, match="outcome must be one of"):
        eng.handle(CallbackMade(t, f"{order.order_id}:{a}", "maybe"))
    with pytest.raises(EventError, match=r"cannot cancel .* it is on_site"):
        eng.handle(OrderCancelled(t, order.order_id, "duplicate"))
    assert eng.clock_s == 100 + go.travel_s and order.status == OrderStatus.ON_SITE


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
    (go,) = _only(eng.handle(ShiftStarted(warn_at + 10, "FR1")), Assign)
    out = eng.handle(OrderCancelled(warn_at + 20, order.order_id, "customer reports power back"))
    assert _only(out, Recall) == [Recall(warn_at + 20, order.order_id, "FR1", go.job_id)]
    assert order.status == OrderStatus.CANCELLED and eng.crews["FR1"].status == CrewStatus.IDLE
    assert [d.customer_id for d in _only(out, CallbackDue)] == [a]
    with pytest.raises(EventError, match=r"cannot cancel W000001: it is cancelled"):
        eng.handle(OrderCancelled(warn_at + 30, order.order_id, "again"))


def test_a_critical_customer_gets_the_nearest_generator_truck_until_the_repair(
        small_region: Region, travel: RoadTravel) -> None:
    d = small_region.depots[0]
    far = small_region.depots[-1]
    trucks = [GeneratorTruck("G-NEAR", d.depot_id, d.x_m, d.y_m),
              GeneratorTruck("G-FAR", far.depot_id, far.x_m + 20_000, far.y_m)]
    eng = _engine(small_region, travel, generators=trucks)
    cust = small_region.customers
    row = cust[cust["critical"] != ""].iloc[0]
    node = int(row["node_idx"])
    net = small_region.network
    assert np.hypot(net.x_m[node] - d.x_m, net.y_m[node] - d.y_m) < np.hypot(
        net.x_m[node] - far.x_m - 20_000, net.y_m[node] - far.y_m)
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=str(row["customer_id"]))))
    (send,) = _only(out, SendGenerator)
    order = eng.orders[send.order_id]
    assert (send.truck_id, send.node_idx) == ("G-NEAR", node) and order.critical == 1
    with pytest.raises(EventError, match="generator truck G-FAR connected but is idle"):
        eng.handle(GeneratorConnected(200, "G-FAR"))
    assert not _only(eng.handle(GeneratorConnected(100 + send.travel_s, "G-NEAR")), GeneratorReleased)
    (go,) = _only(eng.handle(ShiftStarted(3000, "FR1")), Assign)
    eng.handle(CrewArrived(3000 + go.travel_s, "FR1", go.job_id))
    out = eng.handle(FirstResponseDone(9000, "FR1", go.job_id, ()))
    assert _only(out, GeneratorReleased) == [GeneratorReleased(9000, "G-NEAR", node)]
    assert eng.generators.trucks["G-NEAR"].status == "idle"


def test_meters_report_an_outage_and_its_end(small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    cust = small_region.customers
    a, b, _ = _two_drop_customers(small_region)
    meter = {c: str(cust.loc[cust["customer_id"] == c, "meter_id"].iat[0]) for c in (a, b)}
    eng.handle(AmiMessage(100, meter[a], "last_gasp"))
    (order,) = eng.orders.values()
    assert small_region.network.kind[order.node_idx] == NodeKind.SERVICE_DROP  # not customer-side
    assert order.origin == OrderOrigin.AMI
    (go,) = _only(eng.handle(ShiftStarted(120, "FR1")), Assign)
    out = eng.handle(AmiMessage(400, meter[a], "restore"))  # back before the crew got there
    assert order.status == OrderStatus.CANCELLED
    assert _only(out, Recall) == [Recall(400, order.order_id, "FR1", go.job_id)]
    with pytest.raises(EventError, match="unknown meter id 'M-NOWHERE'"):
        eng.handle(AmiMessage(500, "M-NOWHERE", "last_gasp"))
    with pytest.raises(EventError, match="kind must be last_gasp or restore, got 'ping'"):
        eng.handle(AmiMessage(510, meter[b], "ping"))


def test_the_etr_follows_the_order_and_is_judged_against_the_repair(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, _, outlet = _two_drop_customers(small_region)
    _on_shift(eng, 0, "FR1", "R2")
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    (go,) = _only(out, Assign)
    order = eng.orders[go.order_id]
    expected = eng.estimates.repair_s(small_region.network, order.node_idx)
    (etr,) = _only(out, EtrUpdate)
    assert etr.etr_s == 100 + go.travel_s + eng.estimates.first_response_s + expected
    assert eng.customer_etr(a) == etr.etr_s
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    finding = Finding(small_region.network.device_id[outlet], "lv", 2 * H)
    (go2,) = _only(eng.handle(FirstResponseDone(2000, "FR1", go.job_id, (finding,))), Assign)
    assert eng.etr[order.order_id] == 2000 + go2.travel_s + 2 * H
    eng.handle(CrewArrived(2000 + go2.travel_s, "R2", go2.job_id))
    eng.handle(RepairFinished(etr.etr_s + 5400, "R2", go2.job_id, (outlet,)))
    assert etr_accuracy(eng) == {"etr_first_mae_hours": 1.5, "etr_first_within_1h_rate": 0.0}


def test_a_fault_a_repair_crew_sees_still_open_below_is_kept_as_a_job_of_its_own(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    a, b, outlet = _two_drop_customers(small_region)
    net = small_region.network
    drop = int(net.parent[net.parent[_node(small_region, b)]])
    _on_shift(eng, 0, "FR1", "R2")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    (rep,) = _only(eng.handle(FirstResponseDone(
        2000, "FR1", go.job_id, (Finding(net.device_id[outlet], "lv", H),))), Assign)
    eng.handle(CrewArrived(2000 + rep.travel_s, "R2", rep.job_id))
    xfmr = net.node_id[int(net.parent[outlet])]
    with pytest.raises(EventError, match="is not below the repaired"):
        eng.handle(RepairFinished(6000, "R2", rep.job_id, (outlet,), (Finding(xfmr, "mv", H),)))
    nested_drop = Finding(net.node_id[drop], "lv", H)
    out = eng.handle(RepairFinished(6000, "R2", rep.job_id, (outlet,), (nested_drop,)))
    order = eng.orders[go.order_id]
    nested = eng.jobs[f"{order.order_id}-R3"]
    assert (nested.node_idx, nested.skill, nested.status) == (drop, "lv", JobStatus.EN_ROUTE)
    assert order.status == OrderStatus.ON_SITE and not _only(out, CallbackDue)  # not back yet
    assert _only(out, Assign)[0].crew_id == "R2"  # the crew right there takes it


def test_scada_identifies_the_device_of_an_incident_already_open(
        small_region: Region, travel: RoadTravel) -> None:
    eng = _engine(small_region, travel)
    net = small_region.network
    feeder = int(net.nodes_of_kind(NodeKind.FEEDER_HEAD)[0])
    eng.handle(OutageReported(100, net.device_id[feeder]))
    (order,) = eng.orders.values()
    assert [eng.jobs[j].kind for j in order.jobs] == [JobKind.FIRST_RESPONSE]
    eng.handle(DeviceOperated(200, net.device_id[feeder]))  # the breaker opens after the report
    assert len(eng.orders) == 1
    assert [(eng.jobs[j].kind, eng.jobs[j].node_idx) for j in order.jobs] == [
        (JobKind.FIRST_RESPONSE, feeder), (JobKind.REPAIR, feeder)]


def _lateral_with_two_transformers(region: Region) -> tuple[int, str, str]:
    """An MV lateral fuse with two or more transformers below, and a customer under each of the
    first two."""
    net, cust = region.network, region.customers
    for p in net.nodes_of_kind(NodeKind.MV_NODE):
        sl = net.subtree(int(p))
        xs = [i for i in range(sl.start, sl.stop) if net.kind[i] == NodeKind.TRANSFORMER]
        if net.device_id[p] and len(xs) >= 2:
            first, second = (cust.loc[cust["node_idx"].map(lambda n, x=x: net.is_ancestor(x, int(n))),
                                      "customer_id"].iat[0] for x in xs[:2])
            return int(p), first, second
    raise AssertionError("no lateral fuse with two transformers")


def test_a_repair_that_came_with_a_merged_order_repairs_the_unreached_order_it_joined(
        small_region: Region, travel: RoadTravel) -> None:
    """A repair crew is on site under a lateral when an outage of the lateral's fuse is reported
    and takes in the order the repair was for; nobody reaches the fuse (its own first response
    is called off when a responder finds the cause further up, fixed on the spot). The repair
    done then repairs the fuse's order, reached by that crew; it used to raise TransitionError
    (new to repaired), a crash the live service rolled back for every retry."""
    d = small_region.depots[0]
    fr2 = Crew("FR2", d.depot_id, d.x_m, d.y_m, frozenset({"lv"}), 0, 16.0, role=CrewRole.FIRST_RESPONDER)
    eng = _engine(small_region, travel, extra=(fr2,))
    net = small_region.network
    fuse, first, second = _lateral_with_two_transformers(small_region)
    _on_shift(eng, 0, "FR1", "FR2", "R1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=first))), Assign)
    t = 100 + go.travel_s
    eng.handle(CrewArrived(t, go.crew_id, go.job_id))
    site = eng.orders[go.order_id].element_id
    out = eng.handle(FirstResponseDone(t + 60, go.crew_id, go.job_id, (Finding(site, "lv", 2 * H),)))
    (repair,) = _only(out, Assign)
    t += 60 + repair.travel_s
    eng.handle(CrewArrived(t, repair.crew_id, repair.job_id))
    (go2,) = _only(eng.handle(CallReceived(t + 10, Call("K2", t + 10, customer_id=second))), Assign)
    t += 10 + go2.travel_s
    eng.handle(CrewArrived(t, go2.crew_id, go2.job_id))
    idle = [c for c, s in eng.crews.items() if s.status == CrewStatus.IDLE]
    for c in idle:  # no responder left for the fuse
        eng.handle(ShiftEnded(t + 10, c))
    eng.handle(OutageReported(t + 20, net.device_id[fuse]))
    (joined,) = (o for o in eng.orders.values() if o.node_idx == fuse)
    assert joined.status == OrderStatus.NEW and repair.job_id in joined.jobs
    assert joined.reached_s is None and joined.site_reached_s is None
    with pytest.raises(EventError, match="a crew is at work on it"):  # it would call the crew off
        eng.handle(OrderCancelled(t + 25, joined.order_id, "duplicate"))
    above = next(n for n in net.path_up(fuse)[1:] if net.device_id[n])
    fixed = Finding(net.device_id[above], "mv", 0, fixed=True)
    eng.handle(FirstResponseDone(t + 30, go2.crew_id, go2.job_id, (fixed,)))
    assert joined.status == OrderStatus.NEW and joined.node_idx == above
    out = eng.handle(RepairFinished(t + 40, repair.crew_id, repair.job_id, ()))
    assert joined.status == OrderStatus.REPAIRED and joined.reached_s == t + 40
    assert sorted(d.customer_id for d in _only(out, CallbackDue)) == sorted([first, second])


def _repair_on_its_way_under_a_lateral(region: Region, travel: RoadTravel
                                       ) -> tuple[DispatchEngine, int, Assign, Assign, int]:
    """FR1 found an LV fault at a caller's transformer under a lateral fuse and R1 is on its way
    to repair it: the engine, the fuse, FR1's and R1's assignments and FR1's arrival time."""
    eng = _engine(region, travel)
    fuse, first, _ = _lateral_with_two_transformers(region)
    _on_shift(eng, 0, "FR1", "R1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=first))), Assign)
    t = 100 + go.travel_s
    eng.handle(CrewArrived(t, go.crew_id, go.job_id))
    found = (Finding(eng.orders[go.order_id].element_id, "lv", 2 * H),)
    (repair,) = _only(eng.handle(FirstResponseDone(t + 60, go.crew_id, go.job_id, found)), Assign)
    return eng, fuse, go, repair, t


def test_a_crew_at_the_site_of_an_order_taken_in_does_not_reach_the_order_that_took_it(
        small_region: Region, travel: RoadTravel) -> None:
    """The repair crew is on its way under a lateral when the lateral's fuse is reported out and
    its order takes in the repair's: the crew arriving at the repair is at the site of the order
    it came with, not at the fuse (it used to count as the fuse order's arrival, which flattered
    arrival within limit and dropped the fuse's first response from the optimizer's deadlines)."""
    eng, fuse, go, repair, t = _repair_on_its_way_under_a_lateral(small_region, travel)
    eng.handle(OutageReported(t + 70, small_region.network.device_id[fuse]))
    (joined,) = (o for o in eng.orders.values() if o.node_idx == fuse)
    assert repair.job_id in joined.jobs and eng.orders[go.order_id].merged_into == joined.order_id
    eng.handle(CrewArrived(t + 60 + repair.travel_s, repair.crew_id, repair.job_id))
    assert joined.reached_s is None and joined.site_reached_s is None and eng.unreached(joined) is not None
    assert eng.orders[go.order_id].reached_s == t


def test_an_order_whose_only_crew_on_the_way_arrives_at_a_job_it_took_in_waits_again(
        small_region: Region, travel: RoadTravel) -> None:
    """The same, with nobody sent to the fuse yet: once the repair crew is at the repair it came
    with, no crew is on its way to the fuse order (it stayed en route)."""
    eng, fuse, _, repair, t = _repair_on_its_way_under_a_lateral(small_region, travel)
    eng.handle(OutageReported(t + 70, small_region.network.device_id[fuse]), settle=False)
    (joined,) = (o for o in eng.orders.values() if o.node_idx == fuse)
    assert joined.status == OrderStatus.EN_ROUTE
    eng.handle(CrewArrived(t + 60 + repair.travel_s, repair.crew_id, repair.job_id), settle=False)
    assert joined.status == OrderStatus.NEW and joined.reached_s is None


def _responder_on_site_under_a_lateral(region: Region, travel: RoadTravel
                                       ) -> tuple[DispatchEngine, int, str, Assign, int]:
    """FR1 on site at a caller's transformer under a lateral fuse: the engine, the fuse, a
    customer under another transformer of the lateral, FR1's assignment and its arrival time."""
    eng = _engine(region, travel)
    fuse, first, second = _lateral_with_two_transformers(region)
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=first))), Assign)
    t = 100 + go.travel_s
    eng.handle(CrewArrived(t, "FR1", go.job_id))
    return eng, fuse, second, go, t


def test_an_order_taken_in_by_a_cause_found_upstream_is_reached_when_a_crew_gets_there(
        small_region: Region, travel: RoadTravel) -> None:
    """A responder at one transformer finds the lateral fuse above it open: its order moves to
    the fuse and takes in the order of a caller under another transformer of the lateral.
    Nobody has been at the fuse, so that order is reached only when the repair crew arrives
    there (it used to count as reached at the merge, with no crew at its site)."""
    eng, fuse, second, go, t = _responder_on_site_under_a_lateral(small_region, travel)
    net = small_region.network
    assert not _only(eng.handle(CallReceived(t + 10, Call("K2", t + 10, customer_id=second))), Assign)
    (other,) = (o for o in eng.orders.values() if o.order_id != go.order_id)
    assert other.status == OrderStatus.NEW and other.merged_into == ""
    eng.handle(FirstResponseDone(t + 60, "FR1", go.job_id, (Finding(net.device_id[fuse], "mv", 2 * H),)))
    assert other.merged_into == go.order_id and eng.orders[go.order_id].node_idx == fuse
    assert other.reached_s is None
    (rep,) = _only(_on_shift(eng, t + 100, "R1"), Assign)
    assert rep.job_id in eng.orders[go.order_id].jobs
    eng.handle(CrewArrived(t + 100 + rep.travel_s, "R1", rep.job_id))
    assert other.reached_s == t + 100 + rep.travel_s and other.reached_by == CrewRole.REPAIR.value


def test_an_idle_crews_position_just_past_its_limit_is_no_breach(
        small_region: Region, travel: RoadTravel) -> None:
    """Live, a crew's shift end comes with the next clock tick: a GPS fix from an idle crew in
    the minutes between is no breach (it was counted and alerted as one); well past, it is."""
    eng = _engine(small_region, travel)
    _on_shift(eng, 0, "FR1")
    end = eng.crews["FR1"].duty_end_s
    assert not _only(eng.handle(CrewPosition(end + 60, "FR1", 0.0, 0.0)), Alert)
    assert eng.log.hours_of_service_breaches == 0
    (alert,) = _only(eng.handle(CrewPosition(end + 3600, "FR1", 0.0, 0.0)), Alert)
    assert alert.kind == "hours_of_service" and eng.log.hours_of_service_breaches == 1


def test_work_of_another_skill_left_at_the_repaired_element_becomes_a_job_of_its_own(
        small_region: Region, travel: RoadTravel) -> None:
    """An MV crew repairs a transformer and reports LV work left at it: a new LV repair job of
    the same order, which stays open; the same skill again at the element is refused."""
    eng = _engine(small_region, travel)
    a, _, outlet = _two_drop_customers(small_region)
    net = small_region.network
    xfmr = net.device_id[int(net.parent[outlet])]
    _on_shift(eng, 0, "FR1", "R1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    eng.handle(CrewArrived(100 + go.travel_s, "FR1", go.job_id))
    out = eng.handle(FirstResponseDone(3000, "FR1", go.job_id, (Finding(xfmr, "mv", 4 * H),)))
    (rep,) = _only(out, Assign)
    eng.handle(CrewArrived(3000 + rep.travel_s, "R1", rep.job_id))
    with pytest.raises(EventError, match="only work of another skill than mv can be left there"):
        eng.handle(RepairFinished(9 * H, "R1", rep.job_id, (), (Finding(xfmr, "mv", H),)))
    eng.handle(RepairFinished(9 * H, "R1", rep.job_id, (), (Finding(xfmr, "lv", H),)))
    order = eng.orders[go.order_id]
    left = [eng.jobs[j] for j in order.jobs if eng.jobs[j].status in (JobStatus.NEW, JobStatus.EN_ROUTE)]
    assert [(j.kind, j.element_id, j.skill) for j in left] == [(JobKind.REPAIR, xfmr, "lv")]
    assert order.status != OrderStatus.REPAIRED


def test_a_customer_side_finding_at_a_merged_orders_site_leaves_the_head_a_utility_outage(
        small_region: Region, travel: RoadTravel) -> None:
    """A responder is at a caller's site when the lateral fuse above it is reported out; its
    order merges into the fuse's. The caller's trouble proves their own: that does not make the
    fuse's order customer-side (it used to, taking it and all it took in out of the repair KPI)."""
    eng, fuse, _, go, t = _responder_on_site_under_a_lateral(small_region, travel)
    net = small_region.network
    eng.handle(OutageReported(t + 10, net.device_id[fuse]))
    (head,) = (o for o in eng.orders.values() if o.node_idx == fuse)
    assert eng.orders[go.order_id].merged_into == head.order_id and go.job_id in head.jobs
    site = eng.jobs[go.job_id].element_id
    eng.handle(FirstResponseDone(t + 60, "FR1", go.job_id, (Finding(site, "", 600, customer_side=True),)))
    assert not head.customer_side and head.status in (OrderStatus.NEW, OrderStatus.EN_ROUTE)


# The posterior's grouping with fixed parameters: report by report each lone caller stays their own
# fault (an outage above must be 100 times likelier first).
POSTERIOR = PredictionParams(DEFAULT_PRIORS, estimate=False)


def test_orders_no_crew_was_sent_to_follow_their_regrouped_incidents(
        small_region: Region, travel: RoadTravel) -> None:
    """Both customers of a transformer's only outlet call; report by report each is their own
    fault, two orders. The regrouping reads the outlet out: the first order moves there with its
    first response, the second merges into it, and both callers are called back with it."""
    eng = _engine(small_region, travel, grouping=POSTERIOR)
    a, b, outlet = _two_drop_customers(small_region)
    eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    eng.handle(CallReceived(200, Call("K2", 200, customer_id=b)))
    w1, w2 = eng.orders.values()
    assert (w1.node_idx, w2.node_idx) == (_node(small_region, a), _node(small_region, b))
    assert not _only(eng.handle(ClockTick(100 + REGROUP_EVERY_S - 1)), OrderMoved)  # not due yet
    out = eng.handle(ClockTick(100 + REGROUP_EVERY_S))
    net = small_region.network
    assert _only(out, OrderMoved) == [
        OrderMoved(100 + REGROUP_EVERY_S, w1.order_id, outlet, net.device_id[outlet], w1.customers)]
    sl = net.subtree(outlet)
    assert w1.customers == sum(sl.start <= n < sl.stop for n in small_region.customers["node_idx"]) > 2
    assert w1.node_idx == outlet and w1.status == OrderStatus.NEW and w1.skill == "lv"
    assert w2.status == OrderStatus.MERGED and w2.merged_into == w1.order_id and w1.absorbed == [w2.order_id]
    (job,) = (eng.jobs[j] for j in w1.jobs)
    assert (job.node_idx, job.element_id, job.status) == (outlet, net.device_id[outlet], JobStatus.NEW)
    assert eng.jobs[w2.jobs[0]].status == JobStatus.CANCELLED
    assert sorted((c.order_id, c.customer_id) for c in eng.callbacks.callbacks.values()) == sorted(
        [(w1.order_id, a), (w1.order_id, b)])
    assert eng.predictor.incident(w1.incident_id).call_ids == ["K1", "K2"]


def test_an_order_a_crew_is_on_its_way_to_stays_and_so_does_what_would_hold_it(
        small_region: Region, travel: RoadTravel) -> None:
    """The first caller's order has its responder on the way: it stays, and the second caller's
    order, which the reading would put at the outlet above it, stays too."""
    eng = _engine(small_region, travel, grouping=POSTERIOR)
    a, b, _ = _two_drop_customers(small_region)
    _on_shift(eng, 0, "FR1")
    (go,) = _only(eng.handle(CallReceived(100, Call("K1", 100, customer_id=a))), Assign)
    eng.handle(CallReceived(200, Call("K2", 200, customer_id=b)))
    sites = {o.order_id: o.node_idx for o in eng.orders.values()}
    assert not _only(eng.handle(ClockTick(100 + REGROUP_EVERY_S)), OrderMoved)
    assert {o.order_id: o.node_idx for o in eng.orders.values()} == sites
    assert all(o.status in (OrderStatus.EN_ROUTE, OrderStatus.NEW) for o in eng.orders.values())
    assert eng.orders[go.order_id].status == OrderStatus.EN_ROUTE



def test_a_caller_back_in_the_dark_keeps_the_order_open_when_the_others_are_back(
        small_region: Region, travel: RoadTravel) -> None:
    """Both customers of an outlet call; the first one's meter says supply is back, then they call
    again. However the regroupings join their reports, the second one's meter coming back does not
    end the outage while the first one has not been back since their last call, nor makes the
    callback of that last call due."""
    eng = _engine(small_region, travel, grouping=POSTERIOR)
    a, b, _ = _two_drop_customers(small_region)
    meter = dict(zip(small_region.customers["customer_id"], small_region.customers["meter_id"], strict=True))
    t0 = 12_000
    eng.handle(CallReceived(t0, Call("K1", t0, customer_id=a)))
    eng.handle(CallReceived(t0 + 1000, Call("K2", t0 + 1000, customer_id=b)))
    eng.handle(AmiMessage(t0 + 1600, meter[a], "restore"))
    eng.handle(ClockTick(t0 + 2600))
    eng.handle(CallReceived(t0 + 2700, Call("K3", t0 + 2700, customer_id=a)))
    eng.handle(ClockTick(t0 + 3700))
    eng.handle(AmiMessage(t0 + 4200, meter[b], "restore"))
    holder = eng.holder(_node(small_region, a))
    assert holder is not None and eng.orders[holder].status == OrderStatus.NEW
    mine = sorted((cb.called_s, cb.order_id, cb.due_s) for cb in eng.callbacks.callbacks.values()
                  if cb.customer_id == a)
    assert mine == [(t0, holder, t0 + 2600), (t0 + 2700, holder, None)]  # back: called back once


def test_a_caller_back_whose_order_moves_away_is_called_back_and_owed_one_callback_if_dark_again(
        small_region: Region, travel: RoadTravel) -> None:
    """Both customers of an outlet call and the regrouping joins them at the outlet. The first
    one's meter says supply is back; the next regrouping moves the order down to the second
    caller: the first, no longer behind it, is called back then (they used to keep a callback
    under an order elsewhere). Dark again, they call: one callback owed, with the order that
    explains that call."""
    eng = _engine(small_region, travel, grouping=POSTERIOR)
    a, b, outlet = _two_drop_customers(small_region)
    meter = dict(zip(small_region.customers["customer_id"], small_region.customers["meter_id"], strict=True))
    eng.handle(CallReceived(100, Call("K1", 100, customer_id=a)))
    eng.handle(CallReceived(200, Call("K2", 200, customer_id=b)))
    eng.handle(ClockTick(100 + REGROUP_EVERY_S))
    (w1,) = (o for o in eng.orders.values() if o.status == OrderStatus.NEW)
    assert w1.node_idx == outlet
    t = 100 + REGROUP_EVERY_S
    eng.handle(AmiMessage(t + 60, meter[a], "restore"))
    out = eng.handle(ClockTick(t + REGROUP_EVERY_S))
    assert _only(out, OrderMoved) and w1.node_idx == _node(small_region, b)
    assert [(d.order_id, d.customer_id) for d in _only(out, CallbackDue)] == [(w1.order_id, a)]
    eng.handle(CallReceived(t + REGROUP_EVERY_S + 60, Call("K3", t + REGROUP_EVERY_S + 60, customer_id=a)))
    waiting = [(cb.order_id, cb.customer_id) for cb in eng.callbacks.callbacks.values() if cb.due_s is None]
    (w3,) = (o for o in eng.orders.values() if o.status == OrderStatus.NEW and o is not w1)
    assert sorted(waiting) == sorted([(w1.order_id, b), (w3.order_id, a)])
