"""Numba kernel for granular neighbour lists (private: call through ``routing.arrays``)."""

from __future__ import annotations

import numba as nb
import numpy as np

from routing._kernels_solver import travel


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
            d = travel(D, K + c, K + q) + travel(D, K + q, K + c)
            if m == ko and d >= best_d[m - 1]:
                continue
            i = m if m < ko else ko - 1
            while i > 0 and best_d[i - 1] > d:
                best_d[i] = best_d[i - 1]
                best_i[i] = best_i[i - 1]
                i -= 1
            best_d[i] = d
            best_i[i] = q
            if m < ko:
                m += 1
        nb_idx[c, :] = best_i[:ko]
        m = 0
        for r in range(K):
            if (D.crew_skills[r] & D.order_skill[c]) == 0:
                continue
            d = travel(D, r, K + c)
            if m == kc and d >= best_d[m - 1]:
                continue
            i = m if m < kc else kc - 1
            while i > 0 and best_d[i - 1] > d:
                best_d[i] = best_d[i - 1]
                best_i[i] = best_i[i - 1]
                i -= 1
            best_d[i] = d
            best_i[i] = r
            if m < kc:
                m += 1
        for i in range(kc):
            cn_idx[c, i] = best_i[i] if i < m else best_i[0] if m > 0 else 0
    return nb_idx, cn_idx
