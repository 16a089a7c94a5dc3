"""The reading per customer (``grid_model.dark``) against enumerating every joint state of a
small feeder, calls and last gasps included; the choice among elements the reports cannot tell
apart; and ``predict_calls`` grouping a batch by it."""

from __future__ import annotations

import numpy as np
import pytest

from grid_model.dark import (
    chain_scores,
    dark_probabilities,
    dark_topmost,
    evidence_of_calls,
    evidence_of_state,
    kind_log_odds,
    likeliest_of_equals,
    read_dark,
    topmost_probabilities,
)
from grid_model.incidents import _read_per_customer, predict_calls
from grid_model.network import DeviceKind, NodeKind
from grid_model.pandapower_import import region_from_pandapower
from grid_model.posterior import CandidateKind, MapState, OutagePriors, supply_tree_from_network
from grid_model.predict import OutagePredictor, PredictionParams
from grid_model.priors import DEFAULT_PRIORS
from grid_model.storm import Call
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build, radial_feeder
from tests.grid_model.joint import customer_nodes, joint_states
from tests.grid_model.pp_feeders import one_transformer_grid

PRIORS = OutagePriors(prior=(0.02, 0.02, 0.02, 0.02, 0.005, 0.002), call_rate=0.3, gasp_rate=0.6)


@pytest.mark.parametrize("seed", range(12))
def test_topmost_probabilities_and_the_dark_reading_equal_enumeration(seed: int) -> None:
    """Per element on the reports' chains, its probability of being the topmost outage is its
    share of the joint states' weight; the reading names the topmost elements whose customers
    are dark in half the weight or more. Log-odds per element in (-5, 3) (above 0 a silent or
    nested element is likelier out than not); on odd seeds some dark meters sent last gasps, on
    seeds 3, 7 and 11 some of them stale (no longer proving their transformer live)."""
    rng = np.random.default_rng(200 + seed)
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = customer_nodes(net)
    log_odds = rng.uniform(-5.0, 3.0, net.n_nodes)
    p = float(rng.uniform(0.1, 0.6))
    a = float(rng.uniform(0.3, 0.9)) if seed % 2 else 0.0
    calls = {c for c in customers if rng.random() < 0.4} or {customers[0]}
    gasps = frozenset(c for c in customers if c not in calls and rng.random() < 0.5) if a else frozenset()
    stale = frozenset(c for c in gasps if seed % 4 == 3 and rng.random() < 0.5)
    state = MapState(tree, PRIORS)
    for c in calls:
        state.report(c, call=1)
    for c in gasps:
        state.report(c, gasp=1, fresh=int(c not in stale))
    joint = joint_states(net, tree, calls, log_odds, p, gasps, a, stale)
    weight = np.exp(joint.log_weight - joint.log_weight.max())
    s = chain_scores(tree, evidence_of_state(state), log_odds, p, np.logaddexp, a)
    top_p = topmost_probabilities(tree, s)
    chains = s.chains.tolist()
    assert set(chains) == {v for c in calls | gasps for v in tree.chain(c)}
    for v in chains:
        if v in joint.topmost:
            assert top_p[v] == pytest.approx(weight[joint.topmost[v]].sum() / weight.sum(), abs=1e-9)
        else:  # a customer's own fault, the topmost cause of its report when nothing above is out
            above = np.any([joint.topmost[u] for u in tree.chain(v)[1:] if u in joint.topmost], axis=0)
            own = joint.own_fault[v] & ~above
            assert top_p[v] == pytest.approx(weight[own].sum() / weight.sum(), abs=1e-9)

    def dark(v: int) -> float:
        states = np.any([joint.topmost[u] for u in tree.chain(v) if u in joint.topmost], axis=0)
        return float(weight[states].sum() / weight.sum())

    half = [v for v in chains if v in joint.topmost and dark(v) >= 0.5]
    expected = {v for v in half if not any(u in half for u in tree.chain(v)[1:])}
    named = dark_topmost(tree, chains, top_p)
    assert {v for v in named if tree.kind[v] != CandidateKind.CUSTOMER_SIDE} == expected


def test_evidence_of_calls_counts_each_caller_once_on_its_chain() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    idx = net.index_of()
    ev = evidence_of_calls(tree, [idx["C4"], idx["C5"], idx["C4"]])
    assert ev.calls[idx["SD4"]] == ev.calls[idx["L3"]] == ev.calls[idx["F1"]] == 2
    assert ev.own[idx["C4"]] == ev.own[idx["C5"]] == 1 and ev.calls[idx["L1"]] == 0
    assert ev.chains.tolist() == sorted([*tree.chain(idx["C4"]), idx["C5"]])
    assert not ev.gasps.any() and not ev.forbidden.any()


