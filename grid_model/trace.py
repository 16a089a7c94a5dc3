"""Upstream trace of a customer: every element from the meter to the substation, read off
the precomputed parent pointers (no graph search per call)."""

from __future__ import annotations

from typing import NamedTuple

from grid_model.network import DeviceKind, Network, NodeKind


class Trace(NamedTuple):
    """Node ids along a customer's supply path, nearest first (a named tuple: one is built per
    call, and a frozen dataclass's nine fields take several times as long to set)."""

    customer: str
    meter_box: str
    service_drop: str
    lv_branches: tuple[str, ...]
    transformer: str
    mv_sections: tuple[str, ...]
    devices: tuple[str, ...]
    feeder: str
    substation: str


# The part of a trace from the transformer (or the MV element a drop hangs on) up, shared by every
# customer below it: transformer, MV sections, devices, feeder, substation.
_Upstream = tuple[str, tuple[str, ...], tuple[str, ...], str, str]
_NOTHING_ABOVE: _Upstream = ("", (), (), "", "")


class Tracer:
    """Traces on the network's parent pointers (kinds and devices held as plain lists for
    per-call speed). A trace walks the customer's own LV part; the part from its transformer up,
    shared by every customer below it, is kept per element on first use."""

    def __init__(self, network: Network) -> None:
        self._parent = network.parent  # read with ``item``: a list of it costs 5 ms and 5 MB of ints
        self._kind = network.kind.tolist()
        self._device = (network.device != DeviceKind.NONE).tolist()
        self._node_id = network.node_id
        self._device_id = network.device_id
        self._upstream: dict[int, _Upstream] = {}

    def trace(self, node_idx: int) -> Trace:
        """Trace from a customer (or a meter box) up to its substation."""
        customer = meter_box = drop = ""
        lv: list[str] = []
        devices: list[str] = []
        kind, node_id, device, device_id, parent = (self._kind, self._node_id, self._device, self._device_id,
                                                    self._parent)
        i = node_idx
        while i >= 0:
            k = kind[i]
            if k <= _TRANSFORMER:
                break
            if k == _LV_BRANCH:
                lv.append(node_id[i])
            elif k == _DROP:  # each of these once on a path
                drop = node_id[i]
            elif k == _METER_BOX:
                meter_box = node_id[i]
            else:
                customer = node_id[i]
            if device[i]:
                devices.append(device_id[i])
            i = parent.item(i)
        transformer, mv, above, feeder, substation = self._upstream.get(i) or self._above(i)
        return Trace(customer, meter_box, drop, tuple(lv), transformer, mv,
                     (*devices, *above) if devices else above, feeder, substation)

    def _above(self, node_idx: int) -> _Upstream:
        """The trace from ``node_idx`` (a transformer or above; -1: nothing) up, built on the
        nearest element above it that has one, and kept for each element on the way."""
        kept, parent = self._upstream, self._parent
        path = []
        i = node_idx
        while i >= 0 and i not in kept:
            path.append(i)
            i = parent.item(i)
        up = kept[i] if i >= 0 else _NOTHING_ABOVE
        for v in reversed(path):
            up = kept[v] = self._extend(v, up)
        return up

    def _extend(self, v: int, up: _Upstream) -> _Upstream:
        """The trace from ``v`` (a transformer or above) up, from the trace from its parent up;
        on one path every kind but the MV sections appears once."""
        k, nid = self._kind[v], self._node_id[v]
        transformer, mv, devices, feeder, substation = up
        if self._device[v]:
            devices = (self._device_id[v], *devices)
        if k == _MV_NODE:
            return transformer, (nid, *mv), devices, feeder, substation
        if k == _TRANSFORMER:
            return nid, mv, devices, feeder, substation
        if k == _FEEDER_HEAD:
            return transformer, mv, devices, nid, substation
        return transformer, mv, devices, feeder, nid  # the substation


_METER_BOX, _DROP = int(NodeKind.METER_BOX), int(NodeKind.SERVICE_DROP)
_LV_BRANCH, _TRANSFORMER, _MV_NODE = int(NodeKind.LV_BRANCH), int(NodeKind.TRANSFORMER), int(NodeKind.MV_NODE)
_FEEDER_HEAD = int(NodeKind.FEEDER_HEAD)


def trace(network: Network, node_idx: int) -> Trace:
    """One trace (builds a ``Tracer``; keep one for many calls)."""
    return Tracer(network).trace(node_idx)
