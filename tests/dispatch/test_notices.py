"""Customer notices: a whole storm's callers each hear an acknowledgement before their
restoration (or customer-side advice), ETR changes only past the margin, planned-outage notices
to every customer below, and the transformer-area channel folding them per area."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from dispatch.crews import Crew, RosterParams, storm_roster
from dispatch.engine import DispatchEngine
from dispatch.events import (
    CallReceived,
    EtrUpdate,
    Event,
    EventError,
    OrderCancelled,
    PlannedOutageAnnounced,
    PlannedOutageCancelled,
    PlannedOutageChanged,
)
from dispatch.notices import ETR_NOTICE_MARGIN_S, Channel, Notice, NoticeBook, NoticeKind
from dispatch.planned import PLANNED_NOTICE_S
from dispatch.policy import NearestAvailableCrew
from dispatch.replay import make_policy
from dispatch.sim.field import AmiParams, FieldParams, FieldSim
from dispatch.sim.world import World, WorldFault
from dispatch.switchboard import SwitchingMode
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from grid_model.storm import Call, StormParams, generate_storm
from grid_model.switches import SwitchLayer, place_switches
from routing.travel import RoadTravel

K = NoticeKind


def _storm_notices(region: Region, channel: Channel, switches: SwitchLayer | None = None,
                   dark_when_told: list[str] | None = None, seed: int = 3
                   ) -> tuple[DispatchEngine, list[Notice]]:
    """A whole storm on the small region (the optimizer, the simulated field; with ``switches``
    switching in full), with the notices the book says after each event; ``dark_when_told``
    collects, for each restoration told before the callback fell due, why the world had the
    caller's supply dark then (see ``_dark_supply``; "" when it had not)."""
    storm = generate_storm(region, StormParams(seed=seed))
    crews = storm_roster(region, seed=0, params=RosterParams())
    policy, limits = make_policy("optimizer", {})
    mode = SwitchingMode.OFF if switches is None else SwitchingMode.FULL
    engine = DispatchEngine(region, crews, policy, travel=RoadTravel(region.roads), limits=limits,
                            switches=switches, switching=mode)
    world = World(region.network, region.customers["node_idx"].to_numpy(),
                  [WorldFault(f.t_s, f.node_idx, f.operates_idx, f.repair_s, f.limit_class,
                              f.fault_class == "customer_side") for f in storm.faults], switches=switches)
    field = FieldSim(world, crews, region.customers, params=FieldParams(seed=seed), ami=AmiParams(seed=seed),
                     until_s=30 * 86_400)
    field.add_outside(CallReceived(c.t_s, c) for c in storm.calls)
    book = NoticeBook(engine, channel=channel)
    notices: list[Notice] = []
    while (ev := field.next_event(30 * 86_400)) is not None:
        try:
            decisions = engine.handle(ev)
        except EventError as exc:
            field.refused(ev, str(exc))
            continue
        field.accepted(ev)
        field.hear(decisions)
        told = book.after(ev.t_s, decisions, ev)
        due = {n.customer_ids for n in told if n.kind == K.CALLBACK_DUE}
        for n in told:
            if n.kind == K.RESTORED and n.customer_ids not in due and dark_when_told is not None:
                dark_when_told.append(_dark_supply(engine, world, n.customer_ids[0]))
        notices += told
        if not field.busy and not engine.has_open_work():
            break
    return engine, notices


def _dark_supply(engine: DispatchEngine, world: World, customer_id: str) -> str:
    """Why the world has the customer's transformer dark ("" when it has not): "known" when an
    open point or fault on its way up is one the engine has an open order at, else "unknown"
    (a device that operated, or a fault, nobody has reported yet)."""
    net = engine.net
    node = engine.resolver.customer_node(customer_id)
    assert node is not None
    supply = next(n for n in net.path_up(node) if net.kind[n] <= NodeKind.TRANSFORMER)
    if not world.is_dark(supply):
        return ""
    open_nodes, _, faults = world.switch_state()
    known = {o.node_idx for o in engine.open_orders()}
    why = [n for n in net.path_up(supply) if open_nodes[n] or n in faults]
    return "known" if set(why) & known else "unknown"


