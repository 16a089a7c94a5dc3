"""Build a ``Region`` from GIS layers: a GeoPackage, or a folder of GeoJSON files, with the
schema of ``docs/grid-layers.md``.

Every element names its upstream element (``parent_id``), so the grid is a tree by
construction; a parent that does not exist, or a chain of parents that comes back on itself,
stops the import with the ids involved. Devices follow the same convention as the pandapower
import where the layers give none: a breaker at each feeder head, a fuse on the MV side of each
transformer, a fuse at each LV outlet.

Switching (``switches_from_layers``): a section with a ``switch`` device is a sectionalising
switch; a section naming ``tie_to`` joins its parent to that feeder or section instead of ending
in a node of its own (nothing may hang below it). Marked normally open it is a tie, the open
point of the loop it closes, within one feeder or between two feeders of one substation or of
two. Closed, it is refused: the grid would hold a loop with no open point in it (every element of
the loop is named), or two substations in parallel (both are named); the layers cannot say where
such a loop runs open, and guessing would move customers to another feeder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import Transformer

from grid_model.assemble import NodeTable, region_of, utm_crs
from grid_model.network import AreaClass, Construction, DeviceKind, Network, NodeKind
from grid_model.region import Region
from grid_model.switches import SwitchKind, SwitchLayer, Tie, device_switches, remote_by_share, tie_capacity

LAYERS: dict[str, tuple[str, ...]] = {
    "substations": ("id",),
    "feeders": ("id", "substation_id"),
    "sections": ("id", "parent_id"),
    "transformers": ("id", "parent_id"),
    "service_points": ("id", "parent_id", "kind"),
    "customers": ("id", "service_point_id"),
}
_DEVICES = {"none": DeviceKind.NONE, "": DeviceKind.NONE, "switch": DeviceKind.NONE,
            "breaker": DeviceKind.BREAKER, "recloser": DeviceKind.RECLOSER, "fuse": DeviceKind.FUSE}
_BUILDS = {"overhead": Construction.OVERHEAD, "cable": Construction.CABLE, "": Construction.OVERHEAD}
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_MV = (NodeKind.FEEDER_HEAD, NodeKind.MV_NODE)


class GridLayerError(ValueError):
    """GIS layers that do not describe a radial grid; the message names the layer, the row
    or element id, and what is wrong."""


def read_layers(path: Path) -> dict[str, gpd.GeoDataFrame]:
    """The six layers from a GeoPackage (layers by name) or a folder of ``<layer>.geojson``."""
    out = {}
    for layer, required in LAYERS.items():
        if path.is_dir():
            file = path / f"{layer}.geojson"
            if not file.exists():
                raise GridLayerError(f"{path}: no {layer}.geojson")
            frame = gpd.read_file(file)
        else:
            try:
                frame = gpd.read_file(path, layer=layer)
            except Exception as exc:  # pyogrio raises its own errors for a missing layer
                raise GridLayerError(f"{path}: cannot read layer {layer!r}: {exc}") from exc
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise GridLayerError(f"layer {layer}: missing column(s) {', '.join(missing)}")
        if frame.crs is None and len(frame):
            raise GridLayerError(f"layer {layer}: no coordinate reference system")
        out[layer] = frame
    return out


def region_from_layers(path: Path, *, name: str | None = None,
                       area: AreaClass = AreaClass.URBAN) -> Region:
    """Import the grid in ``path`` (see the module docstring and ``docs/grid-layers.md``)."""
    layers = read_layers(path)
    everything = pd.concat([f.geometry.to_crs("EPSG:4326") for f in layers.values() if len(f)])
    centre = shapely.centroid(shapely.multipoints(shapely.get_coordinates(everything.values)))
    crs = utm_crs(centre.x, centre.y)
    projected = {k: (f.to_crs(crs) if len(f) else f) for k, f in layers.items()}
    ox, oy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(centre.x, centre.y)
    table = NodeTable()
    feeders = _add_mv(table, projected)
    _add_lv(table, projected)
    region = region_of(table, name=name or path.stem, crs=crs, origin_m=(float(ox), float(oy)),
                       area=area, feeders=feeders)
    return dataclasses.replace(region, switches=switches_from_layers(projected["sections"], region.network))


def _end(geom: Any) -> tuple[float, float]:
    """Where an element's node sits: a point, or the downstream end of a line."""
    x, y = shapely.get_coordinates(geom)[-1]
    return float(x), float(y)


