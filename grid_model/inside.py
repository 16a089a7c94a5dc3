"""Whether points lie inside a polygon, one point at a time: a raster of cells over its bounds,
each known to lie wholly in its interior, wholly outside it, or across its boundary, so only a
point in a boundary cell pays for the exact test (shapely's predicate costs ~10 us of call
overhead for one point)."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

# Widening of every cell, relative to the largest coordinate: far above the rounding of a
# point's cell (a few units in the last place), so a point lies in the cell it is looked up in.
_SLACK = 1e-9
_OUTSIDE, _INSIDE, _BOUNDARY = 0, 1, 2


class InsidePolygon:
    """The polygon (prepared, for the exact test) and its cells' states, row by row."""

    def __init__(self, polygon: BaseGeometry, cells: int = 64) -> None:
        self._polygon = polygon
        shapely.prepare(polygon)
        self._x0, self._y0, self._x1, self._y1 = polygon.bounds
        self._n = cells
        self._w = (self._x1 - self._x0) / cells
        self._h = (self._y1 - self._y0) / cells
        slack = _SLACK * (max(abs(c) for c in polygon.bounds) + self._w + self._h)
        i, j = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        boxes = shapely.box(self._x0 + i * self._w - slack, self._y0 + j * self._h - slack,
                            self._x0 + (i + 1) * self._w + slack, self._y0 + (j + 1) * self._h + slack)
        state = np.full(boxes.shape, _BOUNDARY, dtype=np.int8)
        state[shapely.contains_properly(polygon, boxes)] = _INSIDE
        state[shapely.disjoint(polygon, boxes)] = _OUTSIDE
        self._state = state.ravel().tolist()

    def contains(self, x: float, y: float) -> bool:
        """Whether (x, y) lies in the polygon's interior: ``shapely.contains_xy``."""
        if not (self._x0 < x < self._x1 and self._y0 < y < self._y1):
            return False  # the interior lies strictly inside the bounds
        n = self._n
        i = min(math.floor((x - self._x0) / self._w), n - 1)
        j = min(math.floor((y - self._y0) / self._h), n - 1)
        state = self._state[i * n + j]
        if state == _BOUNDARY:
            return bool(shapely.contains_xy(self._polygon, x, y))
        return state == _INSIDE
