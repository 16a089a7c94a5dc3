"""Numba kernels of the posterior DP (private: ``grid_model.posterior`` converts its domain
objects to these arrays and back).

The per-report kernel runs for every report, and numba checks each argument on each call: it
takes its arrays bundled by dtype, the tree (rows ``KIND`` to ``LV_SIDE``), the reports' counts
(``CALLS`` to ``FORBIDDEN_UNTIL``) and the scores (``OUT``, ``IN``, ``CHILD``). ``coef`` holds
the priors as the DP uses them: the log-odds per candidate kind, then ``log p``, ``log(1-p)``,
``log a``, ``log(1-a)`` (``COEF_*``). The tests hold each kernel to a slow twin: in
``tests/grid_model/naive.py``, or the batch DP ``map_outages`` (itself held to brute force).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

# Log-likelihood of what the model rules out (a call from a live customer with no fault of their
# own, a last gasp through a dark concentrator): finite, so sums stay exact and a case where
# every explanation is ruled out still gets the least-violating answer.
IMPOSSIBLE = -1000.0
# A candidate is out only when its score beats its children's by this much: on a tie (a
# transformer and its only outlet fuse darken the same customers) the device nearer the reports,
# which protection coordination operates first, is the answer.
TIE = 1e-9
CUSTOMER_SIDE = 5  # ``CandidateKind.CUSTOMER_SIDE``

# Rows of the bundled arrays: the tree (int64), the reports' counts (int64), the scores (float64).
KIND, PARENT, CUSTOMERS, LV_SIDE = 0, 1, 2, 3
CALLS, GASPS, FRESH, OWN, FORBIDDEN_UNTIL = 0, 1, 2, 3, 4
OUT, IN, CHILD = 0, 1, 2
COEF_LOG_P, COEF_LOG_1P, COEF_LOG_A, COEF_LOG_1A = 6, 7, 8, 9

kernel = nb.njit(cache=True, nogil=True)


@kernel
def candidate_parents(parent: npt.NDArray[np.int64], cand: npt.NDArray[np.bool_]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Per node of a preorder network, the nearest candidate strictly above it (-1: none) and
    the number of candidates above it."""
    n = parent.shape[0]
    nearest = np.empty(n, dtype=np.int64)  # the nearest candidate at or above
    above = np.empty(n, dtype=np.int64)
    depth = np.empty(n, dtype=np.int32)
    for i in range(n):  # preorder: parents first
        p = parent[i]
        up = nearest[p] if p >= 0 else -1
        above[i] = up
        depth[i] = depth[up] + 1 if up >= 0 else 0
        nearest[i] = i if cand[i] else up
    return above, depth


