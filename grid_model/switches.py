"""Sectionalising switches along the MV feeders and normally-open ties between neighbouring
feeders: what lets a utility isolate a faulted section and re-energise the healthy ones.

The radial ``Network`` stays the normal configuration; a ``SwitchLayer`` beside it holds the
switch on the edge into each node (manual or remote-controlled; reclosers and feeder breakers
are remote switches too) and the ties. ``energised`` works out which nodes have supply for any
state of the open points and closed ties (the supply paths change when a tie closes: a section
is fed from its far end), and ``state_problems`` what is unsafe in a state: a fault fed, two
feeders in parallel (a loop, or two substations joined), a tie carrying more customers than
it may.

Placement on the generated region (documented defaults):
- a switch on a trunk junction where the customers below have fallen by at least
  ``SECTION_SHARE`` (a quarter) of the feeder's since the switch above, and at least
  ``SECTION_SHARE / 2`` of them remain below: sections of a quarter of the feeder or more;
- ``REMOTE_SHARE`` (30 %) of switches and ties are remote-controlled (distribution automation),
  drawn from a hash of the id, so that every rebuild draws the same;
- from each trunk end and each section's far end (the junction above a sectionalising switch),
  a tie to the nearest trunk junction of another feeder within ``TIE_REACH_M``; at most
  ``TIES_PER_PAIR`` ties between two feeders (the "multi-section, multi-tie" pattern of urban
  distribution planning: each section can be fed from a neighbour);
- a tie carries at most ``TIE_HEADROOM`` (half) of the customers of the feeder at either end:
  feeders are planned to run at two thirds of their rating, so each can take half its own load
  again (the N-1 practice of urban distribution planning).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from grid_model.network import DeviceKind, Network, NodeKind, build_network

SECTION_SHARE = 0.25
REMOTE_SHARE = 0.30
TIE_REACH_M = 2_000.0
TIE_HEADROOM = 0.5
TIES_PER_PAIR = 2


class SwitchKind(IntEnum):
    """A switch on the edge into a node."""

    NONE = 0
    MANUAL = 1  # a crew travels to it and operates it on site
    REMOTE = 2  # operated from the control room (SCADA)


@dataclass(frozen=True, slots=True)
class Tie:
    """A normally-open switch between node ``a`` and node ``b`` of another feeder."""

    tie_id: str
    a: int
    b: int
    remote: bool
    capacity: int  # customers it may carry


@dataclass(frozen=True, slots=True)
class SwitchLayer:
    """The switches and ties of a network (see the module docstring)."""

    switch: npt.NDArray[np.int8]  # SwitchKind of the edge into each node
    switch_id: tuple[str, ...]
    ties: tuple[Tie, ...]
    customers_below: npt.NDArray[np.int64]

    def switch_points(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.switch != SwitchKind.NONE)

    def remote_only(self) -> SwitchLayer:
        """The switches and ties the control room operates (what a plain FLISR can use)."""
        switch = np.where(self.switch == SwitchKind.REMOTE, self.switch, SwitchKind.NONE).astype(np.int8)
        ids = tuple(i if k == SwitchKind.REMOTE else "" for i, k in zip(self.switch_id, self.switch.tolist(),
                                                                        strict=True))
        return SwitchLayer(switch, ids, tuple(t for t in self.ties if t.remote), self.customers_below)


def remote_by_share(element_id: str) -> bool:
    """Whether an element is remote-controlled: ``REMOTE_SHARE`` of ids, by a stable hash."""
    return zlib.crc32(element_id.encode()) % 1000 < REMOTE_SHARE * 1000


def trunk_mask(net: Network) -> npt.NDArray[np.bool_]:
    """MV junctions on a feeder's trunk: no fuse on the way up to the feeder head."""
    mv = net.kind == NodeKind.MV_NODE
    fused = np.zeros(net.n_nodes, dtype=bool)
    parent = net.parent
    for i in range(net.n_nodes):  # preorder: a parent comes before its children
        p = int(parent[i])
        fused[i] = (p >= 0 and fused[p]) or net.device[i] == DeviceKind.FUSE
    return mv & ~fused


def device_switches(net: Network) -> tuple[npt.NDArray[np.int8], list[str]]:
    """Breakers and reclosers as remote switches (their device ids), every other node without
    one: what every layer starts from, generated or imported."""
    switch = np.zeros(net.n_nodes, dtype=np.int8)
    ids = [""] * net.n_nodes
    for i in np.flatnonzero(np.isin(net.device, (DeviceKind.BREAKER, DeviceKind.RECLOSER))).tolist():
        switch[i], ids[i] = SwitchKind.REMOTE, net.device_id[i]
    return switch, ids


