"""The radial network as flat arrays in DFS preorder, so every subtree is one contiguous slice.

A node stands for the element on the edge into it (the MV section into a junction, the
drop wire into a service drop, ...). A protective device on a node operates that edge and
de-energises exactly the node's subtree: ``range(idx, idx + size[idx])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class NodeKind(IntEnum):
    """What a node is, from the substation down to the customer's meter."""

    SUBSTATION = 0
    FEEDER_HEAD = 1
    MV_NODE = 2
    TRANSFORMER = 3
    LV_BRANCH = 4
    SERVICE_DROP = 5
    METER_BOX = 6
    CUSTOMER = 7


class DeviceKind(IntEnum):
    """Protective device on the edge into a node."""

    NONE = 0
    BREAKER = 1
    RECLOSER = 2
    FUSE = 3


class Construction(IntEnum):
    """How the edge into a node is built; sets its fragility and repair class."""

    NONE = 0
    OVERHEAD = 1
    CABLE = 2


class AreaClass(IntEnum):
    """Service-area class; it sets the arrival limit promised to customers."""

    URBAN = 0
    RURAL = 1
    REMOTE = 2


AREA_NAMES: tuple[str, ...] = ("urban", "rural", "remote")
KIND_NAMES: tuple[str, ...] = tuple(k.name.lower() for k in NodeKind)
DEVICE_NAMES: tuple[str, ...] = tuple(k.name.lower() for k in DeviceKind)
# The skills repair work takes (and its repair-limit class), from low voltage up.
SKILLS: tuple[str, ...] = ("lv", "mv", "cable")


_ALLOWED_PARENTS: dict[int, frozenset[int]] = {
    NodeKind.FEEDER_HEAD: frozenset({NodeKind.SUBSTATION}),
    NodeKind.MV_NODE: frozenset({NodeKind.FEEDER_HEAD, NodeKind.MV_NODE}),
    NodeKind.TRANSFORMER: frozenset({NodeKind.FEEDER_HEAD, NodeKind.MV_NODE}),
    NodeKind.LV_BRANCH: frozenset({NodeKind.TRANSFORMER, NodeKind.LV_BRANCH}),
    # MV-connected customers of imported grids hang their service drop on an MV node.
    NodeKind.SERVICE_DROP: frozenset({NodeKind.LV_BRANCH, NodeKind.TRANSFORMER, NodeKind.MV_NODE,
                                      NodeKind.FEEDER_HEAD, NodeKind.SUBSTATION}),
    NodeKind.METER_BOX: frozenset({NodeKind.SERVICE_DROP}),
    NodeKind.CUSTOMER: frozenset({NodeKind.METER_BOX}),
}


class NetworkError(ValueError):
    """The network is not a valid radial tree (a loop, an island, a bad parent)."""


@dataclass(frozen=True, slots=True)
class Network:
    """Immutable radial network; arrays indexed by node idx in DFS preorder."""

    node_id: tuple[str, ...]
    kind: npt.NDArray[np.int8]
    parent: npt.NDArray[np.int64]
    depth: npt.NDArray[np.int32]
    size: npt.NDArray[np.int64]
    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    device: npt.NDArray[np.int8]
    device_id: tuple[str, ...]
    construction: npt.NDArray[np.int8]
    length_m: npt.NDArray[np.float64]
    area: npt.NDArray[np.int8]
    feeder_idx: npt.NDArray[np.int32]
    substation_idx: npt.NDArray[np.int32]
    device_ancestor: npt.NDArray[np.int64]

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    def subtree(self, idx: int) -> slice:
        """The slice of node indices de-energised when ``idx`` opens."""
        return slice(idx, idx + self.size.item(idx))

    def is_ancestor(self, anc: int, idx: int) -> bool:
        """True when ``anc`` is ``idx`` or lies upstream of it."""
        return anc <= idx < anc + self.size.item(anc)

    def path_up(self, idx: int) -> list[int]:
        """Node indices from ``idx`` up to its substation, inclusive."""
        out = []
        while idx >= 0:
            out.append(idx)
            idx = int(self.parent[idx])
        return out

    def index_of(self) -> dict[str, int]:
        """Map from external node id to node idx."""
        return {nid: i for i, nid in enumerate(self.node_id)}

    def count_below(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """For every node, how many nodes of its subtree (itself included) ``mask`` marks;
        one prefix sum over the preorder, then one subtraction per node."""
        prefix = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
        idx = np.arange(self.n_nodes)
        return prefix[idx + self.size] - prefix[idx]

    def nodes_of_kind(self, kind: NodeKind) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.kind == kind).astype(np.int64)