def _text(row: Any, column: str, default: str = "") -> str:
    value = row.get(column, default)
    return default if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _flag(row: Any, column: str, layer: str, eid: str) -> bool | None:
    """A yes/no column: ``None`` when empty; a boolean, 0 or 1, or the text true/false/yes/no (a
    GeoPackage column with empty rows holds text); anything else stops the import."""
    value = row.get(column)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in ("1.0", "0.0"):
        text = text[0]
    if text not in _FLAGS:
        raise GridLayerError(f"layer {layer}: {eid} has {column} {value!r}; use true or false")
    return _FLAGS[text]


def _unique(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Every element id and its layer; an id used twice stops the import."""
    seen: dict[str, str] = {}
    for layer, frame in layers.items():
        for i, raw in enumerate(frame["id"]):
            eid = str(raw)
            if eid in seen:
                raise GridLayerError(f"layer {layer} row {i + 1}: id {eid!r} is already used in {seen[eid]}")
            seen[eid] = layer
    return seen


def _in_tree_order(layer: str, frame: gpd.GeoDataFrame, known: set[str]) -> list[Any]:
    """Rows of a self-referencing layer, each after its parent; a parent that exists nowhere,
    or a loop of parents, stops the import."""
    rows = {str(r["id"]): r for _, r in frame.iterrows()}
    out: list[Any] = []
    placed = set(known)
    state: dict[str, int] = {}
    for start in rows:
        stack = [start]
        while stack:
            eid = stack[-1]
            if eid in placed:
                stack.pop()
                continue
            parent = str(rows[eid]["parent_id"])
            if parent in placed:
                out.append(rows[eid])
                placed.add(eid)
                stack.pop()
            elif parent in rows:
                if state.get(parent) == 1:
                    loop = stack[stack.index(parent):]
                    raise GridLayerError(f"layer {layer}: the parents of {', '.join(loop)} form a loop")
                state[eid] = 1
                stack.append(parent)
            else:
                raise GridLayerError(f"layer {layer}: {eid} hangs below {parent!r}, which is not in the grid "
                                     f"(an island)")
    return out


def _add_mv(table: NodeTable, layers: dict[str, gpd.GeoDataFrame]) -> list[dict[str, str]]:
    ids = _unique(layers)
    for _, row in layers["substations"].iterrows():
        table.add(str(row["id"]), NodeKind.SUBSTATION, "", *_end(row.geometry))
    feeders = []
    for i, row in layers["feeders"].iterrows():
        fid, sub = str(row["id"]), str(row["substation_id"])
        if ids.get(sub) != "substations":
            raise GridLayerError(f"layer feeders row {i + 1} ({fid}): unknown substation {sub!r}")
        table.add(fid, NodeKind.FEEDER_HEAD, sub, *_end(row.geometry), DeviceKind.BREAKER,
                  _text(row, "breaker_id") or f"breaker:{fid}", _build(row, "feeders", fid))
        feeders.append({"feeder_id": fid, "substation_id": sub, "head": fid})
    ties: set[str] = set()
    for row in _in_tree_order("sections", layers["sections"], set(table.pos)):
        sid, parent = str(row["id"]), str(row["parent_id"])
        if parent in ties:
            raise GridLayerError(f"layer sections: {sid} hangs below {parent}, a tie (normally_open or "
                                 f"tie_to): nothing may hang below one")
        if _flag(row, "normally_open", "sections", sid) or _text(row, "tie_to"):
            ties.add(sid)
            continue
        if table.kinds[table.pos[parent]] not in (NodeKind.FEEDER_HEAD, NodeKind.MV_NODE):
            raise GridLayerError(f"layer sections: {sid} hangs below {parent}, which is not a feeder "
                                 f"or section")
        device = _text(row, "device", "none").lower()
        if device not in _DEVICES:
            raise GridLayerError(f"layer sections: {sid} has device {device!r}; use one of "
                                 f"{', '.join(d for d in _DEVICES if d)}")
        dev = _DEVICES[device]
        table.add(sid, NodeKind.MV_NODE, parent, *_end(row.geometry), dev,
                  (_text(row, "device_id") or f"{device}:{sid}") if dev != DeviceKind.NONE else "",
                  _build(row, "sections", sid), float(row.geometry.length))
    for i, row in layers["transformers"].iterrows():
        tid, parent = str(row["id"]), str(row["parent_id"])
        if parent in ties or parent not in table.pos or \
                table.kinds[table.pos[parent]] not in (NodeKind.FEEDER_HEAD, NodeKind.MV_NODE):
            raise GridLayerError(f"layer transformers row {i + 1} ({tid}): parent {parent!r} is not an "
                                 f"energised feeder or section")
        table.add(tid, NodeKind.TRANSFORMER, parent, *_end(row.geometry), DeviceKind.FUSE,
                  _text(row, "fuse_id") or f"fuse:{tid}", _build(row, "transformers", tid))
    return feeders


def switches_from_layers(sections: gpd.GeoDataFrame, net: Network) -> SwitchLayer | None:
    """The switches and ties the sections layer names, on the network imported with it (see the
    module docstring), or ``None`` when it names none (switching then places its own). A switch
    or tie is remote as ``remote`` says, else a breaker or recloser tie is and the others are by
    the placement rule's share; a tie carries ``TIE_HEADROOM`` of the smaller feeder's customers."""
    index = net.index_of()
    customers_below = net.count_below(net.kind == NodeKind.CUSTOMER)
    feeder_customers = customers_below[net.nodes_of_kind(NodeKind.FEEDER_HEAD)]
    switch, ids = device_switches(net)
    ties: list[Tie] = []
    named = False
    for _, row in sections.iterrows():
        sid, parent, tie_to = str(row["id"]), str(row["parent_id"]), _text(row, "tie_to")
        device = _text(row, "device", "none").lower()
        if device not in _DEVICES:
            raise GridLayerError(f"layer sections: {sid} has device {device!r}; use one of "
                                 f"{', '.join(d for d in _DEVICES if d)}")
        normally_open = _flag(row, "normally_open", "sections", sid) is True
        if not normally_open and not tie_to:
            if device == "switch":
                ids[index[sid]] = _text(row, "device_id") or f"switch:{sid}"
                remote = _flag(row, "remote", "sections", sid)
                remote = remote_by_share(ids[index[sid]]) if remote is None else remote
                switch[index[sid]] = SwitchKind.REMOTE if remote else SwitchKind.MANUAL
                named = True
            continue
        a, b = index.get(parent, -1), index.get(tie_to, -1)
        if not tie_to:
            raise GridLayerError(f"layer sections: {sid} is normally open but names no tie_to (the feeder "
                                 f"or section at its other end)")
        if b < 0 or net.kind[b] not in _MV:
            raise GridLayerError(f"layer sections: {sid} has tie_to {tie_to!r}, which is not an energised "
                                 f"feeder or section")
        if a < 0 or net.kind[a] not in _MV:
            raise GridLayerError(f"layer sections: {sid} hangs below {parent}, which is not a feeder or "
                                 f"section")
        if a == b:
            raise GridLayerError(f"layer sections: {sid} ties {parent} to itself")
        if not normally_open:
            raise _closed_tie(net, sid, a, b)
        tie_id = _text(row, "device_id") or f"{'switch' if device in ('', 'none') else device}:{sid}"
        remote = _flag(row, "remote", "sections", sid)
        if remote is None:
            remote = device in ("breaker", "recloser") or remote_by_share(tie_id)
        fa, fb = int(net.feeder_idx[a]), int(net.feeder_idx[b])
        ties.append(Tie(tie_id, a, b, remote, tie_capacity(feeder_customers, fa, fb)))
        named = True
    return SwitchLayer(switch, tuple(ids), tuple(ties), customers_below) if named else None


def _closed_tie(net: Network, sid: str, a: int, b: int) -> GridLayerError:
    """The error for section ``sid`` joining nodes ``a`` and ``b`` while closed: the loop it
    closes with no open point (the section, then the way from ``b`` round to ``a``), or the two
    substations it puts in parallel."""
    up_a, up_b = net.path_up(a), net.path_up(b)
    on_b = set(up_b)
    common = next((n for n in up_a if n in on_b), -1)
    joins = (f"layer sections: {sid} is closed (not normally_open) and joins {net.node_id[a]} to "
             f"{net.node_id[b]}")
    if common < 0:
        return GridLayerError(f"{joins}: two substations in parallel, {net.node_id[up_a[-1]]} and "
                              f"{net.node_id[up_b[-1]]}")
    way = [sid, *(net.node_id[n] for n in [*up_b[:up_b.index(common)], *reversed(up_a[:up_a.index(common)])])]
    return GridLayerError(f"{joins}: a loop with no open point: {', '.join(way)}")


def _add_lv(table: NodeTable, layers: dict[str, gpd.GeoDataFrame]) -> None:
    for row in _in_tree_order("service_points", layers["service_points"], set(table.pos)):
        pid, parent, kind = str(row["id"]), str(row["parent_id"]), str(row["kind"])
        parent_kind = table.kinds[table.pos[parent]]
        if parent_kind not in (NodeKind.TRANSFORMER, NodeKind.LV_BRANCH):
            raise GridLayerError(f"layer service_points: {pid} hangs below {parent}, which is not a "
                                 f"transformer or LV branch")
        if kind == "lv_branch":
            outlet = parent_kind == NodeKind.TRANSFORMER
            fuse = _text(row, "fuse_id") or (f"fuse:{pid}" if outlet else "")
            table.add(pid, NodeKind.LV_BRANCH, parent, *_end(row.geometry),
                      DeviceKind.FUSE if fuse else DeviceKind.NONE, fuse, Construction.OVERHEAD,
                      float(row.geometry.length))
        elif kind == "service_drop":
            table.add(pid, NodeKind.SERVICE_DROP, parent, *_end(row.geometry))
        else:
            raise GridLayerError(f"layer service_points: {pid} has kind {kind!r}; use lv_branch or "
                                 f"service_drop")
    for i, row in layers["customers"].iterrows():
        cid, sp = str(row["id"]), str(row["service_point_id"])
        sp_kind = table.kinds[table.pos[sp]] if sp in table.pos else None
        if sp_kind not in (NodeKind.SERVICE_DROP, NodeKind.LV_BRANCH):
            raise GridLayerError(f"layer customers row {i + 1} ({cid}): service point {sp!r} is not a "
                                 f"service drop or LV branch")
        x, y = _end(row.geometry)
        critical = _text(row, "critical").lower()
        if critical not in ("", "hospital", "life_support"):
            raise GridLayerError(f"layer customers row {i + 1} ({cid}): critical must be hospital, "
                                 f"life_support or empty, got {critical!r}")
        table.add_customer(cid, sp, x, y, meter_id=_text(row, "meter_id"), address=_text(row, "address"),
                           critical=critical, drop_id=sp if sp_kind == NodeKind.SERVICE_DROP else "")


def _build(row: Any, layer: str, eid: str) -> Construction:
    value = _text(row, "construction").lower()
    if value not in _BUILDS:
        raise GridLayerError(f"layer {layer}: {eid} has construction {value!r}; use overhead or cable")
    return _BUILDS[value]
