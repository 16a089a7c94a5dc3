"""Switching in the simulated world, on two hand-built feeders (A: CB-A, J1 - SW-J2 - J3 -
SW-J4 - J5, a tie from J5 to feeder B's end K2): a faulted section isolated, the healthy ones
fed from the substation and over the tie, what is unsafe tripped or refused and nothing
changed, a fault in a tie-fed section trips the tie, and each customer's dark time and the
time switching saved recomputed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch.sim.world import World, WorldFault
from grid_model.network import NodeKind
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
    _fault_on_j3(world, idx)
    over = "closing TIE-J5-K2 would carry 50 customers, over its 30"
    assert world.operate("TIE-J5-K2", "close", 10) == over
    assert world.switching.refused == 2 and world.switching.steps == 0
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
