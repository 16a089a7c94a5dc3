"""Seeded generator of the embedded default region: a Chinese prefecture's service area with
substations, radial 10 kV feeders, transformers, LV networks, customers with postal addresses,
roads and service stations. Deterministic for a seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

from grid_model.areas import (
    REMOTE_SEAT,
    RURAL_SEAT,
    TOWN_RADIUS_KM,
    TOWN_SEATS,
    URBAN_RADIUS_KM,
    URBAN_SEAT,
    Seat,
    area_class_at,
    build_areas,
)
from grid_model.names import ROAD_SUFFIXES, unique_names
from grid_model.network import (
    AreaClass,
    Construction,
    DeviceKind,
    Network,
    NodeKind,
    build_network,
)
from grid_model.region import Depot, Region
from grid_model.roads import build_road_graph


@dataclass(frozen=True, slots=True)
class LvShape:
    """Ranges (inclusive) of the LV tree under one transformer of a zone."""

    branches: tuple[int, int]
    drops: tuple[int, int]
    boxes: tuple[int, int]
    customers: tuple[int, int]
    spacing_m: float


ZONE_SHAPES = {
    "urban": LvShape((2, 3), (2, 3), (1, 2), (3, 7), 35.0),
    "town": LvShape((2, 3), (2, 3), (1, 2), (2, 5), 40.0),
    "village": LvShape((1, 2), (2, 5), (1, 1), (2, 5), 60.0),
    "hamlet": LvShape((1, 2), (2, 4), (1, 1), (2, 4), 70.0),
}


@dataclass(frozen=True, slots=True)
class RegionParams:
    """What the generator builds; ``scale`` shrinks every count for tests."""

    seed: int = 2024
    scale: float = 1.0
    center_lon: float = 118.87
    center_lat: float = 28.94
    crs: str = "EPSG:32650"
    urban_transformers: int = 1300
    town_transformers: int = 210
    villages: int = 420
    hamlets: int = 210
    transformers_per_feeder: int = 45
    long_feeder_m: float = 6000.0
    hospitals: int = 20
    critical_share: float = 0.005
    substations_km: tuple[tuple[float, float], ...] = field(
        default=((-2.5, 1.5), (2.5, 2.0), (0.5, -3.0), (26.8, -5.5), (-5.2, -27.5),
                 (-25.2, -3.5), (14.0, 16.0), (10.0, -20.0), (-26.0, 22.0))
    )

    def count(self, n: int) -> int:
        return max(1, round(n * self.scale))


@dataclass(slots=True)
class _Xfmr:
    x: float
    y: float
    zone: str
    district: tuple[str, str]
    subdistrict: tuple[str, str]
    road: tuple[str, str]
    number: int = 0


@dataclass(slots=True)
class _Builder:
    """Collects node columns and customer rows in emission order."""

    node_id: list[str] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    device: list[int] = field(default_factory=list)
    device_id: list[str] = field(default_factory=list)
    construction: list[int] = field(default_factory=list)
    length: list[float] = field(default_factory=list)
    customers: list[dict[str, object]] = field(default_factory=list)
    house_numbers: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, nid: str, kind: NodeKind, parent: int, x: float, y: float, *,
            device: DeviceKind = DeviceKind.NONE, device_id: str = "",
            construction: Construction = Construction.NONE, length_m: float = 0.0) -> int:
        self.node_id.append(nid)
        self.kind.append(int(kind))
        self.parent.append(parent)
        self.x.append(x)
        self.y.append(y)
        self.device.append(int(device))
        self.device_id.append(device_id)
        self.construction.append(int(construction))
        self.length.append(length_m)
        return len(self.node_id) - 1


def _sample_in(rng: np.random.Generator, geom: shapely.Geometry, n: int,
               draw: Callable[[int], np.ndarray]) -> np.ndarray:
    out = np.empty((0, 2))
    while len(out) < n:
        pts = draw(4 * (n - len(out)) + 8)
        pts = pts[shapely.contains_xy(geom, pts[:, 0], pts[:, 1])]
        out = np.vstack([out, pts])
    return out[:n]


def _place_transformers(rng: np.random.Generator, p: RegionParams, areas: gpd.GeoDataFrame,
                        origin: tuple[float, float]) -> list[_Xfmr]:
    ox, oy = origin
    geoms = list(areas.geometry)
    urban_geom, town_geoms, rural_geom, remote_geom = geoms[0], geoms[1:4], geoms[4], geoms[5]
    n_names = 2 * (p.count(p.villages) + p.count(p.hamlets)) + 400
    names = iter(unique_names(rng, min(n_names, 2000)))
    xfmrs: list[_Xfmr] = []

    def city_blocks(seat: Seat, geom: shapely.Geometry, n: int, sigma_m: float,
                    n_streets: int) -> None:
        cx, cy = ox + seat.x_km * 1000, oy + seat.y_km * 1000
        pts = _sample_in(rng, geom, n, lambda k: np.column_stack(
            [rng.normal(cx, sigma_m, k), rng.normal(cy, sigma_m, k)]))
        streets = [next(names) for _ in range(n_streets)]
        pitch = 700.0
        gx = np.round((pts[:, 0] - cx) / pitch)
        gy = np.round((pts[:, 1] - cy) / pitch)
        by_ns = np.abs(pts[:, 0] - cx - gx * pitch) < np.abs(pts[:, 1] - cy - gy * pitch)
        line_key = [("ns", int(a)) if ns else ("ew", int(b)) for a, b, ns in zip(gx, gy, by_ns, strict=True)]
        road_names: dict[tuple[str, int], tuple[str, str]] = {}
        for key in sorted(set(line_key)):
            base = next(names)
            suf = ROAD_SUFFIXES[len(road_names) % len(ROAD_SUFFIXES)]
            road_names[key] = (base[0] + suf[0], f"{base[1]} {suf[1]}")
        sector = ((np.arctan2(pts[:, 1] - cy, pts[:, 0] - cx) + np.pi) / (2 * np.pi) * n_streets)
        start = len(xfmrs)
        for (x, y), key, sec in zip(pts, line_key, sector.astype(int) % n_streets, strict=True):
            street = streets[sec]
            xfmrs.append(_Xfmr(float(x), float(y), "urban" if seat is URBAN_SEAT else "town",
                               (seat.name, seat.name_en), (street[0] + "街道", f"{street[1]} Jiedao"),
                               road_names[key]))
        per_road: dict[tuple[str, str], list[int]] = {}
        for i in range(start, len(xfmrs)):
            per_road.setdefault(xfmrs[i].road, []).append(i)
        for members in per_road.values():
            members.sort(key=lambda i: (xfmrs[i].x + xfmrs[i].y))
            for rank, i in enumerate(members):
                xfmrs[i].number = 2 * rank + 8

    city_blocks(URBAN_SEAT, urban_geom, p.count(p.urban_transformers), URBAN_RADIUS_KM * 450, 6)
    for seat, geom in zip(TOWN_SEATS, town_geoms, strict=True):
        city_blocks(seat, geom, p.count(p.town_transformers), TOWN_RADIUS_KM * 400, 2)

    def villages(geom: shapely.Geometry, n: int, per: tuple[int, int], sigma: float,
                 zone: str, suffix: tuple[str, str], seats: list[Seat]) -> None:
        minx, miny, maxx, maxy = geom.bounds
        centres = _sample_in(rng, geom, n, lambda k: np.column_stack(
            [rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)]))
        n_towns = max(1, n // 8)
        town_idx = rng.choice(n, n_towns, replace=False)
        towns = [next(names) for _ in range(n_towns)]
        d = np.linalg.norm(centres[:, None] - centres[town_idx][None], axis=2)
        town_of = d.argmin(axis=1)
        seat_xy = np.array([[ox + s.x_km * 1000, oy + s.y_km * 1000] for s in seats])
        district_of = np.linalg.norm(centres[:, None] - seat_xy[None], axis=2).argmin(axis=1)
        for v, (cx, cy) in enumerate(centres):
            vname = next(names)
            town = towns[town_of[v]]
            seat = seats[district_of[v]]
            for _ in range(int(rng.integers(per[0], per[1] + 1))):
                xfmrs.append(_Xfmr(float(rng.normal(cx, sigma)), float(rng.normal(cy, sigma)), zone,
                                   (seat.name, seat.name_en),
                                   (town[0] + suffix[0], f"{town[1]} {suffix[1]}"),
                                   (vname[0] + "村", f"{vname[1]} Cun")))

    villages(rural_geom, p.count(p.villages), (1, 5), 250.0, "village", ("镇", "Zhen"),
             [RURAL_SEAT, *TOWN_SEATS])
    villages(remote_geom, p.count(p.hamlets), (1, 3), 150.0, "hamlet", ("乡", "Xiang"),
             [REMOTE_SEAT])
    return xfmrs


def _feeder_tree(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum spanning tree over a feeder head (row 0) and its junctions, rooted at the head.

    Returns (parent, bfs_order); parent[0] = -1.
    """
    d = np.linalg.norm(points[:, None] - points[None], axis=2) + 1e-3
    np.fill_diagonal(d, 0.0)
    mst = minimum_spanning_tree(d)
    sym = mst + mst.T
    order, pred = breadth_first_order(sym, 0, directed=False, return_predecessors=True)
    parent = pred.astype(np.int64)
    parent[0] = -1
    return parent, order