@kernel
def silent_sums(kind: npt.NDArray[np.int8], parent: npt.NDArray[np.int64], customers: npt.NDArray[np.int64],
                lv_side: npt.NDArray[np.bool_], coef: npt.NDArray[np.float64]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per candidate, the log-sum over its subtree's states when nobody below it reported
    (``z``), and the same summed over its candidate children (``kids``). A customer's own
    fault cannot be silent (its ``out`` is ``IMPOSSIBLE``): its ``z`` is 0, and is skipped."""
    n = kind.shape[0]
    z = np.zeros(n)
    kids = np.zeros(n)
    for v in range(n - 1, -1, -1):  # reverse preorder: children first
        kd = kind[v]
        if kd < 0 or kd == CUSTOMER_SIDE:
            continue
        c = customers[v]
        out = coef[kd] + c * coef[COEF_LOG_1P]
        if lv_side[v]:
            out += c * coef[COEF_LOG_1A]
        z[v] = np.logaddexp(out, kids[v])
        p = parent[v]
        if p >= 0:
            kids[p] += z[v]
    return z, kids


@kernel
def report(node: int, call: int, gasp: int, fresh: int, now_s: int, margin: float,
           tree: npt.NDArray[np.int64], counts: npt.NDArray[np.int64], scores: npt.NDArray[np.float64],
           coef: npt.NDArray[np.float64], chain: npt.NDArray[np.int64]) -> tuple[int, int]:
    """Add (+1) or remove (-1) a unit's call, gasp or the freshness of its gasp at ``node``, and
    rescore its candidate chain bottom-up, passing each change to the parent's children's sum.
    Writes the chain (nearest first) to ``chain``; returns its length and the MAP outage
    explaining the unit: the highest candidate out by ``margin`` (the nearest otherwise)."""
    v = node if tree[KIND, node] >= 0 else tree[PARENT, node]
    m = 0
    while v >= 0:
        chain[m] = v
        m += 1
        v = tree[PARENT, v]
    if m == 0:
        return 0, -1
    counts[OWN, chain[0]] += call + gasp
    for i in range(m):
        v = chain[i]
        counts[CALLS, v] += call
        counts[GASPS, v] += gasp
        counts[FRESH, v] += fresh
        before = max(scores[OUT, v], scores[IN, v])
        k, g = counts[CALLS, v], counts[GASPS, v]
        if k or g:
            kd = tree[KIND, v]
            if kd == CUSTOMER_SIDE:
                o = (coef[kd] if k else IMPOSSIBLE) + IMPOSSIBLE * g
            else:
                c = tree[CUSTOMERS, v]
                o = coef[kd] + k * (coef[COEF_LOG_P] - coef[COEF_LOG_1P]) + c * coef[COEF_LOG_1P]
                if tree[LV_SIDE, v]:
                    o += g * (coef[COEF_LOG_A] - coef[COEF_LOG_1A]) + c * coef[COEF_LOG_1A]
                else:
                    o += IMPOSSIBLE * counts[FRESH, v]
            if counts[FORBIDDEN_UNTIL, v] > now_s:
                o += IMPOSSIBLE
            scores[OUT, v] = o
            scores[IN, v] = scores[CHILD, v] + IMPOSSIBLE * counts[OWN, v]
        else:
            scores[OUT, v] = scores[IN, v] = scores[CHILD, v] = 0.0
        if i < m - 1:
            scores[CHILD, chain[i + 1]] += max(scores[OUT, v], scores[IN, v]) - before
    for i in range(m - 1, -1, -1):
        v = chain[i]
        if scores[OUT, v] > scores[IN, v] + TIE + margin and (counts[CALLS, v] or counts[GASPS, v]):
            return m, v
    return m, chain[0]



@kernel
def subtree_sums(act: npt.NDArray[np.int64], parent: npt.NDArray[np.int64],
                 out: npt.NDArray[np.float64], own: npt.NDArray[np.int64], child: npt.NDArray[np.float64],
                 z_silent: npt.NDArray[np.float64], soft: bool) -> npt.NDArray[np.float64]:
    """The DP's bottom-up pass over the candidates with reports (``act``, preorder; the others'
    arrays aligned with it): each one's in score, its children's sum added to its parent's
    ``child`` (max, or log-sum-exp less the silent subtree's ``z_silent`` when ``soft``)."""
    pos = np.empty(parent.shape[0], dtype=np.int64)
    for i in range(act.shape[0]):
        pos[act[i]] = i
    inn = np.empty(act.shape[0])
    for i in range(act.shape[0] - 1, -1, -1):  # children first
        inn[i] = child[i] + IMPOSSIBLE * own[i]
        p = parent[act[i]]
        if p >= 0:
            if soft:
                child[pos[p]] += np.logaddexp(out[i], inn[i]) - z_silent[i]
            else:
                child[pos[p]] += max(out[i], inn[i])
    return inn


@kernel
def top_probability(act: npt.NDArray[np.int64], parent: npt.NDArray[np.int64], out: npt.NDArray[np.float64],
                    inn: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The DP's top-down pass after a soft ``subtree_sums``: each candidate's posterior
    probability of being the topmost outage on its path."""
    n = act.shape[0]
    pos = np.empty(parent.shape[0], dtype=np.int64)
    w = np.empty(n)  # log-weight of the states above and beside the candidate
    root_z = np.empty(n)
    prob = np.empty(n)
    for i in range(n):  # parents first
        v = act[i]
        pos[v] = i
        z = np.logaddexp(out[i], inn[i])
        p = parent[v]
        if p < 0:
            w[i], root_z[i] = 0.0, z
        else:
            j = pos[p]
            w[i], root_z[i] = w[j] + inn[j] - z, root_z[j]
        prob[i] = np.exp(min(0.0, w[i] + out[i] - root_z[i]))
    return prob
