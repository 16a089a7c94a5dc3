"""The raster of cells answers as shapely's exact test, inside, outside and on the boundary."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from grid_model.areas import territory_polygon
from grid_model.inside import InsidePolygon
from grid_model.region import Region


def _agrees(polygon: shapely.Geometry, x: np.ndarray, y: np.ndarray, cells: int = 128) -> None:
    test = InsidePolygon(polygon, cells)
    expected = shapely.contains_xy(polygon, x, y)
    got = np.asarray([test.contains(a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)])
    assert expected.any() and not expected.all()
    assert (got == expected).all()


def test_random_points_and_points_on_the_boundary() -> None:
    rng = np.random.default_rng(4)
    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    r = 5000 * (1 + 0.3 * np.sin(5 * angles))
    blob = Polygon(np.column_stack([700_000 + r * np.cos(angles), 3_200_000 + r * np.sin(angles)]))
    holed = blob.difference(shapely.Point(700_000, 3_200_000).buffer(1500))
    apart = shapely.union_all([blob, shapely.box(706_000, 3_194_000, 712_000, 3_199_000)])
    for polygon in (blob, holed, apart):
        x0, y0, x1, y1 = polygon.bounds
        x, y = rng.uniform(x0 - 500, x1 + 500, 20_000), rng.uniform(y0 - 500, y1 + 500, 20_000)
        # vertices, points along the edges, and the bounds themselves
        ring = shapely.get_coordinates(shapely.boundary(polygon))
        along = shapely.get_coordinates(shapely.segmentize(shapely.boundary(polygon), 37.0))
        edge = np.concatenate([ring, along, [[x0, y0], [x1, y1], [x0, (y0 + y1) / 2], [(x0 + x1) / 2, y1]]])
        _agrees(polygon, np.concatenate([x, edge[:, 0]]), np.concatenate([y, edge[:, 1]]))


def test_the_territory_of_the_small_region(small_region: Region) -> None:
    territory = territory_polygon(small_region.areas)
    x0, y0, x1, y1 = territory.bounds
    rng = np.random.default_rng(5)
    x, y = rng.uniform(x0 - 2000, x1 + 2000, 20_000), rng.uniform(y0 - 2000, y1 + 2000, 20_000)
    edge = shapely.get_coordinates(shapely.segmentize(shapely.boundary(territory), 50.0))
    _agrees(territory, np.concatenate([x, edge[:, 0]]), np.concatenate([y, edge[:, 1]]), cells=16)