def test_a_fresh_gasp_rules_out_every_mv_outage_above_it() -> None:
    """A meter's last gasp says its transformer kept supply: no outage at or above the
    transformer explains it, so its chain's MV elements and transformer have no probability."""
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    idx = net.index_of()
    state = MapState(tree, PRIORS)
    for c in ("C3", "C4"):
        state.report(idx[c], gasp=1, fresh=1)
    reading = read_dark(state)
    for element in ("F1", "J2", "J3", "T3"):
        assert reading.top_probability[idx[element]] < 1e-6
    assert reading.named == {idx["L3"]}


def _two_callers_on_one_transformer(transformer_prior: float) -> tuple[OutagePredictor, dict[str, int]]:
    region = region_from_pandapower(one_transformer_grid(), name="tiny")
    prior = (0.02, 0.02, transformer_prior, 0.02, 0.005, 0.002)
    predictor = OutagePredictor(region.network, PredictionParams(OutagePriors(prior, 0.1), estimate=False))
    customers = dict(zip(region.customers["customer_id"], region.customers["node_idx"].tolist(), strict=True))
    for k, c in enumerate(("load:1", "load:2")):
        predictor.add_call(f"K{k}", customers[c], 60 * k)
    return predictor, customers


def test_of_elements_with_the_same_customers_the_likeliest_kind_is_named_the_lowest_of_equals() -> None:
    """Breaker, switch, transformer fuse and LV fuse over the same three customers: two calls
    make them dark, and the reports cannot tell the four apart. With equal priors the lowest is
    named (the MAP's choice); a transformer twice as likely out takes it."""
    for transformer_prior, expected in ((0.02, "fuse:line:2"), (0.04, "fuse:trafo:1")):
        predictor, _ = _two_callers_on_one_transformer(transformer_prior)
        net, tree = predictor.net, predictor.tree
        reading = read_dark(predictor.state)
        assert [net.device_id[v] for v in reading.named] == [expected]
        chain = sorted(tree.chain(next(iter(reading.named))))
        top = [v for v in chain if tree.parent[v] < 0]
        log_odds = kind_log_odds(tree, predictor.state.priors.prior)
        assert likeliest_of_equals(tree, chain, set(top), log_odds) == reading.named


def test_predict_calls_groups_the_batch_by_the_reading_and_keeps_a_lone_caller_customer_side() -> None:
    """Two callers under one LV fuse make one incident with both calls, its customers likelier
    dark than not though the fuse is one of four elements with the same customers; a caller alone
    is their own fault (a lone reporter's likeliest cause, not the drop the reading would name)."""
    region = region_from_pandapower(one_transformer_grid(), name="tiny")
    params = PredictionParams(OutagePriors((0.02, 0.02, 0.02, 0.02, 0.005, 0.002), 0.1), estimate=False)
    pair = [Call("K1", 60, customer_id="load:1"), Call("K2", 120, customer_id="load:2")]
    incidents = predict_calls(region, pair, params).incidents
    assert [(i["device_id"], i["call_ids"], i["kind"]) for i in incidents] == [
        ("fuse:line:2", ["K1", "K2"], "device")]
    assert 0.0 < incidents[0]["confidence"] < 0.5 <= incidents[0]["dark_probability"] < 1.0
    alone = predict_calls(region, [Call("K3", 60, customer_id="load:0")], params).incidents
    assert [(i["kind"], i["call_ids"]) for i in alone] == [("customer_side", ["K3"])]
    alternatives = {a["kind"]: a["probability"] for a in alone[0]["alternatives"]}
    assert set(alternatives) >= {"customer_side", "service_drop"}
    # the caller's supply is off unless the fault is their own
    assert alone[0]["dark_probability"] == pytest.approx(1.0 - alternatives["customer_side"], abs=2e-3)


def test_a_batch_without_a_located_call_has_no_incident_but_its_unlocated_calls() -> None:
    region = region_from_pandapower(one_transformer_grid(), name="tiny")
    assert predict_calls(region, []).incidents == []
    (unlocated,) = predict_calls(region, [Call("K1", 0, customer_id="no-such-customer")]).incidents
    assert (unlocated["kind"], unlocated["call_ids"]) == ("unlocated", ["K1"])


