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


@nb.njit(cache=True, nogil=True)
def nearest_lists(D, k_orders, k_crews):
    """For each order: its ``k_orders`` nearest other orders and ``k_crews`` nearest crews
    able to serve it, by travel time; brute force, O(N^2), no dense matrix kept."""
    K, N = D.n_crews, D.n_orders
    ko = min(k_orders, max(N - 1, 0))
    kc = min(k_crews, K)
    nb_idx = np.empty((N, ko), dtype=np.int64)
    cn_idx = np.empty((N, kc), dtype=np.int64)
    best_d = np.empty(max(ko, kc) + 1, dtype=np.int64)
    best_i = np.empty(max(ko, kc) + 1, dtype=np.int64)
    for c in range(N):
        m = 0
        for q in range(N):
            if q == c:
                continue
            m = _keep_best(best_d, best_i, m, ko, travel(D, K + c, K + q) + travel(D, K + q, K + c), q)
        nb_idx[c, :] = best_i[:ko]
        m = 0
        for r in range(K):
            if (D.crew_skills[r] & D.order_skill[c]) == 0:
                continue
            m = _keep_best(best_d, best_i, m, kc, travel(D, r, K + c), r)
        for i in range(kc):
            cn_idx[c, i] = best_i[i] if i < m else best_i[0] if m > 0 else 0
    return nb_idx, cn_idx