@pytest.fixture(scope="module")
def storm_run(small_region: Region) -> tuple[DispatchEngine, list[Notice]]:
    return _storm_notices(small_region, Channel.CUSTOMER)


def test_every_caller_hears_an_acknowledgement_then_restoration_or_advice(
        storm_run: tuple[DispatchEngine, list[Notice]]) -> None:
    engine, notices = storm_run
    heard: dict[str, list[Notice]] = defaultdict(list)
    for n in notices:
        (customer,) = n.customer_ids
        heard[customer].append(n)
    callers = {cb.customer_id for cb in engine.callbacks.callbacks.values()}
    assert len(callers) > 50 and engine.log.resolved_by_phone > 0
    for cb in engine.callbacks.callbacks.values():
        kinds = [n.kind for n in heard[cb.customer_id]]
        assert K.ACKNOWLEDGED in kinds, cb
        assert K.RESTORED in kinds or K.CUSTOMER_SIDE in kinds, cb
        first_end = min(i for i, k in enumerate(kinds) if k in (K.RESTORED, K.CUSTOMER_SIDE))
        assert kinds.index(K.ACKNOWLEDGED) < first_end
    due = [n for n in notices if n.kind == K.CALLBACK_DUE]
    assert sorted(n.callback_id for n in due) == sorted(engine.callbacks.callbacks)  # each once
    assert sum(n.kind == K.ACKNOWLEDGED for n in notices) == len(engine.callbacks.callbacks) \
        + engine.log.resolved_by_phone
    # an acknowledgement carries the ETR quoted for the caller's order, when one was
    acks = [n for n in notices if n.kind == K.ACKNOWLEDGED and n.order_id]
    assert sum(n.etr_s is not None for n in acks) > 0.9 * len(acks)


def test_a_caller_brought_back_by_switching_hears_it_then_and_not_again(small_region: Region) -> None:
    """With switching, callers whose section comes back before the repair hear "restored" when
    it does, once: the world has their transformer supplied then, unless by an outage nobody
    has reported yet (a fuse that blew beside the breaker's trip: they call again); every caller
    still hears an acknowledgement first and is called back."""
    dark_when_told: list[str] = []
    engine, notices = _storm_notices(small_region, Channel.CUSTOMER, place_switches(small_region.network),
                                     dark_when_told, seed=4)
    assert engine.switchboard is not None and engine.switchboard.steps
    assert len(dark_when_told) > 100 and "known" not in dark_when_told
    assert dark_when_told.count("") > 0.9 * len(dark_when_told)
    heard: dict[str, list[NoticeKind]] = defaultdict(list)
    for n in notices:
        heard[n.customer_ids[0]].append(n.kind)
    for cb in engine.callbacks.callbacks.values():
        kinds = heard[cb.customer_id]
        assert K.ACKNOWLEDGED in kinds and kinds.count(K.CALLBACK_DUE) >= 1, cb
        ends = [i for i, k in enumerate(kinds) if k in (K.RESTORED, K.CUSTOMER_SIDE)]
        assert ends and kinds.index(K.ACKNOWLEDGED) < ends[0], cb
        # restored twice only with a new acknowledgement between (dark again)
        for a, b in itertools.pairwise(ends):
            assert K.ACKNOWLEDGED in kinds[a:b], cb


def test_an_etr_change_is_told_only_past_the_margin(storm_run: tuple[DispatchEngine, list[Notice]]) -> None:
    _, notices = storm_run
    told: dict[tuple[str, str], int] = {}
    changes = 0
    for n in notices:
        key = (n.customer_ids[0], n.order_id)
        if n.kind == K.ACKNOWLEDGED and n.etr_s is not None:
            told[key] = n.etr_s
        elif n.kind == K.ETR_CHANGED:
            assert n.etr_s is not None
            if key in told:
                assert abs(n.etr_s - told[key]) >= ETR_NOTICE_MARGIN_S
            told[key] = n.etr_s
            changes += 1
    assert changes > 0


