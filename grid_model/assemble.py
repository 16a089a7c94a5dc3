"""Shared by the grid importers: collect nodes, then build the network and the ``Region``
around it (customer table, one service area around the grid, feeder table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from grid_model.network import (
    AREA_NAMES,
    AreaClass,
    Construction,
    DeviceKind,
    Network,
    NodeKind,
    build_network,
)
from grid_model.region import Region


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone (WGS84) holding a point, as an EPSG code."""
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


@dataclass
class NodeTable:
    """Nodes in the order they are added; a parent is named by its id and added first."""

    ids: list[str] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    devs: list[int] = field(default_factory=list)
    dev_ids: list[str] = field(default_factory=list)
    builds: list[int] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)
    pos: dict[str, int] = field(default_factory=dict)
    customers: list[tuple[str, float, float, str, str, str]] = field(default_factory=list)

    def add(self, nid: str, kind: NodeKind, par: str, x: float, y: float,
            dev: DeviceKind = DeviceKind.NONE, dev_id: str = "",
            build: Construction = Construction.NONE, length: float = 0.0) -> None:
        self.pos[nid] = len(self.ids)
        self.ids.append(nid)
        self.kinds.append(int(kind))
        self.parents.append(self.pos[par] if par else -1)
        self.xs.append(x)
        self.ys.append(y)
        self.devs.append(int(dev))
        self.dev_ids.append(dev_id)
        self.builds.append(int(build))
        self.lengths.append(length)

    def add_customer(self, cid: str, drop_parent: str, x: float, y: float, *, meter_id: str = "",
                     address: str = "", critical: str = "", drop_id: str = "",
                     box_id: str = "") -> None:
        """A customer behind a meter box on a service drop (each its own unless named)."""
        drop = drop_id or f"drop:{cid}"
        if drop not in self.pos:
            self.add(drop, NodeKind.SERVICE_DROP, drop_parent, x, y)
        box = box_id or f"box:{cid}"
        if box not in self.pos:
            self.add(box, NodeKind.METER_BOX, drop, x, y)
        self.add(cid, NodeKind.CUSTOMER, box, x, y)
        self.customers.append((cid, x, y, meter_id or f"meter:{cid}", address, critical))

    def network(self, area: AreaClass, node_area: Mapping[str, int] | None = None) -> Network:
        """The built network; every node in ``area`` unless ``node_area`` names its class
        (a node it leaves out takes its parent's)."""
        areas = np.full(len(self.ids), int(area), dtype=np.int8)
        if node_area:
            for i, nid in enumerate(self.ids):  # parents come first, so theirs is already set
                par = self.parents[i]
                areas[i] = node_area.get(nid, areas[par] if par >= 0 else int(area))
        return build_network(node_id=self.ids, kind=self.kinds, parent=self.parents, x_m=self.xs,
                             y_m=self.ys, device=self.devs, device_id=self.dev_ids,
                             construction=self.builds, length_m=self.lengths, area=areas)


def region_of(table: NodeTable, *, name: str, crs: str, origin_m: tuple[float, float],
              area: AreaClass, feeders: list[dict[str, str]],
              node_area: Mapping[str, int] | None = None) -> Region:
    """The region around an imported network: customers with their meters, addresses and
    positions, a service area hugging the grid, and the feeder table."""
    network = table.network(area, node_area)
    index = network.index_of()
    rows = table.customers
    n = len(rows)
    cx = np.array([r[1] for r in rows], dtype=np.float64)
    cy = np.array([r[2] for r in rows], dtype=np.float64)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy) if n \
        else (np.zeros(0), np.zeros(0))
    customers = pd.DataFrame({
        "customer_id": [r[0] for r in rows], "meter_id": [r[3] for r in rows],
        "node_idx": [index[r[0]] for r in rows], "address": [r[4] for r in rows],
        "address_en": [""] * n, "district": [""] * n, "subdistrict": [""] * n, "road": [""] * n,
        "road_en": [""] * n, "number": np.zeros(n, dtype=np.int32),
        "building": np.zeros(n, dtype=np.int32), "unit": np.zeros(n, dtype=np.int32),
        "room": np.zeros(n, dtype=np.int32), "x_m": cx, "y_m": cy,
        "critical": [r[5] for r in rows], "lon": lon, "lat": lat,
    }).sort_values("node_idx", kind="stable").reset_index(drop=True)
    customers["area"] = network.area[customers["node_idx"].to_numpy()]
    pts = shapely.points(np.column_stack([network.x_m, network.y_m]))
    hull = shapely.convex_hull(shapely.multipoints(pts)).buffer(500.0)
    areas = gpd.GeoDataFrame({"area_id": ["A0"], "name": [name], "name_en": [name],
                              "area_class": [AREA_NAMES[area]]}, geometry=[hull], crs=crs)
    feeder_df = pd.DataFrame(feeders, columns=["feeder_id", "substation_id", "head"])
    feeder_df["transformers"] = [
        int((network.kind[network.subtree(index[f])] == NodeKind.TRANSFORMER).sum())
        for f in feeder_df["feeder_id"]]
    feeder_df["reclosers"] = [
        int((network.device[network.subtree(index[f])] == DeviceKind.RECLOSER).sum())
        for f in feeder_df["feeder_id"]]
    return Region(name=name, seed=0, scale=1.0, crs=crs, origin_m=origin_m, network=network,
                  customers=customers, areas=areas, roads=nx.Graph(), depots=(), feeders=feeder_df)
