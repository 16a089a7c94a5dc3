"""Call roll-up on the hand-built feeder: customer-side, drop, merge upward, planned outage."""

from __future__ import annotations

import pytest

from grid_model.network import DeviceKind, NodeKind
from grid_model.predict import IncidentKind, OutagePredictor, PredictionRules
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build


def test_lone_call_is_a_probable_customer_side_fault() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    change = p.add_call("K1", idx["C1"], 100)
    inc = p.incident(change.incident_id)
    assert change.created and inc.kind == IncidentKind.CUSTOMER_SIDE and inc.node_idx == idx["C1"]


def test_second_drop_calling_rolls_up_and_merges_the_lower_incident() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
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
    p = OutagePredictor(net)
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
    p = OutagePredictor(net, PredictionRules(mv_min_share=0.5))
    for k, c in enumerate(["C3", "C3b", "C1", "C1b"]):
        change = p.add_call(f"K{k}", idx[c], 100 + k)
    inc = p.incident(change.incident_id)
    assert net.node_id[inc.node_idx] == "F1" and change.created
    assert sorted(net.node_id[p.incident(i).node_idx] for i in change.merged) == ["C1", "T3"]
    assert [net.node_id[i.node_idx] for i in p.incidents if i.is_open] == ["F1"]


def test_restored_device_is_not_predicted_again_during_the_quiet_period() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    p.add_call("K1", idx["C3"], 0)
    change = p.add_call("K2", idx["C4"], 10)
    p.close(change.incident_id, 1000)
    again = p.add_call("K3", idx["C3"], 1100)
    again = p.add_call("K4", idx["C4"], 1200)
    assert p.incident(again.incident_id).node_idx != idx["L3"]
    later = p.add_call("K5", idx["C5"], 1000 + 4 * 3600)
    assert p.incident(later.incident_id).node_idx == idx["L3"]


def test_calls_inside_a_planned_outage_attach_to_it_and_are_not_dispatched() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    p = OutagePredictor(net)
    p.add_planned("PO1", idx["J3"], 1000, 5000)
    inside = p.add_call("K1", idx["C4"], 2000)
    assert inside.incident_id == "PO1" and not inside.created
    assert p.incident("PO1").kind == IncidentKind.PLANNED
    after = p.add_call("K2", idx["C4"], 6000)
    assert after.created and after.incident_id != "PO1"


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


def test_a_device_report_from_a_node_without_a_device_is_refused() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    p = OutagePredictor(net)
    with pytest.raises(ValueError, match="node 2 is not a protective device"):
        p.add_device_report("SCADA:J1", net.index_of()["J1"], 10)


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
    rows = list(TWO_FAULTS_IN_SERIES)
    rows += [("L3b", NodeKind.LV_BRANCH, "T3", DeviceKind.FUSE, "LF-L3b"),
             ("SD3b", NodeKind.SERVICE_DROP, "L3b", DeviceKind.NONE, ""),
             ("MB3b", NodeKind.METER_BOX, "SD3b", DeviceKind.NONE, ""),
             ("C3b", NodeKind.CUSTOMER, "MB3b", DeviceKind.NONE, "")]
    net = build(rows)
    idx = net.index_of()
    by_phone = OutagePredictor(net)
    by_phone.add_call("K1", idx["C3"], 100)
    rolled = by_phone.add_call("K2", idx["C3b"], 110)
    assert by_phone.incident(rolled.incident_id).node_idx == idx["T3"]  # both outlets: the transformer
    with_ami = OutagePredictor(net)
    gasp = with_ami.add_last_gasp("AMI1", idx["C3"], 100)  # its concentrator at T3 passed it on
    call = with_ami.add_call("K2", idx["C3b"], 110)
    assert with_ami.incident(gasp.incident_id).node_idx == idx["SD3"]
    assert with_ami.incident(call.incident_id).node_idx == idx["C3b"]  # two faults, not T3
    later = with_ami.add_call("K3", idx["C4"], 110 + 3600)  # the evidence has gone stale
    assert with_ami.incident(later.incident_id).node_idx == idx["T3"]


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
