"""The posterior DP against brute-force enumeration on the hand-built feeder, the incremental
state against the batch DP, and the refusals of bad input."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from grid_model.network import Network, NodeKind
from grid_model.posterior import (
    CandidateKind,
    MapState,
    OutagePriors,
    PosteriorError,
    Reports,
    Scorer,
    map_outages,
    supply_tree_from_network,
)
from tests.grid_model import naive
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build, feeders_of_buildings, radial_feeder
from tests.grid_model.naive import brute_force_posterior

PRIORS = OutagePriors(prior=(0.02, 0.03, 0.04, 0.05, 0.01, 0.004), call_rate=0.3)


def _customers(net):  # type: ignore[no-untyped-def]
    return [v for v in range(net.n_nodes) if net.kind[v] == NodeKind.CUSTOMER]


@pytest.mark.parametrize("seed", range(12))
def test_map_and_marginals_equal_brute_force_enumeration(seed: int) -> None:
    """On random reports, priors and rates, the DP's MAP set and score equal the best of every
    antichain of outages, and its posterior probabilities equal the enumerated ones."""
    rng = np.random.default_rng(seed)
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = _customers(net)
    calls = {int(c) for c in customers if rng.random() < 0.5} or {customers[0]}
    gasps = {int(c) for c in customers if rng.random() < 0.3} if seed % 2 else set()
    stale = {gasps.pop()} if len(gasps) > 1 else set()
    priors = OutagePriors(prior=tuple(float(x) for x in rng.uniform(0.005, 0.2, 6)),
                          call_rate=float(rng.uniform(0.05, 0.6)), gasp_rate=0.8 if gasps or stale else 0.0)
    devices = [v for v in range(net.n_nodes) if 0 <= tree.kind[v] < CandidateKind.CUSTOMER_SIDE]
    forbidden = {int(rng.choice(devices))} if seed % 3 == 0 else set()
    reports = Reports.of(sorted(calls), sorted(gasps), sorted(stale))
    post = map_outages(tree, reports, priors, forbidden=forbidden)
    best, chosen, marg = brute_force_posterior(net, tree, calls, gasps, priors, stale=stale,
                                               forbidden=forbidden)
    utility_chosen = {o.node_idx for o in post.outages if o.kind != CandidateKind.CUSTOMER_SIDE}
    assert utility_chosen == set(chosen)
    assert post.log_score == pytest.approx(best, abs=1e-6)
    reported = {v for c in calls | gasps | stale for v in tree.chain(c)}
    assert set(post.top_probability) == reported  # the DP visits the chains of reports only
    for v in reported:
        assert post.top_probability[v] == pytest.approx(marg[v], abs=1e-9)


def test_a_lone_caller_behind_an_lv_fuse_is_customer_side_or_the_fuse_by_the_priors() -> None:
    """One call, nobody else under the fuse: the posterior splits between the caller's own
    installation, their drop and the fuse (and the devices above it, which darken the same
    customers); the silent neighbours weigh against the fuse and the drop."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    tree = supply_tree_from_network(net)
    priors = OutagePriors(prior=(0.02, 0.03, 0.04, 0.05, 0.01, 0.02), call_rate=0.3)
    post = map_outages(tree, Reports.of([idx["C4"]]), priors)
    p_cs, p_drop, p_fuse = (post.top_probability[idx[n]] for n in ("C4", "SD4", "L3"))
    # odds against nothing out: customer-side 0.02/0.98; drop (2 customers) 0.01/0.99 * 0.3 * 0.7;
    # fuse (3 customers) 0.05/0.95 * 0.3 * 0.7^2
    odds = {"cs": 0.02 / 0.98, "drop": 0.01 / 0.99 * 0.3 * 0.7, "fuse": 0.05 / 0.95 * 0.3 * 0.49}
    assert p_cs > p_fuse > p_drop
    assert p_cs / p_fuse == pytest.approx(odds["cs"] / odds["fuse"], rel=0.03)
    assert p_fuse / p_drop == pytest.approx(odds["fuse"] / odds["drop"], rel=0.03)
    assert [o.kind for o in post.outages] == [CandidateKind.CUSTOMER_SIDE]
    assert post.outages[0].explains == (idx["C4"],)


