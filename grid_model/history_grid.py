"""A grid, roads and service area built around an outage history that has positions but no
topology (PG&E's outage map): each event becomes its own element, so one work order per event.

- Network: one substation and feeder head per circuit id (an event without one gets its own:
  nothing says which events share a feeder); under it, per event, the element its
  extent names (a service drop, a transformer, an MV device, a feeder section), carrying a
  protective device whose id is the event id (the outage record says what opened), with the
  event's customers below it. Construction is cable where the cause names underground work.
- Area class per event from how many other events lie near it (a proxy for customer density):
  urban with at least ``urban_neighbours`` within ``urban_radius_m``, remote with fewer than
  ``remote_neighbours`` within ``remote_radius_m``, rural otherwise.
- Roads: ``road_hubs`` k-means centres of the events, joined by their Delaunay triangulation;
  an edge takes its straight length times ``detour`` at the speed of its slower end's class.
  An event reaches its hub at ``access_speed_kmh`` with the same detour.
- Depots (staging): k-means centres of the events, one per ``crews_per_depot`` crews, weighted
  by the events near each; ``staged_depots`` reads a planner's own list instead.
"""

from __future__ import annotations

import csv
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from pyproj import Transformer
from scipy.cluster.vq import kmeans2
from scipy.spatial import Delaunay, QhullError, cKDTree

from grid_model.assemble import NodeTable, region_of, utm_crs
from grid_model.history import History, HistoryError, HistoryEvent
from grid_model.network import AREA_NAMES, SKILLS, AreaClass, Construction, DeviceKind, NodeKind
from grid_model.region import Depot, Region, Staging

# The element kind of each extent, and the device the outage record says opened there.
_ELEMENT = {"service_drop": (NodeKind.SERVICE_DROP, DeviceKind.FUSE),
            "transformer": (NodeKind.TRANSFORMER, DeviceKind.FUSE),
            "mv_device": (NodeKind.MV_NODE, DeviceKind.FUSE),
            "feeder": (NodeKind.MV_NODE, DeviceKind.BREAKER)}
_CABLE_WORDS = ("UG", "UNDERGROUND", "CABLE")


@dataclass(frozen=True, slots=True)
class HistoryGridParams:
    """How the synthetic grid, areas and roads are drawn around a history's events."""

    urban_radius_m: float = 5_000.0
    urban_neighbours: int = 60
    remote_radius_m: float = 10_000.0
    remote_neighbours: int = 10
    road_hubs: int = 1_000
    detour: float = 1.3
    speed_kmh: tuple[float, float, float] = (30.0, 60.0, 45.0)  # urban, rural, remote
    access_speed_kmh: float = 30.0
    crews_per_depot: int = 15
    seed: int = 0


@dataclass(frozen=True, slots=True)
class HistoryGrid:
    """The region built around a history, and where each event sits in it."""

    region: Region
    event_node: dict[str, str]  # event id -> node id of its element (also its device id)


def _project(events: Sequence[HistoryEvent]) -> tuple[str, np.ndarray, np.ndarray]:
    lon = np.array([e.lon for e in events])
    lat = np.array([e.lat for e in events])
    crs = utm_crs(float(np.median(lon)), float(np.median(lat)))
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    return crs, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def area_classes(x: np.ndarray, y: np.ndarray, p: HistoryGridParams) -> np.ndarray:
    """Area class of each point from the number of other points around it."""
    tree = cKDTree(np.column_stack([x, y]))
    pts = np.column_stack([x, y])
    near = tree.query_ball_point(pts, p.urban_radius_m, return_length=True) - 1
    wide = tree.query_ball_point(pts, p.remote_radius_m, return_length=True) - 1
    out = np.full(len(x), int(AreaClass.RURAL), dtype=np.int8)
    out[wide < p.remote_neighbours] = AreaClass.REMOTE
    out[near >= p.urban_neighbours] = AreaClass.URBAN
    return out


