"""Numba kernel for granular neighbour lists (private: call through ``routing.arrays``)."""

from __future__ import annotations

import numba as nb
import numpy as np

from routing._kernels_route import DIMACS, EUCLIDEAN, travel


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
        for q in range(N if ko > 0 else 0):
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


@nb.njit(cache=True, nogil=True, inline="always")
def _keep_best_by(best_d, best_i, m, k, d, i):
    """``_keep_best`` with ties broken by the smaller ``i`` (what a scan in index order
    keeps), for candidates met in any order."""
    if m == k and (d > best_d[m - 1] or (d == best_d[m - 1] and i > best_i[m - 1])):
        return m
    j = m if m < k else k - 1
    while j > 0 and (best_d[j - 1] > d or (best_d[j - 1] == d and best_i[j - 1] > i)):
        best_d[j] = best_d[j - 1]
        best_i[j] = best_i[j - 1]
        j -= 1
    best_d[j] = d
    best_i[j] = i
    return m + 1 if m < k else m


@nb.njit(cache=True, nogil=True, inline="always")
def _round_trip_at_least(D, dist):
    """The least round trip (``proximity``, soft windows) between points ``dist`` apart or
    more: travel is non-decreasing in distance for euclidean and DIMACS travel."""
    dist = dist * (1.0 - 1e-12)
    if D.travel_kind == EUCLIDEAN:
        return 2 * np.int64(np.rint(dist * D.seconds_per_metre))
    return 2 * np.int64(np.floor(dist * 10.0))


@nb.njit(cache=True, nogil=True)
def grid_rows(D, nb_idx):
    """``nearest_rows``' order lists for every order, for euclidean or DIMACS travel with soft
    windows (proximity grows with distance): orders are bucketed in a square grid and each
    order's search widens ring by ring until the next ring cannot hold a nearer one. The same
    lists, ties included, in O(N k) on spread-out points instead of O(N^2)."""
    K, N = D.n_crews, D.n_orders
    k = nb_idx.shape[1]
    if N == 0 or k == 0:
        return
    x0, x1 = D.x[K], D.x[K]
    y0, y1 = D.y[K], D.y[K]
    for q in range(N):
        x0 = min(x0, D.x[K + q])
        x1 = max(x1, D.x[K + q])
        y0 = min(y0, D.y[K + q])
        y1 = max(y1, D.y[K + q])
    g = max(1, min(1024, int(np.sqrt(4.0 * N / k))))  # about k / 4 orders a cell
    cell = max(x1 - x0, y1 - y0, 1e-9) / g
    cx = np.empty(N, dtype=np.int64)
    cy = np.empty(N, dtype=np.int64)
    start = np.zeros(g * g + 1, dtype=np.int64)
    for q in range(N):
        cx[q] = min(g - 1, int((D.x[K + q] - x0) / cell))
        cy[q] = min(g - 1, int((D.y[K + q] - y0) / cell))
        start[cy[q] * g + cx[q] + 1] += 1
    for b in range(g * g):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    members = np.empty(N, dtype=np.int64)
    for q in range(N):
        b = cy[q] * g + cx[q]
        members[fill[b]] = q
        fill[b] += 1
    best_d = np.empty(k + 1, dtype=np.int64)
    best_i = np.empty(k + 1, dtype=np.int64)
    for c in range(N):
        m = 0
        r = 0
        while True:
            for iy in range(cy[c] - r, cy[c] + r + 1):
                if iy < 0 or iy >= g:
                    continue
                edge = iy == cy[c] - r or iy == cy[c] + r
                step = 1 if edge else max(1, 2 * r)
                for ix in range(cx[c] - r, cx[c] + r + 1, step):
                    if ix < 0 or ix >= g:
                        continue
                    b = iy * g + ix
                    for t in range(start[b], start[b + 1]):
                        q = members[t]
                        if q == c or D.order_skill[q] == 0:
                            continue
                        m = _keep_best_by(best_d, best_i, m, k, proximity(D, c, q), q)
            if r >= g:
                break
            # an order in ring r + 1 or beyond is at least r cells away
            if m == k and _round_trip_at_least(D, r * cell) > best_d[k - 1]:
                break
            r += 1
        for i in range(k):
            nb_idx[c, i] = best_i[i] if i < m else c


@nb.njit(cache=True, nogil=True)
def nearest_lists(D, k_orders, k_crews):
    """Neighbour lists of every order (see ``nearest_rows``); no dense matrix is kept. With
    euclidean or DIMACS travel and soft windows the order lists come from ``grid_rows``."""
    K, N = D.n_crews, D.n_orders
    nb_idx = np.empty((N, min(k_orders, max(N - 1, 0))), dtype=np.int64)
    cn_idx = np.empty((N, min(k_crews, K)), dtype=np.int64)
    if (D.travel_kind == EUCLIDEAN or D.travel_kind == DIMACS) and not D.hard_windows:
        none = np.empty((N, 0), dtype=np.int64)
        nearest_rows(D, np.arange(N), none, cn_idx)
        grid_rows(D, nb_idx)
    else:
        nearest_rows(D, np.arange(N), nb_idx, cn_idx)
    return nb_idx, cn_idx
