"""Resolve a trouble call to the customer it is about.

By customer number, meter id, address text (Chinese or romanised) or coordinates (nearest
customer within a distance, inside the territory). A call that cannot be resolved gets a
reason and is kept by the caller of this module as ``unlocated``; it is never dropped.
"""

from __future__ import annotations

from typing import NamedTuple

from pyproj import Transformer

from grid_model.address import AddressKey, normalise, parse_chinese, parse_romanised
from grid_model.areas import territory_polygon
from grid_model.inside import InsidePolygon
from grid_model.nearest import NearestWithin
from grid_model.network import NodeKind
from grid_model.region import Region
from grid_model.storm import Call


class Resolution(NamedTuple):
    """Where a call points: a network node (the customer's meter, or the nearest meter box
    for a position), the customer row when one customer is known, or why it points nowhere
    (a named tuple: one is built per call, in a third of a frozen dataclass's time)."""

    node_idx: int
    customer_row: int
    method: str
    reason: str = ""

    @property
    def located(self) -> bool:
        return self.node_idx >= 0


def _unlocated(method: str, reason: str) -> Resolution:
    return Resolution(-1, -1, method, reason)


class CallResolver:
    """Indexes a region's customers once; resolving a call is then a few dict look-ups."""

    def __init__(self, region: Region, *, max_distance_m: float = 150.0) -> None:
        cust = region.customers
        self.max_distance_m = max_distance_m
        self._by_customer = {c: i for i, c in enumerate(cust["customer_id"])}
        self._by_meter = {m: i for i, m in enumerate(cust["meter_id"])}
        keys = zip(cust["road"], cust["number"], cust["building"], cust["unit"], cust["room"],
                   strict=True)
        by_key: dict[tuple[str, int, int, int, int], list[int]] = {}
        for i, (road, num, bld, unit, room) in enumerate(keys):
            by_key.setdefault((road, int(num), int(bld), int(unit), int(room)), []).append(i)
        # plain tuples (an ``AddressKey`` finds its own), to tuples of rows: nothing per customer
        # for the garbage collector to walk (a key object and a list each made every full
        # collection walk ~200,000 more objects, ~0.1 s)
        self._by_key = {key: tuple(rows) for key, rows in by_key.items()}
        self._en_to_road = {normalise(en): zh for en, zh in zip(cust["road_en"], cust["road"], strict=True)}
        self._roads = frozenset(cust["road"].unique())
        self._roads_en = frozenset(self._en_to_road)
        net = region.network
        self._customer_node: list[int] = cust["node_idx"].to_numpy().tolist()
        boxes = net.nodes_of_kind(NodeKind.METER_BOX)
        self._boxes: list[int] = boxes.tolist()
        self._nearest_box = NearestWithin(net.x_m[boxes], net.y_m[boxes], max_distance_m)
        self._territory = InsidePolygon(territory_polygon(region.areas))
        self._to_utm = Transformer.from_crs("EPSG:4326", region.crs, always_xy=True)

    def customer_node(self, customer_id: str) -> int | None:
        """The network node of a customer number, or None when it is not on the books."""
        row = self._by_customer.get(customer_id.strip())
        return None if row is None else self._customer_node[row]

    def resolve(self, call: Call) -> Resolution:
        """Resolve one call by the first identification it carries."""
        if call.customer_id:
            row = self._by_customer.get(call.customer_id.strip())
            if row is None:
                return _unlocated("customer_id", f"unknown customer number {call.customer_id!r}")
            return self._customer(row, "customer_id")
        if call.meter_id:
            row = self._by_meter.get(call.meter_id.strip())
            if row is None:
                return _unlocated("meter_id", f"unknown meter id {call.meter_id!r}")
            return self._customer(row, "meter_id")
        if call.address:
            return self.resolve_address(call.address)
        if call.lon is not None and call.lat is not None:
            return self.resolve_point(call.lon, call.lat)
        return _unlocated("none", "call carries no customer number, meter, address or position")

    def _customer(self, row: int, method: str) -> Resolution:
        return Resolution(self._customer_node[row], row, method)

    def resolve_address(self, text: str) -> Resolution:
        key = parse_chinese(text, self._roads)
        if key is None:
            en = parse_romanised(text, self._roads_en)
            key = None if en is None else AddressKey(self._en_to_road[en.road], en.number,
                                                     en.building, en.unit, en.room)
        if key is None:
            return _unlocated("address", f"no known road and house number in {text!r}")
        rows = self._by_key.get(key, ())
        if len(rows) == 1:
            return self._customer(rows[0], "address")
        if not rows:
            return _unlocated("address", f"no customer at {text!r}")
        return _unlocated("address", f"{len(rows)} customers match {text!r}")

    def resolve_point(self, lon: float, lat: float) -> Resolution:
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            return _unlocated("coordinates", f"({lon}, {lat}) is not a WGS84 lon/lat")
        x, y = self._to_utm.transform(lon, lat)
        if not self._territory.contains(x, y):
            return _unlocated("coordinates", f"({lon}, {lat}) is outside the service territory")
        k = self._nearest_box.nearest(x, y)
        if k < 0:
            return _unlocated("coordinates",
                              f"no meter box within {self.max_distance_m:.0f} m of ({lon}, {lat})")
        return Resolution(self._boxes[k], -1, "coordinates")