def _centres(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means centres of the points (at most as many as distinct points) and each point's."""
    pts = np.column_stack([x, y])
    k = max(1, min(k, len(np.unique(pts, axis=0))))
    if k == 1:
        return pts.mean(axis=0, keepdims=True), np.zeros(len(pts), dtype=np.int64)
    with warnings.catch_warnings():  # an empty cluster is dropped below, not an error
        warnings.filterwarnings("ignore", "One of the clusters is empty", UserWarning)
        centres, label = kmeans2(pts, k, minit="points", seed=np.random.default_rng(seed))
    used = np.unique(label)  # k-means may leave a centre without points: drop it
    remap = np.full(k, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return centres[used], remap[label]


def road_graph(x: np.ndarray, y: np.ndarray, area: np.ndarray, p: HistoryGridParams) -> nx.Graph:
    """Hubs at the events' k-means centres joined by their Delaunay triangulation; edge
    seconds = straight length x detour / the slower end's speed."""
    centres, label = _centres(x, y, p.road_hubs, p.seed)
    hub_area = np.full(len(centres), int(AreaClass.RURAL), dtype=np.int8)
    for h in range(len(centres)):
        members = area[label == h]
        hub_area[h] = np.bincount(members, minlength=3).argmax()
    speed_ms = np.array(p.speed_kmh) / 3.6
    graph = nx.Graph()
    for h, (cx, cy) in enumerate(centres):
        graph.add_node(h, x=float(cx), y=float(cy), area=AREA_NAMES[hub_area[h]])
    if len(centres) == 2:
        pairs = {(0, 1)}
    elif len(centres) > 2:
        try:
            tri = Delaunay(centres)
            pairs = {(min(a, b), max(a, b)) for s in tri.simplices.tolist()
                     for a, b in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2]))}
        except QhullError:  # all hubs on one line: chain them in order along it
            order = np.lexsort((centres[:, 1], centres[:, 0])).tolist()
            pairs = {(min(a, b), max(a, b)) for a, b in itertools.pairwise(order)}
    else:
        pairs = set()
    for a, b in sorted(pairs):
        dist = float(np.hypot(*(centres[a] - centres[b])))
        slower = min(speed_ms[hub_area[a]], speed_ms[hub_area[b]])
        graph.add_edge(a, b, length_m=dist, travel_s=dist * p.detour / slower)
    return graph


def _weighted_depots(x: np.ndarray, y: np.ndarray, area: np.ndarray, n_crews: int,
                     p: HistoryGridParams) -> list[Staging]:
    centres, label = _centres(x, y, math.ceil(n_crews / p.crews_per_depot), p.seed + 1)
    out = []
    for d, (cx, cy) in enumerate(centres):
        members = label == d
        cls = int(np.bincount(area[members], minlength=3).argmax())
        out.append(Staging(Depot(f"D{d + 1:02d}", f"staging {d + 1}", float(cx), float(cy), cls),
                           float(members.sum())))
    return out


def staged_depots(path: Path, crs: str) -> list[Staging]:
    """A planner's staging list: CSV ``depot_id,lat,lon,crews`` and optionally ``skills``
    (space-separated: lv mv cable); each depot gets that share of the crews."""
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("depot_id", "lat", "lon", "crews") if c not in (reader.fieldnames or [])]
        if missing:
            raise HistoryError(f"{path}: missing column(s) {', '.join(missing)}")
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            if None in row or any(row.get(c) is None for c in ("depot_id", "lat", "lon", "crews")):
                raise HistoryError(f"{path}:{line}: {'more' if None in row else 'fewer'} fields than the "
                                   f"header names")
            depot_id = (row["depot_id"] or "").strip()
            if not depot_id or depot_id in seen:
                raise HistoryError(f"{path}:{line}: depot_id {row['depot_id']!r} is "
                                   f"{'listed twice' if depot_id else 'empty'}")
            seen.add(depot_id)
            try:
                lat, lon, crews = float(row["lat"] or ""), float(row["lon"] or ""), float(row["crews"] or "")
            except ValueError:
                raise HistoryError(f"{path}:{line}: lat, lon and crews must be numbers") from None
            if not (math.isfinite(crews) and -90 <= lat <= 90 and -180 <= lon <= 180) or crews < 0:
                raise HistoryError(f"{path}:{line}: position {lat}, {lon} or crews {crews} is out of range")
            skills = frozenset((row.get("skills") or "").split())
            unknown = sorted(skills - set(SKILLS))
            if unknown:
                raise HistoryError(f"{path}:{line}: unknown skill(s) {', '.join(unknown)}; "
                                   f"known: {', '.join(SKILLS)}")
            x, y = to_utm.transform(lon, lat)
            depot = Depot(depot_id, depot_id, float(x), float(y), int(AreaClass.RURAL))
            out.append(Staging(depot, crews, skills))
    if not out or sum(s.crews for s in out) <= 0:
        raise HistoryError(f"{path}: no depot with crews")
    return out