@dataclass(frozen=True, slots=True)
class _FeederPlan:
    """One feeder's MST over its transformers' junctions, with its trunk and devices chosen."""

    feeder_id: str
    xfmr_of_vertex: np.ndarray
    build: Construction
    cable: bool
    children: list[list[int]]
    reclosers: set[int]
    trunk: set[int]
    parent: np.ndarray
    seg_m: np.ndarray


def _emit_junction(b: _Builder, rng: np.random.Generator, xfmrs: list[_Xfmr], plan: _FeederPlan,
                   v: int, parent_idx: int) -> None:
    """Emit MST vertex ``v`` (a junction and its transformer tap) and, depth-first, its subtree."""
    xf = xfmrs[int(plan.xfmr_of_vertex[v - 1])]
    jid = f"{plan.feeder_id}-J{v:03d}"
    if v in plan.reclosers:
        dev, dev_id = DeviceKind.RECLOSER, f"RC-{jid}"
    elif v not in plan.trunk and (plan.parent[v] == 0 or int(plan.parent[v]) in plan.trunk):
        dev, dev_id = DeviceKind.FUSE, f"FU-{jid}"
    else:
        dev, dev_id = DeviceKind.NONE, ""
    j = b.add(jid, NodeKind.MV_NODE, parent_idx, xf.x, xf.y, device=dev, device_id=dev_id,
              construction=plan.build, length_m=float(plan.seg_m[v]))
    xid = f"{plan.feeder_id}-T{v:03d}"
    x_idx = b.add(xid, NodeKind.TRANSFORMER, j, xf.x + 8.0, xf.y + 8.0, device=DeviceKind.FUSE,
                  device_id=f"FU-{xid}", construction=plan.build, length_m=10.0)
    _emit_lv(b, rng, xf, x_idx, xid, ZONE_SHAPES[xf.zone], plan.cable)
    for c in plan.children[v]:
        _emit_junction(b, rng, xfmrs, plan, c, j)


