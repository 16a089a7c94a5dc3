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

import math

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
inline = nb.njit(cache=True, nogil=True, inline="always")


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
def kinds_below(parent: npt.NDArray[np.int64], kind: npt.NDArray[np.int8], counted: npt.NDArray[np.bool_],
                n_kinds: int) -> npt.NDArray[np.float64]:
    """Per node, the ``counted`` candidates strictly below it, by kind (``parent``: the nearest
    candidate above, -1 at the top; nodes in preorder)."""
    n = kind.shape[0]
    below = np.zeros((n, n_kinds))
    for v in range(n - 1, -1, -1):  # children first
        p = parent[v]
        if p >= 0 and kind[v] >= 0:
            for k in range(n_kinds):
                below[p, k] += below[v, k]
            if counted[v]:
                below[p, kind[v]] += 1.0
    return below


@kernel
def silent_sums(utility: npt.NDArray[np.int64], kind: npt.NDArray[np.int8], parent: npt.NDArray[np.int64],
                customers: npt.NDArray[np.int64], lv_side: npt.NDArray[np.bool_],
                own_customers: npt.NDArray[np.int64], coef: npt.NDArray[np.float64]) -> tuple[
                    npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """Per candidate, the log-sum over its subtree's states when nobody below it reported
    (``z``), and the same summed over its candidate children (``kids``). Only the ``utility``
    candidates (preorder) are visited: a customer's own fault cannot be silent (its ``out`` is
    ``IMPOSSIBLE``), so its ``z`` is 0. In the same pass, the log of the sum over every set of
    topmost outages of their prior odds' product: the normaliser of the model's prior (the
    same sums with no one to report, customer-side candidates included; ``own_customers``: per
    node, the customers whose nearest candidate above is that node, at index -1 of the array
    those with none)."""
    n = kind.shape[0]
    z = np.zeros(n)
    kids = np.zeros(n)
    prior_kids = np.zeros(n)
    cs = math.log1p(math.exp(coef[CUSTOMER_SIDE]))
    normaliser = cs * float(own_customers[n])
    for i in range(utility.shape[0] - 1, -1, -1):  # children first
        v = utility[i]
        c = customers[v]
        odds = coef[kind[v]]
        out = odds + c * coef[COEF_LOG_1P]
        if lv_side[v]:
            out += c * coef[COEF_LOG_1A]
        z[v] = max(out, kids[v]) + math.log1p(math.exp(-abs(out - kids[v])))
        inner = prior_kids[v] + own_customers[v] * cs
        prior_z = max(odds, inner) + math.log1p(math.exp(-abs(odds - inner)))
        p = parent[v]
        if p >= 0:
            kids[p] += z[v]
            prior_kids[p] += prior_z
        else:
            normaliser += prior_z
    return z, kids, normaliser


@inline
def out_score(v: int, now_s: int, tree: npt.NDArray[np.int64], counts: npt.NDArray[np.int64],
              coef: npt.NDArray[np.float64]) -> float:
    """``Scorer.out`` of a candidate with reports: the log-odds of ``v`` topmost out."""
    k, g = counts[CALLS, v], counts[GASPS, v]
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
    return o


@kernel
def report(node: int, call: int, gasp: int, fresh: int, now_s: int, margin: float,
           tree: npt.NDArray[np.int64], counts: npt.NDArray[np.int64], scores: npt.NDArray[np.float64],
           coef: npt.NDArray[np.float64], chain: npt.NDArray[np.int64], marks: npt.NDArray[np.int64]
           ) -> tuple[int, int, int]:
    """Add (+1) or remove (-1) a unit's call, gasp or the freshness of its gasp at ``node``, and
    rescore its candidate chain bottom-up, passing each change to the parent's children's sum.
    Writes the chain (nearest first) to ``chain``; returns its length, the MAP outage explaining
    the unit (the highest candidate out by ``margin``, the nearest otherwise), and the mark of
    the highest candidate at or above that outage with a mark in ``marks`` (>= 0; -1: none, or
    ``marks`` empty)."""
    v = node if tree[KIND, node] >= 0 else tree[PARENT, node]
    m = 0
    while v >= 0:
        chain[m] = v
        m += 1
        v = tree[PARENT, v]
    if m == 0:
        return 0, -1, -1
    counts[OWN, chain[0]] += call + gasp
    for i in range(m):
        v = chain[i]
        counts[CALLS, v] += call
        counts[GASPS, v] += gasp
        counts[FRESH, v] += fresh
        before = max(scores[OUT, v], scores[IN, v])
        if counts[CALLS, v] or counts[GASPS, v]:
            o = out_score(v, now_s, tree, counts, coef)
            scores[OUT, v] = o
            scores[IN, v] = scores[CHILD, v] + IMPOSSIBLE * counts[OWN, v]
        else:
            scores[OUT, v] = scores[IN, v] = scores[CHILD, v] = 0.0
        if i < m - 1:
            scores[CHILD, chain[i + 1]] += max(scores[OUT, v], scores[IN, v]) - before
    top = chain[0]
    for i in range(m - 1, -1, -1):
        v = chain[i]
        if scores[OUT, v] > scores[IN, v] + TIE + margin and (counts[CALLS, v] or counts[GASPS, v]):
            top = v
            break
    if marks.shape[0]:
        for i in range(m - 1, -1, -1):
            v = chain[i]
            if marks[v] >= 0:
                return m, top, marks[v]
            if v == top:
                break
    return m, top, -1


@kernel
def rescore(act: npt.NDArray[np.int64], now_s: int, tree: npt.NDArray[np.int64],
            counts: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], coef: npt.NDArray[np.float64]
            ) -> None:
    """Score every candidate with reports (``act``, preorder) again, bottom-up, in place: what
    ``report`` keeps, from scratch (new priors)."""
    for i in range(act.shape[0]):
        scores[CHILD, act[i]] = 0.0
    for i in range(act.shape[0] - 1, -1, -1):  # children first
        v = act[i]
        o = out_score(v, now_s, tree, counts, coef)
        scores[OUT, v] = o
        scores[IN, v] = scores[CHILD, v] + IMPOSSIBLE * counts[OWN, v]
        p = tree[PARENT, v]
        if p >= 0:
            scores[CHILD, p] += max(o, scores[IN, v])


