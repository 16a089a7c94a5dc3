"""Priors per feeder from the calls alone: each feeder's calls per customer over the grid's,
weighed by the estimated call rate, scaling every kind's prior on the feeder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grid_model.feeder_factor import (
    CALLS_PSEUDO,
    COVER_POWER,
    FROM_CALL_RATE,
    PRIOR_HIGH,
    PRIOR_LOW,
    FeederCalls,
    applies,
    calls_intensity,
    feeder_log_odds,
)
from grid_model.network import DeviceKind, NodeKind
from grid_model.posterior import CandidateKind, supply_tree_from_network
from tests.grid_model.feeders import build, feeders_of_buildings


def test_calls_intensity_is_each_feeder_s_calls_per_customer_over_the_grid_s() -> None:
    feeder = np.array([0, 0, 0, 1, 1, 1, 2, -1])
    customers = np.array([0, 1, 2, 3, 4, 5, 7])  # three on feeders 0 and 1, none on 2, one above
    calls = [0, 1, 1, 2, 7]  # four calls from feeder 0, none from 1, one from above the feeders
    lean = CALLS_PSEUDO
    expected = [(4 + lean) / (4 / 6 * 3 + lean), lean / (4 / 6 * 3 + lean), 1.0]
    assert calls_intensity(feeder, customers, calls) == pytest.approx(expected)


def test_the_factor_applies_from_an_estimated_call_rate_on() -> None:
    assert not applies(0.05) and not applies(FROM_CALL_RATE - 1e-9)
    assert applies(FROM_CALL_RATE) and applies(0.3)


def test_feeder_log_odds_scale_each_kind_s_prior_on_its_feeder_and_stay_in_range() -> None:
    """Two feeders: the first's priors doubled, the second's a millionth (kept at PRIOR_LOW); a
    node that is no candidate gets 0."""
    net = feeders_of_buildings(2, transformers=2, outlets=1, drops=2, customers=1)
    tree = supply_tree_from_network(net)
    feeder = net.feeder_idx.astype(np.int64)
    prior = (0.01, 0.02, 0.03, 0.04, 0.3, 0.001)
    got = feeder_log_odds(tree, prior, feeder, np.array([2.0, 1e-6]))

    def odds(p: float) -> float:
        return math.log(p / (1 - p))

    for v in range(net.n_nodes):
        kind = int(tree.kind[v])
        if kind < 0:
            assert got[v] == 0.0
            continue
        scale = 1.0 if feeder[v] < 0 else (2.0, 1e-6)[feeder[v]]
        expected = min(max(prior[kind] * scale, PRIOR_LOW), PRIOR_HIGH)
        assert got[v] == pytest.approx(odds(expected))
    drops = np.flatnonzero((tree.kind == CandidateKind.SERVICE_DROP) & (feeder == 0))
    assert got[drops] == pytest.approx(odds(PRIOR_HIGH))  # 0.3 doubled, kept under a half


def test_candidates_above_every_feeder_keep_their_kind_s_prior() -> None:
    """A fused drop on the substation itself (feeder -1): no feeder's factor reaches it, even
    when the grid has no feeder at all (an empty factor)."""
    net = build([("S1", NodeKind.SUBSTATION, "", DeviceKind.NONE, ""),
                 ("SD1", NodeKind.SERVICE_DROP, "S1", DeviceKind.FUSE, "FU-SD1"),
                 ("MB1", NodeKind.METER_BOX, "SD1", DeviceKind.NONE, ""),
                 ("C1", NodeKind.CUSTOMER, "MB1", DeviceKind.NONE, "")])
    tree = supply_tree_from_network(net)
    prior = (0.01, 0.02, 0.03, 0.04, 0.3, 0.001)
    got = feeder_log_odds(tree, prior, net.feeder_idx.astype(np.int64), np.empty(0))
    drop = net.index_of()["SD1"]
    assert got[drop] == pytest.approx(math.log(0.3 / 0.7))


def test_feeder_calls_give_each_node_the_root_of_its_feeder_s_intensity() -> None:
    """Calls from two customers of feeder 0's 24, kept call by call: the intensity is their
    ``calls_intensity``, each node on feeder 0 gets its ``COVER_POWER``-th power, each on feeder 1
    the other's, the substation (no feeder) 1; a call taken back counts no more; no calls, or a
    grid without feeders, give no intensity, and a scale of 1."""
    net = feeders_of_buildings(2, transformers=2, outlets=2, drops=2, customers=3)
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    feeder = net.feeder_idx.astype(np.int64)
    calling = customers[feeder[customers] == 0][:3].tolist()
    fc = FeederCalls(net)
    for c in calling:
        fc.add(c)
    fc.remove(calling[2])
    scale = fc.cover_scale(np.arange(net.n_nodes))
    intensity = calls_intensity(feeder, customers, calling[:2])
    assert fc.intensity() == pytest.approx(intensity)
    for v in range(net.n_nodes):
        expected = 1.0 if feeder[v] < 0 else float(intensity[feeder[v]]) ** COVER_POWER
        assert scale[v] == pytest.approx(expected)
    assert scale[feeder == 0].min() > 1.0 > scale[feeder == 1].max()
    assert FeederCalls(net).intensity() is None
    no_feeder = build([("S1", NodeKind.SUBSTATION, "", DeviceKind.NONE, ""),
                       ("SD1", NodeKind.SERVICE_DROP, "S1", DeviceKind.FUSE, "FU-SD1"),
                       ("MB1", NodeKind.METER_BOX, "SD1", DeviceKind.NONE, ""),
                       ("C1", NodeKind.CUSTOMER, "MB1", DeviceKind.NONE, "")])
    alone = FeederCalls(no_feeder)
    alone.add(no_feeder.index_of()["C1"])
    assert alone.cover_scale(np.arange(no_feeder.n_nodes)).tolist() == [1.0] * no_feeder.n_nodes
    assert alone.intensity() is None
    alone.remove(no_feeder.index_of()["C1"])
    with pytest.raises(ValueError, match=r"no calling node counted on its feeder -1"):
        alone.remove(no_feeder.index_of()["C1"])


def test_feeder_calls_refuse_to_remove_a_call_not_counted() -> None:
    net = feeders_of_buildings(2, transformers=1, outlets=1, drops=1, customers=2)
    customers = np.flatnonzero(net.kind == NodeKind.CUSTOMER)
    fc = FeederCalls(net)
    fc.add(int(customers[0]))
    fc.remove(int(customers[0]))
    with pytest.raises(ValueError, match=r"no calling node counted on its feeder 0"):
        fc.remove(int(customers[1]))
    assert fc.calls.tolist() == [0, 0]
