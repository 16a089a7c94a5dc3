"""Planned outages through the engine: a week's notice unless urgent with a reason, no window in
the past, moves and cancellations, calls attached inside the (current) window, callbacks at its
(current) end."""

from __future__ import annotations

import pytest

from dispatch.crews import Crew
from dispatch.engine import DispatchEngine, EventError
from dispatch.events import (
    CallbackDue,
    CallReceived,
    ClockTick,
    DeviceOperated,
    OutageReported,
    PlannedOutageAnnounced,
    PlannedOutageCancelled,
    PlannedOutageChanged,
)
from dispatch.planned import PLANNED_NOTICE_S
from dispatch.policy import NearestAvailableCrew
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from grid_model.storm import Call
from routing.travel import RoadTravel

WEEK = PLANNED_NOTICE_S


@pytest.fixture
def engine(small_region: Region) -> DispatchEngine:
    d = small_region.depots[0]
    crews = [Crew("R1", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv", "cable"}), 0, 16.0)]
    return DispatchEngine(small_region, crews, NearestAvailableCrew(), travel=RoadTravel(small_region.roads))


def _fuse_and_customer(region: Region, k: int = 0) -> tuple[str, str]:
    """A lateral fuse and its ``k``-th customer."""
    net = region.network
    fuse = next(i for i in net.nodes_of_kind(NodeKind.MV_NODE).tolist() if net.device[i] == DeviceKind.FUSE)
    sl = net.subtree(fuse)
    cust = region.customers
    below = cust[(cust["node_idx"] >= sl.start) & (cust["node_idx"] < sl.stop)]
    return net.device_id[fuse], str(below["customer_id"].iat[k])


def test_a_planned_outage_id_already_taken_or_ending_before_it_starts_is_refused(
        engine: DispatchEngine, small_region: Region) -> None:
    net = small_region.network
    feeder = net.device_id[int(net.nodes_of_kind(NodeKind.FEEDER_HEAD)[0])]
    engine.handle(PlannedOutageAnnounced(0, "P1", feeder, WEEK, WEEK + 3600))
    with pytest.raises(EventError, match="P1: the id is taken"):
        engine.handle(PlannedOutageAnnounced(10, "P1", feeder, WEEK + 9000, WEEK + 9600))
    engine.handle(OutageReported(20, feeder))
    (order,) = engine.orders.values()
    with pytest.raises(EventError, match="the id is taken"):
        engine.handle(PlannedOutageAnnounced(30, order.incident_id, feeder, WEEK + 9000, WEEK + 9600))
    with pytest.raises(EventError, match="not after its start"):
        engine.handle(PlannedOutageAnnounced(40, "P2", feeder, WEEK + 9000, WEEK + 9000))
    with pytest.raises(EventError, match="unknown device 'nowhere'"):
        engine.handle(PlannedOutageAnnounced(50, "P3", "nowhere", WEEK + 9000, WEEK + 9600))


def test_short_notice_needs_urgent_with_a_reason_and_the_past_is_refused(
        engine: DispatchEngine, small_region: Region) -> None:
    fuse, _ = _fuse_and_customer(small_region)
    t = 1000
    with pytest.raises(EventError, match="under the 7 days' notice"):
        engine.handle(PlannedOutageAnnounced(t, "P1", fuse, t + WEEK - 1, t + WEEK + 3600))
    with pytest.raises(EventError, match="urgent outage needs a reason"):
        engine.handle(PlannedOutageAnnounced(t, "P1", fuse, t + 3600, t + 7200, urgent=True, reason="  "))
    with pytest.raises(EventError, match="in the past"):
        engine.handle(PlannedOutageAnnounced(t, "P1", fuse, t - 1, t + 7200, urgent=True, reason="pole"))
    assert not engine.planned.outages  # nothing of the refused ones kept
    engine.handle(PlannedOutageAnnounced(t, "P1", fuse, t + WEEK, t + WEEK + 3600))
    engine.handle(PlannedOutageAnnounced(t, "P2", fuse, t + 3600, t + 7200, urgent=True,
                                         reason="leaning pole"))
    assert engine.planned.urgent == 1
    assert engine.planned.outages["P2"].notice_s == 3600 and engine.planned.outages["P1"].notice_s == WEEK


def test_a_moved_window_attaches_calls_and_calls_back_at_its_new_end(
        engine: DispatchEngine, small_region: Region) -> None:
    fuse, customer = _fuse_and_customer(small_region)
    _, early = _fuse_and_customer(small_region, 1)
    at = 2 * WEEK  # announced two weeks ahead
    engine.handle(PlannedOutageAnnounced(0, "P1", fuse, at, at + 3600))
    with pytest.raises(EventError, match="under the 7 days' notice"):  # brought inside the notice period
        engine.handle(PlannedOutageChanged(100, "P1", WEEK, at + 3600))
    engine.handle(PlannedOutageChanged(100, "P1", at + 7200, at + 3 * 3600))  # later, with notice: fine
    assert engine.planned.urgent == 0
    engine.handle(CallReceived(at + 100, Call("K1", at + 100, customer_id=early)))
    assert len(engine.orders) == 1  # before the moved window: an outage of its own
    engine.handle(CallReceived(at + 7300, Call("K2", at + 7300, customer_id=customer)))
    with pytest.raises(EventError, match="only its end can move"):
        engine.handle(PlannedOutageChanged(at + 7400, "P1", at + 7500, at + 4 * 3600))
    with pytest.raises(EventError, match="move its end instead"):
        engine.handle(PlannedOutageCancelled(at + 7400, "P1"))
    with pytest.raises(EventError, match="ending it later is short notice"):
        engine.handle(PlannedOutageChanged(at + 7400, "P1", at + 7200, at + 4 * 3600))
    engine.handle(PlannedOutageChanged(at + 7400, "P1", at + 7200, at + 4 * 3600, urgent=True,
                                       reason="a second pole found cracked"))
    assert engine.planned.urgent == 1 and engine.planned.outages["P1"].urgent
    assert not [d for d in engine.handle(ClockTick(at + 3 * 3600)) if isinstance(d, CallbackDue)]
    (due,) = [d for d in engine.handle(ClockTick(at + 4 * 3600)) if isinstance(d, CallbackDue)]
    assert due.order_id == "P1" and due.customer_id == customer and len(engine.orders) == 1
    with pytest.raises(EventError, match="P1 is over"):
        engine.handle(PlannedOutageChanged(at + 4 * 3600 + 1, "P1", at + 7200, at + 5 * 3600))


def test_a_device_opened_by_the_planned_work_sends_no_crew(engine: DispatchEngine,
                                                           small_region: Region) -> None:
    """SCADA reports the fuse the planned work opened, inside its window: no work order, and
    the report is the planned outage's; after the window the same report is a fault."""
    fuse, customer = _fuse_and_customer(small_region)
    at = WEEK
    engine.handle(PlannedOutageAnnounced(0, "P1", fuse, at, at + 3600))
    assert engine.handle(DeviceOperated(at + 60, fuse)) == [] and not engine.orders
    assert engine.predictor.incident("P1").call_ids == [f"SCADA:{fuse}@{at + 60}"]
    engine.handle(CallReceived(at + 120, Call("K1", at + 120, customer_id=customer)))
    assert not engine.orders
    engine.handle(DeviceOperated(at + 7200, fuse))
    (order,) = engine.orders.values()
    assert small_region.network.device_id[order.node_idx] == fuse


def test_a_window_that_only_shrinks_needs_no_notice(engine: DispatchEngine, small_region: Region) -> None:
    fuse, _ = _fuse_and_customer(small_region)
    engine.handle(PlannedOutageAnnounced(0, "P1", fuse, WEEK, WEEK + 4 * 3600))
    engine.handle(PlannedOutageChanged(WEEK - 3600, "P1", WEEK + 3600, WEEK + 2 * 3600))  # an hour ahead
    engine.handle(PlannedOutageChanged(WEEK + 3600, "P1", WEEK + 3600, WEEK + 5400))  # under way, shorter
    assert engine.planned.urgent == 0 and engine.planned.outages["P1"].changes == 2


def test_an_announcement_logged_before_the_rule_is_taken_as_it_was(engine: DispatchEngine,
                                                                    small_region: Region) -> None:
    fuse, _ = _fuse_and_customer(small_region)
    engine.handle(PlannedOutageAnnounced(0, "P1", fuse, 3600, 7200, owes_notice=False))
    assert engine.planned.outages["P1"].notice_s == 3600 and engine.planned.urgent == 0


def test_a_cancelled_outage_takes_no_calls_and_cannot_change(engine: DispatchEngine,
                                                             small_region: Region) -> None:
    fuse, customer = _fuse_and_customer(small_region)
    engine.handle(PlannedOutageAnnounced(0, "P1", fuse, WEEK, WEEK + 3600))
    engine.handle(PlannedOutageCancelled(10, "P1", "crew needed for storm"))
    assert engine.planned.outages["P1"].cancel_reason == "crew needed for storm"
    engine.handle(CallReceived(WEEK + 60, Call("K1", WEEK + 60, customer_id=customer)))
    assert len(engine.orders) == 1  # the call is an outage of its own, dispatched
    for ev in (PlannedOutageCancelled(WEEK + 70, "P1"),
               PlannedOutageChanged(WEEK + 70, "P1", 3 * WEEK, 3 * WEEK + 60)):
        with pytest.raises(EventError, match="P1 was called off"):
            engine.handle(ev)
    with pytest.raises(EventError, match="unknown planned outage 'P9'"):
        engine.handle(PlannedOutageCancelled(WEEK + 80, "P9"))
