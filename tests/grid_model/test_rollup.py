"""The roll-up rules the dispatch engine groups reports with, on the hand-built feeder:
customer-side, drop, merge upward, a quiet period after a repair, AMI."""

from __future__ import annotations

from grid_model.network import DeviceKind, NodeKind
from grid_model.predict import IncidentKind, OutagePredictor, PredictionParams
from grid_model.rollup import RollupParams
from tests.grid_model.feeders import T3_TWO_OUTLETS, TWO_FAULTS_IN_SERIES, build

ROLLUP = PredictionParams(rollup=RollupParams())


def test_second_drop_calling_rolls_up_and_merges_the_lower_incident() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    first = p.add_call("K1", idx["C3"], 100)
    second = p.add_call("K2", idx["C4"], 160)
    inc = p.incident(second.incident_id)
    # Both drops below LV fuse L3 call. T3 has that one outlet only, so the calls cannot
    # tell its fuse from L3's, and the fuse nearer the fault is predicted; the lone-call
    # incident merges in.
    assert inc.node_idx == idx["L3"] and inc.kind == IncidentKind.DEVICE
    assert second.merged == (first.incident_id,)
    assert p.incident(first.incident_id).merged_into == inc.incident_id
    assert inc.call_ids == ["K1", "K2"] and inc.first_report_s == 100
    third = p.add_call("K3", idx["C5"], 200)
    assert third.incident_id == inc.incident_id and not third.created


def test_one_drop_calling_under_each_transformer_is_not_a_feeder_outage() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    for k, c in enumerate(["C3", "C4", "C1", "C2"]):
        change = p.add_call(f"K{k}", idx[c], 100 + k)
    open_nodes = sorted(net.node_id[i.node_idx] for i in p.incidents if i.is_open)
    # Both drops under L3 call: its fuse is out. T1 has one drop with two callers: that drop
    # is out. No transformer is out, so nothing points at the breaker.
    assert open_nodes == ["L3", "SD1"]
    assert p.incident(change.incident_id).call_ids == ["K2", "K3"]


def test_two_transformers_out_roll_up_to_the_breaker_above_both() -> None:
    rows = list(TWO_FAULTS_IN_SERIES)
    for t, n in (("T1", "1"), ("T3", "3")):  # a second LV outlet on each transformer
        rows += [(f"L{n}b", NodeKind.LV_BRANCH, t, DeviceKind.FUSE, f"LF-L{n}b"),
                 (f"SD{n}b", NodeKind.SERVICE_DROP, f"L{n}b", DeviceKind.NONE, ""),
                 (f"MB{n}b", NodeKind.METER_BOX, f"SD{n}b", DeviceKind.NONE, ""),
                 (f"C{n}b", NodeKind.CUSTOMER, f"MB{n}b", DeviceKind.NONE, "")]
    net = build(rows)
    idx = net.index_of()
    p = OutagePredictor(net, PredictionParams(rollup=RollupParams(mv_min_share=0.5)))
    for k, c in enumerate(["C3", "C3b", "C1", "C1b"]):
        change = p.add_call(f"K{k}", idx[c], 100 + k)
    inc = p.incident(change.incident_id)
    assert net.node_id[inc.node_idx] == "F1" and change.created
    assert sorted(net.node_id[p.incident(i).node_idx] for i in change.merged) == ["C1", "T3"]
    assert [net.node_id[i.node_idx] for i in p.incidents if i.is_open] == ["F1"]


def test_rules_do_not_predict_a_restored_device_again_during_the_quiet_period() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    p.add_call("K1", idx["C3"], 0)
    change = p.add_call("K2", idx["C4"], 10)
    p.close(change.incident_id, 1000)
    again = p.add_call("K3", idx["C3"], 1100)
    again = p.add_call("K4", idx["C4"], 1200)
    assert p.incident(again.incident_id).node_idx != idx["L3"]
    later = p.add_call("K5", idx["C5"], 1000 + 4 * 3600)
    assert p.incident(later.incident_id).node_idx == idx["L3"]


