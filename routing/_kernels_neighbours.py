"""Numba kernel for granular neighbour lists (private: call through ``routing.arrays``)."""

from __future__ import annotations

import numba as nb
import numpy as np

from routing._kernels_solver import travel


@nb.njit(cache=True, nogil=True, inline="always")
def _keep_best(best_d, best_i, m, k, d, i):
    """Insert (d, i) into the ``m`` smallest kept so far (sorted, at most ``k``); new ``m``."""
    if m == k and d >= best_d[m - 1]:
        return m
    j = m if m < k else k - 1
    while j > 0 and best_d[j - 1] > d:
        best_d[j] = best_d[j - 1]
        best_i[j] = best_i[j - 1]
        j -= 1
    best_d[j] = d
    best_i[j] = i
    return m + 1 if m < k else m


@nb.njit(cache=True, nogil=True, inline="always")
def _directed(D, i, j):
    """Travel from order ``i`` to ``j``, plus (hard windows) the least wait (weight 1/5) and
    the least lateness (weight 1) of serving ``j`` right after ``i`` (Vidal et al. 2013)."""
    K = D.n_crews
    t = travel(D, K + i, K + j)
    if not D.hard_windows:
        return t
    wait = D.earliest[j] - D.service[i] - t - D.deadline[i]
    late = D.earliest[i] + D.service[i] + t - D.deadline[j]
    return t + max(wait, 0) // 5 + max(late, 0)


@nb.njit(cache=True, nogil=True, inline="always")
def proximity(D, i, j):
    """How near orders ``i`` and ``j`` are. Soft windows: the round trip's travel. Hard
    windows: twice the nearer of the two directions, windows counted (same scale)."""
    if not D.hard_windows:
        return travel(D, D.n_crews + i, D.n_crews + j) + travel(D, D.n_crews + j, D.n_crews + i)
    return 2 * min(_directed(D, i, j), _directed(D, j, i))


@nb.njit(cache=True, nogil=True)
def nearest_rows(D, rows, nb_idx, cn_idx):
    """Fill ``nb_idx[c]`` and ``cn_idx[c]`` for each order c in ``rows``: its nearest other
    orders (by ``proximity``) and nearest crews able to serve it, by travel time (brute force,
    O(N) per row).
    Orders no crew can serve (skill mask 0: retired from a live plan) are nobody's neighbour."""
    K, N = D.n_crews, D.n_orders
    ko = nb_idx.shape[1]
    kc = cn_idx.shape[1]
    best_d = np.empty(max(ko, kc) + 1, dtype=np.int64)
    best_i = np.empty(max(ko, kc) + 1, dtype=np.int64)
    for c in rows:
        m = 0
        for q in range(N):
            if q == c or D.order_skill[q] == 0:
                continue
            m = _keep_best(best_d, best_i, m, ko, proximity(D, c, q), q)
        for i in range(ko):
            nb_idx[c, i] = best_i[i] if i < m else c
        m = 0
        for r in range(K):
            if (D.crew_skills[r] & D.order_skill[c]) == 0:
                continue
            m = _keep_best(best_d, best_i, m, kc, travel(D, r, K + c), r)
        for i in range(kc):
            cn_idx[c, i] = best_i[i] if i < m else best_i[0] if m > 0 else 0


@nb.njit(cache=True, nogil=True)
def nearest_lists(D, k_orders, k_crews):
    """Neighbour lists of every order (see ``nearest_rows``); no dense matrix is kept."""
    K, N = D.n_crews, D.n_orders
    nb_idx = np.empty((N, min(k_orders, max(N - 1, 0))), dtype=np.int64)
    cn_idx = np.empty((N, min(k_crews, K)), dtype=np.int64)
    nearest_rows(D, np.arange(N), nb_idx, cn_idx)
    return nb_idx, cn_idx
