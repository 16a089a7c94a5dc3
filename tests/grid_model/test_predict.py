"""Grouping reports into incidents on hand-built feeders: customer-side, roll-up and merge,
a feeder trip at a low call rate, planned outages, device reports, AMI, findings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from grid_model.network import DeviceKind, NodeKind
from grid_model.posterior import CandidateKind, OutagePriors
from grid_model.predict import SETTLED_GROWTH, IncidentKind, OutagePredictor, PredictionParams
from tests.grid_model.feeders import (
    T3_TWO_OUTLETS,
    TWO_FAULTS_IN_SERIES,
    build,
    feeders_of_buildings,
    radial_feeder,
)

# Fixed parameters and no margin, so the hand-built cases follow the MAP alone.
FIXED = PredictionParams(priors=OutagePriors(prior=(0.02, 0.02, 0.02, 0.02, 0.005, 0.002), call_rate=0.1),
                         estimate=False, up_odds=1.0)


def _open(p: OutagePredictor) -> list[str]:
    return sorted(p.net.node_id[i.node_idx] for i in p.incidents if i.is_open)


def test_lone_call_is_a_probable_customer_side_fault() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    change = p.add_call("K1", idx["C1"], 100)
    inc = p.incident(change.incident_id)
    assert change.created and inc.kind == IncidentKind.CUSTOMER_SIDE and inc.node_idx == idx["C1"]


def test_calls_from_one_outlet_roll_up_and_merge_the_lone_call_incidents() -> None:
    """The first calls under an LV fuse are customer-side faults; the third makes the fuse the
    MAP outage (its seven silent customers weigh less than three faults of their own), and the
    earlier incidents merge into the fuse's."""
    net = radial_feeder()
    idx = net.index_of()
    p = OutagePredictor(net)
    first = p.add_call("K1", idx["C0_0_0"], 100)
    second = p.add_call("K2", idx["C0_0_1"], 160)
    assert first.created and second.created and _open(p) == ["C0_0_0", "C0_0_1"]
    third = p.add_call("K3", idx["C0_0_2"], 200)
    inc = p.incident(third.incident_id)
    assert net.node_id[inc.node_idx] == "L0_0" and inc.kind == IncidentKind.DEVICE
    assert third.merged == (first.incident_id, second.incident_id)
    assert inc.call_ids == ["K1", "K2", "K3"] and inc.first_report_s == 100
    assert p.add_call("K4", idx["C0_0_5"], 300).incident_id == inc.incident_id


def test_scattered_lone_callers_are_not_a_feeder_outage() -> None:
    """One caller under each of four transformers: four customer-side faults, not the breaker
    (236 silent customers outweigh three faults of their own)."""
    net = radial_feeder()
    idx = net.index_of()
    p = OutagePredictor(net)
    for k, i in enumerate(range(0, 8, 2)):
        p.add_call(f"K{k}", idx[f"C{i}_1_3"], 100 + k)
    p.review()
    assert _open(p) == ["C0_1_3", "C2_1_3", "C4_1_3", "C6_1_3"]
    assert all(i.kind == IncidentKind.CUSTOMER_SIDE for i in p.incidents if i.is_open)


@pytest.mark.parametrize("seed", range(5))
def test_a_feeder_trip_at_a_ten_per_cent_call_rate_is_placed_at_the_feeder_breaker(seed: int) -> None:
    """Every customer of the feeder dark, one in ten calling in random order: the incidents end
    up as one, at the breaker, and the call rate estimated online lands near 10 %."""
    net = radial_feeder()
    rng = np.random.default_rng(seed)
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    callers = customers[rng.random(len(customers)) < 0.1]
    rng.shuffle(callers)
    p = OutagePredictor(net)
    for k, c in enumerate(callers.tolist()):
        p.add_call(f"K{k}", c, 60 * k)
    p.review()
    assert _open(p) == ["F1"]
    assert p.confidence(next(i for i in p.incidents if i.is_open)) > 0.9
    assert 0.05 < p.priors.call_rate < 0.15