def tie_capacity(feeder_customers: npt.NDArray[np.int64], fa: int, fb: int, *,
                 headroom: float = TIE_HEADROOM) -> int:
    """The customers a tie between feeders ``fa`` and ``fb`` (indices into
    ``feeder_customers``) may carry: ``headroom`` of the smaller feeder's."""
    return int(headroom * min(int(feeder_customers[fa]), int(feeder_customers[fb])))


def place_switches(net: Network, *, section_share: float = SECTION_SHARE, ties_per_pair: int = TIES_PER_PAIR,
                   tie_headroom: float = TIE_HEADROOM) -> SwitchLayer:
    """Switches and ties for a generated (or imported, switchless) network, by the rules of
    the module docstring (their numbers may be changed, to ask what another layout would do)."""
    customers_below = net.count_below(net.kind == NodeKind.CUSTOMER)
    feeder_customers = customers_below[net.nodes_of_kind(NodeKind.FEEDER_HEAD)]
    trunk = trunk_mask(net)
    switch, ids = device_switches(net)
    last = np.full(net.n_nodes, -1, dtype=np.int64)  # the switch at or above each trunk node
    for i in range(net.n_nodes):
        p = int(net.parent[i])
        if net.kind[i] == NodeKind.FEEDER_HEAD:
            last[i] = i
            continue
        if not trunk[i] or p < 0:
            continue
        above = int(last[p])
        last[i] = i if switch[i] else above
        if switch[i] or above < 0:
            continue
        feeder = int(feeder_customers[int(net.feeder_idx[i])])
        fallen = int(customers_below[above]) - int(customers_below[i])
        if fallen >= section_share * feeder and customers_below[i] >= section_share / 2 * feeder:
            ids[i] = f"SW-{net.node_id[i]}"
            switch[i] = SwitchKind.REMOTE if remote_by_share(ids[i]) else SwitchKind.MANUAL
            last[i] = i
    sections = [i for i in np.flatnonzero(switch).tolist() if net.kind[i] == NodeKind.MV_NODE]
    ties = _ties(net, trunk, feeder_customers, sections, per_pair=ties_per_pair, headroom=tie_headroom)
    return SwitchLayer(switch, tuple(ids), ties, customers_below)


def _ties(net: Network, trunk: npt.NDArray[np.bool_], feeder_customers: npt.NDArray[np.int64],
          sections: list[int], *, per_pair: int, headroom: float) -> tuple[Tie, ...]:
    nodes = np.flatnonzero(trunk)
    if len(nodes) == 0:
        return ()
    has_trunk_child = np.zeros(net.n_nodes, dtype=bool)
    parents = net.parent[nodes]
    has_trunk_child[parents[parents >= 0]] = True
    far_ends = {int(net.parent[i]) for i in sections if trunk[int(net.parent[i])]}
    ends = sorted(set(nodes[~has_trunk_child[nodes]].tolist()) | far_ends)
    tree = cKDTree(np.column_stack([net.x_m[nodes], net.y_m[nodes]]))
    feeder = net.feeder_idx
    out: list[Tie] = []
    paired: dict[tuple[int, int], int] = {}
    for a in ends:
        near = tree.query_ball_point((net.x_m[a], net.y_m[a]), TIE_REACH_M)
        others = [int(nodes[k]) for k in near if feeder[nodes[k]] != feeder[a]]
        if not others:
            continue
        b = min(others, key=lambda n: (net.x_m[n] - net.x_m[a]) ** 2 + (net.y_m[n] - net.y_m[a]) ** 2)
        fa, fb = int(feeder[a]), int(feeder[b])
        pair = (min(fa, fb), max(fa, fb))
        if paired.get(pair, 0) >= per_pair:
            continue
        paired[pair] = paired.get(pair, 0) + 1
        tie_id = f"TIE-{net.node_id[a]}-{net.node_id[b]}"
        out.append(Tie(tie_id, a, b, remote_by_share(tie_id), tie_capacity(feeder_customers, fa, fb,
                                                                           headroom=headroom)))
    return tuple(out)


def _components(net: Network, open_nodes: npt.NDArray[np.bool_], closed_ties: list[Tie]
                ) -> tuple[int, npt.NDArray[np.int32]]:
    """Connected components of the closed edges (a tree edge is closed unless its node is
    open): their count and each node's label."""
    child = np.flatnonzero((net.parent >= 0) & ~open_nodes)
    rows = np.concatenate([child, [t.a for t in closed_ties]]).astype(np.int64)
    cols = np.concatenate([net.parent[child], [t.b for t in closed_ties]]).astype(np.int64)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(net.n_nodes, net.n_nodes))
    n, labels = connected_components(graph, directed=False)
    return n, labels