def test_lone_reporters_keep_what_the_reading_names_when_the_map_puts_them_above() -> None:
    """Six callers, one on each of five LV outlets and two on a sixth, of a feeder of 144
    customers: the MAP of all the calls is the feeder's trip, the reading names the six outlets.
    A lone caller moves to the MAP's cause only at or below what the reading named for it, so no
    incident holds another's customers and every call is at an outlet."""
    net = radial_feeder(8, 3, 6)
    idx = net.index_of()
    predictor = OutagePredictor(net, PredictionParams(DEFAULT_PRIORS, estimate=False))
    callers = ["C0_1_3", "C2_1_4", "C5_0_0", "C6_2_0", "C6_2_3", "C7_0_2"]
    located = [(Call(f"K{k}", k, customer_id=c), idx[c]) for k, c in enumerate(callers)]
    for call, node in located:
        predictor.add_call(call.call_id, node, call.t_s)
    state = predictor.state
    assert {state.top(state.chain(idx[c])) for c in callers} == {idx["F1"]}
    predictor.regroup(located[-1][0].t_s)
    incidents, reading = _read_per_customer(predictor, located, [])
    assert [(net.node_id[i.node_idx], i.call_ids) for i in incidents] == [
        ("L0_1", ["K0"]), ("L2_1", ["K1"]), ("L5_0", ["K2"]), ("L6_2", ["K3", "K4"]), ("L7_0", ["K5"])]
    assert all(0.0 < reading.top_probability[i.node_idx] < 1.0 and reading.dark_probability[i.node_idx] >= 0.5
               for i in incidents)


def test_a_grid_without_feeders_is_read_without_the_feeders_factor() -> None:
    """A fused drop straight on the substation (no feeder): at a call rate where the factor
    applies, its two callers are read with the kinds' priors alone."""
    net = build([("S1", NodeKind.SUBSTATION, "", DeviceKind.NONE, ""),
                 ("SD1", NodeKind.SERVICE_DROP, "S1", DeviceKind.FUSE, "FU-SD1"),
                 ("MB1", NodeKind.METER_BOX, "SD1", DeviceKind.NONE, ""),
                 ("C1", NodeKind.CUSTOMER, "MB1", DeviceKind.NONE, ""),
                 ("C2", NodeKind.CUSTOMER, "MB1", DeviceKind.NONE, "")])
    assert (net.feeder_idx < 0).all()
    idx = net.index_of()
    predictor = OutagePredictor(net, PredictionParams(OutagePriors((0.02,) * 4 + (0.005, 0.002), 0.3),
                                                      estimate=False))
    located = [(Call("K1", 0, customer_id="c1"), idx["C1"]), (Call("K2", 5, customer_id="c2"), idx["C2"])]
    for call, node in located:
        predictor.add_call(call.call_id, node, call.t_s)
    predictor.regroup(located[-1][0].t_s)
    incidents, _ = _read_per_customer(predictor, located, [])
    assert [(net.node_id[i.node_idx], i.call_ids) for i in incidents] == [("SD1", ["K1", "K2"])]


def test_lone_reporters_the_map_puts_under_one_cause_alone_join_there() -> None:
    """Two callers of transformer T3, each on an outlet of their own: the reading names both
    outlets (each caller's customers likelier dark than not), the MAP one transformer fault for
    both, and nothing else reports below T3: one incident there with both calls."""
    net = radial_feeder(8, 3, 6)
    idx = net.index_of()
    priors = OutagePriors((0.01, 0.01, 0.03, 0.05, 0.005, 0.002), 0.3)
    predictor = OutagePredictor(net, PredictionParams(priors, estimate=False))
    located = [(Call("K0", 0, customer_id="c0"), idx["C3_0_1"]),
               (Call("K1", 1, customer_id="c1"), idx["C3_1_2"])]
    for call, node in located:
        predictor.add_call(call.call_id, node, call.t_s)
    assert read_dark(predictor.state).named == {idx["L3_0"], idx["L3_1"]}
    predictor.regroup(located[-1][0].t_s)
    incidents, _ = _read_per_customer(predictor, located, [])
    assert [(net.node_id[i.node_idx], i.call_ids) for i in incidents] == [("T3", ["K0", "K1"])]


def test_dark_probabilities_sum_the_topmost_probabilities_down_a_path() -> None:
    """Down one caller's path the chance that the customers are dark grows by each element's
    chance of being the topmost outage; the caller's own installation adds nothing (their own
    fault leaves the supply on)."""
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    path = tree.chain(net.index_of()["C4"])[::-1]  # F1 J2 J3 T3 L3 SD4, then the customer's own
    shares = [0.1, 0.05, 0.2, 0.0, 0.15, 0.1, 0.2]
    assert len(path) == len(shares)
    dark = dark_probabilities(tree, path, dict(zip(path, shares, strict=True)))
    running = np.cumsum(shares[:-1])
    assert [dark[v] for v in path[:-1]] == pytest.approx(running.tolist())
    assert dark[path[-1]] == pytest.approx(running[-1])