def test_dense_scattered_damage_is_read_as_drops_not_as_whole_feeders_out() -> None:
    """A third of 30 feeders hit, a tenth of their drops down, 30 % of the dark customers calling:
    EM from the default start settles on some feeders and transformers out with few calling;
    the second chain, started from scattered damage, explains the reports better, and the
    predictor decides with it: no MV element is out, and most drops with two callers are found
    (the rest at their LV fuse, with another drop down below it)."""
    net = feeders_of_buildings(30)
    idx = net.index_of()
    rng = np.random.default_rng(0)
    hit = [n for n in net.node_id if n.startswith("SD") and int(n[2:].split(".")[0]) < 10]
    down = rng.choice(hit, len(hit) // 10, replace=False)
    callers = {d: [idx[f"C{d[2:]}.{c}"] for c in range(3) if rng.random() < 0.3] for d in down}
    order = [c for cs in callers.values() for c in cs]
    rng.shuffle(order)
    p = OutagePredictor(net)
    for k, c in enumerate(order):
        p.add_call(f"K{k}", c, 10 * k)
    p.review()
    opened = set(_open(p))
    assert not any(name.startswith(("F", "J", "T")) for name in opened)
    located = [d for d, cs in callers.items() if len(cs) >= 2]
    assert sum(d in opened for d in located) >= 0.7 * len(located)


def test_restored_device_is_not_predicted_again_during_the_quiet_period() -> None:
    """A crew has just restored L0_0: calls from below it cannot put it out again for three
    hours; after that they can."""
    net = radial_feeder()
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    for k in range(4):
        change = p.add_call(f"K{k}", idx[f"C0_0_{k}"], 10 * k)
    assert _open(p) == ["L0_0"]
    p.close(change.incident_id, 1000)
    for k in range(4):
        again = p.add_call(f"K{k + 4}", idx[f"C0_0_{k}"], 1100 + k)
    assert net.node_id[p.incident(again.incident_id).node_idx] != "L0_0"
    later = [p.add_call(f"K{k + 8}", idx[f"C0_0_{k + 4}"], 1000 + 4 * 3600 + k) for k in range(3)]
    assert net.node_id[p.incident(later[-1].incident_id).node_idx] in ("L0_0", "T0")


def test_calls_inside_a_planned_outage_attach_to_it_and_are_not_dispatched() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    p.add_planned("PO1", idx["J3"], 1000, 5000)
    inside = p.add_call("K1", idx["C4"], 2000)
    assert inside.incident_id == "PO1" and not inside.created
    assert p.incident("PO1").kind == IncidentKind.PLANNED
    at_end = p.add_call("K2", idx["C4"], 5000)  # the outage is over at its end: a new outage
    assert at_end.created and at_end.incident_id != "PO1"


def test_a_telemetered_breaker_is_an_incident_at_once_and_absorbs_the_calls_below() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    lone = p.add_call("K1", idx["C1"], 100)
    scada = p.add_device_report("SCADA:CB-F1", idx["F1"], 130)
    inc = p.incident(scada.incident_id)
    assert scada.created and inc.node_idx == idx["F1"] and inc.kind == IncidentKind.DEVICE
    assert scada.merged == (lone.incident_id,) and inc.first_report_s == 100
    later = p.add_call("K2", idx["C4"], 200)
    assert later.incident_id == inc.incident_id and not later.created
    again = p.add_device_report("SCADA:CB-F1", idx["F1"], 210)
    assert again.incident_id == inc.incident_id and not again.created
    below = p.add_device_report("SCADA:RC-J2", idx["J2"], 220)
    assert below.incident_id == inc.incident_id and not below.created


def test_a_device_report_at_an_incident_calls_opened_makes_it_certain() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    p.add_call("K1", idx["C3"], 100)
    calls = p.add_call("K2", idx["C4"], 110)
    inc = p.incident(calls.incident_id)
    assert inc.node_idx == idx["L3"] and not inc.certain and p.confidence(inc) < 1.0
    report = p.add_device_report("REPORT:LF-L3", idx["L3"], 130)
    assert report.incident_id == inc.incident_id and not report.created
    assert inc.certain and p.confidence(inc) == 1.0 and inc.call_ids == ["K1", "K2", "REPORT:LF-L3"]


def test_a_device_opened_by_planned_work_is_no_new_incident() -> None:
    """SCADA reports the recloser that planned work opened: the report attaches to the planned
    outage (no repair is dispatched), and a predicted incident never takes its id."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    p.add_planned("I000002", idx["J2"], 1000, 5000)
    report = p.add_device_report("SCADA:RC-J2", idx["J2"], 1200)
    assert report.incident_id == "I000002" and not report.created
    assert p.incident("I000002").call_ids == ["SCADA:RC-J2"]
    lone = p.add_call("K1", idx["C1"], 1300)  # outside the planned area
    assert lone.created and lone.incident_id != "I000002"
    assert len({i.incident_id for i in p.incidents}) == len(p.incidents)
    assert p.add_call("K2", idx["C4"], 1400).incident_id == "I000002"


def test_a_device_report_from_a_node_without_a_device_is_refused() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    p = OutagePredictor(net)
    with pytest.raises(ValueError, match="node 2 is not a protective device"):
        p.add_device_report("SCADA:J1", net.index_of()["J1"], 10)


def test_estimates_come_every_quarter_while_they_move_and_at_a_doubling_once_settled() -> None:
    """1,500 calls from random customers of 20 feeders: EM runs at 32 reports, then each time
    the reports have grown by a quarter after an estimate that moved the parameters, and only
    once they have doubled after one that did not; both happen here."""
    net = feeders_of_buildings(20)
    rng = np.random.default_rng(1)
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    p = OutagePredictor(net)
    at: list[int] = []
    em_step = p.estimator.em_step

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        at.append(p._reports)
        return em_step(*args, **kwargs)

    p.estimator.em_step = counted  # type: ignore[method-assign]
    for k, c in enumerate(rng.choice(customers, 1500, replace=False).tolist()):
        p.add_call(f"K{k}", c, k)
    estimates = sorted(set(at))
    assert estimates[0] == 32
    growth = PredictionParams().estimate_growth
    steps = [int(a * growth) + 8 == b or int(a * SETTLED_GROWTH) + 8 == b
             for a, b in itertools.pairwise(estimates)]
    assert all(steps)
    quarters = sum(int(a * growth) + 8 == b for a, b in itertools.pairwise(estimates))
    assert 0 < quarters < len(estimates) - 1


def test_the_calls_per_feeder_follow_the_callers_through_restores_and_closed_incidents() -> None:
    """Random calls, last gasps, restores and closed incidents on three feeders: after each, the
    calling nodes the predictor counts per feeder for its estimates are its callers, feeder by
    feeder; and every estimate is given their scale."""
    net = feeders_of_buildings(3, transformers=3, outlets=2, drops=3, customers=2)
    feeder = net.feeder_idx.astype(np.int64)
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    rng = np.random.default_rng(4)
    p = OutagePredictor(net)
    scales: list[object] = []
    em_step = p.estimator.em_step

    def spied(*args, **kwargs):  # type: ignore[no-untyped-def]
        scales.append(kwargs.get("cover_scale"))
        return em_step(*args, **kwargs)

    p.estimator.em_step = spied  # type: ignore[method-assign]
    for k in range(300):
        c = int(rng.choice(customers))
        roll = rng.random()
        if roll < 0.6:
            p.add_call(f"K{k}", c, 10 * k)
        elif roll < 0.75:
            p.add_last_gasp(f"G{k}", c, 10 * k)
        elif roll < 0.9:
            p.add_restore(f"R{k}", c, 10 * k)
        else:
            open_ = [inc for inc in p.incidents if inc.is_open]
            if open_:
                p.close(open_[int(rng.integers(len(open_)))].incident_id, 10 * k)
        callers = np.array(sorted(p._callers), dtype=np.int64)
        assert p._feeder_calls.calls.tolist() == np.bincount(feeder[callers], minlength=3).tolist()
    assert scales and all(s == p._feeder_calls.cover_scale for s in scales)


@pytest.mark.parametrize("growth", [1.0, 0.5, float("nan"), float("inf")])
def test_an_estimate_schedule_that_never_grows_is_refused(growth: float) -> None:
    with pytest.raises(ValueError, match="estimate_growth must be above 1 and finite"):
        PredictionParams(estimate_growth=growth)


def test_a_last_gasp_is_never_taken_for_the_customers_own_breaker() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    gasp = p.add_last_gasp("AMI1", idx["C3"], 100)
    inc = p.incident(gasp.incident_id)
    assert inc.node_idx == idx["SD3"] and inc.kind == IncidentKind.DEVICE
    call = p.add_call("K1", idx["C1"], 110)  # the same evidence by phone is customer-side
    assert p.incident(call.incident_id).kind == IncidentKind.CUSTOMER_SIDE


def test_an_incident_is_over_when_every_reporting_meter_is_back() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    p.add_last_gasp("AMI1", idx["C4"], 100)
    change = p.add_last_gasp("AMI2", idx["C5"], 105)
    inc = p.incident(change.incident_id)
    assert inc.node_idx == idx["SD4"] and inc.caller_nodes == {idx["C4"], idx["C5"]}
    assert p.add_restore("AMI3", idx["C4"], 900) is None
    assert p.add_restore("AMI4", idx["C1"], 905) is None  # never reported: nothing to do
    assert p.add_restore("AMI5", idx["C5"], 910) == inc.incident_id
    # Out again before anyone closed the incident: the meter reports to it once more.
    again = p.add_last_gasp("AMI6", idx["C5"], 2000)
    assert again.incident_id == inc.incident_id and idx["C5"] not in inc.restored_nodes


def test_a_last_gasp_proves_its_transformer_has_supply() -> None:
    net = build(T3_TWO_OUTLETS)
    idx = net.index_of()
    by_phone = OutagePredictor(net, FIXED)
    by_phone.add_call("K1", idx["C3"], 100)
    rolled = by_phone.add_call("K2", idx["C3b"], 110)
    assert by_phone.incident(rolled.incident_id).node_idx == idx["T3"]  # both outlets: the transformer
    with_ami = OutagePredictor(net, FIXED)
    gasp = with_ami.add_last_gasp("AMI1", idx["C3"], 100)  # its concentrator at T3 passed it on
    call = with_ami.add_call("K2", idx["C3b"], 110)
    assert with_ami.incident(gasp.incident_id).node_idx in (idx["SD3"], idx["L3"])
    assert with_ami.incident(call.incident_id).node_idx == idx["C3b"]  # two faults, not T3
    later = with_ami.add_call("K3", idx["C4"], 110 + 3600)  # the evidence has gone stale
    assert with_ami.incident(later.incident_id).node_idx == idx["T3"]


def test_a_lone_callers_alternatives_give_customer_side_and_fuse_probabilities() -> None:
    """The explanations of a lone call list the customer's own fault, their drop, the fuse and
    above, with probabilities summing to one (the caller is dark by exactly one of them)."""
    net = radial_feeder()
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    p.add_call("K1", idx["C0_0_0"], 100)
    alternatives = p.explanations(idx["C0_0_0"])
    kinds = [k for _, k, _ in alternatives]
    assert kinds[:4] == [CandidateKind.CUSTOMER_SIDE, CandidateKind.SERVICE_DROP, CandidateKind.LV_FUSE,
                         CandidateKind.TRANSFORMER]
    probs = {net.node_id[v]: prob for v, _, prob in alternatives}
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert probs["C0_0_0"] > probs["L0_0"] > probs["T0"]


def test_a_cause_found_upstream_moves_the_incident_and_absorbs_those_below() -> None:
    rows = [*TWO_FAULTS_IN_SERIES,
            ("T4", NodeKind.TRANSFORMER, "J2", DeviceKind.FUSE, "FU-T4"),
            ("L4", NodeKind.LV_BRANCH, "T4", DeviceKind.FUSE, "LF-L4"),
            ("SD6", NodeKind.SERVICE_DROP, "L4", DeviceKind.NONE, ""),
            ("MB6", NodeKind.METER_BOX, "SD6", DeviceKind.NONE, ""),
            ("C6", NodeKind.CUSTOMER, "MB6", DeviceKind.NONE, "")]
    net = build(rows)
    idx = net.index_of()
    p = OutagePredictor(net)
    worked = p.add_call("K1", idx["C3"], 100)  # lone calls: customer-side
    other = p.add_call("K2", idx["C6"], 110)
    elsewhere = p.add_call("K3", idx["C1"], 120)
    moved = p.relocate(worked.incident_id, idx["J2"])  # the crew finds the recloser open
    inc = p.incident(worked.incident_id)
    assert inc.node_idx == idx["J2"] and inc.kind == IncidentKind.DEVICE and not moved.created
    assert moved.merged == (other.incident_id,)
    assert p.incident(other.incident_id).merged_into == inc.incident_id
    assert p.incident(elsewhere.incident_id).is_open
    assert p.add_call("K4", idx["C4"], 200).incident_id == inc.incident_id
    with pytest.raises(ValueError, match="not open or not upstream"):
        p.relocate(inc.incident_id, idx["T1"])


def test_calls_below_a_cause_found_between_devices_join_it() -> None:
    """The crew finds the line down at J1 (an MV node with no device, so no candidate): later
    calls from below join that incident, and a review opens none under it."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    first = p.add_call("K1", idx["C3"], 100)
    p.relocate(first.incident_id, idx["J1"])
    for k, c in enumerate(("C4", "C5")):
        change = p.add_call(f"K{k + 2}", idx[c], 200 + k)
        assert change.incident_id == first.incident_id and not change.created
    assert _open(p) == ["J1"]
    p.review()
    assert not [i for i in p.incidents if i.is_open and i.node_idx != idx["J1"]
                and net.is_ancestor(idx["J1"], i.node_idx)]


def test_a_last_gasp_after_a_call_from_the_same_meter_moves_it_off_the_customers_breaker() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, FIXED)
    call = p.add_call("K1", idx["C3"], 100)
    assert p.incident(call.incident_id).kind == IncidentKind.CUSTOMER_SIDE
    gasp = p.add_last_gasp("AMI1", idx["C3"], 160)
    inc = p.incident(gasp.incident_id)
    assert inc.kind == IncidentKind.DEVICE and inc.node_idx != idx["C3"]
    assert gasp.merged == (call.incident_id,)
