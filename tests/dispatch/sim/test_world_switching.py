"""Switching in the simulated world, on two hand-built feeders (A: CB-A, J1 - SW-J2 - J3 -
SW-J4 - J5, a tie from J5 to feeder B's end K2): a faulted section isolated, the healthy ones
fed from the substation and over the tie, what is unsafe tripped or refused and nothing
changed, a fault in a tie-fed section trips the tie, and each customer's dark time and the
time switching saved recomputed by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dispatch.sim.world import World, WorldFault
from grid_model.network import NodeKind
from grid_model.switches import energised, state_problems
from tests.grid_model.two_feeders import two_feeders

MV = frozenset({"mv"})


def _world() -> tuple[World, dict[str, int], dict[str, np.ndarray]]:
    net, layer, idx = two_feeders()
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    world = World(net, customers, [], switches=layer)
    groups = {j: np.array([idx[f"C{j}{c}"] for c in range(10)]) for j in ("J1", "J2", "J3", "J4", "J5")}
    return world, idx, groups


def _fault_on_j3(world: World, idx: dict[str, int]) -> None:
    world.apply_fault(WorldFault(0, idx["J3"], idx["A"], 3000, "mv"))


def test_isolate_restore_repair_and_return_to_normal() -> None:
    world, idx, c = _world()
    _fault_on_j3(world, idx)
    assert all(world.is_dark(int(n)) for g in c.values() for n in g)
    assert world.fault_indicators(WorldFault(0, idx["J3"], idx["A"], 1)) == ()  # SW-J4 is below the fault
    assert world.fault_indicators(WorldFault(0, idx["J5"], idx["A"], 1)) == ("SW-J4",)
    assert world.faults_at(idx["A"]) == (idx["J3"],)
    assert world.operate("SW-J2", "open", 600) == ""
    assert world.operate("CB-A", "close", 600) == ""
    assert not world.is_dark(int(c["J1"][0])) and world.is_dark(int(c["J2"][0]))
    assert world.operate("SW-J4", "open", 900) == ""
    assert world.operate("TIE-J5-K2", "close", 900) == ""
    assert not world.is_dark(int(c["J4"][0])) and not world.is_dark(int(c["J5"][0]))
    assert world.operate("SW-J2", "close", 1000) == "closing onto the fault at J3"
    assert world.is_dark(int(c["J2"][0])) and not world.is_dark(int(c["J1"][0]))  # nothing changed
    assert world.start_repair("R1", idx["A"], "mv", "K1", MV, 1200) == 4200
    world.finish_repair("R1", 4200)
    assert world.is_dark(int(c["J3"][0]))  # SW-J2 still open: the section waits for the return to normal
    assert world.operate("SW-J2", "close", 4500) == ""
    assert world.operate("SW-J4", "close", 4500).endswith("would put two feeders in parallel")
    assert world.operate("TIE-J5-K2", "open", 4800) == ""
    assert world.is_dark(int(c["J5"][0]))  # open transition: dark until SW-J4 closes
    assert world.operate("SW-J4", "close", 5100) == ""
    world.finalize(6000)
    out = {j: world.outage_s[g].tolist() for j, g in c.items()}
    assert out == {"J1": [600] * 10, "J2": [4500] * 10, "J3": [4500] * 10, "J4": [900 + 300] * 10,
                   "J5": [900 + 300] * 10}
    assert world.interruptions[c["J4"]].tolist() == [2] * 10
    tally = world.switching
    assert (tally.steps, tally.tripped, tally.refused, tally.tie_trips) == (7, 1, 1, 0)
    assert tally.customers_restored == 30  # J1 from the substation, J4 and J5 over the tie
    assert tally.saved_s == 10 * (4200 - 600) + 20 * (4200 - 900)


def test_a_fault_in_a_section_fed_over_the_tie_trips_the_tie_only() -> None:
    world, idx, c = _world()
    _fault_on_j3(world, idx)
    for element, action in [("SW-J2", "open"), ("CB-A", "close"), ("SW-J4", "open"), ("TIE-J5-K2", "close")]:
        assert world.operate(element, action, 600) == ""
    world.apply_fault(WorldFault(1500, idx["J5"], idx["A"], 600, "mv"))
    assert world.switching.tie_trips == 1
    assert world.is_dark(int(c["J4"][0])) and world.is_dark(int(c["J5"][0]))
    assert not world.is_dark(int(c["J1"][0]))  # fed through CB-A, which the new fault is not
    assert world.operate("TIE-J5-K2", "close", 1600) == "closing onto the fault at J5"
    world.finalize(2000)
    assert world.switching.saved_s == 10 * (2000 - 600) + 20 * (1500 - 600)


def test_a_tie_over_capacity_or_between_two_fed_feeders_is_refused() -> None:
    world, idx, _ = _world()
    assert world.operate("TIE-J5-K2", "close", 0).endswith("would put two feeders in parallel")
    world.apply_fault(WorldFault(0, idx["J1"], idx["A"], 3000, "mv"))
    assert world.operate("SW-J2", "open", 5) == ""
    over = "TIE-J5-K2 would carry 40 customers, over its 30"
    assert world.operate("TIE-J5-K2", "close", 10) == over
    assert world.switching.refused == 2 and world.switching.steps == 1
    with pytest.raises(ValueError, match="no switch, device or tie 'SW-X'"):
        world.operate("SW-X", "open", 20)
    with pytest.raises(ValueError, match="action must be open or close"):
        world.operate("SW-J2", "toggle", 20)


def test_a_repair_leaves_a_switch_the_control_room_holds_open() -> None:
    """SW-J4 opened for switching, then a fault below it operates it: its repair clears the
    fault, but the switch stays open until the return to normal closes it."""
    world, idx, c = _world()
    assert world.operate("SW-J4", "open", 0) == ""
    world.apply_fault(WorldFault(100, idx["J5"], idx["J4"], 600, "mv"))
    assert world.start_repair("R1", idx["J4"], "mv", "K1", MV, 200) == 800
    world.finish_repair("R1", 800)
    assert world.is_dark(int(c["J5"][0]))
    assert world.operate("SW-J4", "close", 900) == ""
    assert not world.is_dark(int(c["J5"][0]))
    world.finalize(1000)
    assert world.outage_s[c["J5"]].tolist() == [900] * 10


def _isolated_j3_fed_over_the_tie(world: World, idx: dict[str, int]) -> None:
    _fault_on_j3(world, idx)
    for element, action in [("SW-J2", "open"), ("CB-A", "close"), ("SW-J4", "open"), ("TIE-J5-K2", "close")]:
        assert world.operate(element, action, 600) == ""


def test_a_tie_between_two_dead_sections_is_not_closed() -> None:
    world, idx, c = _world()
    _fault_on_j3(world, idx)
    world.apply_fault(WorldFault(0, idx["K1"], idx["B"], 3000, "mv"))
    assert world.operate("SW-J2", "open", 100) == ""
    assert world.operate("TIE-J5-K2", "close", 100) == "closing TIE-J5-K2: neither end has supply"
    assert world.start_repair("RB", idx["B"], "mv", "K1", MV, 200) == 3200
    world.finish_repair("RB", 3200)
    assert world.is_dark(int(c["J4"][0])) and world.switching.refused == 1


def test_closing_a_tie_fed_section_onto_a_dark_faulted_feeder_trips() -> None:
    """SW-J4 closed while the tie feeds J4-J5 and A is still open above the fault on J3: the
    tie's section would reach the fault; it trips at once and nothing changes."""
    world, idx, c = _world()
    _fault_on_j3(world, idx)
    assert world.operate("SW-J4", "open", 600) == ""
    assert world.operate("TIE-J5-K2", "close", 600) == ""
    assert world.operate("SW-J4", "close", 700) == "closing onto the fault at J3"
    assert not world.is_dark(int(c["J4"][0])) and world.is_dark(int(c["J3"][0]))
    assert world.switching.tripped == 1 and world.switching.tie_trips == 0


