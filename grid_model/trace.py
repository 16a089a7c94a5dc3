"""Upstream trace of a customer: every element from the meter to the substation, read off
the precomputed parent pointers (no graph search per call)."""

from __future__ import annotations

from dataclasses import dataclass

from grid_model.network import DeviceKind, Network, NodeKind


@dataclass(frozen=True, slots=True)
class Trace:
    """Node ids along a customer's supply path, nearest first."""

    customer: str
    meter_box: str
    service_drop: str
    lv_branches: tuple[str, ...]
    transformer: str
    mv_sections: tuple[str, ...]
    devices: tuple[str, ...]
    feeder: str
    substation: str


class Tracer:
    """Traces on the network's parent pointers, held as plain lists for per-call speed."""

    def __init__(self, network: Network) -> None:
        self._parent = network.parent.tolist()
        self._kind = network.kind.tolist()
        self._device = (network.device != DeviceKind.NONE).tolist()
        self._node_id = network.node_id
        self._device_id = network.device_id

    def trace(self, node_idx: int) -> Trace:
        """Trace from a customer (or a meter box) up to its substation."""
        named = ["", "", "", "", "", "", "", ""]
        lv: list[str] = []
        mv: list[str] = []
        devices = []
        kind, node_id, device, parent = self._kind, self._node_id, self._device, self._parent
        i = node_idx
        while i >= 0:
            k = kind[i]
            if k == _LV_BRANCH:
                lv.append(node_id[i])
            elif k == _MV_NODE:
                mv.append(node_id[i])
            else:
                named[k] = node_id[i]
            if device[i]:
                devices.append(self._device_id[i])
            i = parent[i]
        return Trace(
            customer=named[_CUSTOMER], meter_box=named[_METER_BOX], service_drop=named[_DROP],
            lv_branches=tuple(lv), transformer=named[_TRANSFORMER], mv_sections=tuple(mv),
            devices=tuple(devices), feeder=named[_FEEDER_HEAD], substation=named[_SUBSTATION],
        )


_CUSTOMER, _METER_BOX, _DROP = int(NodeKind.CUSTOMER), int(NodeKind.METER_BOX), int(NodeKind.SERVICE_DROP)
_LV_BRANCH, _TRANSFORMER, _MV_NODE = int(NodeKind.LV_BRANCH), int(NodeKind.TRANSFORMER), int(NodeKind.MV_NODE)
_FEEDER_HEAD, _SUBSTATION = int(NodeKind.FEEDER_HEAD), int(NodeKind.SUBSTATION)


def trace(network: Network, node_idx: int) -> Trace:
    """One trace (builds a ``Tracer``; keep one for many calls)."""
    return Tracer(network).trace(node_idx)
