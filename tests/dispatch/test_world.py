"""The simulated world: faults in series restore customers only when both are repaired."""

from __future__ import annotations

import numpy as np

from dispatch.world import World, WorldFault
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build


def test_downstream_repair_is_not_credited_until_the_upstream_fault_is_fixed() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    upstream = WorldFault(100, idx["J2"], idx["J2"], 3600)
    downstream = WorldFault(200, idx["T3"], idx["T3"], 1800)
    world = World(net, customers, [upstream, downstream])
    world.apply_fault(upstream)
    world.apply_fault(downstream)
    assert world.is_dark(idx["C3"]) and not world.is_dark(idx["C1"])
    assert world.start_repair("W-T3", idx["T3"], 0) == 1800 + 3600  # both darken T3's site
    assert set(world.finish_repair("W-T3", 5600)) == {idx["J2"], idx["T3"]}
    assert not world.is_dark(idx["C4"])
    cmi = world.outage_s[customers]
    assert cmi.tolist() == [0, 0, 5500, 5500, 5500]
    assert world.interruptions[customers].tolist() == [0, 0, 1, 1, 1]


def test_crew_at_a_healthy_site_patrols_down_to_the_operated_device() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    fuse = WorldFault(0, idx["J3"], idx["J3"], 7200)
    world = World(net, customers, [fuse])
    world.apply_fault(fuse)
    assert world.start_repair("W-F1", idx["F1"], 0) == 7200
    assert world.finish_repair("W-F1", 9000) == (idx["J3"],)
    world.finalize(10_000)
    assert world.outage_s[customers].tolist() == [0, 0, 9000, 9000, 9000]


def test_a_team_shares_the_work_but_no_fault_is_split() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    # Three damaged spans behind the same recloser: 3 h, 2 h and 1 h of work.
    faults = [WorldFault(0, idx["J2"], idx["J2"], h * 3600) for h in (3, 2, 1)]
    world = World(net, customers, faults)
    for f in faults:
        world.apply_fault(f)
    assert world.start_repair("W-J2", idx["J2"], 1000) == 1000 + 6 * 3600
    # A second crew after an hour: 5 h left for two crews, but the 3 h span (2 h left) is
    # one crew's work: 2.5 h more.
    assert world.join_repair("W-J2", 1000 + 3600) == 1000 + 3600 + 9000
    # A third crew half an hour later: 4 h left over three crews is 80 min, but the longest
    # span still has 1.5 h.
    assert world.join_repair("W-J2", 1000 + 5400) == 1000 + 5400 + 5400
    # A fourth crew is not needed: the 1.5 h span left bounds the job whatever it does.
    assert world.join_repair("W-J2", 1000 + 6000) is None
    assert world.finish_repair("W-J2", 1000 + 10_800) == (idx["J2"],)
    assert not world.is_repairing("W-J2")


def test_a_generator_supplies_a_customer_until_it_leaves() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    fault = WorldFault(100, idx["J2"], idx["J2"], 7200)
    world = World(net, customers, [fault])
    world.apply_fault(fault)
    world.connect_generator(idx["C3"], 1900)  # the truck is there 30 min after the fault
    world.start_repair("W-J2", idx["J2"], 4000)
    world.disconnect_generator(idx["C3"], 8000)  # leaves before the line is back
    world.finish_repair("W-J2", 11_200)
    world.finalize(12_000)
    assert world.outage_s[customers].tolist() == [0, 0, 1800 + 3200, 11_100, 11_100]
    assert world.interruptions[customers].tolist() == [0, 0, 1, 1, 1]


def test_last_gasps_come_from_meters_cut_off_below_a_transformer_with_supply() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    drop = WorldFault(100, idx["SD4"], idx["SD4"], 1800)
    fuse = WorldFault(200, idx["T3"], idx["T3"], 3600)
    world = World(net, customers, [drop, fuse])
    world.apply_fault(drop)
    assert world.newly_dark.tolist() == [idx["C4"], idx["C5"]]
    assert world.sends_last_gasps(idx["SD4"]) and not world.sends_last_gasps(idx["C4"])
    world.apply_fault(fuse)
    assert world.newly_dark.tolist() == [idx["C3"]]  # C4 and C5 were already out
    assert not world.sends_last_gasps(idx["T3"]) and not world.sends_last_gasps(idx["SD4"])
    world.start_repair("W-T3", idx["T3"], 1000)  # claims the fuse and the drop below it
    world.finish_repair("W-T3", 6400)
    assert sorted(world.newly_back.tolist()) == [idx["C3"], idx["C4"], idx["C5"]]