def test_a_fault_below_a_fuse_in_a_tie_fed_section_blows_the_fuse_only() -> None:
    world, idx, c = _world()
    _isolated_j3_fed_over_the_tie(world, idx)
    world.apply_fault(WorldFault(1000, idx["TJ5"], idx["TJ5"], 600, "mv"))
    assert world.switching.tie_trips == 0
    assert not world.is_dark(int(c["J4"][0])) and world.is_dark(int(c["J5"][0]))


def test_a_fault_behind_an_open_switch_does_not_reach_the_breaker() -> None:
    """After the repair of J3, a fault at J5 (fed over the tie, SW-J4 open) trips the tie, not
    CB-A: J1 keeps its supply."""
    world, idx, c = _world()
    _isolated_j3_fed_over_the_tie(world, idx)
    assert world.start_repair("R1", idx["A"], "mv", "K1", MV, 700) == 3700
    world.finish_repair("R1", 3700)
    world.apply_fault(WorldFault(4000, idx["J5"], idx["A"], 600, "mv"))
    assert world.switching.tie_trips == 1
    assert not world.is_dark(int(c["J1"][0])) and world.is_dark(int(c["J5"][0]))
    assert world.operate("TIE-J5-K2", "close", 4100) == "closing onto the fault at J5"


def test_a_repair_that_loads_a_tie_past_its_capacity_trips_it() -> None:
    """A tie for 15 customers feeds J5 (10) while J4's transformer fuse is blown; replacing
    the fuse would load it with 20: protection opens it, J4 and J5 are dark again."""
    net, layer, idx = two_feeders()
    small = dataclasses.replace(layer, ties=(dataclasses.replace(layer.ties[0], capacity=15),))
    world = World(net, np.flatnonzero(net.kind == NodeKind.CUSTOMER), [], switches=small)
    _fault_on_j3(world, idx)
    world.apply_fault(WorldFault(0, idx["TJ4"], idx["TJ4"], 600, "mv"))
    assert world.operate("SW-J4", "open", 100) == "" and world.operate("TIE-J5-K2", "close", 100) == ""
    assert not world.is_dark(idx["CJ50"]) and world.is_dark(idx["CJ40"])
    assert world.start_repair("RF", idx["TJ4"], "mv", "K1", MV, 200) == 800
    world.finish_repair("RF", 800)
    assert world.switching.tie_trips == 1 and world.is_dark(idx["CJ50"]) and world.is_dark(idx["CJ40"])


