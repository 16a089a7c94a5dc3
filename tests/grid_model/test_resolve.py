"""Calls resolve by customer number, meter, address variants and position; bad ones say why."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from grid_model.areas import territory_polygon
from grid_model.network import NodeKind
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_address_variants_resolve_to_the_same_customer(small_region: Region) -> None:
    res = CallResolver(small_region)
    cust = small_region.customers
    row = int(cust.index[cust["building"] > 0][3])
    c = cust.iloc[row]
    full = c["address"]
    variants = [
        full,
        full.replace(c["district"] + " ", ""),
        full.translate(_FULLWIDTH).replace(" ", ""),
        full.replace("栋", "幢").replace("室", "户"),
        c["address_en"],
        c["address_en"].upper(),
    ]
    for text in variants:
        out = res.resolve(Call("K1", 0, address=text))
        assert out.customer_row == row, (text, out.reason)
    assert res.resolve(Call("K1", 0, customer_id=c["customer_id"])).customer_row == row
    assert res.resolve(Call("K1", 0, meter_id=c["meter_id"])).customer_row == row
    by_point = res.resolve(Call("K1", 0, lon=float(c["lon"]), lat=float(c["lat"])))
    assert small_region.network.is_ancestor(by_point.node_idx, int(c["node_idx"])) or \
        small_region.network.parent[int(c["node_idx"])] == by_point.node_idx


def test_unresolvable_calls_are_kept_with_a_reason(small_region: Region) -> None:
    res = CallResolver(small_region)
    cases = {
        Call("K1", 0, customer_id="9999999999"): "unknown customer number",
        Call("K2", 0, meter_id="nope"): "unknown meter id",
        Call("K3", 0, address="火星路 1 号"): "no known road and house number",
        Call("K4", 0, lon=116.4, lat=39.9): "outside the service territory",
        Call("K5", 0, lon=500.0, lat=0.0): "not a WGS84 lon/lat",
        Call("K6", 0): "carries no customer number",
    }
    for call, reason in cases.items():
        out = res.resolve(call)
        assert not out.located and reason in out.reason, out


def test_positions_resolve_to_the_nearest_meter_box_within_reach(small_region: Region) -> None:
    """As a k-d tree over the meter boxes and the territory polygon have it, near boxes, far
    from them and outside the territory."""
    res = CallResolver(small_region)
    net = small_region.network
    boxes = net.nodes_of_kind(NodeKind.METER_BOX)
    xy = np.column_stack([net.x_m[boxes], net.y_m[boxes]])
    rng = np.random.default_rng(3)
    lo, hi = xy.min(axis=0) - 5000, xy.max(axis=0) + 5000
    pts = np.concatenate([xy[rng.integers(0, len(xy), 2000)] + rng.normal(0, 100, (2000, 2)),
                          rng.uniform(lo, hi, (2000, 2))])
    to_wgs84 = Transformer.from_crs(small_region.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(pts[:, 0], pts[:, 1])
    x, y = Transformer.from_crs("EPSG:4326", small_region.crs, always_xy=True).transform(lon, lat)
    dist, k = cKDTree(xy).query(np.column_stack([x, y]))
    inside = shapely.contains_xy(territory_polygon(small_region.areas), x, y)
    expected = np.where(~inside, -2, np.where(dist > res.max_distance_m, -1, boxes[k]))
    got = []
    for a, b in zip(lon.tolist(), lat.tolist(), strict=True):
        out = res.resolve(Call("K1", 0, lon=a, lat=b))
        got.append(out.node_idx if out.located else -2 if "outside" in out.reason else -1)
    assert all((expected == v).sum() > 100 for v in (-2, -1)) and (expected >= 0).sum() > 1000
    assert (np.asarray(got) == expected).all()