def test_a_last_gasp_rules_out_the_transformer_and_the_customers_own_fault() -> None:
    """A gasp with both customers of the drop calling: the drop (below the transformer) is out,
    never the transformer above, whose concentrator passed the gasp on."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    tree = supply_tree_from_network(net)
    priors = OutagePriors(prior=(0.02, 0.03, 0.3, 0.05, 0.01, 0.004), call_rate=0.3, gasp_rate=0.8)
    post = map_outages(tree, Reports.of([idx["C4"], idx["C5"]], [idx["C4"]]), priors)
    assert [net.node_id[o.node_idx] for o in post.outages] == ["SD4"]
    stale = map_outages(tree, Reports.of([idx["C4"], idx["C5"]], stale_gasps=[idx["C4"]]), priors)
    assert [net.node_id[o.node_idx] for o in stale.outages] == ["T3"]  # a stale gasp proves nothing above


def test_the_incremental_state_equals_the_batch_dp_after_adds_and_removals() -> None:
    """Reports added one by one, one removed, and the priors changed: every candidate's scores
    and the MAP top of each chain agree with a fresh batch DP."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    tree = supply_tree_from_network(net)
    state = MapState(tree, PRIORS)
    for name in ("C1", "C3", "C4", "C5"):
        state.update(state.chain(idx[name]), call=1)
    state.update(state.chain(idx["C1"]), call=-1)
    state.set_priors(OutagePriors(prior=(0.02, 0.03, 0.04, 0.3, 0.01, 0.004), call_rate=0.2))
    post = map_outages(tree, Reports.of([idx["C3"], idx["C4"], idx["C5"]]), state.priors)
    for name in ("C3", "C4", "C5"):
        chain = state.chain(idx[name])
        assert any(state.top(chain) == o.node_idx for o in post.outages)
    assert state.active().tolist() == sorted(set(state.chain(idx["C3"]) + state.chain(idx["C4"])
                                                 + state.chain(idx["C5"])))
    act, prob, _ = state.marginals(state.priors)
    assert dict(zip(act.tolist(), prob.tolist(), strict=True)) == pytest.approx(
        {v: post.top_probability[v] for v in act.tolist()})


@pytest.mark.parametrize("net", [build(TWO_FAULTS_IN_SERIES), radial_feeder(transformers=3, outlets=2),
                                 feeders_of_buildings(2, transformers=2, outlets=1, drops=2, customers=70)])