def preorder_from_parent(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Order nodes depth-first (children in index order); raises on loops or bad parents."""
    n = len(parent)
    if n and (parent.max() >= n or parent.min() < -1):
        raise NetworkError("parent index out of range")
    children: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    for i, p in enumerate(parent.tolist()):
        (roots if p < 0 else children[p]).append(i)
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(reversed(children[i]))
    if len(order) != n:
        seen = np.zeros(n, dtype=bool)
        seen[order] = True
        stuck = int(np.flatnonzero(~seen)[0])
        raise NetworkError(f"node {stuck} is on a loop or not connected to any substation")
    return np.asarray(order, dtype=np.int64)


def subtree_sizes(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Subtree sizes for a parent array already in preorder (parents before children)."""
    size = np.ones(len(parent), dtype=np.int64)
    for i in range(len(parent) - 1, -1, -1):
        p = parent[i]
        if p >= 0:
            size[p] += size[i]
    return size


def _depths(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
    depth = np.zeros(len(parent), dtype=np.int32)
    for i in range(len(parent)):
        p = parent[i]
        if p >= 0:
            depth[i] = depth[p] + 1
    return depth


def _device_ancestors(
    parent: npt.NDArray[np.int64], device: npt.NDArray[np.int8]
) -> npt.NDArray[np.int64]:
    anc = np.full(len(parent), -1, dtype=np.int64)
    for i in range(len(parent)):
        if device[i] != DeviceKind.NONE:
            anc[i] = i
        elif parent[i] >= 0:
            anc[i] = anc[parent[i]]
    return anc


def _feeder_of(parent: npt.NDArray[np.int64], kind: npt.NDArray[np.int8]) -> npt.NDArray[np.int32]:
    feeder = np.full(len(parent), -1, dtype=np.int32)
    heads = np.flatnonzero(kind == NodeKind.FEEDER_HEAD)
    head_no = {int(h): k for k, h in enumerate(heads)}
    for i in range(len(parent)):
        if i in head_no:
            feeder[i] = head_no[i]
        elif parent[i] >= 0:
            feeder[i] = feeder[parent[i]]
    return feeder


def _substation_of(parent: npt.NDArray[np.int64], kind: npt.NDArray[np.int8]) -> npt.NDArray[np.int32]:
    sub = np.full(len(parent), -1, dtype=np.int32)
    k = -1
    for i in range(len(parent)):
        if kind[i] == NodeKind.SUBSTATION:
            k += 1
            sub[i] = k
        else:
            sub[i] = sub[parent[i]]
    return sub


def build_network(
    *,
    node_id: list[str],
    kind: npt.ArrayLike,
    parent: npt.ArrayLike,
    x_m: npt.ArrayLike,
    y_m: npt.ArrayLike,
    device: npt.ArrayLike,
    device_id: list[str],
    construction: npt.ArrayLike,
    length_m: npt.ArrayLike,
    area: npt.ArrayLike,
) -> Network:
    """Validate, reorder to preorder and derive the trace arrays of a radial network.

    Roots must be substations; every other node needs a parent. Raises ``NetworkError``
    naming the offending node when the input is not a radial tree.
    """
    par = np.asarray(parent, dtype=np.int64)
    knd = np.asarray(kind, dtype=np.int8)
    n = len(par)
    columns = {"node_id": node_id, "x_m": x_m, "y_m": y_m, "device": device,
               "device_id": device_id, "construction": construction,
               "length_m": length_m, "area": area, "kind": knd}
    for name, col in columns.items():
        if len(col) != n:  # type: ignore[arg-type]
            raise NetworkError(f"column {name} has {len(col)} rows, parent has {n}")  # type: ignore[arg-type]
    if len(set(node_id)) != n:
        seen: set[str] = set()
        dup = next(nid for nid in node_id if nid in seen or seen.add(nid))  # type: ignore[func-returns-value]
        raise NetworkError(f"node id {dup!r} appears more than once")
    bad_root = np.flatnonzero((par < 0) & (knd != NodeKind.SUBSTATION))
    if len(bad_root):
        raise NetworkError(f"node {node_id[bad_root[0]]!r} has no parent and is not a substation")
    order = preorder_from_parent(par)
    for i in np.flatnonzero(par >= 0):
        if knd[par[i]] not in _ALLOWED_PARENTS[int(knd[i])]:
            raise NetworkError(
                f"node {node_id[i]!r} ({KIND_NAMES[knd[i]]}) cannot hang below "
                f"{node_id[par[i]]!r} ({KIND_NAMES[knd[par[i]]]})"
            )
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n, dtype=np.int64)
    new_parent = np.where(par[order] >= 0, inv[np.maximum(par[order], 0)], -1).astype(np.int64)
    knd = knd[order]
    dev = np.asarray(device, dtype=np.int8)[order]
    return Network(
        node_id=tuple(node_id[i] for i in order),
        kind=knd,
        parent=new_parent,
        depth=_depths(new_parent),
        size=subtree_sizes(new_parent),
        x_m=np.asarray(x_m, dtype=np.float64)[order],
        y_m=np.asarray(y_m, dtype=np.float64)[order],
        device=dev,
        device_id=tuple(device_id[i] for i in order),
        construction=np.asarray(construction, dtype=np.int8)[order],
        length_m=np.asarray(length_m, dtype=np.float64)[order],
        area=np.asarray(area, dtype=np.int8)[order],
        feeder_idx=_feeder_of(new_parent, knd),
        substation_idx=_substation_of(new_parent, knd),
        device_ancestor=_device_ancestors(new_parent, dev),
    )
