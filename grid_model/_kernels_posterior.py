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
                column: npt.NDArray[np.int64], m: int, n_kinds: int) -> npt.NDArray[np.float64]:
    """Per utility candidate (row ``column[v]``, ``SupplyTree.utility_position``: ``m`` rows),
    the ``counted`` candidates strictly below it, by kind; one row more, of zeros, for every other
    node (a customer's own installation has nothing below it; ``parent``: the nearest candidate
    above, -1 at the top; nodes in preorder). Per utility candidate, not per node: a row for
    every node (8 MB on the default region, zeroed inside a fresh predictor's first reports) made
    this kernel twice as slow there."""
    below = np.zeros((m + 1, n_kinds))
    for v in range(kind.shape[0] - 1, -1, -1):  # children first
        p = parent[v]
        if p >= 0 and kind[v] >= 0 and column[p] < m:
            for k in range(n_kinds):
                below[column[p], k] += below[column[v], k]
            if counted[v]:
                below[column[p], kind[v]] += 1.0
    return below


# Inline helpers take scalars (and ``coef``) only: numba counts references to every array an
# inlined call is handed, twice per call, which made a kernel's loop about twice as slow.


@inline
def out_score(kd: int, c: int, lv: bool, k: int, g: int, fresh: int, forbidden: bool,
              coef: npt.NDArray[np.float64]) -> float:
    """``Scorer.out`` of a candidate with reports: the log-odds of it topmost out (kind ``kd``,
    ``c`` customers, ``lv`` on the LV side, ``k`` calls, ``g`` gasps, ``fresh`` of them fresh,
    ``forbidden``: a crew has just restored it)."""
    if kd == CUSTOMER_SIDE:
        o = (coef[kd] if k else IMPOSSIBLE) + IMPOSSIBLE * g
    else:
        o = coef[kd] + k * (coef[COEF_LOG_P] - coef[COEF_LOG_1P]) + c * coef[COEF_LOG_1P]
        if lv:
            o += g * (coef[COEF_LOG_A] - coef[COEF_LOG_1A]) + c * coef[COEF_LOG_1A]
        else:
            o += IMPOSSIBLE * fresh
    if forbidden:
        o += IMPOSSIBLE
    return o


@inline
def silent_out(kd: int, c: int, lv: bool, coef: npt.NDArray[np.float64]) -> float:
    """``out_score`` of a utility candidate with no reports below."""
    return out_score(kd, c, lv, 0, 0, 0, False, coef)


