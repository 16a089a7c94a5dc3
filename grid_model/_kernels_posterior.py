"""Numba kernels of the posterior DP (private: ``grid_model.posterior`` converts its domain
objects to these arrays and back).

``coef`` holds the priors as the DP uses them: the log-odds per candidate kind, then ``log p``,
``log(1-p)``, ``log a``, ``log(1-a)`` (``COEF_*``). Each kernel has a slow twin in
``tests/grid_model/naive.py`` that the tests hold it to.
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
