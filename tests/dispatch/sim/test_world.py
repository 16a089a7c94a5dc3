"""The simulated world: faults in series restore customers only when both are repaired; a
responder finds the cause and what lies below it; only qualified crews repair; customer-side
faults are kept out of the utility's outage minutes; teams share work; a crew that leaves
at the end of its duty leaves the work it did done."""

from __future__ import annotations

import numpy as np

from dispatch.sim.world import World, WorldFault, WorldFinding
from grid_model.network import Network
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build

ALL = frozenset({"lv", "mv", "cable"})


def _world(faults: list[WorldFault]) -> tuple[Network, dict[str, int], np.ndarray, World]:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    world = World(net, customers, faults)
    for f in faults:
        world.apply_fault(f)
    return net, idx, customers, world


def test_downstream_repair_is_not_credited_until_the_upstream_fault_is_fixed() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    upstream = WorldFault(100, idx["J2"], idx["J2"], 3600, "mv")
    downstream = WorldFault(200, idx["T3"], idx["T3"], 1800, "mv")
    _, idx, customers, world = _world([upstream, downstream])
    assert world.is_dark(idx["C3"]) and not world.is_dark(idx["C1"])
    assert world.start_repair("R-T3", idx["T3"], "mv", "K1", ALL, 300) == 300 + 1800
    assert world.finish_repair("R-T3", 2100) == (idx["T3"],)
    assert world.is_dark(idx["C4"])  # J2 is still open above
    assert world.start_repair("R-J2", idx["J2"], "mv", "K1", ALL, 2200) == 2200 + 3600
    assert world.finish_repair("R-J2", 5800) == (idx["J2"],)
    assert not world.is_dark(idx["C4"])
    assert world.outage_s[customers].tolist() == [0, 0, 5700, 5700, 5700]
    assert world.interruptions[customers].tolist() == [0, 0, 1, 1, 1]


def test_a_responder_finds_the_cause_above_and_every_fault_in_the_transformer_area() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    faults = [WorldFault(0, idx["T3"], idx["T3"], 1200, "mv"),      # a blown transformer fuse
              WorldFault(0, idx["SD4"], idx["SD4"], 4000, "lv"),    # a drop down below it
              WorldFault(0, idx["C3"], idx["C3"], 900, "lv", customer_side=True)]
    _, idx, _, world = _world(faults)
    found = world.diagnose(idx["SD3"], fix_limit_s=1800)
    assert found == [WorldFinding(idx["T3"], "mv", 1200, True, False),
                     WorldFinding(idx["SD4"], "lv", 4000, False, False),
                     WorldFinding(idx["C3"], "", 900, False, True)]
    # an lv responder cannot re-fuse the transformer; a crew with mv can
    assert world.fix([idx["T3"]], frozenset({"lv"}), 600) == ()
    assert world.fix([idx["T3"]], ALL, 600) == (idx["T3"],)
    world.advise([idx["C3"]], 700)
    assert world.customer_side_s[idx["C3"]] == 700 and not world.own_fault(idx["C3"])


def test_at_a_healthy_mv_site_a_responder_patrols_down_to_the_operated_device() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    _, idx, _, world = _world([WorldFault(0, idx["J3"], idx["J3"], 7200, "mv")])
    assert world.diagnose(idx["F1"], fix_limit_s=1800) == [WorldFinding(idx["J3"], "mv", 7200, False, False)]
    assert world.diagnose(idx["T1"], fix_limit_s=1800) == []  # nothing wrong there


def test_only_a_crew_with_the_skill_repairs_and_customer_side_minutes_are_apart() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    faults = [WorldFault(0, idx["J3"], idx["J3"], 3600, "mv"),
              WorldFault(0, idx["C1"], idx["C1"], 900, "lv", customer_side=True)]
    _, idx, customers, world = _world(faults)
    assert world.start_repair("R-J3", idx["J3"], "mv", "LV-ONLY", frozenset({"lv"}), 100) is None
    assert world.start_repair("R-J3", idx["J3"], "mv", "MV", frozenset({"mv"}), 200) == 200 + 3600
    assert world.finish_repair("R-J3", 3800) == (idx["J3"],)
    assert world.repairs_by_unqualified_crew == 0 and world.repairs_done == 1
    world.finalize(5000)
    assert world.outage_s[customers].tolist() == [0, 0, 3800, 3800, 3800]  # C1's own fault is not counted
    assert world.customer_side_s[idx["C1"]] == 5000 and world.is_dark(idx["C1"])