def _emit_lv(b: _Builder, rng: np.random.Generator, xf: _Xfmr, xf_idx: int, xf_id: str,
             shape: LvShape, cable: bool) -> None:
    """Emit the LV branches, service drops, meter boxes and customers under one transformer."""
    lv_build = Construction.CABLE if cable else Construction.OVERHEAD
    for bi in range(1, int(rng.integers(shape.branches[0], shape.branches[1] + 1)) + 1):
        ang = rng.uniform(0, 2 * np.pi)
        ux, uy = np.cos(ang), np.sin(ang)
        br_id = f"{xf_id}-L{bi}"
        n_drops = int(rng.integers(shape.drops[0], shape.drops[1] + 1))
        br = b.add(br_id, NodeKind.LV_BRANCH, xf_idx, xf.x + ux * shape.spacing_m * 0.5,
                   xf.y + uy * shape.spacing_m * 0.5, device=DeviceKind.FUSE,
                   device_id=f"LF-{br_id}", construction=lv_build,
                   length_m=shape.spacing_m * n_drops)
        for di in range(1, n_drops + 1):
            along = shape.spacing_m * di
            side = rng.normal(0, shape.spacing_m * 0.3)
            dx, dy = xf.x + ux * along - uy * side, xf.y + uy * along + ux * side
            dr_id = f"{br_id}-D{di}"
            dr = b.add(dr_id, NodeKind.SERVICE_DROP, br, dx, dy, construction=lv_build,
                       length_m=float(abs(side)) + 5.0)
            n_boxes = int(rng.integers(shape.boxes[0], shape.boxes[1] + 1))
            for ki in range(1, n_boxes + 1):
                kx, ky = dx + rng.normal(0, 6), dy + rng.normal(0, 6)
                bx = b.add(f"{dr_id}-B{ki}", NodeKind.METER_BOX, dr, kx, ky)
                for ci in range(int(rng.integers(shape.customers[0], shape.customers[1] + 1))):
                    cx, cy = kx + rng.normal(0, 2), ky + rng.normal(0, 2)
                    if xf.zone in ("urban", "town"):
                        floor, door = ci // 2 + 1, ci % 2 + 1
                        parts = {"building": di + 10 * (bi - 1), "unit": ki if n_boxes > 1 else 0,
                                 "room": floor * 100 + door, "number": xf.number}
                    else:
                        house = b.house_numbers.get(xf.road, 0) + 1
                        b.house_numbers[xf.road] = house
                        parts = {"building": 0, "unit": 0, "room": 0, "number": house}
                    idx = b.add("", NodeKind.CUSTOMER, bx, cx, cy)
                    b.customers.append({"node": idx, "x_m": cx, "y_m": cy, "zone": xf.zone,
                                        "district": xf.district, "subdistrict": xf.subdistrict,
                                        "road": xf.road, **parts})