@kernel
def marginals(act: npt.NDArray[np.int64], now_s: int, tree: npt.NDArray[np.int64],
              counts: npt.NDArray[np.int64], coef: npt.NDArray[np.float64], z_silent: npt.NDArray[np.float64],
              kids_silent: npt.NDArray[np.float64], pos: npt.NDArray[np.int64]) -> tuple[
                  npt.NDArray[np.float64], float]:
    """Each candidate with reports (``act``, preorder): its posterior probability of being the
    topmost outage on its path. The DP's sum pass bottom-up (log-sum-exp; the candidates without
    reports enter by ``silent_sums``), then top-down the weight of the states above and beside
    each. Also the log-evidence the reports add to the silent tree: the sum over the top
    candidates with reports of their log-sum less their silent one. ``pos``: scratch, one entry
    per node."""
    n = act.shape[0]
    out = np.empty(n)
    inn = np.empty(n)
    z = np.empty(n)
    child = np.empty(n)
    for i in range(n):
        v = act[i]
        pos[v] = i
        out[i] = out_score(v, now_s, tree, counts, coef)
        child[i] = kids_silent[v]
    for i in range(n - 1, -1, -1):  # children first
        v = act[i]
        inn[i] = child[i] + IMPOSSIBLE * counts[OWN, v]
        z[i] = np.logaddexp(out[i], inn[i])
        p = tree[PARENT, v]
        if p >= 0:
            child[pos[p]] += z[i] - z_silent[v]
    w = np.empty(n)  # log-weight of the states above and beside the candidate
    root_z = np.empty(n)
    prob = np.empty(n)
    evidence = 0.0
    for i in range(n):  # parents first
        p = tree[PARENT, act[i]]
        if p < 0:
            w[i], root_z[i] = 0.0, z[i]
            evidence += z[i] - z_silent[act[i]]
        else:
            j = pos[p]
            w[i], root_z[i] = w[j] + inn[j] - z[i], root_z[j]
        prob[i] = np.exp(min(0.0, w[i] + out[i] - root_z[i]))
    return prob, evidence