def build_history_grid(history: History, *, n_crews: int, params: HistoryGridParams | None = None,
                       depots_file: Path | None = None,
                       name: str = "history") -> tuple[HistoryGrid, list[Staging]]:
    """The region around ``history``'s events and its staging depots with their crew weights."""
    p = params or HistoryGridParams()
    events = history.events
    crs, x, y = _project(events)
    area = area_classes(x, y, p)
    table = NodeTable()
    node_area: dict[str, int] = {}
    feeders: list[dict[str, str]] = []
    by_circuit: dict[str, list[int]] = {}
    for k, e in enumerate(events):
        by_circuit.setdefault(e.circuit_id or f"event-{e.event_id}", []).append(k)
    event_node: dict[str, str] = {}
    for circuit, members in by_circuit.items():
        cx, cy = float(x[members].mean()), float(y[members].mean())
        sub, head = f"sub:{circuit}", f"feeder:{circuit}"
        table.add(sub, NodeKind.SUBSTATION, "", cx, cy)
        table.add(head, NodeKind.FEEDER_HEAD, sub, cx, cy, DeviceKind.BREAKER, f"breaker:{circuit}")
        node_area[sub] = node_area[head] = int(np.bincount(area[members], minlength=3).argmax())
        feeders.append({"feeder_id": head, "substation_id": sub, "head": head})
        for k in members:
            e = events[k]
            kind, device = _ELEMENT[e.extent]
            cable = any(w in e.cause.upper().split() for w in _CABLE_WORDS)
            nid = f"event:{e.event_id}"
            ex, ey = float(x[k]), float(y[k])
            table.add(nid, kind, head, ex, ey, device, e.event_id,
                      Construction.CABLE if cable else Construction.OVERHEAD)
            event_node[e.event_id] = nid
            node_area[nid] = int(area[k])
            if e.customers:
                drop = nid if kind == NodeKind.SERVICE_DROP else f"drop:{e.event_id}"
                if drop != nid:
                    table.add(drop, NodeKind.SERVICE_DROP, nid, ex, ey)
                for c in range(e.customers):
                    table.add_customer(f"{e.event_id}-{c + 1}", nid, ex, ey, drop_id=drop,
                                       box_id=f"box:{e.event_id}")
    ox, oy = float(x.min()), float(y.min())
    region = region_of(table, name=name, crs=crs, origin_m=(ox, oy), area=AreaClass.RURAL,
                       feeders=feeders, node_area=node_area)
    roads = road_graph(x, y, area, p)
    depots = (staged_depots(depots_file, crs) if depots_file is not None
              else _weighted_depots(x, y, area, n_crews, p))
    region = Region(name=region.name, seed=p.seed, scale=1.0, crs=crs, origin_m=region.origin_m,
                    network=region.network, customers=region.customers, areas=region.areas,
                    roads=roads, depots=tuple(s.depot for s in depots), feeders=region.feeders)
    return HistoryGrid(region, event_node), depots
