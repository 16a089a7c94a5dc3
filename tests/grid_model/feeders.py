"""Tiny hand-built feeders whose traces and outages can be checked by eye."""

from __future__ import annotations

from grid_model.network import Construction, DeviceKind, Network, NodeKind, build_network

K, D = NodeKind, DeviceKind

# id, kind, parent id, device, device id
TWO_FAULTS_IN_SERIES: list[tuple[str, NodeKind, str, DeviceKind, str]] = [
    ("S1", K.SUBSTATION, "", D.NONE, ""),
    ("F1", K.FEEDER_HEAD, "S1", D.BREAKER, "CB-F1"),
    ("J1", K.MV_NODE, "F1", D.NONE, ""),
    ("J2", K.MV_NODE, "J1", D.RECLOSER, "RC-J2"),
    ("J3", K.MV_NODE, "J2", D.FUSE, "FU-J3"),
    ("T1", K.TRANSFORMER, "J1", D.FUSE, "FU-T1"),
    ("T3", K.TRANSFORMER, "J3", D.FUSE, "FU-T3"),
    ("L1", K.LV_BRANCH, "T1", D.FUSE, "LF-L1"),
    ("L3", K.LV_BRANCH, "T3", D.FUSE, "LF-L3"),
    ("SD1", K.SERVICE_DROP, "L1", D.NONE, ""),
    ("SD3", K.SERVICE_DROP, "L3", D.NONE, ""),
    ("SD4", K.SERVICE_DROP, "L3", D.NONE, ""),
    ("MB1", K.METER_BOX, "SD1", D.NONE, ""),
    ("MB3", K.METER_BOX, "SD3", D.NONE, ""),
    ("MB4", K.METER_BOX, "SD4", D.NONE, ""),
    ("C1", K.CUSTOMER, "MB1", D.NONE, ""),
    ("C2", K.CUSTOMER, "MB1", D.NONE, ""),
    ("C3", K.CUSTOMER, "MB3", D.NONE, ""),
    ("C4", K.CUSTOMER, "MB4", D.NONE, ""),
    ("C5", K.CUSTOMER, "MB4", D.NONE, ""),
]

# The same with a second LV outlet at T3, one customer on it: two outlets of one transformer.
T3_TWO_OUTLETS = [
    *TWO_FAULTS_IN_SERIES,
    ("L3b", K.LV_BRANCH, "T3", D.FUSE, "LF-L3b"),
    ("SD3b", K.SERVICE_DROP, "L3b", D.NONE, ""),
    ("MB3b", K.METER_BOX, "SD3b", D.NONE, ""),
    ("C3b", K.CUSTOMER, "MB3b", D.NONE, ""),
]


def build(rows: list[tuple[str, NodeKind, str, DeviceKind, str]]) -> Network:
    ids = [r[0] for r in rows]
    pos = {nid: i for i, nid in enumerate(ids)}
    n = len(rows)
    return build_network(
        node_id=ids, kind=[r[1] for r in rows],
        parent=[pos[r[2]] if r[2] else -1 for r in rows],
        x_m=[100.0 * i for i in range(n)], y_m=[0.0] * n, device=[r[3] for r in rows],
        device_id=[r[4] for r in rows], construction=[Construction.OVERHEAD] * n,
        length_m=[10.0] * n, area=[0] * n,
    )


def radial_feeder(transformers: int = 8, outlets: int = 3, drops: int = 10) -> Network:
    """A feeder breaker F1 over a chain of MV sections, a fused transformer T<i> on each, fused LV
    outlets L<i>_<j> on each transformer, and drops SD<i>_<j>_<k> with one customer C<i>_<j>_<k>
    each: ``transformers * outlets * drops`` customers."""
    rows: list[tuple[str, NodeKind, str, DeviceKind, str]] = [
        ("S1", K.SUBSTATION, "", D.NONE, ""), ("F1", K.FEEDER_HEAD, "S1", D.BREAKER, "CB-F1")]
    _feeder(rows, "F1", "", "_", transformers, outlets, drops, None)
    return build(rows)


def _feeder(rows: list[tuple[str, NodeKind, str, DeviceKind, str]], head: str, prefix: str, sep: str,
            transformers: int, outlets: int, drops: int, customers: int | None) -> None:
    """Append to ``rows`` what lies below the breaker ``head``: a chain of MV sections J<t> with a
    fused transformer T<t> on each (t: ``prefix`` and the transformer's number), fused LV outlets
    L<t><sep><j>, and drops SD<outlet><sep><k>, each serving ``customers`` customers
    C<drop><sep><c> (None: one customer, C<drop>)."""
    above = head
    for i in range(transformers):
        t = f"{prefix}{i}"
        rows += [(f"J{t}", K.MV_NODE, above, D.NONE, ""),
                 (f"T{t}", K.TRANSFORMER, f"J{t}", D.FUSE, f"FU-T{t}")]
        above = f"J{t}"
        for j in range(outlets):
            lv = f"{t}{sep}{j}"
            rows.append((f"L{lv}", K.LV_BRANCH, f"T{t}", D.FUSE, f"LF-L{lv}"))
            for k in range(drops):
                d = f"{lv}{sep}{k}"
                rows += [(f"SD{d}", K.SERVICE_DROP, f"L{lv}", D.NONE, ""),
                         (f"MB{d}", K.METER_BOX, f"SD{d}", D.NONE, "")]
                names = [f"C{d}"] if customers is None else [f"C{d}{sep}{c}" for c in range(customers)]
                rows += [(name, K.CUSTOMER, f"MB{d}", D.NONE, "") for name in names]


def feeders_of_buildings(feeders: int, transformers: int = 6, outlets: int = 2, drops: int = 8,
                         customers: int = 3) -> Network:
    """``feeders`` breakers F<f> on one substation, each over a chain of MV sections with a fused
    transformer T<f>.<i> on each, fused LV outlets L<f>.<i>.<j>, and drops SD<f>.<i>.<j>.<k> each
    serving a building of ``customers`` customers C<f>.<i>.<j>.<k>.<c>."""
    rows: list[tuple[str, NodeKind, str, DeviceKind, str]] = [("S1", K.SUBSTATION, "", D.NONE, "")]
    for f in range(feeders):
        rows.append((f"F{f}", K.FEEDER_HEAD, "S1", D.BREAKER, f"CB-F{f}"))
        _feeder(rows, f"F{f}", f"{f}.", ".", transformers, outlets, drops, customers)
    return build(rows)
