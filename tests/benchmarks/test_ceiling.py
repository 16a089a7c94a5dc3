"""The ceiling suite's MAP with a prior per element: the batch MAP's choice when every element
of a kind has that kind's prior, and the best of every joint state on a small feeder when the
priors are any in (0, 1)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from benchmarks.run_predict import _map_per_element
from grid_model.network import Network, NodeKind
from grid_model.posterior import (
    CandidateKind,
    OutagePriors,
    Reports,
    SupplyTree,
    map_outages,
    supply_tree_from_network,
)
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build, feeders_of_buildings


def _customers(net: Network) -> list[int]:
    return [v for v in range(net.n_nodes) if net.kind[v] == NodeKind.CUSTOMER]


@pytest.mark.parametrize("seed", range(8))
def test_per_kind_priors_read_per_element_choose_the_batch_map_s_outages(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = feeders_of_buildings(3) if seed % 2 else build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = _customers(net)
    priors = OutagePriors(prior=tuple(float(x) for x in rng.uniform(0.002, 0.45, len(CandidateKind))),
                          call_rate=float(rng.uniform(0.05, 0.6)))
    calls = sorted(int(c) for c in rng.choice(customers, max(1, len(customers) // 5), replace=False))
    kind_odds = np.log(np.asarray(priors.prior) / (1 - np.asarray(priors.prior)))
    log_odds = np.where(tree.kind >= 0, kind_odds[tree.kind], 0.0)
    post = map_outages(tree, Reports.of(calls=calls), priors)
    assert post.outages
    expected = {o.node_idx for o in post.outages if o.kind != CandidateKind.CUSTOMER_SIDE}
    assert _map_per_element(tree, calls, log_odds, priors.call_rate) == expected


def _joint_map(net: Network, tree: SupplyTree, calls: set[int], log_odds: np.ndarray, p: float) -> set[int]:
    """Every state of every candidate (a customer's: their own fault), scored against nothing out:
    the topmost utility elements out of the best, on the supply paths of the calls."""
    cands = [v for v in range(net.n_nodes) if tree.kind[v] >= 0]
    utility = {v for v in cands if tree.kind[v] != CandidateKind.CUSTOMER_SIDE}
    chains = {c: tree.chain(c) for c in _customers(net)}
    best, best_out = -math.inf, frozenset[int]()
    for bits in itertools.product((False, True), repeat=len(cands)):
        out = frozenset(v for v, b in zip(cands, bits, strict=True) if b)
        score = sum(float(log_odds[v]) for v in out)
        for c, chain in chains.items():
            if any(v in out for v in chain[1:]):
                score += math.log(p) if c in calls else math.log1p(-p)
            elif (c in calls) != (c in out):  # supply on: a call is the customer's own fault
                score = -math.inf
                break
        if score > best:
            best, best_out = score, out
    on_chains = {v for c in calls for v in chains[c]}
    return {v for v in best_out & utility & on_chains if not any(u in best_out for u in tree.chain(v)[1:])}


@pytest.mark.parametrize("seed", range(10))
def test_per_element_priors_choose_the_best_joint_state(seed: int) -> None:
    """Log-odds drawn in (-5, 3) per element: above 0, nested and silent elements are likelier
    out than not, which the max pass must count."""
    rng = np.random.default_rng(100 + seed)
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = _customers(net)
    log_odds = rng.uniform(-5.0, 3.0, net.n_nodes)
    p = float(rng.uniform(0.1, 0.6))
    calls = {int(c) for c in customers if rng.random() < 0.5} or {customers[0]}
    assert _map_per_element(tree, sorted(calls), log_odds, p) == _joint_map(net, tree, calls, log_odds, p)
