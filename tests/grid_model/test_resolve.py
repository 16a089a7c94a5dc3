"""Calls resolve by customer number, meter, address variants and position; bad ones say why."""

from __future__ import annotations

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
