"""Priors that vary by feeder, read off the calls alone: a storm's damage is dense along its
track, which one prior per kind over the grid cannot say. Each feeder's calls per customer over
the grid's (``calls_intensity``) scale every kind's prior on it, for the batch's reading per
customer (``grid_model.incidents``). (To the power 1.5 it read the tuned storms better still, but
cost the SimBench grids' scattered faults: ``benchmarks/README.md``.)

Only where the calls are many enough: at low call rates the factor reads a tripped feeder's
callers as many small faults (the customers-out F1 on the tuned generated storms at 5 % calls
fell from 0.44 to 0.33 with it), so it applies from an estimated call rate of ``FROM_CALL_RATE``
(tuned on storms 1, 4, 5, 8-12 against a weight ramping from 0.10 to 0.20; ``benchmarks/README.md``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from grid_model.posterior import SupplyTree

CALLS_PSEUDO = 0.5  # calls: a feeder's calls per customer lean this much on the grid's
PRIOR_LOW, PRIOR_HIGH = 1e-6, 0.45  # a scaled prior is kept inside the range of ``OutagePriors``
FROM_CALL_RATE = 0.15


def calls_intensity(feeder: npt.NDArray[np.int64], customer_nodes: npt.NDArray[np.int64],
                    nodes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Per feeder, its calls per customer over the grid's, leaning on the grid's by
    ``CALLS_PSEUDO`` calls (1 for a feeder without calls and customers): how much more of it the
    calls say is dark than of the grid on the average. ``feeder``: per node its feeder;
    ``nodes``: where each call came from."""
    n_feeders = int(feeder.max()) + 1
    of_customer = feeder[customer_nodes]
    of_call = feeder[np.asarray(nodes, dtype=np.int64)]
    # customers and calls above every feeder (-1: fed from the substation) are not counted
    customers = np.bincount(of_customer[of_customer >= 0], minlength=n_feeders)
    calls = np.bincount(of_call[of_call >= 0], minlength=n_feeders)
    per_customer = int(calls.sum()) / max(1, int(customers.sum()))
    return (calls + CALLS_PSEUDO) / (per_customer * customers + CALLS_PSEUDO)


def applies(call_rate: float) -> bool:
    """Whether the feeders' factor applies at this estimated call rate."""
    return call_rate >= FROM_CALL_RATE


def feeder_log_odds(tree: SupplyTree, prior: tuple[float, ...], feeder: npt.NDArray[np.int64],
                    factor: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per node, the log-odds of its candidate kind's ``prior`` times its feeder's ``factor``
    (1 above the feeders, ``feeder`` -1), kept between ``PRIOR_LOW`` and ``PRIOR_HIGH`` (0 for a
    node that is no candidate)."""
    scale = np.ones(len(feeder))
    on_feeder = feeder >= 0
    scale[on_feeder] = factor[feeder[on_feeder]]
    pi = np.clip(np.asarray(prior)[np.maximum(tree.kind, 0)] * scale, PRIOR_LOW, PRIOR_HIGH)
    return np.where(tree.kind >= 0, np.log(pi) - np.log1p(-pi), 0.0)
