"""Traces list every element from a customer up to its substation, however many traces share
their upper part and in whatever order they are asked for."""

from __future__ import annotations

import numpy as np

from grid_model.network import DeviceKind, Network, NodeKind
from grid_model.region import Region
from grid_model.trace import Trace, Tracer, trace
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build

K, D = NodeKind, DeviceKind

# Two LV levels, a fused meter box, and a customer whose drop hangs on an MV node.
MIXED = [
    *TWO_FAULTS_IN_SERIES,
    ("L3x", K.LV_BRANCH, "L3", D.NONE, ""),
    ("L3y", K.LV_BRANCH, "L3x", D.FUSE, "LF-L3y"),
    ("SD6", K.SERVICE_DROP, "L3y", D.NONE, ""),
    ("MB6", K.METER_BOX, "SD6", D.FUSE, "MF-MB6"),
    ("C6", K.CUSTOMER, "MB6", D.NONE, ""),
    ("SD7", K.SERVICE_DROP, "J2", D.NONE, ""),
    ("MB7", K.METER_BOX, "SD7", D.NONE, ""),
    ("C7", K.CUSTOMER, "MB7", D.NONE, ""),
]


def _walk(net: Network, node: int) -> Trace:
    """Every element on the path, read off ``path_up`` one by one."""
    path = net.path_up(node)
    ids = {int(net.kind[i]): net.node_id[i] for i in path}
    return Trace(
        customer=ids.get(K.CUSTOMER, ""), meter_box=ids.get(K.METER_BOX, ""),
        service_drop=ids.get(K.SERVICE_DROP, ""),
        lv_branches=tuple(net.node_id[i] for i in path if net.kind[i] == K.LV_BRANCH),
        transformer=ids.get(K.TRANSFORMER, ""),
        mv_sections=tuple(net.node_id[i] for i in path if net.kind[i] == K.MV_NODE),
        devices=tuple(net.device_id[i] for i in path if net.device[i] != D.NONE),
        feeder=ids.get(K.FEEDER_HEAD, ""), substation=ids.get(K.SUBSTATION, ""))


def test_trace_of_a_customer_below_two_lv_levels_and_a_fused_meter_box() -> None:
    net = build(MIXED)
    idx = net.index_of()
    assert trace(net, idx["C6"]) == Trace(
        customer="C6", meter_box="MB6", service_drop="SD6", lv_branches=("L3y", "L3x", "L3"),
        transformer="T3", mv_sections=("J3", "J2", "J1"),
        devices=("MF-MB6", "LF-L3y", "LF-L3", "FU-T3", "FU-J3", "RC-J2", "CB-F1"), feeder="F1",
        substation="S1")
    assert trace(net, idx["C7"]) == Trace(
        customer="C7", meter_box="MB7", service_drop="SD7", lv_branches=(), transformer="",
        mv_sections=("J2", "J1"), devices=("RC-J2", "CB-F1"), feeder="F1", substation="S1")


def test_every_node_traces_as_its_walk_up_in_any_order(small_region: Region) -> None:
    for net in (build(MIXED), small_region.network):
        tracer = Tracer(net)
        order = np.random.default_rng(2).permutation(net.n_nodes).tolist()
        for node in [*order, *order[:50]]:  # again, from the kept upper parts
            assert tracer.trace(node) == _walk(net, node), net.node_id[node]
