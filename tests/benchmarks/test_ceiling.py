"""The ceiling suite's readings with a prior per element: with every element of a kind at that
kind's prior the MAP is the batch MAP's (``map_outages``), and with any priors in (0, 1) the MAP,
the probabilities of being the topmost outage and the expected-match choice are what enumerating
every joint state of a small feeder gives. (The probabilities are not ``map_outages``'s: its prior
is over sets of topmost outages, while here every element is out independently, as in the
storms, so an outage leaves what is nested below it free: a factor ``1 / (1 - pi)`` each.)"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from benchmarks.run_predict import (
    _by_feeder,
    _customers_out,
    _dark_at_least_half,
    _dark_utility,
    _expected_match_per_element,
    _map_per_element,
    _node_log_odds,
)
from grid_model.dark import chain_scores, evidence_of_calls, topmost_probabilities
from grid_model.network import Network
from grid_model.posterior import (
    CandidateKind,
    OutagePriors,
    Reports,
    SupplyTree,
    map_outages,
    supply_tree_from_network,
)
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build, feeders_of_buildings
from tests.grid_model.joint import customer_nodes, joint_states


@pytest.mark.parametrize("seed", range(8))
def test_per_kind_priors_read_per_element_choose_the_batch_map_s_outages(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = feeders_of_buildings(3) if seed % 2 else build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = customer_nodes(net)
    priors = OutagePriors(prior=tuple(float(x) for x in rng.uniform(0.002, 0.45, len(CandidateKind))),
                          call_rate=float(rng.uniform(0.05, 0.6)))
    calls = sorted(int(c) for c in rng.choice(customers, max(1, len(customers) // 5), replace=False))
    kind_odds = np.log(np.asarray(priors.prior) / (1 - np.asarray(priors.prior)))
    log_odds = np.where(tree.kind >= 0, kind_odds[tree.kind], 0.0)
    post = map_outages(tree, Reports.of(calls=calls), priors)
    assert post.outages
    expected = {o.node_idx for o in post.outages if o.kind != CandidateKind.CUSTOMER_SIDE}
    assert _map_per_element(tree, calls, log_odds, priors.call_rate) == expected


def _case(seed: int) -> tuple[Network, SupplyTree, set[int], np.ndarray, float]:
    """The two-faults feeder, log-odds drawn in (-5, 3) per element (above 0, nested and silent
    elements are likelier out than not, which the passes must count), calls and a call rate."""
    rng = np.random.default_rng(100 + seed)
    net = build(TWO_FAULTS_IN_SERIES)
    customers = customer_nodes(net)
    log_odds = rng.uniform(-5.0, 3.0, net.n_nodes)
    p = float(rng.uniform(0.1, 0.6))
    calls = {int(c) for c in customers if rng.random() < 0.5} or {customers[0]}
    return net, supply_tree_from_network(net), calls, log_odds, p


@pytest.mark.parametrize("seed", range(10))
def test_per_element_priors_choose_the_best_joint_state(seed: int) -> None:
    net, tree, calls, log_odds, p = _case(seed)
    joint = joint_states(net, tree, calls, log_odds, p)
    best = int(np.argmax(joint.log_weight))
    on_chains = {v for c in calls for v in tree.chain(c)}
    expected = {v for v, top in joint.topmost.items() if top[best] and v in on_chains}
    assert _map_per_element(tree, sorted(calls), log_odds, p) == expected


@pytest.mark.parametrize("seed", range(10))
def test_the_dark_reading_names_the_topmost_elements_whose_customers_are_dark_at_least_half_the_time(
        seed: int) -> None:
    """An element's customers are dark in the joint states where it or an element above it is out
    (as the topmost outage of the path); the reading names the topmost of the elements on the
    calls' chains where those states hold half the weight or more."""
    net, tree, calls, log_odds, p = _case(seed)
    joint = joint_states(net, tree, calls, log_odds, p)
    weight = np.exp(joint.log_weight - joint.log_weight.max())
    on_chains = sorted({v for c in calls for v in tree.chain(c)})

    def dark(v: int) -> float:
        states = np.any([joint.topmost[u] for u in tree.chain(v) if u in joint.topmost], axis=0)
        return float(weight[states].sum() / weight.sum())

    half = [v for v in on_chains if v in joint.topmost and dark(v) >= 0.5]
    expected = {v for v in half if not any(u in half for u in tree.chain(v)[1:])}
    assert _dark_at_least_half(tree, sorted(calls), log_odds, p) == expected