def test_the_supply_tree_and_the_silent_sums_equal_their_slow_twins(net: Network) -> None:
    """The kernels' candidate parents and depths equal a walk up from every node; their sums
    over silent subtrees, and the prior's normaliser, equal a recursion over the candidate tree
    (drops of 70 customers too: past the kernel's tables)."""
    tree = supply_tree_from_network(net)
    above, depth = naive.candidate_parents(net, (tree.kind >= 0).tolist())
    assert tree.parent.tolist() == above and tree.depth.tolist() == depth
    priors = OutagePriors(prior=(0.02, 0.03, 0.04, 0.05, 0.01, 0.004), call_rate=0.3, gasp_rate=0.6)
    z, kids, normaliser = Scorer(priors).silent(tree)
    z_ref, kids_ref, normaliser_ref = naive.silent_sums(tree, priors)
    column = tree.utility_position
    assert z[column].tolist() == pytest.approx(z_ref, abs=1e-12)
    assert kids[column].tolist() == pytest.approx(kids_ref, abs=1e-12)
    assert normaliser == pytest.approx(normaliser_ref, rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_reports_added_and_taken_back_keep_the_incremental_state_equal_to_the_batch_dp(seed: int) -> None:
    """Calls and last gasps added, gone stale and taken back in random order, with a device a
    crew has just restored: after each change, the incremental scores equal a batch rescore,
    each unit's MAP outage is the batch DP's, and the marginals are the batch DP's."""
    rng = np.random.default_rng(seed)
    net = build(TWO_FAULTS_IN_SERIES) if seed % 2 else radial_feeder(transformers=3, outlets=2, drops=3)
    tree = supply_tree_from_network(net)
    customers = _customers(net)
    priors = OutagePriors(prior=tuple(float(x) for x in rng.uniform(0.005, 0.2, 6)),
                          call_rate=float(rng.uniform(0.05, 0.6)), gasp_rate=0.7)
    state = MapState(tree, priors)
    devices = [v for v in range(net.n_nodes) if 0 <= tree.kind[v] < CandidateKind.CUSTOMER_SIDE]
    restored = int(rng.choice(devices))
    state.now_s, state.forbidden_until[restored] = 50, 100
    units: dict[int, list[bool]] = {}  # call, gasp, fresh gasp
    for _ in range(30):
        c = int(rng.choice(customers))
        call, gasp, fresh = units.get(c, [False, False, False])
        move = int(rng.integers(4))
        if move == 0 and not call:
            state.report(c, call=1)
            call = True
        elif move == 1 and not gasp:
            state.report(c, gasp=1, fresh=1)
            gasp = fresh = True
        elif move == 2 and fresh:
            state.report(c, fresh=-1)
            fresh = False
        elif move == 3 and c in units:
            state.report(c, call=-call, gasp=-gasp, fresh=-fresh)
            call = gasp = fresh = False
        units[c] = [call, gasp, fresh]
        units = {u: f for u, f in units.items() if f[0] or f[1]}
        scores = state.out_s.copy(), state.in_s.copy(), state.child_sum.copy()
        state.rescore_all()
        for incremental, batch in zip(scores, (state.out_s, state.in_s, state.child_sum), strict=True):
            assert incremental == pytest.approx(batch, abs=1e-9)
        nodes = sorted(units)
        post = map_outages(tree, Reports(np.asarray(nodes, dtype=np.int64),
                                         np.asarray([units[u][0] for u in nodes], dtype=bool),
                                         np.asarray([units[u][1] for u in nodes], dtype=bool),
                                         np.asarray([units[u][2] for u in nodes], dtype=bool)),
                           priors, forbidden={restored})
        explained = {u: o.node_idx for o in post.outages for u in o.explains}
        for u in nodes:
            chain = state.chain(u)
            assert state.top(chain) == explained.get(u, chain[0])
        act, prob, _ = state.marginals(priors)
        assert dict(zip(act.tolist(), prob.tolist(), strict=True)) == pytest.approx(
            {v: post.top_probability[v] for v in act.tolist()}, abs=1e-9)
        assert set(act.tolist()) == set(post.top_probability)


@pytest.mark.parametrize("gasp_rate", [0.0, 0.7])
def test_the_likelihood_of_the_reports_sums_to_one_over_everything_that_can_be_reported(
        gasp_rate: float) -> None:
    """Every customer of the feeder calling or not (and sending a last gasp or not, with AMI):
    the probabilities the state gives the reports add up to one, so two sets of parameters can be
    compared by them; one of them equals the brute-force sum over every set of outages."""
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    customers = _customers(net)
    priors = OutagePriors(prior=(0.05, 0.1, 0.2, 0.15, 0.3, 0.1), call_rate=0.35, gasp_rate=gasp_rate)
    choices = (0, 1, 2, 3) if gasp_rate else (0, 1)  # bit 0: calls, bit 1: sends a last gasp
    total = 0.0
    for combo in itertools.product(choices, repeat=len(customers)):
        state = MapState(tree, priors)
        for c, r in zip(customers, combo, strict=True):
            if r:
                state.report(c, call=r & 1, gasp=r >> 1, fresh=r >> 1)
        total += math.exp(state.marginals(priors).log_likelihood)
    assert total == pytest.approx(1.0, abs=1e-9)
    calls = {customers[0], customers[3], customers[4]}
    no_ami = dataclasses.replace(priors, gasp_rate=0.0)
    state = MapState(tree, no_ami)
    for c in calls:
        state.report(c, call=1)
    assert state.marginals(no_ami).log_likelihood == pytest.approx(
        naive.log_likelihood(net, tree, calls, no_ami), abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_a_marked_report_reads_the_highest_mark_at_or_above_its_map_outage(seed: int) -> None:
    """``report_marked`` changes the state as ``report`` does, and returns its MAP outage and the
    mark of the highest marked candidate on the chain at or above it, as a scan of the chain."""
    rng = np.random.default_rng(seed)
    net = radial_feeder(transformers=4, outlets=2, drops=3)
    tree = supply_tree_from_network(net)
    marked, plain = MapState(tree, PRIORS), MapState(tree, PRIORS)
    marks = np.full(net.n_nodes, -1, dtype=np.int64)
    for k, c in enumerate(rng.permutation(_customers(net)).tolist()):
        if rng.random() < 0.3:
            marks[int(rng.choice(tree.chain(c)))] = k
        top, mark = marked.report_marked(c, marks, call=1, margin=0.5)
        chain, plain_top = plain.report(c, call=1, margin=0.5)
        assert top == plain_top
        above = chain[chain.index(top):]
        assert mark == next((int(marks[v]) for v in reversed(above) if marks[v] >= 0), -1)
        assert (marked.out_s == plain.out_s).all() and (marked.k == plain.k).all()


def test_bad_input_is_refused_with_a_clear_error() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    tree = supply_tree_from_network(net)
    with pytest.raises(PosteriorError, match="call rate must lie in"):
        OutagePriors(prior=PRIORS.prior, call_rate=1.0)
    with pytest.raises(PosteriorError, match="call rate must lie in"):
        OutagePriors(prior=PRIORS.prior, call_rate=0.0)
    with pytest.raises(PosteriorError, match="prior of transformer must lie in"):
        OutagePriors(prior=(0.02, 0.03, 0.6, 0.05, 0.01, 0.004), call_rate=0.3)
    with pytest.raises(PosteriorError, match="one prior per candidate kind"):
        OutagePriors(prior=(0.02,), call_rate=0.3)
    with pytest.raises(PosteriorError, match=r"node 99, which is not in the network"):
        map_outages(tree, Reports.of([99]), PRIORS)
    with pytest.raises(PosteriorError, match="node -1 is not in the network"):
        MapState(tree, PRIORS).chain(-1)
    with pytest.raises(PosteriorError, match="node 99 is not in the network"):
        MapState(tree, PRIORS).report(99, call=1)
