"""The map page's base layer, drawn from the grid model instead of a tile server (none is
reachable in a control room cut off from the internet): area polygons and roads in WGS84."""

from __future__ import annotations

from typing import Any

import shapely
from pyproj import Transformer

from grid_model.network import AREA_NAMES
from grid_model.region import Region


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