def _address(row: dict[str, object]) -> tuple[str, str]:
    names = cast(tuple[tuple[str, str], tuple[str, str], tuple[str, str]],
                 (row["district"], row["subdistrict"], row["road"]))
    (d, d_en), (s, s_en), (r, r_en) = names
    num, bld, unit, room = row["number"], row["building"], row["unit"], row["room"]
    zh = f"{d} {s} {r} {num} 号"
    en = f"No. {num} {r_en}, {s_en}, {d_en}"
    if bld:
        unit_zh = f" {unit} 单元" if unit else ""
        zh += f" {bld} 栋{unit_zh} {room} 室"
        unit_en = f"Unit {unit}, " if unit else ""
        en = f"Room {room}, {unit_en}Building {bld}, {en}"
    return zh, en


def generate_region(params: RegionParams | None = None) -> Region:
    """Build the embedded region for ``params`` (deterministic for ``params.seed``)."""
    p = params or RegionParams()
    rng = np.random.default_rng(p.seed)
    to_utm = Transformer.from_crs("EPSG:4326", p.crs, always_xy=True)
    origin = tuple(float(v) for v in to_utm.transform(p.center_lon, p.center_lat))
    areas = build_areas(rng, origin, p.crs)  # type: ignore[arg-type]
    xfmrs = _place_transformers(rng, p, areas, origin)  # type: ignore[arg-type]
    xy = np.array([[t.x, t.y] for t in xfmrs])
    xf_area = area_class_at(areas, xy[:, 0], xy[:, 1])
    subs = np.array([[origin[0] + a * 1000, origin[1] + c * 1000] for a, c in p.substations_km])
    sub_of = np.linalg.norm(xy[:, None] - subs[None], axis=2).argmin(axis=1)
    sub_names = unique_names(rng, len(subs))

    b = _Builder()
    feeder_rows = []
    for s, (sx, sy) in enumerate(subs):
        sub_id = f"SUB{s + 1:02d}"
        s_idx = b.add(sub_id, NodeKind.SUBSTATION, -1, float(sx), float(sy))
        members = np.flatnonzero(sub_of == s)
        if len(members) == 0:
            continue
        n_feeders = max(2, round(len(members) / p.transformers_per_feeder))
        angle = np.arctan2(xy[members, 1] - sy, xy[members, 0] - sx)
        for f, chunk in enumerate(np.array_split(members[np.argsort(angle)], n_feeders)):
            if len(chunk) == 0:
                continue
            fid = f"F{s + 1:02d}{f + 1:02d}"
            cable = bool(np.mean(xf_area[chunk] == AreaClass.URBAN) > 0.5)
            build = Construction.CABLE if cable else Construction.OVERHEAD
            head = b.add(fid, NodeKind.FEEDER_HEAD, s_idx, float(sx) + 5.0 * f, float(sy),
                         device=DeviceKind.BREAKER, device_id=f"CB-{fid}", construction=build,
                         length_m=50.0)
            pts = np.vstack([[sx, sy], xy[chunk]])
            parent, order = _feeder_tree(pts)
            seg = np.zeros(len(pts))
            seg[1:] = np.linalg.norm(pts[1:] - pts[parent[1:]], axis=1)
            dist = np.zeros(len(pts))
            for v in order[1:]:
                dist[v] = dist[parent[v]] + seg[v]
            far = int(np.argmax(dist))
            trunk = []
            v = far
            while v > 0:
                trunk.append(v)
                v = int(parent[v])
            trunk_set = set(trunk)
            reclosers: set[int] = set()
            if not cable and dist[far] > p.long_feeder_m:
                trunk_dist = dist[np.asarray(trunk)]
                for share in (0.35, 0.7):
                    reclosers.add(trunk[int(np.argmin(np.abs(trunk_dist - share * dist[far])))])
            children: list[list[int]] = [[] for _ in range(len(pts))]
            for v in order[1:]:
                children[int(parent[v])].append(int(v))
            feeder_rows.append({"feeder_id": fid, "substation_id": sub_id,
                                "substation_name": f"110kV {sub_names[s][0]}变",
                                "construction": "cable" if cable else "overhead",
                                "length_km": round(float(seg.sum()) / 1000, 2),
                                "transformers": len(chunk), "reclosers": len(reclosers)})

            plan = _FeederPlan(fid, chunk, build, cable, children, reclosers, trunk_set,
                               parent, seg)
            for c in children[0]:
                _emit_junction(b, rng, xfmrs, plan, c, head)

    cust = pd.DataFrame(b.customers)
    n_cust = len(cust)
    cust_ids = [f"{3301000001 + i:010d}" for i in range(n_cust)]
    for i, row in enumerate(b.customers):
        b.node_id[int(row["node"])] = cust_ids[i]  # type: ignore[call-overload]
    node_x, node_y = np.asarray(b.x), np.asarray(b.y)
    network = build_network(
        node_id=b.node_id, kind=b.kind, parent=b.parent, x_m=node_x, y_m=node_y,
        device=b.device, device_id=b.device_id, construction=b.construction,
        length_m=b.length, area=area_class_at(areas, node_x, node_y),
    )
    customers = _customer_table(rng, p, cust, cust_ids, network)
    to_wgs = Transformer.from_crs(p.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(customers["x_m"].to_numpy(), customers["y_m"].to_numpy())
    customers["lon"], customers["lat"] = np.round(lon, 6), np.round(lat, 6)
    roads = build_road_graph(rng, areas, origin)  # type: ignore[arg-type]
    return Region(
        name="quzhou-default", seed=p.seed, scale=p.scale, crs=p.crs, origin_m=origin,  # type: ignore[arg-type]
        network=network, customers=customers, areas=areas, roads=roads,
        depots=_depots(rng, origin, areas, xy), feeders=pd.DataFrame(feeder_rows),  # type: ignore[arg-type]
    )


def _customer_table(rng: np.random.Generator, p: RegionParams, cust: pd.DataFrame,
                    cust_ids: list[str], network: Network) -> pd.DataFrame:
    index = network.index_of()
    addresses = [_address(r) for r in cust.to_dict("records")]
    n = len(cust)
    critical = np.full(n, "", dtype=object)
    city = np.flatnonzero(cust["zone"].isin(["urban", "town"]).to_numpy())
    hospitals = rng.choice(city, min(p.count(p.hospitals), len(city)), replace=False)
    critical[hospitals] = "hospital"
    rest = np.flatnonzero(critical == "")
    n_life = max(1, round(p.critical_share * n) - len(hospitals))
    critical[rng.choice(rest, n_life, replace=False)] = "life_support"
    table = pd.DataFrame({
        "customer_id": cust_ids,
        "meter_id": [f"33{(i * 7919 + 104729) % 10**11:011d}" for i in range(n)],
        "node_idx": [index[c] for c in cust_ids],
        "address": [a[0] for a in addresses],
        "address_en": [a[1] for a in addresses],
        "district": [d[0] for d in cust["district"]],
        "subdistrict": [d[0] for d in cust["subdistrict"]],
        "road": [d[0] for d in cust["road"]],
        "road_en": [d[1] for d in cust["road"]],
        "number": cust["number"].astype(np.int32),
        "building": cust["building"].astype(np.int32),
        "unit": cust["unit"].astype(np.int32),
        "room": cust["room"].astype(np.int32),
        "x_m": cust["x_m"].astype(np.float64),
        "y_m": cust["y_m"].astype(np.float64),
        "critical": critical.astype(str),
    })
    table["area"] = network.area[table["node_idx"].to_numpy()]
    return table.sort_values("node_idx", kind="stable").reset_index(drop=True)


def _depots(rng: np.random.Generator, origin: tuple[float, float], areas: gpd.GeoDataFrame,
            xfmr_xy: np.ndarray) -> tuple[Depot, ...]:
    """Service stations: four in the city, one per county town, four rural, two in the hills."""
    ox, oy = origin
    spots = [(URBAN_SEAT, dx, dy) for dx, dy in ((-2.0, 2.0), (2.5, 2.5), (2.0, -2.5), (-2.5, -2.0))]
    spots += [(s, 0.3, 0.3) for s in TOWN_SEATS]
    spots += [(RURAL_SEAT, 0.0, 0.0), (RURAL_SEAT, 14.0, -10.0), (RURAL_SEAT, -6.0, -6.0),
              (RURAL_SEAT, -20.0, 2.0)]
    spots += [(REMOTE_SEAT, 0.0, 0.0), (REMOTE_SEAT, 12.0, -6.0)]
    depots = []
    for k, (seat, dx, dy) in enumerate(spots):
        x, y = ox + (seat.x_km + dx) * 1000, oy + (seat.y_km + dy) * 1000
        cls = int(area_class_at(areas, np.array([x]), np.array([y]))[0])
        depots.append(Depot(depot_id=f"D{k + 1:02d}", name=f"{seat.name}供电服务站{k + 1}",
                            x_m=float(x), y_m=float(y), area=cls))
    return tuple(depots)
