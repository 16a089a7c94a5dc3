"""Two hand-built feeders with switches and a tie, for switching tests."""

from __future__ import annotations

import numpy as np

from grid_model.network import Construction, DeviceKind, Network, NodeKind, build_network
from grid_model.switches import SwitchKind, SwitchLayer, Tie

K, D = NodeKind, DeviceKind


def two_feeders(*, two_substations: bool = False) -> tuple[Network, SwitchLayer, dict[str, int]]:
    """Feeder A: breaker, J1 - J2 (manual switch) - J3 - J4 (remote switch) - J5, a tie from J5 to
    feeder B's end K2. Each junction feeds one transformer with 10 customers (B's two: 30).
    Both feeders leave substation S, or with ``two_substations`` B leaves S2."""
    rows: list[tuple[str, NodeKind, str, DeviceKind, str]] = [("S", K.SUBSTATION, "", D.NONE, "")]
    rows += [("A", K.FEEDER_HEAD, "S", D.BREAKER, "CB-A")]
    chain = [("J1", "A"), ("J2", "J1"), ("J3", "J2"), ("J4", "J3"), ("J5", "J4")]
    rows += [(j, K.MV_NODE, p, D.NONE, "") for j, p in chain]
    if two_substations:
        rows += [("S2", K.SUBSTATION, "", D.NONE, "")]
    rows += [("B", K.FEEDER_HEAD, "S2" if two_substations else "S", D.BREAKER, "CB-B"),
             ("K1", K.MV_NODE, "B", D.NONE, ""),
             ("K2", K.MV_NODE, "K1", D.NONE, "")]
    for j, n in [("J1", 10), ("J2", 10), ("J3", 10), ("J4", 10), ("J5", 10), ("K1", 30), ("K2", 30)]:
        rows += [(f"T{j}", K.TRANSFORMER, j, D.FUSE, f"FU-T{j}"), (f"L{j}", K.LV_BRANCH, f"T{j}", D.NONE, "")]
        for c in range(n):
            rows += [(f"D{j}{c}", K.SERVICE_DROP, f"L{j}", D.NONE, ""),
                     (f"M{j}{c}", K.METER_BOX, f"D{j}{c}", D.NONE, ""),
                     (f"C{j}{c}", K.CUSTOMER, f"M{j}{c}", D.NONE, "")]
    pos = {r[0]: i for i, r in enumerate(rows)}
    n = len(rows)
    net = build_network(node_id=[r[0] for r in rows], kind=[r[1] for r in rows],
                        parent=[pos[r[2]] if r[2] else -1 for r in rows], x_m=[0.0] * n, y_m=[0.0] * n,
                        device=[r[3] for r in rows], device_id=[r[4] for r in rows],
                        construction=[Construction.OVERHEAD] * n, length_m=[10.0] * n, area=[0] * n)
    idx = net.index_of()
    switch = np.zeros(net.n_nodes, dtype=np.int8)
    ids = [""] * net.n_nodes
    for name, kind in (("A", SwitchKind.REMOTE), ("B", SwitchKind.REMOTE), ("J2", SwitchKind.MANUAL),
                       ("J4", SwitchKind.REMOTE)):
        switch[idx[name]] = kind
        ids[idx[name]] = net.device_id[idx[name]] or f"SW-{name}"  # a breaker is known by its device id
    customers = net.count_below(net.kind == NodeKind.CUSTOMER)
    tie = Tie("TIE-J5-K2", idx["J5"], idx["K2"], False, 30)
    return net, SwitchLayer(switch, tuple(ids), (tie,), customers), idx