def test_an_open_transition_shorter_than_five_minutes_is_momentary() -> None:
    world, idx, c = _world()
    _isolated_j3_fed_over_the_tie(world, idx)
    assert world.start_repair("R1", idx["A"], "mv", "K1", MV, 700) == 3700
    world.finish_repair("R1", 3700)
    assert world.operate("SW-J2", "close", 3800) == ""
    assert world.operate("TIE-J5-K2", "open", 3900) == ""
    assert world.operate("SW-J4", "close", 3960) == ""
    assert world.interruptions[c["J5"]].tolist() == [1] * 10
    assert world.momentary_interruptions[c["J5"]].tolist() == [1] * 10
    world.finalize(4000)
    assert world.outage_s[c["J5"]].tolist() == [600 + 60] * 10


@pytest.mark.parametrize("seed", range(60))
def test_random_faults_repairs_and_steps_keep_supply_and_safety_as_the_network_says(seed: int) -> None:
    """Random sequences of MV faults, repairs and switching steps on the two feeders: after
    each, the world's dark customers are exactly those ``energised`` says have no supply in
    its switch state, and ``state_problems`` finds nothing (no fault fed, no loop, no tie over
    its capacity), whatever the world refused."""
    net, layer, idx = two_feeders()
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    world = World(net, customers, [], switches=layer)
    rng = np.random.default_rng(seed)
    mv = [idx[n] for n in ("J1", "J2", "J3", "J4", "J5", "K1", "K2")]
    elements = ["CB-A", "CB-B", "SW-J2", "SW-J4", "TIE-J5-K2"]
    jobs = 0
    for t in range(0, 60 * 600, 600):
        roll = rng.random()
        if roll < 0.2:
            f = int(rng.choice(mv))
            world.apply_fault(WorldFault(t, f, int(net.device_ancestor[f]), 300, "mv"))
        elif roll < 0.35:
            _, _, pending = world.switch_state()
            if pending:
                op = int(net.device_ancestor[int(rng.choice(pending))])
                jobs += 1
                if world.start_repair(f"R{jobs}", op, "mv", "K1", MV, t) is not None:
                    world.finish_repair(f"R{jobs}", t + 300)
        else:
            world.operate(str(rng.choice(elements)), str(rng.choice(["open", "close"])), t)
        open_nodes, closed, pending = world.switch_state()
        fed = energised(net, open_nodes, closed)
        assert [world.is_dark(int(c)) for c in customers] == [not fed[c] for c in customers], (seed, t)
        assert state_problems(net, layer, open_nodes, closed, pending) == [], (seed, t)


def test_a_device_opened_again_by_switching_stays_open_through_its_repair() -> None:
    world, idx, c = _world()
    _fault_on_j3(world, idx)
    assert world.operate("SW-J2", "open", 100) == "" and world.operate("CB-A", "close", 100) == ""
    assert world.operate("CB-A", "open", 200) == ""
    assert world.start_repair("R1", idx["A"], "mv", "K1", MV, 300) == 3300
    world.finish_repair("R1", 3300)
    assert world.is_dark(int(c["J1"][0]))  # held open by the control room
    assert world.operate("CB-A", "close", 3400) == "" and not world.is_dark(int(c["J1"][0]))
