"""Nearest of a fixed set of points within a distance, one query at a time: the points in a
uniform grid of buckets as wide as the distance, so a query compares the points of its own
bucket and then of the few buckets nearer than the best found there (a k-d tree query costs
tens of microseconds of call overhead for one point, whatever the tree)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Widening of the search square, relative to the largest coordinate: far above the rounding of
# a bucket's bounds (a few units in the last place), so no point within the distance is missed.
_SLACK = 1e-9


class NearestWithin:
    """The points bucketed by grid cell (only the cells that hold points), in index order."""

    def __init__(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], reach: float) -> None:
        if not reach > 0:
            raise ValueError(f"reach must be positive, got {reach}")
        self.reach = reach
        magnitude = float(max(np.abs(x).max(), np.abs(y).max())) if len(x) else 0.0
        self._slack = _SLACK * (magnitude + reach)
        ix = np.floor(x / reach).astype(np.int64).tolist()
        iy = np.floor(y / reach).astype(np.int64).tolist()
        buckets: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
        for k, (i, j, px, py) in enumerate(zip(ix, iy, x.tolist(), y.tolist(), strict=True)):
            buckets.setdefault((i, j), []).append((px, py, k))
        # tuples of numbers, which the garbage collector stops tracking, unlike lists
        self._buckets = {cell: tuple(points) for cell, points in buckets.items()}

    def nearest(self, x: float, y: float) -> int:
        """Index of the point nearest to (x, y) if it lies within the reach, else -1: the point
        a k-d tree query finds (of points at exactly equal distances, the one found first)."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return -1
        cell, buckets = self.reach, self._buckets
        home = (math.floor(x / cell), math.floor(y / cell))
        best, found = math.inf, -1
        for px, py, k in buckets.get(home, ()):
            dx, dy = px - x, py - y
            d = dx * dx + dy * dy
            if d < best:
                best, found = d, k
        r = min(self.reach, math.sqrt(best)) + self._slack
        for i in range(math.floor((x - r) / cell), math.floor((x + r) / cell) + 1):
            for j in range(math.floor((y - r) / cell), math.floor((y + r) / cell) + 1):
                if (i, j) == home:
                    continue
                for px, py, k in buckets.get((i, j), ()):
                    dx, dy = px - x, py - y
                    d = dx * dx + dy * dy
                    if d < best:
                        best, found = d, k
        return found if found >= 0 and math.sqrt(best) <= self.reach else -1
