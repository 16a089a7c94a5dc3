"""Build a ``Region`` from any pandapower net, and so from every SimBench grid.

Conventions (README, "Bring your own grid"):
- the substation is every bus at the external grid's side of the HV/MV transformers (buses
  above 35 kV, and the MV busbars those transformers feed); each line leaving it heads a feeder;
- ids keep the source's tables: nodes are ``bus:17``, customers ``load:3051`` (one per load),
  devices from switches ``switch:44``; a node remembers the element on the edge into it
  (``line:203``, ``trafo:12``);
- switches keep their role: an open switch breaks its line or transformer, a closed circuit
  breaker (``CB``) becomes a breaker device; load-break and disconnect switches protect nothing;
- where the source has no protective device, one is placed: a breaker at each feeder head, a
  fuse on the MV side of each distribution transformer, a fuse at each LV feeder outlet;
- the result must be radial: a loop or an island stops the import with their element ids;
- the open switches between energised buses are the normally-open ties, and the closed line
  switches the sectionalising switches (``switches_from_pandapower``).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import Transformer

from grid_model.assemble import NodeTable, region_of, utm_crs
from grid_model.network import (
    AreaClass,
    Construction,
    DeviceKind,
    NetworkError,
    NodeKind,
)
from grid_model.region import Region
from grid_model.switches import SwitchKind, SwitchLayer, Tie, device_switches, remote_by_share, tie_capacity

HV_KV = 35.0
LV_KV = 1.0


@dataclass(frozen=True, slots=True)
class _Edge:
    element: str
    other: int


def _geo_of(net: Any) -> dict[int, tuple[float, float]]:
    out: dict[int, tuple[float, float]] = {}
    if "geo" in net.bus.columns:
        for b, g in net.bus["geo"].items():
            if isinstance(g, str) and g:
                lon, lat = json.loads(g)["coordinates"][:2]
                out[int(b)] = (float(lon), float(lat))
    elif "bus_geodata" in net and len(net.bus_geodata):
        for b, row in net.bus_geodata.iterrows():
            out[int(b)] = (float(row["x"]), float(row["y"]))
    return out


def _open_elements(net: Any) -> tuple[set[int], set[int], dict[tuple[str, int], int]]:
    """Lines and trafos broken by an open switch; closed CBs by (et, element)."""
    open_lines: set[int] = set()
    open_trafos: set[int] = set()
    breakers: dict[tuple[str, int], int] = {}
    for sid, sw in net.switch.iterrows():
        et, el = sw["et"], int(sw["element"])
        if not bool(sw["closed"]):
            if et == "l":
                open_lines.add(el)
            elif et == "t":
                open_trafos.add(el)
        elif sw.get("type") == "CB" and et in ("l", "t"):
            breakers.setdefault((et, el), int(sid))
    return open_lines, open_trafos, breakers


def region_from_pandapower(net: Any, *, name: str, area: AreaClass = AreaClass.URBAN) -> Region:
    """Trace ``net`` from its external grid into a radial ``Region``."""
    vn = net.bus["vn_kv"].astype(float).to_dict()
    open_lines, open_trafos, breakers = _open_elements(net)
    adj: dict[int, list[_Edge]] = {int(b): [] for b in net.bus.index}
    for lid, ln in net.line.iterrows():
        if bool(ln["in_service"]) and int(lid) not in open_lines:
            a, b = int(ln["from_bus"]), int(ln["to_bus"])
            adj[a].append(_Edge(f"line:{lid}", b))
            adj[b].append(_Edge(f"line:{lid}", a))
    dist_trafo: set[str] = set()
    for tid, tr in net.trafo.iterrows():
        if bool(tr["in_service"]) and int(tid) not in open_trafos:
            a, b = int(tr["hv_bus"]), int(tr["lv_bus"])
            adj[a].append(_Edge(f"trafo:{tid}", b))
            adj[b].append(_Edge(f"trafo:{tid}", a))
            if vn[b] <= LV_KV:
                dist_trafo.add(f"trafo:{tid}")
    for _, sw in net.switch[(net.switch["et"] == "b") & net.switch["closed"].astype(bool)].iterrows():
        a, b = int(sw["bus"]), int(sw["element"])
        adj[a].append(_Edge("bus-bus", b))
        adj[b].append(_Edge("bus-bus", a))
    roots = [int(b) for b in net.ext_grid["bus"]]
    if not roots:
        raise NetworkError("the net has no ext_grid: nothing feeds it")
    # substation group: everything reachable from the external grid without a distribution
    # line at MV or LV level (HV buses, HV/MV transformers, the MV busbars they feed)
    group: set[int] = set()
    queue = deque(roots)
    while queue:
        b = queue.popleft()
        if b in group:
            continue
        group.add(b)
        for e in adj[b]:
            hv_side = vn[b] > HV_KV
            if e.element == "bus-bus" or (hv_side and e.element.startswith(("trafo", "line"))):
                queue.append(e.other)
    parent: dict[int, int] = {}
    via: dict[int, str] = {}
    order: list[int] = []
    queue = deque()
    for b in sorted(group):
        for e in adj[b]:
            if e.other not in group and e.element.startswith("line"):
                if e.other in parent:
                    raise NetworkError(f"loop: bus:{e.other} is fed twice from the substation "
                                       f"({via[e.other]} and {e.element})")
                parent[e.other], via[e.other] = -1, e.element
                queue.append(e.other)
    while queue:
        b = queue.popleft()
        order.append(b)
        for e in adj[b]:
            if e.other in group or (e.element == via[b] and e.other == parent[b]):
                continue
            if e.other in parent:
                raise NetworkError(f"loop closed by {e.element} between bus:{b} and bus:{e.other}")
            parent[e.other], via[e.other] = b, e.element
            queue.append(e.other)
    loads_by_bus: dict[int, list[int]] = {}
    for lid, ld in net.load.iterrows():
        loads_by_bus.setdefault(int(ld["bus"]), []).append(int(lid))
    fed = set(order) | group
    for b, loads in loads_by_bus.items():
        if b not in fed:
            raise NetworkError(f"island: bus:{b} (with load:{loads[0]}) is not connected to the "
                               "external grid through closed elements")
    return _assemble(net, name, area, group, order, parent, via, dist_trafo, breakers,
                     loads_by_bus, vn)


def _assemble(net: Any, name: str, area: AreaClass, group: set[int], order: list[int],
              parent: dict[int, int], via: dict[int, str], dist_trafo: set[str],
              breakers: dict[tuple[str, int], int], loads_by_bus: dict[int, list[int]],
              vn: dict[int, float]) -> Region:
    geo = _geo_of(net)
    lons = [geo[b][0] for b in geo] or [0.0]
    lats = [geo[b][1] for b in geo] or [0.0]
    lon0, lat0 = float(np.mean(lons)), float(np.mean(lats))
    crs = utm_crs(lon0, lat0)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    ox, oy = to_utm.transform(lon0, lat0)

    def xy(b: int) -> tuple[float, float]:
        if b in geo:
            return tuple(float(v) for v in to_utm.transform(*geo[b]))  # type: ignore[return-value]
        return float(ox), float(oy)

    table = NodeTable()
    add, kinds, pos = table.add, table.kinds, table.pos
    edge_of: dict[str, str] = {}

    sub_bus = min(group)
    sx, sy = xy(sub_bus)
    sub_id = f"bus:{sub_bus}"
    add(sub_id, NodeKind.SUBSTATION, "", sx, sy)
    line_len = net.line["length_km"].astype(float).to_dict()
    feeders = []
    for b in order:
        element = via[b]
        el_no = int(element.split(":")[1])
        x, y = xy(b)
        kind_of_parent = None if parent[b] < 0 else NodeKind(kinds[pos[f"bus:{parent[b]}"]])
        length = 1000.0 * line_len.get(el_no, 0.0) if element.startswith("line") else 10.0
        cb = breakers.get((element[0], el_no))
        if parent[b] < 0:
            dev_id = f"switch:{cb}" if cb is not None else f"breaker:{element}"
            add(f"bus:{b}", NodeKind.FEEDER_HEAD, sub_id, x, y, DeviceKind.BREAKER, dev_id,
                Construction.OVERHEAD, length)
            feeders.append({"feeder_id": f"bus:{b}", "substation_id": sub_id, "head": element})
        elif element in dist_trafo:
            dev, dev_id = ((DeviceKind.BREAKER, f"switch:{cb}") if cb is not None
                           else (DeviceKind.FUSE, f"fuse:{element}"))
            add(f"bus:{b}", NodeKind.TRANSFORMER, f"bus:{parent[b]}", x, y, dev, dev_id,
                Construction.OVERHEAD, length)
        elif vn[b] <= LV_KV:
            outlet = kind_of_parent == NodeKind.TRANSFORMER
            dev, dev_id = ((DeviceKind.FUSE, f"fuse:{element}") if outlet and cb is None
                           else (DeviceKind.BREAKER, f"switch:{cb}") if cb is not None
                           else (DeviceKind.NONE, ""))
            add(f"bus:{b}", NodeKind.LV_BRANCH, f"bus:{parent[b]}", x, y, dev, dev_id,
                Construction.OVERHEAD, length)
        else:
            dev, dev_id = (DeviceKind.BREAKER, f"switch:{cb}") if cb is not None else (DeviceKind.NONE, "")
            add(f"bus:{b}", NodeKind.MV_NODE, f"bus:{parent[b]}", x, y, dev, dev_id,
                Construction.OVERHEAD, length)
        edge_of[f"bus:{b}"] = element
    for b in [*sorted(group), *order]:
        for lid in loads_by_bus.get(b, []):
            x, y = xy(b)
            table.add_customer(f"load:{lid}", sub_id if b in group else f"bus:{b}", x, y,
                               drop_id=f"drop:load:{lid}")
    return region_of(table, name=name, crs=crs, origin_m=(float(ox), float(oy)), area=area,
                     feeders=feeders)


def simbench_region(code: str) -> Region:
    """A SimBench grid by its code, e.g. ``1-MVLV-urban-all-0-sw``."""
    import simbench

    try:
        net = simbench.get_simbench_net(code)
    except Exception as exc:  # simbench raises bare errors for unknown codes
        raise ValueError(f"unknown SimBench code {code!r}: {exc}") from exc
    area = AreaClass.URBAN if ("urban" in code or "comm" in code) else AreaClass.RURAL
    return region_from_pandapower(net, name=f"simbench:{code}", area=area)


def switches_from_pandapower(net: Any, region: Region) -> SwitchLayer:
    """The switches and ties of ``net`` on the region imported from it: each closed line
    switch becomes a switch on the edge it sits on (a circuit breaker remote, the others by the
    placement rule's share), each open line or bus-bus switch between two energised buses a
    normally-open tie (the import dropped it to keep the tree radial), its capacity by the
    placement rule (``grid_model.switches``)."""
    network = region.network
    index = network.index_of()
    customers_below = network.count_below(network.kind == NodeKind.CUSTOMER)
    feeder_customers = customers_below[network.nodes_of_kind(NodeKind.FEEDER_HEAD)]
    switch, ids = device_switches(network)
    ties: list[Tie] = []
    for sid, sw in net.switch.iterrows():
        et, element, closed = sw["et"], int(sw["element"]), bool(sw["closed"])
        if et == "l":
            ends = (int(net.line.at[element, "from_bus"]), int(net.line.at[element, "to_bus"]))
        elif et == "b" and not closed:
            ends = (int(sw["bus"]), element)
        else:
            continue
        a, b = index.get(f"bus:{ends[0]}"), index.get(f"bus:{ends[1]}")
        if a is None or b is None:
            continue
        switch_id = f"switch:{sid}"
        remote = sw.get("type") == "CB" or remote_by_share(switch_id)
        if not closed:
            fa, fb = int(network.feeder_idx[a]), int(network.feeder_idx[b])
            if fa < 0 or fb < 0:
                continue  # an end at the substation: no feeder to pick up from
            ties.append(Tie(switch_id, a, b, remote, tie_capacity(feeder_customers, fa, fb)))
            continue
        child = b if int(network.parent[b]) == a else a if int(network.parent[a]) == b else -1
        if child >= 0 and network.kind[child] == NodeKind.MV_NODE and not switch[child]:
            switch[child] = SwitchKind.REMOTE if remote else SwitchKind.MANUAL
            ids[child] = switch_id
    return SwitchLayer(switch, tuple(ids), tuple(ties), customers_below)