def test_node_log_odds_read_each_candidate_s_kind_in_its_group_and_refuse_a_group_without_priors() -> None:
    net = feeders_of_buildings(3)
    tree = supply_tree_from_network(net)
    cand = np.flatnonzero(tree.kind >= 0)
    group = np.zeros(net.n_nodes, dtype=np.int64)
    group[cand[::2]] = 1
    priors = {g: OutagePriors(prior=tuple(0.01 * (g + 1) * (k + 1) for k in range(len(CandidateKind))),
                              call_rate=0.2) for g in (0, 1)}
    got = _node_log_odds(tree, priors, group)
    for v in cand.tolist():
        pi = priors[int(group[v])].prior[int(tree.kind[v])]
        assert got[v] == pytest.approx(math.log(pi / (1 - pi)))
    with pytest.raises(ValueError, match=r"no priors for groups \[1\]"):
        _node_log_odds(tree, {0: priors[0]}, group)


def test_the_dark_reading_sums_the_topmost_probabilities_down_a_path_and_names_no_customer() -> None:
    """The candidates on one customer's path, the customer's own installation last: an element
    is named when it and the elements above it hold half the probability or more of being the
    topmost outage, the highest such; a customer's own fault makes no one dark."""
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    path = tree.chain(customer_nodes(net)[0])[::-1]  # from the top down, the customer's own last
    assert tree.kind[path[-1]] == CandidateKind.CUSTOMER_SIDE and len(path) >= 3
    top, second = path[0], path[1]

    def named(*shares: float) -> set[int]:
        top_p = dict.fromkeys(path, 0.0) | dict(zip(path, shares, strict=False))
        return _dark_utility(tree, sorted(path), top_p)

    assert named(0.3, 0.25) == {second}
    assert named(0.5, 0.25) == {top}
    assert named(0.2, 0.2) == set()
    assert named(*([0.0] * (len(path) - 1) + [0.9])) == set()


@pytest.mark.parametrize("seed", range(10))
def test_per_element_top_probabilities_and_the_expected_match_equal_enumeration(seed: int) -> None:
    """Each candidate's probability of being the topmost outage is its share of the joint states'
    weight; the expected-match choice is the set of elements, none nested in another, with the
    largest sum of those probabilities over the elements with two calls below or more."""
    net, tree, calls, log_odds, p = _case(seed)
    joint = joint_states(net, tree, calls, log_odds, p)
    weight = np.exp(joint.log_weight - joint.log_weight.max())
    ev = evidence_of_calls(tree, sorted(calls))
    s = chain_scores(tree, ev, log_odds, p, np.logaddexp)
    top_p = topmost_probabilities(tree, s)
    for v in s.chains.tolist():
        if tree.kind[v] != CandidateKind.CUSTOMER_SIDE:
            assert top_p[v] == pytest.approx(weight[joint.topmost[v]].sum() / weight.sum(), abs=1e-9)
    counted = [v for v in s.chains.tolist()
               if ev.calls[v] >= 2 and tree.kind[v] != CandidateKind.CUSTOMER_SIDE]
    antichains = (set(a) for r in range(len(counted) + 1) for a in itertools.combinations(counted, r)
                  if not any(u != v and u in tree.chain(v) for u in a for v in a))
    best = max(antichains, key=lambda a: sum(top_p[v] for v in a))
    chosen = _expected_match_per_element(tree, sorted(calls), log_odds, p)
    assert sum(top_p[v] for v in chosen) == pytest.approx(sum(top_p[v] for v in best), abs=1e-12)
    assert chosen == best


def test_priors_by_feeder_scale_every_kind_and_stay_in_range() -> None:
    priors = OutagePriors(prior=(0.01, 0.02, 0.03, 0.04, 0.2, 0.001), call_rate=0.3)
    by_feeder = _by_feeder(priors, np.array([2.0, 0.5, 1e-9]))
    assert by_feeder[0].prior == pytest.approx((0.02, 0.04, 0.06, 0.08, 0.4, 0.002))
    assert by_feeder[1].prior == pytest.approx((0.005, 0.01, 0.015, 0.02, 0.1, 0.0005))
    assert by_feeder[2].prior == pytest.approx((1e-6,) * 6)
    assert _by_feeder(priors, np.array([5.0]))[0].prior[4] == 0.45
    assert all(p.call_rate == 0.3 for p in by_feeder.values())


def test_customers_out_counts_the_customers_below_what_is_named() -> None:
    """T3 (C3, C4, C5) and L1 (C1, C2) out, only T3 reported: naming L3 and SD1, or the feeder
    breaker, names every dark customer and no lit one (the recall ceiling: 3 of 5 sent a
    report); with T3 alone out, naming T1 and SD4 names C1, C2 (lit) and C4, C5 (dark)."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    node_of = np.array(customer_nodes(net))
    ops = [idx["T3"], idx["L1"]]
    assert _customers_out(net, node_of, ops, [idx["T3"]], [idx["L3"], idx["SD1"]]) == (1.0, 1.0, 1.0, 0.6)
    assert _customers_out(net, node_of, ops, [idx["T3"]], [idx["F1"]]) == (1.0, 1.0, 1.0, 0.6)
    precision, recall, f1, _ = _customers_out(net, node_of, [idx["T3"]], [idx["T3"]], [idx["T1"], idx["SD4"]])
    assert (precision, recall) == (2 / 4, 2 / 3) and f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
