"""Switches, ties and switching plans: a hand-built pair of feeders whose plan is worked out by
hand, every MV fault of a generated region played step by step with the safety rules checked
after each step, and the placement rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grid_model.network import DeviceKind, Network, NodeKind
from grid_model.region import Region
from grid_model.switches import (
    SECTION_SHARE,
    TIE_HEADROOM,
    TIES_PER_PAIR,
    SwitchKind,
    SwitchLayer,
    Tie,
    energised,
    place_switches,
    state_problems,
    trunk_mask,
)
from grid_model.switching import SwitchingError, SwitchingPlan, plan_switching
from tests.grid_model.two_feeders import two_feeders

K, D = NodeKind, DeviceKind


def _play(net: Network, layer: SwitchLayer, plan: SwitchingPlan, open_nodes: np.ndarray, *,
          until: str = "") -> tuple[list[str], list[Tie]]:
    """Carry out the plan's steps in order (up to the first of phase ``until``), the fault
    repaired before the return to normal; the problems of the state after each step, and the
    ties left closed. ``open_nodes`` is changed in place."""
    problems = []
    closed: list[Tie] = []
    faults = list(plan.faults)
    for k, step in enumerate(plan.steps):
        assert all(a < k for a in step.after)
        if step.phase == until:
            break
        if step.phase == "normal":
            faults = []
        if step.tie is not None:
            closed = [*closed, step.tie] if step.action == "close" else \
                [t for t in closed if t is not step.tie]
        else:
            open_nodes[step.node] = step.action == "open"
        problems += [f"after step {k} ({step.action} {step.element_id}): {p}"
                     for p in state_problems(net, layer, open_nodes, closed, faults)]
    return problems, closed


def test_a_fault_between_two_switches_is_isolated_and_both_sides_restored() -> None:
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True  # the breaker cleared a fault on the section J2-J3
    plan = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes)
    assert [(s.action, s.element_id, s.phase, s.after, s.restores) for s in plan.steps] == [
        ("open", "SW-J2", "isolate", (), 0),
        ("close", "CB-A", "restore", (0,), 10),  # J1's 10 customers back from the substation
        ("open", "SW-J4", "isolate", (), 0),
        ("close", "TIE-J5-K2", "restore", (2,), 20),  # J4 and J5 back from feeder B
        ("close", "SW-J2", "normal", (0, 1, 2, 3), 0),
        ("open", "TIE-J5-K2", "normal", (0, 1, 2, 3), 0),
        ("close", "SW-J4", "normal", (5,), 0)]
    assert [s.remote for s in plan.steps] == [False, True, True, False, False, False, True]
    assert plan.customers_restored == 30 and plan.customers_dark == 20  # J2, J3 wait for the repair
    assert _play(net, layer, plan, open_nodes) == ([], [])
    assert energised(net, open_nodes, []).all()


def test_two_faults_cleared_by_one_breaker_are_both_cut_off() -> None:
    """Faults on J2-J3 and J4-J5: SW-J2 cuts both off (SW-J4 lies inside), so only J1 comes back;
    no tie feeds J4-J5, which holds a fault."""
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True
    plan = plan_switching(net, layer, [idx["J3"], idx["J5"]], open_nodes=open_nodes)
    assert [(s.action, s.element_id, s.phase) for s in plan.steps] == [
        ("open", "SW-J2", "isolate"), ("close", "CB-A", "restore"), ("close", "SW-J2", "normal")]
    assert plan.customers_restored == 10 and plan.customers_dark == 40
    assert _play(net, layer, plan, open_nodes.copy(), until="normal")[0] == []
    open_nodes[idx["B"]] = True
    with pytest.raises(SwitchingError, match="K2 was not cleared by A"):
        plan_switching(net, layer, [idx["J3"], idx["K2"]], open_nodes=open_nodes)


def test_a_tie_without_room_is_not_used() -> None:
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True
    plan = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes, tie_load={"TIE-J5-K2": 11})
    assert [s.element_id for s in plan.steps] == ["SW-J2", "CB-A", "SW-J2"]  # 19 of room for 20
    assert plan.customers_restored == 10 and plan.customers_dark == 40


def test_a_fault_on_the_tie_side_feeder_keeps_the_tie_open() -> None:
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["B"]] = True  # feeder B is out: the tie's far end has no supply
    open_nodes[idx["A"]] = True
    plan = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes)
    assert all(s.tie is None for s in plan.steps)


def test_what_cannot_be_switched_is_refused_with_the_reason() -> None:
    net, layer, idx = two_feeders()
    with pytest.raises(SwitchingError, match="CJ30 is not on the MV network"):
        plan_switching(net, layer, idx["CJ30"], open_nodes=np.zeros(net.n_nodes, dtype=bool))
    with pytest.raises(SwitchingError, match="nothing open above J3"):
        plan_switching(net, layer, idx["J3"], open_nodes=np.zeros(net.n_nodes, dtype=bool))


@pytest.fixture(scope="module")
def region_layer(small_region: Region) -> SwitchLayer:
    return place_switches(small_region.network)


def test_every_mv_fault_of_a_region_is_switched_safely(small_region: Region,
                                                       region_layer: SwitchLayer) -> None:
    """Each MV junction's fault, cleared by its nearest device: every step leaves no fault fed,
    no loop and no tie over its capacity; the customers restored are those with supply after
    the restore phase; the return to normal leaves every customer fed."""
    net = small_region.network
    customer = net.kind == NodeKind.CUSTOMER
    by_tie = 0
    for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
        cleared = np.zeros(net.n_nodes, dtype=bool)
        cleared[int(net.device_ancestor[f])] = True
        plan = plan_switching(net, region_layer, f, open_nodes=cleared)
        state = cleared.copy()
        problems, closed = _play(net, region_layer, plan, state, until="normal")
        assert problems == [], (net.node_id[f], problems)
        assert int((customer & ~energised(net, state, closed)).sum()) == plan.customers_dark, net.node_id[f]
        state = cleared.copy()
        assert _play(net, region_layer, plan, state) == ([], []), net.node_id[f]
        state[plan.device] = False  # the repair crew closes what cleared the fault, if switching did not
        assert energised(net, state, []).all(), net.node_id[f]
        by_tie += any(s.tie is not None for s in plan.steps)
    assert by_tie > 0


def test_pairs_of_mv_faults_are_switched_safely(small_region: Region, region_layer: SwitchLayer) -> None:
    """For every device, its first and last MV junctions faulted together: no step feeds either
    fault, makes a loop or overloads a tie."""
    net = small_region.network
    by_device: dict[int, list[int]] = {}
    for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
        by_device.setdefault(int(net.device_ancestor[f]), []).append(f)
    pairs = [(fs[0], fs[-1]) for fs in by_device.values() if len(fs) > 1]
    assert pairs
    restored = 0
    for pair in pairs:
        cleared = np.zeros(net.n_nodes, dtype=bool)
        cleared[int(net.device_ancestor[pair[0]])] = True
        plan = plan_switching(net, region_layer, pair, open_nodes=cleared)
        problems, _ = _play(net, region_layer, plan, cleared.copy(), until="normal")
        assert problems == [], ([net.node_id[f] for f in pair], problems)
        restored += plan.customers_restored
    assert restored > 0


def test_switches_and_ties_follow_the_placement_rules(small_region: Region,
                                                      region_layer: SwitchLayer) -> None:
    net = small_region.network
    heads = net.nodes_of_kind(NodeKind.FEEDER_HEAD)
    feeder_customers = region_layer.customers_below[heads]
    trunk = trunk_mask(net)
    sections = [i for i in region_layer.switch_points().tolist()
                if region_layer.switch_id[i].startswith("SW-")]
    assert sections
    for i in sections:
        assert trunk[i]
        assert region_layer.customers_below[i] >= SECTION_SHARE / 2 * feeder_customers[net.feeder_idx[i]]
    assert {region_layer.switch_id[i] for i in np.flatnonzero(np.isin(net.device, (D.BREAKER, D.RECLOSER)))} \
        <= set(region_layer.switch_id)
    for t in region_layer.ties:
        fa, fb = int(net.feeder_idx[t.a]), int(net.feeder_idx[t.b])
        assert fa != fb and trunk[t.a] and trunk[t.b]
        assert t.capacity == int(TIE_HEADROOM * min(feeder_customers[fa], feeder_customers[fb]))
    again = place_switches(net)
    assert again.switch_id == region_layer.switch_id and again.ties == region_layer.ties


def test_the_placement_rule_numbers_can_be_changed(small_region: Region, region_layer: SwitchLayer) -> None:
    """Sections half the size give more switches, none closer to the feeder's end than the new
    rule allows; more headroom makes every tie carry more; a third tie a pair of feeders keeps
    the first two."""
    net = small_region.network
    finer = place_switches(net, section_share=SECTION_SHARE / 2)
    assert len(finer.switch_points()) > len(region_layer.switch_points())
    feeder_customers = finer.customers_below[net.nodes_of_kind(NodeKind.FEEDER_HEAD)]
    assert all(finer.customers_below[i] >= SECTION_SHARE / 4 * feeder_customers[net.feeder_idx[i]]
               for i in finer.switch_points().tolist() if finer.switch_id[i].startswith("SW-"))
    roomier = place_switches(net, tie_headroom=2 * TIE_HEADROOM)
    assert [t.tie_id for t in roomier.ties] == [t.tie_id for t in region_layer.ties]
    assert all(r.capacity >= 2 * t.capacity for r, t in zip(roomier.ties, region_layer.ties, strict=True))
    more = place_switches(net, ties_per_pair=TIES_PER_PAIR + 1)
    assert {t.tie_id for t in region_layer.ties} <= {t.tie_id for t in more.ties}


def test_a_remote_plan_is_refined_once_the_fault_is_found() -> None:
    """The control room first uses its remote switches and ties only (here a remote switch J4
    but a manual tie: nothing to gain); once a crew has found the fault on J2-J3, the manual
    switch J2 and the manual tie restore J1 and J4-J5; the remote plan then has nothing left
    to do that the refinement did not."""
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True
    remote = plan_switching(net, layer.remote_only(), idx["J3"], open_nodes=open_nodes)
    assert remote.steps == () and remote.customers_restored == 0
    assert layer.remote_only().ties == () and layer.remote_only().switch[idx["J2"]] == SwitchKind.NONE
    refined = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes)
    assert refined.customers_restored == 30


def test_a_refinement_leaves_what_an_earlier_tie_feeds() -> None:
    """After a plan fed J4-J5 over the tie, a second plan for the same section does not open
    J4 again nor use the tie twice."""
    net, layer, idx = two_feeders()
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True
    first = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes)
    state = open_nodes.copy()
    _, closed = _play(net, layer, first, state, until="normal")
    again = plan_switching(net, layer, idx["J3"], open_nodes=state,
                           tie_load={t.tie_id: 20 for t in closed})
    assert all(s.tie is None and s.element_id != "SW-J4" for s in again.steps)


def test_a_remote_tie_opens_when_the_crew_is_at_the_manual_switch_to_close() -> None:
    """With the tie remote and SW-J4 manual, the return to normal opens the tie on the word of
    the crew at SW-J4 (a manual step there), so J4-J5 are dark only while it closes SW-J4."""
    net, layer, idx = two_feeders()
    switch = layer.switch.copy()
    switch[idx["J4"]] = SwitchKind.MANUAL
    layer = dataclasses.replace(layer, switch=switch, ties=(dataclasses.replace(layer.ties[0], remote=True),))
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    open_nodes[idx["A"]] = True
    plan = plan_switching(net, layer, idx["J3"], open_nodes=open_nodes)
    restore_tie = next(s for s in plan.steps if s.tie is not None and s.phase == "restore")
    normal_tie = next(s for s in plan.steps if s.tie is not None and s.phase == "normal")
    assert restore_tie.remote and restore_tie.node == idx["J5"]
    assert not normal_tie.remote and normal_tie.node == idx["J4"]


@pytest.mark.parametrize("two_substations", [False, True])
def test_a_tie_closed_between_two_fed_feeders_puts_them_in_parallel(two_substations: bool) -> None:
    """Found while testing the API fuzzer's checker on the region (a tie between the feeders
    of two substations): a closed tie with supply at both ends is two feeders in parallel,
    also when they leave different substations (no loop in the network's tree then)."""
    net, layer, idx = two_feeders(two_substations=two_substations)
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    assert state_problems(net, layer, open_nodes, [], []) == []
    problems = state_problems(net, layer, open_nodes, list(layer.ties), [])
    assert len(problems) == 1 and "feeders in parallel" in problems[0]
    open_nodes[idx["J4"]] = True  # the tie feeds J5 alone now
    assert state_problems(net, layer, open_nodes, list(layer.ties), []) == []
