"""Radial network arrays: preorder, subtrees, device ancestors, and rejection of bad trees."""

from __future__ import annotations

import pytest

from grid_model.network import DeviceKind, NetworkError, NodeKind
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build


def test_trace_of_customer_lists_every_element_up_to_the_substation() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    path = [net.node_id[i] for i in net.path_up(idx["C4"])]
    assert path == ["C4", "MB4", "SD4", "L3", "T3", "J3", "J2", "J1", "F1", "S1"]
    devices = [net.device_id[i] for i in net.path_up(idx["C4"]) if net.device[i] != DeviceKind.NONE]
    assert devices == ["LF-L3", "FU-T3", "FU-J3", "RC-J2", "CB-F1"]


def test_subtree_is_the_contiguous_slice_a_device_de_energises() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    below_recloser = {net.node_id[i] for i in range(net.n_nodes)[net.subtree(idx["J2"])]}
    assert below_recloser == {"J2", "J3", "T3", "L3", "SD3", "SD4", "MB3", "MB4", "C3", "C4", "C5"}
    assert net.device_ancestor[idx["C1"]] == idx["L1"]
    assert net.device_ancestor[idx["J1"]] == idx["F1"]
    assert net.feeder_idx[idx["C5"]] == 0 and net.substation_idx[idx["C5"]] == 0
    assert net.is_ancestor(idx["J2"], idx["C3"]) and not net.is_ancestor(idx["J2"], idx["C1"])


def test_loop_is_rejected_with_the_node_named() -> None:
    rows = list(TWO_FAULTS_IN_SERIES)
    rows[2] = ("J1", NodeKind.MV_NODE, "J2", DeviceKind.NONE, "")
    with pytest.raises(NetworkError, match="loop or not connected"):
        build(rows)


def test_orphan_and_wrong_hierarchy_are_rejected() -> None:
    rows = list(TWO_FAULTS_IN_SERIES)
    rows[5] = ("T1", NodeKind.TRANSFORMER, "", DeviceKind.FUSE, "FU-T1")
    with pytest.raises(NetworkError, match="'T1' has no parent and is not a substation"):
        build(rows)
    rows = list(TWO_FAULTS_IN_SERIES)
    rows[15] = ("C1", NodeKind.CUSTOMER, "L1", DeviceKind.NONE, "")
    with pytest.raises(NetworkError, match=r"'C1' .* cannot hang below 'L1'"):
        build(rows)


def test_duplicate_ids_are_rejected() -> None:
    rows = list(TWO_FAULTS_IN_SERIES)
    rows[16] = ("C1", NodeKind.CUSTOMER, "MB1", DeviceKind.NONE, "")
    with pytest.raises(NetworkError, match="'C1' appears more than once"):
        build(rows)


def test_count_below_counts_marked_nodes_in_every_subtree() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    customers = net.count_below(net.kind == NodeKind.CUSTOMER)
    assert customers[idx["S1"]] == 5 and customers[idx["J2"]] == 3
    assert customers[idx["SD4"]] == 2 and customers[idx["C1"]] == 1 and customers[idx["L1"]] == 2
