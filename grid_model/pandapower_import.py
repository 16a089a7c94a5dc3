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
- the result must be radial: a closed loop (no open switch on it) stops the import naming its
  elements; so does a closed way between two substations (external grids not joined at high
  voltage), naming both; an island, its bus and a load on it;
- the open switches between energised buses are the normally-open ties, and the closed line
  and bus-bus switches the sectionalising switches (``switches_from_pandapower``); a net with
  any switch on a line or between buses keeps them as the region's own (``Region.switches``),
  one without gets the placement rule's where switching needs them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import networkx as nx
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


def _adjacency(net: Any, vn: dict[int, float]) -> tuple[dict[int, list[_Edge]], set[str],
                                                        dict[tuple[str, int], int]]:
    """The closed elements at each bus (lines, transformers, bus-bus switches), the
    distribution transformers, and the closed circuit breakers by (et, element)."""
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
    for sid, sw in net.switch[(net.switch["et"] == "b") & net.switch["closed"].astype(bool)].iterrows():
        a, b = int(sw["bus"]), int(sw["element"])
        adj[a].append(_Edge(f"switch:{sid}", b))
        adj[b].append(_Edge(f"switch:{sid}", a))
    return adj, dist_trafo, breakers


def _substations(net: Any, adj: dict[int, list[_Edge]], vn: dict[int, float]) -> dict[int, str]:
    """Every bus of a substation, and the substation's name: what an external grid reaches
    without a distribution line at MV or LV level (HV buses and lines, HV/MV transformers, the
    MV busbars they feed, bus couplers). External grids joined that way are one substation,
    named by the first (``ext_grid:0 at bus:0``)."""
    grids = [(int(k), int(b)) for k, b in net.ext_grid["bus"].items()]
    if not grids:
        raise NetworkError("the net has no ext_grid: nothing feeds it")
    graph = nx.Graph()
    graph.add_nodes_from(b for _, b in grids)
    queue = deque(b for _, b in grids)
    seen: set[int] = set()
    while queue:
        b = queue.popleft()
        if b in seen:
            continue
        seen.add(b)
        for e in adj[b]:
            if e.element.startswith("switch") or (vn[b] > HV_KV and e.element.startswith(("trafo", "line"))):
                graph.add_edge(b, e.other)
                queue.append(e.other)
    station: dict[int, str] = {}
    for buses in nx.connected_components(graph):
        k, root = next((k, b) for k, b in grids if b in buses)
        station.update(dict.fromkeys(buses, f"ext_grid:{k} at bus:{root}"))
    return station


def _trace(adj: dict[int, list[_Edge]], station: dict[int, str]
           ) -> tuple[dict[int, int], dict[int, str], list[int]]:
    """Breadth-first from the substations along closed elements, each line leaving one heading a
    feeder: the bus above each bus (a substation bus for a feeder head), the element between,
    and the buses in the order reached. A second closed way to a bus is refused
    (``_closed_path``)."""
    above: dict[int, int] = {}
    via: dict[int, str] = {}
    order: list[int] = []
    queue: deque[int] = deque()
    for g in sorted(station):
        for e in adj[g]:
            if e.other in station:
                if station[e.other] != station[g]:
                    raise _closed_path(g, e.other, e.element, above, via, station)
                continue  # inside the substation
            if not e.element.startswith("line"):
                continue
            if e.other in above:
                raise _closed_path(g, e.other, e.element, above, via, station)
            above[e.other], via[e.other] = g, e.element
            queue.append(e.other)
    while queue:
        b = queue.popleft()
        order.append(b)
        for e in adj[b]:
            if e.element == via[b] and e.other == above[b]:
                continue
            if e.other in station or e.other in above:
                raise _closed_path(b, e.other, e.element, above, via, station)
            above[e.other], via[e.other] = b, e.element
            queue.append(e.other)
    return above, via, order


def _way_up(b: int, above: dict[int, int], via: dict[int, str], station: dict[int, str]
            ) -> tuple[list[int], list[str]]:
    """The buses from ``b`` up to its substation and the elements between them."""
    buses, elements = [b], []
    while b not in station:
        elements.append(via[b])
        b = above[b]
        buses.append(b)
    return buses, elements


def _closed_path(u: int, v: int, element: str, above: dict[int, int], via: dict[int, str],
                 station: dict[int, str]) -> NetworkError:
    """The error for ``element`` closing a second way between buses ``u`` and ``v``: a loop
    with no open point in it (its elements named, from ``u`` round to ``element``), or, when
    the two ways lead to different substations, the two substations in parallel."""
    ub, ue = _way_up(u, above, via, station)
    vb, ve = _way_up(v, above, via, station)
    on_v = set(vb)
    common = next((b for b in ub if b in on_v and b not in station), None)
    if common is not None:  # both ways meet on the feeder
        ue, ve = ue[:ub.index(common)], ve[:vb.index(common)]
    path = ", ".join([*ue, *reversed(ve), element])
    ends = f"closed by {element} between bus:{u} and bus:{v}"
    if common is not None or station[ub[-1]] == station[vb[-1]]:
        return NetworkError(f"loop with no open point: {path} ({ends})")
    return NetworkError(f"two substations in parallel: {station[ub[-1]]} and {station[vb[-1]]} are joined "
                        f"through {path} with no open point ({ends})")


def region_from_pandapower(net: Any, *, name: str, area: AreaClass = AreaClass.URBAN) -> Region:
    """Trace ``net`` from its external grid into a radial ``Region``, with its own switches
    and ties when it has line or bus-bus switches."""
    vn = net.bus["vn_kv"].astype(float).to_dict()
    adj, dist_trafo, breakers = _adjacency(net, vn)
    station = _substations(net, adj, vn)
    group = set(station)
    above, via, order = _trace(adj, station)
    parent = {b: -1 if above[b] in group else above[b] for b in order}
    loads_by_bus: dict[int, list[int]] = {}
    for lid, ld in net.load.iterrows():
        loads_by_bus.setdefault(int(ld["bus"]), []).append(int(lid))
    fed = set(order) | group
    for b, loads in loads_by_bus.items():
        if b not in fed:
            raise NetworkError(f"island: bus:{b} (with load:{loads[0]}) is not connected to the "
                               "external grid through closed elements")
    region = _assemble(net, name, area, group, order, parent, via, dist_trafo, breakers,
                       loads_by_bus, vn)
    if not net.switch["et"].isin(("l", "b")).any():
        return region
    return dataclasses.replace(region, switches=switches_from_pandapower(net, region))


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
    """The switches and ties of ``net`` on the region imported from it: each closed line or
    bus-bus switch becomes a switch on the edge it sits on (a circuit breaker remote, the others
    by the placement rule's share), each open line or bus-bus switch between two energised buses a
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
        elif et == "b":
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
