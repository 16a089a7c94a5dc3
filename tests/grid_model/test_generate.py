"""Generator invariants on a small seeded region, and the cache's recovery from corruption."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from grid_model.generate import RegionParams, generate_region
from grid_model.network import NodeKind, preorder_from_parent
from grid_model.region import Region, cache_path, load_region
from tests.conftest import SMALL


def test_network_is_radial_and_every_customer_traces_to_one_substation(small_region: Region) -> None:
    net = small_region.network
    assert np.array_equal(preorder_from_parent(net.parent), np.arange(net.n_nodes))
    roots = np.flatnonzero(net.parent < 0)
    assert set(net.kind[roots]) == {NodeKind.SUBSTATION}
    for node in small_region.customers["node_idx"]:
        path = net.path_up(int(node))
        kinds = [NodeKind(net.kind[i]) for i in path]
        assert kinds[:4] == [NodeKind.CUSTOMER, NodeKind.METER_BOX, NodeKind.SERVICE_DROP,
                             NodeKind.LV_BRANCH]
        assert kinds[-2:] == [NodeKind.FEEDER_HEAD, NodeKind.SUBSTATION]
        assert kinds.count(NodeKind.TRANSFORMER) == 1
        assert kinds.count(NodeKind.SUBSTATION) == 1


def test_region_has_the_parts_a_prefecture_needs(small_region: Region) -> None:
    s = small_region.summary()
    assert s["substations"] == 9
    assert s["depots"] >= 10
    assert s["customers"] == len(set(small_region.customers["customer_id"]))
    assert len(set(small_region.customers["meter_id"])) == s["customers"]
    assert set(small_region.areas["area_class"]) == {"urban", "rural", "remote"}
    assert small_region.feeders["transformers"].sum() == s["transformers"]
    crit = small_region.customers["critical"]
    assert set(crit.unique()) <= {"", "hospital", "life_support"}
    assert 0.003 < (crit != "").mean() < 0.012


def test_addresses_are_unique_and_in_both_scripts(small_region: Region) -> None:
    cust = small_region.customers
    assert cust["address"].is_unique
    assert cust["address_en"].is_unique
    urban = cust[cust["building"] > 0].iloc[0]
    assert "号" in urban["address"] and "栋" in urban["address"] and "室" in urban["address"]
    assert urban["address_en"].startswith("Room ")
    assert cust["lon"].between(118.3, 119.5).all() and cust["lat"].between(28.5, 29.4).all()


def test_same_seed_same_region_other_seed_other_region() -> None:
    a = generate_region(RegionParams(seed=5, scale=0.02))
    b = generate_region(RegionParams(seed=5, scale=0.02))
    c = generate_region(RegionParams(seed=6, scale=0.02))
    assert a.network.node_id == b.network.node_id
    assert np.array_equal(a.network.x_m, b.network.x_m)
    assert a.customers["address"].tolist() == b.customers["address"].tolist()
    assert a.network.node_id != c.network.node_id


@pytest.mark.parametrize("damage", [b"", b"garbage\n", None])
def test_corrupt_or_truncated_cache_is_rebuilt_with_a_warning(
        tmp_path: Path, damage: bytes | None, caplog: pytest.LogCaptureFixture) -> None:
    params = RegionParams(seed=SMALL.seed, scale=0.02)
    first = load_region(params, cache_dir=tmp_path)
    path = cache_path(params, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage is None else damage)
    with caplog.at_level(logging.WARNING):
        again = load_region(params, cache_dir=tmp_path)
    assert "region cache unusable, rebuilding" in caplog.text
    assert again.network.node_id == first.network.node_id
    assert load_region(params, cache_dir=tmp_path).network.node_id == first.network.node_id
