"""Switching in dispatch: one feeder-breaker trip on the small region played through the engine
and the simulated field with switching off, remote only (a plain FLISR from the trip's fault
indicators) and full (manual switching once the repair crew has found the fault): the healthy
sections come back before the repair, nothing unsafe is ever tried, the order closes only after
the return to normal, and the customer-minutes fall."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dispatch.crews import RosterParams, storm_roster
from dispatch.engine import DispatchEngine
from dispatch.events import (
    CrewArrived,
    DeviceOperated,
    DispatcherAssigned,
    EventError,
    FaultLocated,
    OrderCancelled,
    ShiftStarted,
    StepHeld,
    SwitchRefused,
)
from dispatch.jobs import JobKind, JobStatus
from dispatch.kpis import compute_kpis
from dispatch.orders import OrderStatus
from dispatch.replay import make_policy
from dispatch.sim.field import FieldParams, FieldSim
from dispatch.sim.run import run
from dispatch.sim.world import World, WorldFault
from dispatch.switchboard import StepStatus, SwitchingMode
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from grid_model.switches import SwitchKind, SwitchLayer, place_switches, state_problems
from grid_model.switching import Action, Phase, plan_switching
from routing.travel import RoadTravel

REPAIR_S = 8 * 3600


@pytest.fixture(scope="module")
def layer(small_region: Region) -> SwitchLayer:
    return place_switches(small_region.network)


@pytest.fixture(scope="module")
def fault(small_region: Region, layer: SwitchLayer) -> WorldFault:
    """The MV fault cleared by a feeder breaker whose full plan brings back the most customers
    over a tie."""
    net = small_region.network
    best, gain = -1, 0
    for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
        device = int(net.device_ancestor[f])
        if net.device[device] != DeviceKind.BREAKER:
            continue
        state = np.zeros(net.n_nodes, dtype=bool)
        state[device] = True
        plan = plan_switching(net, layer, f, open_nodes=state)
        if any(s.tie is not None for s in plan.steps) and plan.customers_restored > gain:
            best, gain = f, plan.customers_restored
    assert best >= 0
    return WorldFault(600, best, int(net.device_ancestor[best]), REPAIR_S, "mv")


def _run(region: Region, layer: SwitchLayer, fault: WorldFault, mode: SwitchingMode,
         policy: str = "optimizer") -> tuple[DispatchEngine, World, dict[str, object]]:
    crews = storm_roster(region, seed=0, params=RosterParams())
    chosen, limits = make_policy(policy, {})
    switches = None if mode == SwitchingMode.OFF else layer
    world = World(region.network, region.customers["node_idx"].to_numpy(), [fault], switches=switches)
    engine = DispatchEngine(region, crews, chosen, travel=RoadTravel(region.roads), limits=limits,
                            switches=switches, switching=mode)
    field = FieldSim(world, crews, region.customers, params=FieldParams(seed=1), until_s=3 * 86_400)
    result = run(engine, field, max_s=3 * 86_400)
    return engine, world, compute_kpis(engine, world, policy=policy, end_s=result.end_s, field=field.stats)


@pytest.fixture(scope="module")
def runs(small_region: Region, layer: SwitchLayer, fault: WorldFault
         ) -> dict[SwitchingMode, tuple[DispatchEngine, World, dict[str, object]]]:
    return {mode: _run(small_region, layer, fault, mode) for mode in SwitchingMode}


def test_switching_brings_the_healthy_sections_back_before_the_repair(runs: dict) -> None:
    off, remote, full = (runs[m][2] for m in (SwitchingMode.OFF, SwitchingMode.REMOTE, SwitchingMode.FULL))
    assert off["switching_steps"] == 0 and off["customers_restored_by_switching"] == 0
    assert full["customers_restored_by_switching"] > 0 and full["customer_minutes_saved_by_switching"] > 0
    assert full["customer_minutes_interrupted"] < off["customer_minutes_interrupted"]
    assert remote["customer_minutes_interrupted"] <= off["customer_minutes_interrupted"]
    for k in (remote, full):
        unsafe = (k["switching_steps_tripped"], k["switching_steps_refused"], k["ties_tripped_by_faults"])
        assert unsafe == (0, 0, 0)
        assert k["customers_dark_at_end"] == 0 and k["work_orders_open_at_end"] == 0
        assert k["switches_off_normal_at_end"] == 0
        assert k["repairs_by_unqualified_crew"] == 0 and k["hours_of_service_breaches"] == 0


def test_every_step_is_done_and_the_order_closes_after_the_return_to_normal(runs: dict) -> None:
    engine, _, _ = runs[SwitchingMode.FULL]
    board = engine.switchboard
    assert board is not None and board.steps
    assert all(ps.status == StepStatus.DONE for ps in board.steps)
    assert not board.open_switches and not board.tie_load
    (order,) = [o for o in engine.orders.values() if o.order_id == board.steps[0].order_id]
    last_step = max(engine.jobs[ps.job_id].done_s or 0 for ps in board.steps if ps.job_id)
    repair = max(engine.jobs[j].done_s or 0 for j in order.jobs if engine.jobs[j].kind == JobKind.REPAIR)
    restored = next(t for t, s in order.history if s.value == "repaired")
    assert restored >= max(last_step, repair)
    manual = [ps for ps in board.steps if not ps.step.remote]
    assert manual and all(engine.jobs[ps.job_id].kind == JobKind.SWITCHING for ps in manual)


def test_the_saved_minutes_match_the_minutes_switching_took_off(runs: dict, small_region: Region,
                                                                fault: WorldFault) -> None:
    """The customers behind the breaker were dark from the trip until the repair; with
    switching, those brought back early were dark only until their step: the minutes the world
    says switching saved are (within the repair crew's timing) what the run without it lost more."""
    _, _, off = runs[SwitchingMode.OFF]
    _, _, full = runs[SwitchingMode.FULL]
    lost_more = off["customer_minutes_interrupted"] - full["customer_minutes_interrupted"]
    saved = full["customer_minutes_saved_by_switching"]
    assert saved > 0 and abs(lost_more - saved) <= 0.1 * saved


def test_bad_switching_reports_are_refused(small_region: Region, layer: SwitchLayer,
                                           fault: WorldFault) -> None:
    crews = storm_roster(small_region, seed=0, params=RosterParams())
    chosen, limits = make_policy("optimizer", {})
    engine = DispatchEngine(small_region, crews, chosen, travel=RoadTravel(small_region.roads), limits=limits,
                            switches=layer, switching=SwitchingMode.FULL)
    net = small_region.network
    device = net.device_id[fault.operates_idx]
    points = layer.switch_points().tolist()
    elsewhere = next(layer.switch_id[n] for n in points
                     if layer.switch[n] == SwitchKind.REMOTE and not net.is_ancestor(fault.operates_idx, n))
    manual = next(layer.switch_id[n] for n in points if layer.switch[n] == SwitchKind.MANUAL)
    head = fault.operates_idx
    mv = [n for n in range(head + 1, head + int(net.size[head])) if net.kind[n] == NodeKind.MV_NODE]
    a, b = next((a, b) for a in mv for b in mv if not net.is_ancestor(a, b) and not net.is_ancestor(b, a))
    switch, ids = layer.switch.copy(), list(layer.switch_id)
    switch[[a, b]] = SwitchKind.REMOTE  # two remote switches on different branches of one feeder
    ids[a], ids[b] = "SW-A", "SW-B"
    layer = dataclasses.replace(layer, switch=switch, switch_id=tuple(ids))
    engine = DispatchEngine(small_region, crews, chosen, travel=RoadTravel(small_region.roads), limits=limits,
                            switches=layer, switching=SwitchingMode.FULL)
    for tripped, indicators, reason in [
            (device, ("SW-NOPE",), "no remote switch 'SW-NOPE'"),
            (device, (manual,), f"no remote switch '{manual}'"),
            (device, (elsewhere,), f"the fault indicator {elsewhere} lies outside what it feeds"),
            (device, ("SW-A", "SW-B"), "do not lie on one path")]:
        with pytest.raises(EventError, match=reason):
            engine.handle(DeviceOperated(600, tripped, indicators))
    assert not engine.orders  # nothing accepted from the refused reports
    world = World(net, small_region.customers["node_idx"].to_numpy(), [], switches=layer)
    indicators = world.fault_indicators(fault)
    assert indicators
    engine.handle(DeviceOperated(600, device, indicators))
    repair = next(j for j in engine.jobs.values() if j.kind == JobKind.REPAIR)
    crew = crews[0].crew_id
    with pytest.raises(EventError, match=f"{crew} reports faults found for {repair.job_id} but is on no job"):
        engine.handle(FaultLocated(700, crew, repair.job_id, ("X",)))
    board = engine.switchboard
    assert board is not None and board.pending(repair.order_id)  # the remote plan's return to normal
    with pytest.raises(EventError, match=f"cannot cancel {repair.order_id}: its switching is not back"):
        engine.handle(OrderCancelled(800, repair.order_id, "duplicate"))
    off = DispatchEngine(small_region, crews, make_policy("optimizer", {})[0],
                         travel=RoadTravel(small_region.roads))
    with pytest.raises(EventError, match="fault indicators, but no switches are known"):
        off.handle(DeviceOperated(600, device, (elsewhere,)))


def test_an_isolating_step_that_did_not_hold_takes_back_the_closes_made_after_it(
        small_region: Region, layer: SwitchLayer, fault: WorldFault) -> None:
    """Found by the API fuzzer (tests/api/fuzz_switching.py): the remote steps of a trip are
    sent at once, so SCADA's word that the isolating switch did not open comes after the
    breaker was re-closed behind it. That close fed the fault (the breaker tripped again): the
    engine must not go on believing it closed, nor any close that waited for the open."""
    crews = storm_roster(small_region, seed=0, params=RosterParams())
    chosen, limits = make_policy("optimizer", {})
    engine = DispatchEngine(small_region, crews, chosen, travel=RoadTravel(small_region.roads), limits=limits,
                            switches=layer, switching=SwitchingMode.FULL)
    net = small_region.network
    world = World(net, small_region.customers["node_idx"].to_numpy(), [], switches=layer)
    engine.handle(DeviceOperated(600, net.device_id[fault.operates_idx], world.fault_indicators(fault)))
    board = engine.switchboard
    assert board is not None
    isolate = next(ps for ps in board.steps if ps.step.phase == Phase.ISOLATE and ps.status == StepStatus.DONE
                   and any(board.steps[k].step.action == Action.CLOSE and ps.step_id in board.steps[k].after
                           for k in range(len(board.steps))))
    closed_after = [ps for ps in board.steps if isolate.step_id in ps.after and ps.step.phase != Phase.NORMAL]
    assert closed_after and all(ps.status == StepStatus.DONE for ps in closed_after)

    def unsafe() -> list[str]:
        open_nodes, tie_load = engine.switch_state()
        ties = [t for t in layer.ties if t.tie_id in tie_load]
        return state_problems(net, layer, open_nodes, ties, [fault.node_idx])

    assert unsafe() == []
    engine.handle(SwitchRefused(700, isolate.step.element_id, isolate.step.action.value, "did not open",
                                isolate.step_id))
    assert unsafe() == []
    assert all(ps.status == StepStatus.DROPPED for ps in closed_after)


def _crew_on_the_way_to_a_switch(region: Region, layer: SwitchLayer) -> tuple[DispatchEngine, str, str, str]:
    """A recloser's order with a manual step under way folds into the order of the breaker
    above it (SCADA trips it too), which no crew has reached. Returns the engine, that order,
    the switching job and the crew on its way to it."""
    net = region.network

    def manual(f: int) -> bool:
        cleared = np.arange(net.n_nodes) == net.device_ancestor[f]
        return any(not s.remote and s.phase == Phase.ISOLATE
                   for s in plan_switching(net, layer, f, open_nodes=cleared).steps)

    mv_nodes = np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist()
    fault = next(f for f in mv_nodes
                 if net.device[int(net.device_ancestor[f])] == DeviceKind.RECLOSER and manual(f))
    recloser = int(net.device_ancestor[fault])
    breaker = next(n for n in net.path_up(recloser)[1:] if net.device[n] != DeviceKind.NONE)
    crews = storm_roster(region, seed=0, params=RosterParams())
    chosen, limits = make_policy("optimizer", {})
    engine = DispatchEngine(region, crews, chosen, travel=RoadTravel(region.roads), limits=limits,
                            switches=layer, switching=SwitchingMode.FULL)
    for c in crews:
        engine.handle(ShiftStarted(600, c.crew_id), settle=False)
    mv = [c.crew_id for c in crews if "mv" in c.skills]
    engine.handle(DeviceOperated(600, net.device_id[recloser]), settle=False)
    (first,) = engine.orders.values()
    repair = engine.jobs[first.jobs[0]]
    engine.handle(DispatcherAssigned(610, first.order_id, mv[0], repair.job_id), settle=False)
    engine.handle(CrewArrived(620, mv[0], repair.job_id), settle=False)
    engine.handle(FaultLocated(630, mv[0], repair.job_id, (net.device_id[fault] or net.node_id[fault],)),
                  settle=False)
    switching = next(engine.jobs[j] for j in first.jobs if engine.jobs[j].kind == JobKind.SWITCHING)
    engine.handle(DispatcherAssigned(640, first.order_id, mv[1], switching.job_id), settle=False)
    engine.handle(DeviceOperated(650, net.device_id[breaker]), settle=False)
    return engine, first.merged_into, switching.job_id, mv[1]


def test_a_crew_at_a_switch_of_an_order_not_yet_reached_has_it_on_site(small_region: Region,
                                                                       layer: SwitchLayer) -> None:
    """Found by the API fuzzer: the crew sent to the switch of an order no crew has reached
    arrives. The order was left en route with no crew on the way (and new at its next change):
    a crew working on its jobs has it on site, but not reached (a switch is not where the
    order's arrival limit is met: that waits for a crew at the incident)."""
    engine, upper_id, switching_id, crew_id = _crew_on_the_way_to_a_switch(small_region, layer)
    upper = engine.orders[upper_id]
    assert upper.status == OrderStatus.EN_ROUTE and upper.reached_s is None
    assert [engine.jobs[j].status for j in upper.jobs if engine.jobs[j].kind == JobKind.SWITCHING] == \
        [JobStatus.EN_ROUTE]
    engine.handle(CrewArrived(660, crew_id, switching_id), settle=False)
    assert upper.status == OrderStatus.ON_SITE and upper.reached_s is None
    assert upper.site_reached_s is None


def test_an_order_whose_only_crew_on_the_way_is_called_off_a_switch_waits_again(
        small_region: Region, layer: SwitchLayer) -> None:
    """A dispatcher holds the step a crew is driving to, on an order no crew has reached: the
    crew is called back, and the order waits for a crew again (it stayed en route with no crew
    on the way, so no plan or map showed it waiting)."""
    engine, upper_id, switching_id, crew_id = _crew_on_the_way_to_a_switch(small_region, layer)
    upper = engine.orders[upper_id]
    assert upper.status == OrderStatus.EN_ROUTE
    assert engine.switchboard is not None
    step = next(ps for ps in engine.switchboard.steps if ps.job_id == switching_id)
    out = engine.handle(StepHeld(670, step.step_id, "crew needed elsewhere"), settle=False)
    assert [(type(d).__name__, d.crew_id) for d in out] == [("Recall", crew_id)]
    assert engine.jobs[switching_id].status == JobStatus.CANCELLED
    assert upper.status == OrderStatus.NEW