@inline
def log_add_exp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` without overflow."""
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@inline
def logistic(x: float) -> float:
    """``1 / (1 + exp(-x))`` without overflow (``x`` may be ``IMPOSSIBLE``)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# A candidate's silent score depends only on its kind, its side of the transformer and its
# customers, and most candidates (drops) share a few of those: the silent passes read it from a
# table by (kind, side) and customers up to ``MEMO_CUSTOMERS``.
MEMO_CUSTOMERS = 64
_ROWS = 2 * (CUSTOMER_SIDE + 1)


@kernel
def silent_table(coef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``silent_out`` at row ``2 * kind + lv``, column customers."""
    table = np.empty((_ROWS, MEMO_CUSTOMERS))
    for r in range(_ROWS):
        for c in range(MEMO_CUSTOMERS):
            table[r, c] = silent_out(r // 2, c, r % 2 == 1, coef)
    return table


# Rows of the utility candidates' table (``SupplyTree.utility``): the position in the table of
# the candidate above (-1: none), its kind, customers, LV side, and the customers whose nearest
# candidate above it is.
U_PARENT, U_KIND, U_CUSTOMERS, U_LV_SIDE, U_OWN = 0, 1, 2, 3, 4


@kernel
def silent_sums(utility: npt.NDArray[np.int64], orphans: int, coef: npt.NDArray[np.float64]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """Per column of the ``utility`` candidates' table (in preorder), the log-sum over the
    candidate's subtree's states when nobody below it reported (``z``), and the same summed over
    its candidate children (``kids``); one entry more, 0, for every other node: a customer's own
    fault cannot be silent (its ``out`` is ``IMPOSSIBLE``), so its ``z`` is 0 (per column, not per
    node: every EM step asks for these sums under new priors, and filling two arrays over every
    node made the call a third slower). In the same pass, the log of the sum over
    every set of topmost outages of their prior odds' product: the normaliser of the model's
    prior (the same sums with no one to report, customer-side candidates included; ``orphans``:
    the customers with no candidate above). Without utility candidates below (a drop, mostly),
    both sums depend on the candidate's kind, side and customers only: they come from tables."""
    m = utility.shape[1]
    z = np.zeros(m + 1)
    kids = np.zeros(m + 1)
    prior_kids = np.zeros(m)
    cs = math.log1p(math.exp(coef[CUSTOMER_SIDE]))
    z_leaf = silent_table(coef)
    prior_leaf = np.empty((CUSTOMER_SIDE + 1, MEMO_CUSTOMERS))
    for c in range(MEMO_CUSTOMERS):
        for r in range(_ROWS):
            z_leaf[r, c] = log_add_exp(z_leaf[r, c], 0.0)
        for kd in range(CUSTOMER_SIDE + 1):
            prior_leaf[kd, c] = log_add_exp(coef[kd], c * cs)
    normaliser = cs * float(orphans)
    for i in range(m - 1, -1, -1):  # children first
        c = utility[U_CUSTOMERS, i]
        kd = utility[U_KIND, i]
        lv = utility[U_LV_SIDE, i] != 0
        if kids[i] == 0.0 and c < MEMO_CUSTOMERS:
            zv = z_leaf[2 * kd + lv, c]
        else:
            zv = log_add_exp(silent_out(kd, c, lv, coef), kids[i])
        z[i] = zv
        own = utility[U_OWN, i]
        if prior_kids[i] == 0.0 and own < MEMO_CUSTOMERS:
            prior_z = prior_leaf[kd, own]
        else:
            prior_z = log_add_exp(coef[kd], prior_kids[i] + own * cs)
        p = utility[U_PARENT, i]
        if p >= 0:
            kids[p] += zv
            prior_kids[p] += prior_z
        else:
            normaliser += prior_z
    return z, kids, normaliser


# The expected counts one EM step gathers (``silent_counts`` + ``expected_counts``): per candidate
# kind the expected outages, per kind the expected elements below an outage (each weighted by what
# ``covered_scaled`` adds to its prior, where it is used), then the expected dark customers, dark
# customers on the LV side, callers and last gasps.
E_OUT, E_COVERED = 0, CUSTOMER_SIDE + 1
E_DARK, E_LV_DARK, E_CALLS, E_GASPS = 2 * E_COVERED, 2 * E_COVERED + 1, 2 * E_COVERED + 2, 2 * E_COVERED + 3
E_SIZE = E_GASPS + 1


@kernel
def silent_shares(coef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The probability that an outage stays silent (the logistic of its silent score), by the
    rows and columns of ``silent_table``."""
    table = silent_table(coef)
    for r in range(_ROWS):
        for c in range(MEMO_CUSTOMERS):
            table[r, c] = logistic(table[r, c])
    return table


@kernel
def silent_counts(kind: npt.NDArray[np.int64], lv_side: npt.NDArray[np.bool_],
                  customers: npt.NDArray[np.int64], weight: npt.NDArray[np.int64],
                  below: npt.NDArray[np.float64], coef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The expected counts (``E_*``) if no one had reported: every utility candidate (but the
    drops serving one customer) out with the probability that an outage there stays silent.
    Candidates alike in kind, side and customers share that probability: the input is one row
    per such class, ``weight`` candidates, ``below`` their candidates below summed."""
    e = np.zeros(E_SIZE)
    for i in range(kind.shape[0]):
        kd = kind[i]
        q = logistic(silent_out(kd, customers[i], lv_side[i], coef))
        e[E_OUT + kd] += weight[i] * q
        for k in range(below.shape[1]):
            e[E_COVERED + k] += q * below[i, k]
        e[E_DARK] += weight[i] * q * customers[i]
        if lv_side[i]:
            e[E_LV_DARK] += weight[i] * q * customers[i]
    return e


@kernel
def expected_counts(act: npt.NDArray[np.int64], prob: npt.NDArray[np.float64], kind: npt.NDArray[np.int8],
                    customers: npt.NDArray[np.int64], lv_side: npt.NDArray[np.bool_],
                    calls: npt.NDArray[np.int64], gasps: npt.NDArray[np.int64],
                    lone_drop: npt.NDArray[np.bool_], below: npt.NDArray[np.float64],
                    column: npt.NDArray[np.int64], coef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """What the candidates with reports (``act``, each the topmost outage with probability
    ``prob``) change in ``silent_counts``: their expected counts, less the silent share each
    held there. A drop serving one customer counts as that customer's own fault. ``below``: as
    ``kinds_below`` gives it, read at each node's ``column``."""
    e = np.zeros(E_SIZE)
    share = silent_shares(coef)
    for i in range(act.shape[0]):
        v = act[i]
        p = prob[i]
        kd = kind[v]
        if kd == CUSTOMER_SIDE or lone_drop[v]:
            e[E_OUT + CUSTOMER_SIDE] += p
            for k in range(below.shape[1]):
                e[E_COVERED + k] += p * below[column[v], k]
            continue
        c = customers[v]
        lv = lv_side[v]
        q = share[2 * kd + lv, c] if c < MEMO_CUSTOMERS else logistic(silent_out(kd, c, lv, coef))
        e[E_OUT + kd] += p - q
        for k in range(below.shape[1]):
            e[E_COVERED + k] += (p - q) * below[column[v], k]
        e[E_DARK] += (p - q) * c
        e[E_CALLS] += p * calls[v]
        if lv:
            e[E_LV_DARK] += (p - q) * c
            e[E_GASPS] += p * gasps[v]
    return e


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
            o = out_score(tree[KIND, v], tree[CUSTOMERS, v], tree[LV_SIDE, v], counts[CALLS, v],
                          counts[GASPS, v], counts[FRESH, v], counts[FORBIDDEN_UNTIL, v] > now_s, coef)
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
        o = out_score(tree[KIND, v], tree[CUSTOMERS, v], tree[LV_SIDE, v], counts[CALLS, v], counts[GASPS, v],
                      counts[FRESH, v], counts[FORBIDDEN_UNTIL, v] > now_s, coef)
        scores[OUT, v] = o
        scores[IN, v] = scores[CHILD, v] + IMPOSSIBLE * counts[OWN, v]
        p = tree[PARENT, v]
        if p >= 0:
            scores[CHILD, p] += max(o, scores[IN, v])


@kernel
def marginals(act: npt.NDArray[np.int64], now_s: int, tree: npt.NDArray[np.int64],
              counts: npt.NDArray[np.int64], coef: npt.NDArray[np.float64], z_silent: npt.NDArray[np.float64],
              kids_silent: npt.NDArray[np.float64], column: npt.NDArray[np.int64],
              pos: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], float]:
    """Each candidate with reports (``act``, preorder): its posterior probability of being the
    topmost outage on its path. The DP's sum pass bottom-up (log-sum-exp; the candidates without
    reports enter by ``silent_sums``), then top-down the weight of the states above and beside
    each. Also the log-evidence the reports add to the silent tree: the sum over the top
    candidates with reports of their log-sum less their silent one. The silent sums are read at
    each node's ``column`` (``SupplyTree.utility_position``). ``pos``: scratch, one entry per
    node."""
    n = act.shape[0]
    out = np.empty(n)
    inn = np.empty(n)
    z = np.empty(n)
    child = np.empty(n)
    for i in range(n):
        v = act[i]
        pos[v] = i
        out[i] = out_score(tree[KIND, v], tree[CUSTOMERS, v], tree[LV_SIDE, v], counts[CALLS, v],
                           counts[GASPS, v], counts[FRESH, v], counts[FORBIDDEN_UNTIL, v] > now_s, coef)
        child[i] = kids_silent[column[v]]
    for i in range(n - 1, -1, -1):  # children first
        v = act[i]
        inn[i] = child[i] + IMPOSSIBLE * counts[OWN, v]
        z[i] = np.logaddexp(out[i], inn[i])
        p = tree[PARENT, v]
        if p >= 0:
            child[pos[p]] += z[i] - z_silent[column[v]]
    w = np.empty(n)  # log-weight of the states above and beside the candidate
    root_z = np.empty(n)
    prob = np.empty(n)
    evidence = 0.0
    for i in range(n):  # parents first
        p = tree[PARENT, act[i]]
        if p < 0:
            w[i], root_z[i] = 0.0, z[i]
            evidence += z[i] - z_silent[column[act[i]]]
        else:
            j = pos[p]
            w[i], root_z[i] = w[j] + inn[j] - z[i], root_z[j]
        prob[i] = np.exp(min(0.0, w[i] + out[i] - root_z[i]))
    return prob, evidence


@kernel
def covered_scaled(act: npt.NDArray[np.int64], prob: npt.NDArray[np.float64], below: npt.NDArray[np.float64],
                   column: npt.NDArray[np.int64], scale: npt.NDArray[np.float64],
                   prior: npt.NDArray[np.float64], cap: float) -> npt.NDArray[np.float64]:
    """Per kind, what counting the elements below each candidate with reports (``act``, the
    topmost outage with probability ``prob``) at their kind's ``prior`` times the candidate's
    ``scale``, kept under ``cap`` (or the prior, where higher), adds to ``expected_counts``'s
    elements below an outage, in elements at the prior."""
    out = np.zeros(below.shape[1])
    for i in range(act.shape[0]):
        row = column[act[i]]
        for k in range(below.shape[1]):
            b = below[row, k]
            if b > 0.0:
                more = min(prior[k] * scale[i], max(prior[k], cap)) / prior[k] - 1.0
                out[k] += prob[i] * b * more
    return out
