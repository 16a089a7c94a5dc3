"""Estimating the posterior's parameters: EM recovers the call rate and the priors of the
kinds that failed on a feeder with known faults; a history turns into priors."""

from __future__ import annotations

import numpy as np
import pytest

from grid_model import _kernels_posterior as kernels
from grid_model.feeder_factor import COVER_POWER, FROM_CALL_RATE, FeederCalls, calls_intensity
from grid_model.network import Network, NodeKind
from grid_model.posterior import (
    CandidateKind,
    MapState,
    OutagePriors,
    PosteriorError,
    SupplyTree,
    supply_tree_from_network,
)
from grid_model.priors import DEFAULT_PRIORS, PriorEstimator, _clip, outages_per_storm, priors_from_history
from tests.grid_model import naive
from tests.grid_model.feeders import feeders_of_buildings, radial_feeder


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_em_recovers_the_call_rate_and_the_fuse_prior_from_the_reports_alone(rate: float) -> None:
    """Eight of 96 LV fuses out on a feeder of 32 transformers, their 20 customers each calling
    at ``rate``, three customers calling about faults of their own: from the default start, EM
    estimates the call rate within a third and the LV fuses' prior well above the transformers'."""
    net = radial_feeder(transformers=32, outlets=3, drops=20)
    idx = net.index_of()
    tree = supply_tree_from_network(net)
    rng = np.random.default_rng(7)
    state = MapState(tree, DEFAULT_PRIORS)
    for i in range(0, 32, 4):
        fuse = f"{i}_{int(rng.integers(0, 3))}"
        for k in range(20):
            if rng.random() < rate:
                state.update(state.chain(idx[f"C{fuse}_{k}"]), call=1)
    for name in ("C3_0_4", "C9_2_7", "C13_1_1"):
        state.update(state.chain(idx[name]), call=1)
    estimator = PriorEstimator(tree, DEFAULT_PRIORS)
    priors = DEFAULT_PRIORS
    for _ in range(20):
        priors = estimator.em_step(state, priors).priors
        state.set_priors(priors)
    assert priors.call_rate == pytest.approx(rate, rel=0.34)
    lv = priors.prior[CandidateKind.LV_FUSE]
    assert lv > 2 * priors.prior[CandidateKind.TRANSFORMER]


def _random_reports(seed: int) -> tuple[SupplyTree, MapState, OutagePriors]:
    """Random calls and last gasps on feeders with one customer per drop (drops counted as the
    customer's own fault), with buildings behind each drop, and with buildings of 70 (past the
    kernel's tables)."""
    rng = np.random.default_rng(seed)
    net = [radial_feeder(transformers=3, outlets=2, drops=4),
           feeders_of_buildings(2, transformers=2, outlets=2, drops=3, customers=2),
           feeders_of_buildings(1, transformers=2, outlets=1, drops=2, customers=70)][seed % 3]
    tree = supply_tree_from_network(net)
    priors = OutagePriors(prior=(0.02, 0.03, 0.04, 0.05, 0.01, 0.004), call_rate=0.3, gasp_rate=0.6)
    state = MapState(tree, priors)
    for c in np.flatnonzero(net.kind == NodeKind.CUSTOMER).tolist():
        if rng.random() < 0.3:
            state.update(state.chain(c), call=1)
        if rng.random() < 0.2:
            state.update(state.chain(c), gasp=1, fresh=int(rng.random() < 0.5))
    return tree, state, priors


