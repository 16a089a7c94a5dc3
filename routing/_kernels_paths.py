"""Numba shortest-path kernels on a CSR graph (private: call through ``routing.travel``)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _dijkstra(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, source: int,
              out: np.ndarray) -> None:
    """Single-source shortest path lengths into ``out`` (binary heap, lazy deletion)."""
    n = indptr.shape[0] - 1
    for i in range(n):
        out[i] = np.inf
    heap_d = np.empty(weights.shape[0] + 1, dtype=np.float64)
    heap_v = np.empty(weights.shape[0] + 1, dtype=np.int64)
    size = 0
    out[source] = 0.0
    heap_d[0] = 0.0
    heap_v[0] = source
    size = 1
    while size > 0:
        d = heap_d[0]
        v = heap_v[0]
        size -= 1
        if size > 0:
            ld, lv = heap_d[size], heap_v[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and heap_d[c + 1] < heap_d[c]:
                    c += 1
                if heap_d[c] >= ld:
                    break
                heap_d[i], heap_v[i] = heap_d[c], heap_v[c]
                i = c
            heap_d[i], heap_v[i] = ld, lv
        if d > out[v]:
            continue
        for k in range(indptr[v], indptr[v + 1]):
            u = indices[k]
            nd = d + weights[k]
            if nd < out[u]:
                out[u] = nd
                i = size
                size += 1
                while i > 0:
                    p = (i - 1) // 2
                    if heap_d[p] <= nd:
                        break
                    heap_d[i], heap_v[i] = heap_d[p], heap_v[p]
                    i = p
                heap_d[i], heap_v[i] = nd, u


@nb.njit(cache=True, nogil=True)
def many_to_many(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray,
                 sources: np.ndarray) -> np.ndarray:
    """Shortest path lengths from each source to every node: float64[len(sources), n]."""
    n = indptr.shape[0] - 1
    out = np.empty((sources.shape[0], n), dtype=np.float64)
    for s in range(sources.shape[0]):
        _dijkstra(indptr, indices, weights, sources[s], out[s])
    return out


@nb.njit(cache=True, nogil=True)
def nearest_points(px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each query point, the index of and distance to the nearest of points (px, py)."""
    m = qx.shape[0]
    idx = np.empty(m, dtype=np.int64)
    dist = np.empty(m, dtype=np.float64)
    for j in range(m):
        best, bi = np.inf, -1
        for i in range(px.shape[0]):
            dx = px[i] - qx[j]
            dy = py[i] - qy[j]
            d = dx * dx + dy * dy
            if d < best:
                best, bi = d, i
        idx[j] = bi
        dist[j] = np.sqrt(best)
    return idx, dist
