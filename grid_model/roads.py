"""Road graph of the embedded region: a jittered street lattice whose density, winding and
speeds follow the area class, with arterials joining the district seats."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.spatial import Delaunay

from grid_model.areas import REMOTE_SEAT, RURAL_SEAT, TOWN_SEATS, URBAN_SEAT
from grid_model.network import AREA_NAMES, AreaClass

SPACING_M = {AreaClass.URBAN: 450.0, AreaClass.RURAL: 2000.0, AreaClass.REMOTE: 2600.0}
WINDING = {AreaClass.URBAN: 1.1, AreaClass.RURAL: 1.25, AreaClass.REMOTE: 1.6}
SPEED_KMH = {
    (AreaClass.URBAN, "local"): 25.0,
    (AreaClass.URBAN, "arterial"): 40.0,
    (AreaClass.RURAL, "local"): 40.0,
    (AreaClass.RURAL, "arterial"): 70.0,
    (AreaClass.REMOTE, "local"): 25.0,
    (AreaClass.REMOTE, "arterial"): 45.0,
}
ARTERIAL_BAND_M = 700.0


def _lattice(rng: np.random.Generator, geom: shapely.Geometry, spacing: float) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, spacing), np.arange(miny, maxy, spacing))
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    pts += rng.uniform(-0.3 * spacing, 0.3 * spacing, pts.shape)
    return pts[shapely.contains_xy(geom, pts[:, 0], pts[:, 1])]


def _arterial_segments(origin_m: tuple[float, float]) -> np.ndarray:
    seats = [URBAN_SEAT, *TOWN_SEATS, RURAL_SEAT, REMOTE_SEAT]
    xy = np.array([[origin_m[0] + s.x_km * 1000, origin_m[1] + s.y_km * 1000] for s in seats])
    pairs = [(0, k) for k in range(1, len(seats))] + [(1, 2), (2, 3), (3, 5)]
    return np.array([[xy[a], xy[b]] for a, b in pairs])


def _distance_to_segments(pts: np.ndarray, segs: np.ndarray) -> np.ndarray:
    a, b = segs[:, 0][None], segs[:, 1][None]
    ab = b - a
    t = np.clip(((pts[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    proj = a + t[..., None] * ab
    return np.sqrt(((pts[:, None] - proj) ** 2).sum(-1)).min(axis=1)


def build_road_graph(
    rng: np.random.Generator, areas: gpd.GeoDataFrame, origin_m: tuple[float, float]
) -> nx.Graph:
    """Connected undirected road graph; edges carry ``length_m``, ``travel_s``, ``road_class``."""
    parts, classes = [], []
    for geom, cls_name in zip(areas.geometry, areas["area_class"], strict=True):
        cls = AreaClass(AREA_NAMES.index(cls_name))
        pts = _lattice(rng, geom, SPACING_M[cls])
        parts.append(pts)
        classes.append(np.full(len(pts), cls, dtype=np.int8))
    xy = np.vstack(parts)
    cls_of = np.concatenate(classes)
    tri = Delaunay(xy)
    edges = set()
    for simplex in tri.simplices:
        for i in range(3):
            a, b = sorted((int(simplex[i]), int(simplex[(i + 1) % 3])))
            edges.add((a, b))
    edge_arr = np.array(sorted(edges))
    d = np.linalg.norm(xy[edge_arr[:, 0]] - xy[edge_arr[:, 1]], axis=1)
    limit = 1.6 * np.maximum(
        np.vectorize(SPACING_M.get)(cls_of[edge_arr[:, 0]]),
        np.vectorize(SPACING_M.get)(cls_of[edge_arr[:, 1]]),
    )
    keep = d <= limit
    edge_arr, d = edge_arr[keep], d[keep]
    mid = 0.5 * (xy[edge_arr[:, 0]] + xy[edge_arr[:, 1]])
    arterial = _distance_to_segments(mid, _arterial_segments(origin_m)) < ARTERIAL_BAND_M

    g = nx.Graph(crs=areas.crs.to_string(), name="embedded region roads")
    for i, (x, y) in enumerate(xy):
        g.add_node(i, x=float(x), y=float(y), area=AREA_NAMES[cls_of[i]])
    for (a, b), dist, art in zip(edge_arr, d, arterial, strict=True):
        cls = AreaClass(max(cls_of[a], cls_of[b]))
        road_class = "arterial" if art else "local"
        length = float(dist * WINDING[cls])
        travel = length / (SPEED_KMH[(cls, road_class)] / 3.6)
        g.add_edge(int(a), int(b), length_m=round(length, 1), travel_s=round(travel, 1),
                   road_class=road_class)
    _connect_components(g, xy)
    return g


def _connect_components(g: nx.Graph, xy: np.ndarray) -> None:
    """Join every stray component to the largest by its shortest straight link."""
    comps = sorted(nx.connected_components(g), key=len, reverse=True)
    main = np.array(sorted(comps[0]))
    for comp in comps[1:]:
        nodes = np.array(sorted(comp))
        dist = np.linalg.norm(xy[nodes][:, None] - xy[main][None], axis=2)
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        length = float(dist[i, j]) * 1.3
        g.add_edge(int(nodes[i]), int(main[j]), length_m=round(length, 1),
                   travel_s=round(length / (30.0 / 3.6), 1), road_class="local")
        main = np.concatenate([main, nodes])