@pytest.mark.parametrize("seed", range(6))
def test_the_expected_counts_equal_their_slow_twin(seed: int) -> None:
    """The E step's counts, summed by class of candidate and in one kernel pass, equal a
    candidate-by-candidate sum."""
    tree, state, priors = _random_reports(seed)
    _, counts = PriorEstimator(tree, DEFAULT_PRIORS).expected_counts(state, priors)
    assert counts.tolist() == pytest.approx(naive.expected_counts(tree, state, priors), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_a_scale_on_what_reported_outages_cover_counts_as_their_slow_twin(seed: int) -> None:
    """With a random scale per node (up to 40: past ``PRIOR_HIGH`` for some kinds), the elements
    below each candidate with reports count at their kind's prior times its scale, and only
    those: the other counts stay as without."""
    tree, state, priors = _random_reports(seed)
    scale = np.random.default_rng(100 + seed).uniform(0.2, 40.0, tree.n_nodes)
    estimator = PriorEstimator(tree, DEFAULT_PRIORS)
    _, counts = estimator.expected_counts(state, priors, lambda nodes: scale[nodes])
    slow = naive.expected_counts(tree, state, priors, scale)
    assert counts.tolist() == pytest.approx(slow, rel=1e-9, abs=1e-12)
    _, plain = estimator.expected_counts(state, priors)
    covered = np.arange(kernels.E_COVERED, kernels.E_COVERED + len(CandidateKind))
    assert np.delete(counts, covered).tolist() == np.delete(plain, covered).tolist()
    assert not np.allclose(counts[covered], plain[covered])


def test_a_scale_of_one_counts_as_none_even_for_a_prior_above_the_cap() -> None:
    """A start's prior may lie between ``PRIOR_HIGH`` and a half: scaled by 1, its elements below
    an outage count as they do unscaled, not cut down to the cap."""
    tree, state, _ = _random_reports(1)
    priors = OutagePriors(prior=(0.02, 0.03, 0.04, 0.05, 0.48, 0.004), call_rate=0.3, gasp_rate=0.6)
    estimator = PriorEstimator(tree, DEFAULT_PRIORS)
    _, ones = estimator.expected_counts(state, priors, lambda nodes: np.ones(len(nodes)))
    _, plain = estimator.expected_counts(state, priors)
    assert ones.tolist() == pytest.approx(plain.tolist(), rel=1e-12, abs=1e-15)


def _dark_feeder_and_a_fuse(rate: float) -> tuple[Network, MapState, FeederCalls]:
    """Two feeders of 288 customers: the first dark, the second with one LV outlet of 24 out,
    each dark customer calling at ``rate``; the state and the calls per feeder."""
    net = feeders_of_buildings(2, transformers=6, outlets=2, drops=8, customers=3)
    tree = supply_tree_from_network(net)
    rng = np.random.default_rng(5)
    state = MapState(tree, DEFAULT_PRIORS)
    out = [net.subtree(net.index_of()[name]) for name in ("F0", "L1.0.0")]
    calling = [c for c in np.flatnonzero(net.kind == NodeKind.CUSTOMER).tolist()
               if any(sl.start <= c < sl.stop for sl in out) and rng.random() < rate]
    feeder_calls = FeederCalls(net)
    for c in calling:
        state.update(state.chain(c), call=1)
        feeder_calls.add(c)
    return net, state, feeder_calls


def test_what_a_dark_feeder_covers_counts_at_its_feeder_s_factor() -> None:
    """Under a dark feeder whose calls per customer are the grid's 1.9 times, the transformers,
    fuses and drops it hides count at their prior times the factor's square root: one EM step
    gives them higher priors than without; the feeder's own prior and the call rate do not move."""
    net, state, feeder_calls = _dark_feeder_and_a_fuse(0.3)
    scale = feeder_calls.cover_scale
    f0 = net.index_of()["F0"]
    calling = np.flatnonzero(state.own).tolist()
    feeder_f0 = float(scale(np.array([f0]))[0])
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    intensity = calls_intensity(net.feeder_idx.astype(np.int64), customers, calling)
    assert feeder_f0 == pytest.approx(intensity[0] ** COVER_POWER)
    assert 1.3 < feeder_f0 < 1.45
    estimator = PriorEstimator(state.tree, DEFAULT_PRIORS)
    start = OutagePriors(DEFAULT_PRIORS.prior, call_rate=0.3)
    scaled = estimator.em_step(state, start, cover_scale=scale).priors
    plain = estimator.em_step(state, start).priors
    for kind in (CandidateKind.TRANSFORMER, CandidateKind.LV_FUSE, CandidateKind.SERVICE_DROP):
        assert scaled.prior[kind] > plain.prior[kind]
    # the six transformers under F0 count 0.02 (scale - 1) more each, over 12 transformers and
    # the start's 20 pseudo-elements
    t = CandidateKind.TRANSFORMER
    assert scaled.prior[t] - plain.prior[t] == pytest.approx(6 * 0.02 * (feeder_f0 - 1) / 32, rel=0.1)
    assert scaled.prior[CandidateKind.FEEDER] == plain.prior[CandidateKind.FEEDER]
    assert scaled.call_rate == plain.call_rate


def test_below_the_factor_s_call_rate_the_scale_is_not_used() -> None:
    _, state, feeder_calls = _dark_feeder_and_a_fuse(0.3)
    estimator = PriorEstimator(state.tree, DEFAULT_PRIORS)
    low = OutagePriors(DEFAULT_PRIORS.prior, call_rate=FROM_CALL_RATE / 2)
    scaled = estimator.em_step(state, low, cover_scale=feeder_calls.cover_scale)
    assert scaled == estimator.em_step(state, low)


def test_elements_below_a_dark_feeder_keep_their_prior() -> None:
    """The whole feeder dark, a third of its customers calling: the breaker is out, and nothing is
    seen of the transformers and fuses below it, so EM leaves their priors at the start instead
    of counting them as never out (which drove the priors of kinds that storms often hide under
    a bigger outage, drops most, several times below their share)."""
    net = radial_feeder(transformers=8, outlets=3, drops=10)
    tree = supply_tree_from_network(net)
    rng = np.random.default_rng(3)
    state = MapState(tree, DEFAULT_PRIORS)
    for c in np.flatnonzero(net.kind == NodeKind.CUSTOMER).tolist():
        if rng.random() < 0.3:
            state.update(state.chain(c), call=1)
    estimator = PriorEstimator(tree, DEFAULT_PRIORS)
    priors = DEFAULT_PRIORS
    for _ in range(30):
        priors = estimator.em_step(state, priors).priors
        state.set_priors(priors)
    for kind in (CandidateKind.TRANSFORMER, CandidateKind.LV_FUSE):
        assert priors.prior[kind] == pytest.approx(DEFAULT_PRIORS.prior[kind], rel=0.05)
    assert priors.prior[CandidateKind.FEEDER] > 0.5 * (1 + 20 * DEFAULT_PRIORS.prior[0]) / 21


def test_a_history_gives_outages_per_element_of_each_kind() -> None:
    """Eight transformer outages a storm on 16 transformers: a prior near one half of the
    start's weight-20 mean with 8/16 (the start counts as 20 elements); a feeder never out in
    the history is shrunk toward 0; a kind the history does not name keeps the start's prior."""
    net = radial_feeder(transformers=16, outlets=3, drops=10)
    tree = supply_tree_from_network(net)
    priors = priors_from_history(tree, {CandidateKind.TRANSFORMER: 8.0, CandidateKind.FEEDER: 0.0},
                                 call_rate=0.12)
    start = DEFAULT_PRIORS.prior[CandidateKind.TRANSFORMER]
    assert priors.prior[CandidateKind.TRANSFORMER] == pytest.approx((8 + 20 * start) / (16 + 20))
    assert priors.prior[CandidateKind.FEEDER] == pytest.approx(20 * DEFAULT_PRIORS.prior[0] / (1 + 20))
    for kind in (CandidateKind.LV_FUSE, CandidateKind.SERVICE_DROP, CandidateKind.CUSTOMER_SIDE):
        assert priors.prior[kind] == pytest.approx(DEFAULT_PRIORS.prior[kind])
    assert priors.call_rate == 0.12
    assert int((net.kind == NodeKind.TRANSFORMER).sum()) == tree.n_of_kind[CandidateKind.TRANSFORMER]
    with pytest.raises(PosteriorError, match="call rate must lie in"):
        priors_from_history(tree, {}, call_rate=1.5)
    with pytest.raises(PosteriorError, match="kind transformer must be 0 or more, got -1"):
        priors_from_history(tree, {CandidateKind.TRANSFORMER: -1.0}, call_rate=0.1)


def test_a_historys_extents_count_per_storm_by_kind() -> None:
    extents = ["transformer"] * 5 + ["service_drop"] * 3 + ["feeder"]
    assert outages_per_storm(extents, 2) == {CandidateKind.FEEDER: 0.5, CandidateKind.MV_DEVICE: 0.0,
                                             CandidateKind.TRANSFORMER: 2.5, CandidateKind.SERVICE_DROP: 1.5}
    with pytest.raises(PosteriorError, match="unknown extent 'lv_fuse'"):
        outages_per_storm(["lv_fuse"], 1)
    for storms in (0, -1, float("inf"), float("nan")):
        with pytest.raises(PosteriorError, match="a positive number of storms"):
            outages_per_storm(extents, storms)


def test_the_scalar_clip_is_numpys() -> None:
    """Bounds, infinities, NaN and signed zeros: ``_clip`` returns what ``np.clip`` does."""
    values = [-1.0, -0.0, 0.0, 5e-324, 1e-7, 1e-6, 0.01, 0.3, 0.45, 0.5, 0.95, 1.0, np.inf, -np.inf, np.nan]
    for lo, hi in ((1e-6, 0.45), (0.0, 0.95), (-0.0, 0.5), (0.01, 0.95)):
        for x in values:
            ours, theirs = _clip(x, lo, hi), float(np.clip(x, lo, hi))
            same = ours == theirs and np.signbit(ours) == np.signbit(theirs)
            assert same or (np.isnan(ours) and np.isnan(theirs))