def test_the_group_channel_tells_each_area_once_per_order(small_region: Region) -> None:
    _, notices = _storm_notices(small_region, Channel.TRANSFORMER)
    grouped = [n for n in notices if n.transformer_id]
    assert grouped and all(not n.customer_ids for n in grouped)
    for kind in (K.ACKNOWLEDGED, K.RESTORED):
        keys = [(n.order_id, n.transformer_id) for n in grouped if n.kind == kind]
        assert len(keys) == len(set(keys))
    assert all(n.customer_ids for n in notices if n.kind in (K.CALLBACK_DUE, K.CUSTOMER_SIDE))
    per_customer = len([n for n in _storm_notices(small_region, Channel.CUSTOMER)[1]
                        if n.kind == K.ACKNOWLEDGED])
    assert sum(n.kind == K.ACKNOWLEDGED for n in notices) < per_customer


def _fuse(region: Region) -> int:
    net = region.network
    return next(i for i in net.nodes_of_kind(NodeKind.MV_NODE).tolist() if net.device[i] == DeviceKind.FUSE)


def test_planned_outage_notices_reach_every_customer_below_and_each_area(small_region: Region) -> None:
    net = small_region.network
    fuse = _fuse(small_region)
    d = small_region.depots[0]
    crews = [Crew("R1", d.depot_id, d.x_m, d.y_m, frozenset({"lv"}), 0, 16.0)]
    week = PLANNED_NOTICE_S
    sl = net.subtree(fuse)
    cust = small_region.customers
    below = sorted(cust.loc[(cust["node_idx"] >= sl.start) & (cust["node_idx"] < sl.stop), "customer_id"])
    areas = {net.node_id[i] for i in range(sl.start, sl.stop) if net.kind[i] == NodeKind.TRANSFORMER}
    events: list[Event] = [PlannedOutageAnnounced(0, "P1", net.device_id[fuse], 2 * week, 2 * week + 3600),
                           PlannedOutageChanged(60, "P1", 2 * week + 7200, 2 * week + 9000),
                           PlannedOutageCancelled(120, "P1", "storm")]
    for channel, expected in ((Channel.CUSTOMER, below), (Channel.TRANSFORMER, sorted(areas))):
        engine = DispatchEngine(small_region, crews, NearestAvailableCrew(),
                                travel=RoadTravel(small_region.roads))
        book = NoticeBook(engine, channel=channel)
        said = [book.after(ev.t_s, engine.handle(ev), ev) for ev in events]
        kinds = (K.PLANNED_OUTAGE, K.PLANNED_CHANGED, K.PLANNED_CANCELLED)
        for notices, kind in zip(said, kinds, strict=True):
            assert {n.kind for n in notices} == {kind}
            got = [n.customer_ids[0] for n in notices] if channel == Channel.CUSTOMER else \
                [n.transformer_id for n in notices]
            assert sorted(got) == expected
        assert said[1][0].start_s == 2 * week + 7200 and said[1][0].etr_s == 2 * week + 9000
        assert said[2][0].start_s is None and said[2][0].etr_s is None  # called off: no window


def test_a_caller_inside_a_planned_outage_is_acknowledged_with_its_end(small_region: Region) -> None:
    net = small_region.network
    fuse = _fuse(small_region)
    sl = net.subtree(fuse)
    cust = small_region.customers
    below = (cust["node_idx"] >= sl.start) & (cust["node_idx"] < sl.stop)
    customer = str(cust.loc[below, "customer_id"].iat[0])
    engine = DispatchEngine(small_region, [], NearestAvailableCrew(), travel=RoadTravel(small_region.roads))
    book = NoticeBook(engine)
    week = PLANNED_NOTICE_S
    for ev in (PlannedOutageAnnounced(0, "P1", net.device_id[fuse], week, week + 3600),):
        book.after(ev.t_s, engine.handle(ev), ev)
    call = CallReceived(week + 60, Call("K1", week + 60, customer_id=customer))
    (ack,) = book.after(call.t_s, engine.handle(call), call)
    assert ack == Notice(K.ACKNOWLEDGED, week + 60, "P1", (customer,), etr_s=week + 3600)


