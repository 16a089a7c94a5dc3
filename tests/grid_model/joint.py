"""Every joint state of a small feeder's candidates, enumerated: the slow twin of the passes
that read the reports with every element out independently (``grid_model.dark`` and the
ceiling suite's readings)."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from grid_model.network import Network, NodeKind
from grid_model.posterior import CandidateKind, SupplyTree


class Joint(NamedTuple):
    """One row per joint state: the log-odds of the state and the reports against nothing out
    and nobody reporting (-inf where the state cannot give the reports), per utility candidate
    whether it is the topmost outage on its path, and per customer whether their own
    installation failed."""

    log_weight: np.ndarray
    topmost: dict[int, np.ndarray]
    own_fault: dict[int, np.ndarray]


def customer_nodes(net: Network) -> list[int]:
    return [v for v in range(net.n_nodes) if net.kind[v] == NodeKind.CUSTOMER]


def joint_states(net: Network, tree: SupplyTree, calls: set[int], log_odds: np.ndarray, p: float,
                 gasps: frozenset[int] = frozenset(), a: float = 0.0, stale: frozenset[int] = frozenset()
                 ) -> Joint:
    """A dark customer calls with probability ``p``; a lit one calls exactly when their own
    installation failed. A dark meter sends a last gasp with probability ``a`` when the topmost
    outage above it is on the LV side (its transformer live), never otherwise: a fresh gasp rules
    every other state out. A ``stale`` gasp (of ``gasps``) no longer says where the outage is:
    under an MV outage it is as likely as not."""
    cands = [v for v in range(net.n_nodes) if tree.kind[v] >= 0]
    col = {v: j for j, v in enumerate(cands)}
    out = np.array(list(itertools.product((False, True), repeat=len(cands))))
    log_weight = out @ log_odds[cands]
    for c in customer_nodes(net):
        above = tree.chain(c)[1:]
        out_above = out[:, [col[v] for v in above]]
        dark = out_above.any(axis=1)
        log_weight += np.where(dark, math.log(p) if c in calls else math.log1p(-p), 0.0)
        own = out[:, col[c]] == (c in calls)  # supply on: a call is the customer's own fault
        log_weight[~dark & ~own] = -math.inf
        # the topmost outage above: the last one out going up the chain
        top_lv = np.zeros(len(out), dtype=bool)
        for k, v in enumerate(above):
            top_lv = np.where(out_above[:, k], bool(tree.lv_side[v]), top_lv)
        can_gasp = dark & top_lv
        if c in stale:
            log_weight[~dark] = -math.inf
            log_weight[can_gasp] += math.log(a)
        elif c in gasps:
            log_weight[~can_gasp] = -math.inf
            log_weight[can_gasp] += math.log(a)
        elif a > 0:
            log_weight[can_gasp] += math.log1p(-a)
    topmost = {v: out[:, col[v]] & ~out[:, [col[u] for u in tree.chain(v)[1:]]].any(axis=1)
               for v in cands if tree.kind[v] != CandidateKind.CUSTOMER_SIDE}
    own_fault = {c: out[:, col[c]] for c in customer_nodes(net)}
    return Joint(log_weight, topmost, own_fault)