def energised(net: Network, open_nodes: npt.NDArray[np.bool_],
              closed_ties: list[Tie]) -> npt.NDArray[np.bool_]:
    """Nodes with supply: connected to a substation through closed edges. ``open_nodes`` marks
    the nodes whose edge in is open (a device that operated, a switch opened, a fault cut out)."""
    _, labels = _components(net, open_nodes, closed_ties)
    fed = np.unique(labels[net.kind == NodeKind.SUBSTATION])
    return np.isin(labels, fed)


def state_problems(net: Network, layer: SwitchLayer, open_nodes: npt.NDArray[np.bool_],
                   closed_ties: list[Tie], faults: list[int], *,
                   customers: npt.NDArray[np.int64] | None = None) -> list[str]:
    """What is unsafe in a state: a faulted edge (the edge into a node of ``faults``) with
    supply, a loop or two substations joined (two feeders in parallel), a tie carrying more
    customers than it may (those its dead end's side would lose without it). ``customers``:
    each node's own customers (default: one per customer node; the MV part of a network
    carries them on transformers)."""
    out = []
    n, labels = _components(net, open_nodes, closed_ties)
    fed = set(np.unique(labels[net.kind == NodeKind.SUBSTATION]).tolist())
    for f in faults:
        if not open_nodes[f] and labels[f] in fed:
            out.append(f"fault at {net.node_id[f]} is fed")
    nodes_per = np.bincount(labels, minlength=n)
    edges_per = np.zeros(n, dtype=np.int64)
    child = np.flatnonzero((net.parent >= 0) & ~open_nodes)
    np.add.at(edges_per, labels[child], 1)
    for t in closed_ties:
        edges_per[labels[t.a]] += 1
    for comp in np.flatnonzero(edges_per >= nodes_per).tolist():
        out.append(f"a loop: {int(nodes_per[comp])} nodes joined by {int(edges_per[comp])} closed edges "
                   f"(feeders in parallel)")
    stations = np.flatnonzero(net.kind == NodeKind.SUBSTATION)
    for comp in np.flatnonzero(np.bincount(labels[stations], minlength=n) >= 2).tolist():
        joined = ", ".join(net.node_id[s] for s in stations[labels[stations] == comp].tolist())
        out.append(f"substations {joined} joined by closed ties (feeders in parallel)")
    customer = (net.kind == NodeKind.CUSTOMER).astype(np.int64) if customers is None else customers
    for t in closed_ties:
        _, side = _components(net, open_nodes, [u for u in closed_ties if u is not t])
        unfed = [end for end in (t.a, t.b)
                 if not np.isin(side[end], side[net.kind == NodeKind.SUBSTATION])]
        if len(unfed) != 1:
            continue  # a loop (reported above) or a tie between two dead sections: it carries nothing
        for end in unfed:
            carried = int(customer[side == side[end]].sum())
            if carried > t.capacity:
                out.append(f"tie {t.tie_id} carries {carried} customers, over its {t.capacity}")
    return out


@dataclass(frozen=True, slots=True)
class MvPart:
    """The MV part of a network (substations down to the transformers): what switching acts
    on, small enough to check many states fast. ``index`` maps a node of the whole network to
    its node here (-1 below the transformers); ``customers`` are each transformer's."""

    net: Network
    index: npt.NDArray[np.int64]
    customers: npt.NDArray[np.int64]

    def tie(self, t: Tie) -> Tie:
        return Tie(t.tie_id, int(self.index[t.a]), int(self.index[t.b]), t.remote, t.capacity)

    def state(self, open_nodes: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """An open-nodes mask of the whole network, on the MV part."""
        out = np.zeros(self.net.n_nodes, dtype=bool)
        mv = self.index >= 0
        out[self.index[mv]] = open_nodes[mv]
        return out


def mv_part(net: Network, customers_below: npt.NDArray[np.int64]) -> MvPart:
    """The network's MV part (see ``MvPart``)."""
    keep = np.flatnonzero(net.kind <= NodeKind.TRANSFORMER)
    pos = np.full(net.n_nodes, -1, dtype=np.int64)
    pos[keep] = np.arange(len(keep))
    parent = net.parent[keep]
    part = build_network(node_id=[net.node_id[k] for k in keep.tolist()], kind=net.kind[keep],
                         parent=np.where(parent >= 0, pos[np.maximum(parent, 0)], -1),
                         x_m=net.x_m[keep], y_m=net.y_m[keep], device=net.device[keep],
                         device_id=[net.device_id[k] for k in keep.tolist()],
                         construction=net.construction[keep], length_m=net.length_m[keep],
                         area=net.area[keep])
    at = part.index_of()
    index = np.full(net.n_nodes, -1, dtype=np.int64)
    index[keep] = [at[net.node_id[k]] for k in keep.tolist()]
    customers = np.zeros(part.n_nodes, dtype=np.int64)
    transformers = keep[net.kind[keep] == NodeKind.TRANSFORMER]
    customers[index[transformers]] = customers_below[transformers]
    return MvPart(part, index, customers)