def test_a_last_gasp_is_never_taken_for_the_customers_own_breaker() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    gasp = p.add_last_gasp("AMI1", idx["C3"], 100)
    inc = p.incident(gasp.incident_id)
    assert inc.node_idx == idx["SD3"] and inc.kind == IncidentKind.DEVICE
    call = p.add_call("K1", idx["C1"], 110)  # the same evidence by phone is customer-side
    assert p.incident(call.incident_id).kind == IncidentKind.CUSTOMER_SIDE


def test_under_the_rules_a_last_gasp_proves_its_transformer_has_supply() -> None:
    net = build(T3_TWO_OUTLETS)
    idx = net.index_of()
    by_phone = OutagePredictor(net, ROLLUP)
    by_phone.add_call("K1", idx["C3"], 100)
    rolled = by_phone.add_call("K2", idx["C3b"], 110)
    assert by_phone.incident(rolled.incident_id).node_idx == idx["T3"]  # both outlets: the transformer
    with_ami = OutagePredictor(net, ROLLUP)
    gasp = with_ami.add_last_gasp("AMI1", idx["C3"], 100)  # its concentrator at T3 passed it on
    call = with_ami.add_call("K2", idx["C3b"], 110)
    assert with_ami.incident(gasp.incident_id).node_idx == idx["SD3"]
    assert with_ami.incident(call.incident_id).node_idx == idx["C3b"]  # two faults, not T3
    later = with_ami.add_call("K3", idx["C4"], 110 + 3600)  # the evidence has gone stale
    assert with_ami.incident(later.incident_id).node_idx == idx["T3"]


def test_under_the_rules_the_predictor_builds_no_posterior() -> None:
    """The roll-up rules decide alone: calls, gasps, restores, a repair, a review and the
    queries never build the posterior's supply tree, DP state or estimator."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    p.add_last_gasp("AMI1", idx["C3"], 100)
    change = p.add_call("K1", idx["C4"], 110)
    p.add_restore("R1", idx["C3"], 200)
    inc = p.incident(change.incident_id)
    p.confidence(inc)
    assert p.explanations(idx["C4"]) == []
    assert p.review() == []
    p.close(inc.incident_id, 300)
    assert p.priors == ROLLUP.priors
    assert not {"tree", "state", "estimator"} & set(vars(p))


def test_calls_below_a_cause_found_between_devices_join_it() -> None:
    """A crew finds the line down at J1, an MV node with no device (no rule can predict it):
    a later call from below joins that incident rather than opening a second one under it."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    first = p.add_call("K1", idx["C3"], 100)
    p.relocate(first.incident_id, idx["J1"])
    later = p.add_call("K2", idx["C4"], 200)
    assert later.incident_id == first.incident_id and not later.created
    assert [i.incident_id for i in p.incidents if i.is_open] == [first.incident_id]
    elsewhere = p.add_call("K3", idx["C1"], 210)  # T1 hangs on J1 too
    assert elsewhere.incident_id == first.incident_id


def test_a_last_gasp_after_a_call_from_the_same_meter_moves_it_off_the_customers_breaker() -> None:
    """Call first, then the meter's last gasp (a congested AMI network): the meter lost supply,
    so the fault is not the customer's own breaker, as when the gasp comes first."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net, ROLLUP)
    call = p.add_call("K1", idx["C3"], 100)
    assert p.incident(call.incident_id).kind == IncidentKind.CUSTOMER_SIDE
    gasp = p.add_last_gasp("AMI1", idx["C3"], 160)
    inc = p.incident(gasp.incident_id)
    assert inc.node_idx == idx["SD3"] and inc.kind == IncidentKind.DEVICE
    assert gasp.created and gasp.merged == (call.incident_id,)
    assert inc.call_ids == ["K1", "AMI1"]
