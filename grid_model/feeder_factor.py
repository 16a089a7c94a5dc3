"""Priors that vary by feeder, read off the calls alone: a storm's damage is dense along its
track, which one prior per kind over the grid cannot say. Each feeder's calls per customer over
the grid's (``calls_intensity``) scale every kind's prior on it, for the batch's reading per
customer (``grid_model.incidents``). (To the power 1.5 it read the tuned storms better still, but
cost the SimBench grids' scattered faults: ``benchmarks/README.md``.)

Only where the calls are many enough: at low call rates the factor reads a tripped feeder's
callers as many small faults (the customers-out F1 on the tuned generated storms at 5 % calls
fell from 0.44 to 0.33 with it), so it applies from an estimated call rate of ``FROM_CALL_RATE``
(tuned on storms 1, 4, 5, 8-12 against a weight ramping from 0.10 to 0.20; ``benchmarks/README.md``).

From the same call rate, the estimation counts what lies below a reported outage (out or not,
unseen) at its kind's prior times the outage's feeder's factor to the power ``COVER_POWER``, kept
under ``PRIOR_HIGH`` (``FeederCalls.cover_scale``, read by ``PriorEstimator.em_step``): a storm
hides the elements it damages most under the outages where it is densest, and counted at the
prior over the grid the drops came out at a third to two thirds of their share (tuned storms 1
and 4 at 30 % calls).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from grid_model.network import Network, NodeKind
from grid_model.posterior import SupplyTree

CALLS_PSEUDO = 0.5  # calls: a feeder's calls per customer lean this much on the grid's
PRIOR_LOW, PRIOR_HIGH = 1e-6, 0.45  # a scaled prior is kept inside the range of ``OutagePriors``
FROM_CALL_RATE = 0.15
# The factor's power on what an outage covers. A tripped feeder's own calls make its factor, so the
# whole factor counts them twice. Tuned storms against none: at 1 two of eight lost device match
# at 20 % calls (storm 1 0.79 to 0.61); at 0.75 one (storm 10 0.71 to 0.63, against 0.5); at 0.5
# none at 20 or 30 %; 0.35 gained less at 30 % on all eight (``benchmarks/README.md``).
COVER_POWER = 0.5


def calls_intensity(feeder: npt.NDArray[np.int64], customer_nodes: npt.NDArray[np.int64],
                    nodes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per feeder, its calls per customer over the grid's, leaning on the grid's by
    ``CALLS_PSEUDO`` calls (1 for a feeder without calls and customers): how much more of it the
    calls say is dark than of the grid on the average. ``feeder``: per node its feeder;
    ``nodes``: where each call came from."""
    n_feeders = int(feeder.max()) + 1
    of_call = feeder[np.asarray(nodes, dtype=np.int64)]
    calls = np.bincount(of_call[of_call >= 0], minlength=n_feeders)
    return _intensity(calls, _customers_per_feeder(feeder, customer_nodes))


def _customers_per_feeder(feeder: npt.NDArray[np.int64], customer_nodes: npt.NDArray[np.int64]
                          ) -> npt.NDArray[np.int64]:
    """Per feeder its customers; those above every feeder (-1: fed from the substation) are not
    counted, nor their calls."""
    of_customer = feeder[customer_nodes]
    return np.bincount(of_customer[of_customer >= 0], minlength=int(feeder.max()) + 1)


def _intensity(calls: npt.NDArray[np.int64], customers: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``calls_intensity`` from the calls and customers per feeder."""
    per_customer = int(calls.sum()) / max(1, int(customers.sum()))
    return (calls + CALLS_PSEUDO) / (per_customer * customers + CALLS_PSEUDO)


class FeederCalls:
    """The calling nodes (each once, as the evidence counts them) counted per feeder as they come
    and go, so that the factor of the moment costs a pass over the feeders, not over the grid:
    the live predictor estimates its parameters often (``cover_scale``) and reads its reports
    with the factor at each regrouping (``intensity``)."""

    def __init__(self, net: Network) -> None:
        self.feeder = net.feeder_idx.astype(np.int64)
        self.customers = _customers_per_feeder(self.feeder, np.flatnonzero(net.kind == NodeKind.CUSTOMER))
        self.calls = np.zeros(len(self.customers), dtype=np.int64)
        self.calling = 0  # every calling node, those above every feeder too

    def add(self, node: int) -> None:
        """A calling node more."""
        self.calling += 1
        f = self.feeder.item(node)
        if f >= 0:
            self.calls[f] += 1

    def remove(self, node: int) -> None:
        """A calling node less; refused where its feeder (or the grid, above every feeder) has
        no calling node counted (the counts would no longer be the predictor's callers)."""
        f = self.feeder.item(node)
        if self.calling == 0 or (f >= 0 and self.calls[f] == 0):
            raise ValueError(f"node {node}: no calling node counted on its feeder {f}")
        self.calling -= 1
        if f >= 0:
            self.calls[f] -= 1

    def intensity(self) -> npt.NDArray[np.float64] | None:
        """``calls_intensity`` of the calling nodes counted, or None where it cannot be read: no
        calls, or a grid without feeders."""
        if self.calling == 0 or len(self.customers) == 0:
            return None
        return _intensity(self.calls, self.customers)

    def cover_scale(self, nodes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Per node of ``nodes``, what the estimation multiplies the prior of the elements below
        an outage there by: its feeder's ``calls_intensity`` to the power ``COVER_POWER`` (1
        above every feeder)."""
        return node_factor(self.feeder[nodes], _intensity(self.calls, self.customers)) ** COVER_POWER


def node_factor(feeder: npt.NDArray[np.int64], factor: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per node, its feeder's ``factor`` (1 above the feeders, ``feeder`` -1)."""
    scale = np.ones(len(feeder))
    on_feeder = feeder >= 0
    scale[on_feeder] = factor[feeder[on_feeder]]
    return scale


def applies(call_rate: float) -> bool:
    """Whether the feeders' factor applies at this estimated call rate."""
    return call_rate >= FROM_CALL_RATE


def feeder_log_odds(tree: SupplyTree, prior: tuple[float, ...], feeder: npt.NDArray[np.int64],
                    factor: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per node, the log-odds of its candidate kind's ``prior`` times its feeder's ``factor``
    (1 above the feeders, ``feeder`` -1), kept between ``PRIOR_LOW`` and ``PRIOR_HIGH`` (0 for a
    node that is no candidate)."""
    pi = np.clip(np.asarray(prior)[np.maximum(tree.kind, 0)] * node_factor(feeder, factor), PRIOR_LOW,
                 PRIOR_HIGH)
    return np.where(tree.kind >= 0, np.log(pi) - np.log1p(-pi), 0.0)