def test_a_flapping_etr_is_not_told_and_one_that_holds_is(small_region: Region) -> None:
    """Re-plans can flip an order's quote and back within minutes: a caller hears of a new ETR
    only once it has held ``etr_hold_s`` and differs by the margin from the one they were told."""
    engine = DispatchEngine(small_region, [], NearestAvailableCrew(), travel=RoadTravel(small_region.roads))
    book = NoticeBook(engine, etr_margin_s=3600, etr_hold_s=900)
    customer = str(small_region.customers["customer_id"].iat[5])
    call = CallReceived(100, Call("K1", 100, customer_id=customer))
    (ack,) = book.after(100, engine.handle(call), call)
    etr, order = ack.etr_s, ack.order_id
    assert ack.kind == K.ACKNOWLEDGED and etr is not None

    def quote(t: int, new: int) -> list[Notice]:
        engine.etrs.current[order] = new
        return book.after(t, [EtrUpdate(t, order, new)])

    later = 8 * 3600  # over a quarter of the day the caller was told to wait (a horizon quote)
    assert quote(200, etr + later) == [] and quote(500, etr) == []  # flapped back
    assert book.after(1200, []) == []  # held, but what was told still stands
    assert quote(2000, etr + later) == [] and book.after(2899, []) == []
    (change,) = book.after(2900, [])
    assert change == Notice(K.ETR_CHANGED, 2900, order, (customer,), etr_s=etr + later)
    assert quote(3000, etr + later + 3 * 3600) == [] and book.after(4000, []) == []  # under the margin


def test_a_quote_remade_just_before_the_look_waits_and_one_that_keeps_moving_is_told_hourly(
        small_region: Region) -> None:
    engine = DispatchEngine(small_region, [], NearestAvailableCrew(), travel=RoadTravel(small_region.roads))
    book = NoticeBook(engine, etr_margin_s=3600, etr_hold_s=900)
    customer = str(small_region.customers["customer_id"].iat[5])
    call = CallReceived(100, Call("K1", 100, customer_id=customer))
    (ack,) = book.after(100, engine.handle(call), call)
    assert ack.etr_s is not None
    etr, order = ack.etr_s, ack.order_id

    def quote(t: int, new: int) -> list[Notice]:
        engine.etrs.current[order] = new
        return book.after(t, [EtrUpdate(t, order, new)])

    assert quote(200, etr + 7200) == [] and quote(1095, etr + 8 * 3600) == []
    assert book.after(1100, []) == []  # the quote is 5 s old
    told = [n for t in range(1200, 4300, 600) for n in quote(t, etr + 8 * 3600 + (t - 1200))]
    (change,) = told  # re-made every 10 min, never held 15 min: told once its first move is an hour old
    assert change.t_s == 4200 and change.etr_s == etr + 8 * 3600 + 3000
    assert quote(5000, etr + 20 * 3600) == [] and book.after(6000, []) == []  # within 3 h of the last
    (again,) = book.after(4200 + 3 * 3600, [])  # the gap is over
    assert again.etr_s == etr + 20 * 3600


def test_the_callers_of_an_order_a_dispatcher_cancels_hear_nothing_but_are_called_back(
        small_region: Region) -> None:
    engine = DispatchEngine(small_region, [], NearestAvailableCrew(), travel=RoadTravel(small_region.roads))
    book = NoticeBook(engine)
    customer = str(small_region.customers["customer_id"].iat[5])
    call = CallReceived(100, Call("K1", 100, customer_id=customer))
    (ack,) = book.after(100, engine.handle(call), call)
    cancel = OrderCancelled(200, ack.order_id, "a duplicate of a call already worked")
    (due,) = book.after(200, engine.handle(cancel), cancel)
    assert due.kind == K.CALLBACK_DUE and due.customer_ids == (customer,)
