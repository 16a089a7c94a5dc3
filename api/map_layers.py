"""The map page's layers drawn from the grid model instead of a tile server (none is reachable
in a control room cut off from the internet): area polygons and roads, the dark areas, and the
switches and ties with their state, in WGS84."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

from grid_model.network import AREA_NAMES
from grid_model.region import Region
from grid_model.switches import SwitchKind, SwitchLayer


def base_layer(region: Region) -> dict[str, Any]:
    """GeoJSON feature collections of the areas and roads, and the depots, for Leaflet."""
    areas = region.areas.to_crs("EPSG:4326")
    area_features = [{"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                      "properties": {"name": str(name), "area_class": str(cls)}}
                     for geom, name, cls in zip(areas.geometry, areas["name"], areas["area_class"],
                                                strict=True)]
    to_wgs = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
    nodes = {n: to_wgs.transform(d["x"], d["y"]) for n, d in region.roads.nodes(data=True)}
    lines = [[[round(nodes[a][0], 6), round(nodes[a][1], 6)], [round(nodes[b][0], 6), round(nodes[b][1], 6)]]
             for a, b in region.roads.edges()]
    roads = {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": lines},
             "properties": {"kind": "roads"}}
    depots = []
    for d in region.depots:
        lon, lat = to_wgs.transform(d.x_m, d.y_m)
        depots.append({"depot_id": d.depot_id, "name": d.name, "lon": round(lon, 6), "lat": round(lat, 6),
                       "area": AREA_NAMES[d.area]})
    return {"areas": {"type": "FeatureCollection", "features": area_features},
            "roads": {"type": "FeatureCollection", "features": [roads]}, "depots": depots}


def outage_areas(region: Region, orders: list[tuple[str, int]], *, buffer_m: float = 40.0) -> dict[str, Any]:
    """Where the lights are out: for each open order (id, network node), the hull of the
    customers below its node, widened by ``buffer_m``, as GeoJSON (WGS84)."""
    net = region.network
    cust = region.customers
    nodes = cust["node_idx"].to_numpy()
    order_by_node = np.argsort(nodes, kind="stable")
    sorted_nodes = nodes[order_by_node]
    x, y = cust["x_m"].to_numpy(), cust["y_m"].to_numpy()
    to_wgs = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
    features = []
    for order_id, node in orders:
        sl = net.subtree(node)
        lo, hi = np.searchsorted(sorted_nodes, [sl.start, sl.stop])
        rows = order_by_node[lo:hi]
        if not len(rows):
            continue
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[rows], y[rows]]))).buffer(buffer_m)
        wgs = shapely.transform(hull, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(wgs),
                         "properties": {"order_id": order_id, "customers": len(rows)}})
    return {"type": "FeatureCollection", "features": features}


def switch_states(region: Region, layer: SwitchLayer, open_nodes: npt.NDArray[np.bool_],
                  tie_load: dict[str, int]) -> dict[str, Any]:
    """The switches (points) and ties (lines between their ends) as GeoJSON (WGS84), each with
    its state now (``open_nodes``: the nodes whose edge in is open; ``tie_load``: the closed
    ties and the customers they carry) and whether that is off its normal state."""
    net = region.network
    to_wgs = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)

    def at(node: int) -> list[float]:
        lon, lat = to_wgs.transform(net.x_m[node], net.y_m[node])
        return [round(float(lon), 6), round(float(lat), 6)]

    features = []
    for node in layer.switch_points().tolist():
        is_open = bool(open_nodes[node])
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": at(node)},
                         "properties": {"kind": "switch", "switch_id": layer.switch_id[node],
                                        "remote": bool(layer.switch[node] == SwitchKind.REMOTE),
                                        "state": "open" if is_open else "closed", "off_normal": is_open,
                                        "customers_below": int(layer.customers_below[node])}})
    for tie in layer.ties:
        closed = tie.tie_id in tie_load
        line = {"type": "LineString", "coordinates": [at(tie.a), at(tie.b)]}
        features.append({"type": "Feature", "geometry": line,
                         "properties": {"kind": "tie", "switch_id": tie.tie_id, "remote": tie.remote,
                                        "state": "closed" if closed else "open", "off_normal": closed,
                                        "capacity": tie.capacity, "carries": tie_load.get(tie.tie_id, 0)}})
    return {"type": "FeatureCollection", "features": features}