def test_a_team_shares_the_work_but_no_fault_is_split() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    # Three damaged spans behind the same recloser: 3 h, 2 h and 1 h of work.
    _, idx, _, world = _world([WorldFault(0, idx["J2"], idx["J2"], h * 3600, "mv") for h in (3, 2, 1)])
    assert world.start_repair("R", idx["J2"], "mv", "K1", ALL, 1000) == 1000 + 6 * 3600
    # A second crew after an hour: 5 h left for two crews, but the 3 h span (2 h left) is
    # one crew's work: 2.5 h more.
    assert world.start_repair("R", idx["J2"], "mv", "K2", ALL, 1000 + 3600) == 1000 + 3600 + 9000
    # A third crew half an hour later: 4 h left over three crews is 80 min, but the longest
    # span still has 1.5 h.
    assert world.start_repair("R", idx["J2"], "mv", "K3", ALL, 1000 + 5400) == 1000 + 5400 + 5400
    # A fourth crew is not needed: the 1.5 h span left bounds the job whatever it does.
    assert world.start_repair("R", idx["J2"], "mv", "K4", ALL, 1000 + 6000) is None
    assert world.finish_repair("R", 1000 + 10_800) == (idx["J2"],)


def test_a_crew_leaving_at_its_duty_limit_leaves_its_work_done_for_the_next() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    _, idx, _, world = _world([WorldFault(0, idx["J2"], idx["J2"], 10 * 3600, "cable")])
    assert world.start_repair("R", idx["J2"], "cable", "K1", ALL, 0) == 10 * 3600
    assert world.leave_repair("R", "K1", 6 * 3600) is None  # nobody left on it: it waits
    assert world.is_dark(idx["C3"])
    assert world.start_repair("R", idx["J2"], "cable", "K2", ALL, 9 * 3600) == 13 * 3600  # 4 h were left
    assert world.finish_repair("R", 13 * 3600) == (idx["J2"],)


def test_the_outage_history_sums_to_the_outage_minutes_and_says_when_each_element_was_open() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = np.array([idx[c] for c in ["C1", "C2", "C3", "C4", "C5"]])
    world = World(net, customers, [])
    world.apply_fault(WorldFault(100, idx["J2"], idx["J2"], 3600, "mv"))
    world.apply_fault(WorldFault(300, idx["SD1"], idx["SD1"], 3600, "lv"))  # never repaired
    world.start_repair("R-J2", idx["J2"], "mv", "K1", ALL, 2200)
    world.finish_repair("R-J2", 5800)
    world.apply_fault(WorldFault(6000, idx["J3"], idx["J3"], 600, "mv"))  # C3-C5 out a second time
    world.start_repair("R-J3", idx["J3"], "mv", "K1", ALL, 6400)
    world.finish_repair("R-J3", 7000)
    world.finalize(9000)
    nodes, since, until = world.outages()
    got = sorted(zip(nodes.tolist(), since.tolist(), until.tolist(), strict=True))
    c1, c2, c3, c4, c5 = customers.tolist()
    assert got == sorted([(c1, 300, 9000), (c2, 300, 9000), *((c, 100, 5800) for c in (c3, c4, c5)),
                          *((c, 6000, 7000) for c in (c3, c4, c5))])
    per_customer = np.bincount(nodes, weights=until - since, minlength=net.n_nodes)
    assert (per_customer[customers] == world.outage_s[customers]).all()
    assert sorted(world.open_spans()) == [(idx["J2"], 100, 5800), (idx["J3"], 6000, 7000),
                                          (idx["SD1"], 300, 9000)]
