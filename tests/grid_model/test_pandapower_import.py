"""Import from pandapower: ids, conventional devices, switch roles, loops and islands, and the
switches and normally-open ties kept for switching."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandapower as pp
import pytest

from api.cli import main
from grid_model.network import NetworkError
from grid_model.pandapower_import import region_from_pandapower, switches_from_pandapower
from grid_model.switches import SwitchKind
from grid_model.switching import plan_switching
from grid_model.trace import trace
from tests.grid_model.pp_feeders import one_transformer_grid, two_feeders_with_a_tie

CABLE = "NA2XS2Y 1x95 RM/25 12/20 kV"

def test_ids_and_devices_follow_the_documented_convention() -> None:
    region = region_from_pandapower(one_transformer_grid(), name="tiny")
    net = region.network
    idx = net.index_of()
    assert sorted(region.customers["customer_id"]) == ["load:0", "load:1", "load:2"]
    t = trace(net, idx["load:2"])
    assert t.service_drop == "drop:load:2" and t.meter_box == "box:load:2"
    assert t.lv_branches == ("bus:6", "bus:5")
    assert t.transformer == "bus:4"
    assert t.mv_sections == ("bus:3",)
    assert t.feeder == "bus:2" and t.substation == "bus:0"
    # LV outlet fuse, transformer fuse, the source's CB on line 1 (kept), a feeder breaker
    assert t.devices == ("fuse:line:2", "fuse:trafo:1", "switch:0", "breaker:line:0")


def test_open_switch_breaks_its_line_and_leaves_an_island() -> None:
    net = one_transformer_grid()
    pp.create_switch(net, 3, 1, et="l", closed=False, type="LBS")
    with pytest.raises(NetworkError, match=r"island: bus:\d+ \(with load:\d+\)"):
        region_from_pandapower(net, name="tiny")


def _closed_tie(net: pp.pandapowerNet) -> None:
    net.switch.loc[1, "closed"] = True


def _ring_on_feeder_a(net: pp.pandapowerNet) -> None:
    a3 = pp.create_bus(net, 20.0)
    pp.create_line(net, 3, a3, 1.0, std_type=CABLE)
    pp.create_line(net, a3, 2, 1.0, std_type=CABLE)


def _transformer_from_the_busbar(net: pp.pandapowerNet) -> None:
    lv = pp.create_bus(net, 0.4)
    pp.create_transformer(net, 3, lv, std_type="0.4 MVA 20/0.4 kV")
    pp.create_transformer(net, 1, lv, std_type="0.4 MVA 20/0.4 kV")


@pytest.mark.parametrize(("close", "message"), [
    # feeder a's a1-a2 and the tie a2-b1 closed: a loop through the substation
    (_closed_tie, "loop with no open point: line:2, line:0, line:1, line:3 (closed by line:3 between bus:4 "
                  "and bus:3)"),
    # a2 - a3 - a1 on feeder a
    (_ring_on_feeder_a, "loop with no open point: line:1, line:5, line:4 (closed by line:4 between bus:3 "
                        "and bus:5)"),
    # an LV bus fed from a2 and from the substation's busbar (the import dropped the second before)
    (_transformer_from_the_busbar, "loop with no open point: trafo:1, line:1, line:0, trafo:2 (closed by "
                                   "trafo:2 between bus:5 and bus:1)"),
])
def test_a_closed_loop_is_refused_naming_its_elements(close: Callable[[pp.pandapowerNet], None],
                                                      message: str) -> None:
    """A loop with no open point on it cannot be made radial without guessing where it runs
    open: refused with every element of the loop."""
    net = two_feeders_with_a_tie()
    close(net)
    with pytest.raises(NetworkError, match=re.escape(message)):
        region_from_pandapower(net, name="loop")


def _two_substations(*, tie_closed: bool) -> pp.pandapowerNet:
    """Two 110 kV external grids, each with its transformer and 20 kV busbar (buses 1 and 3) and
    one feeder (buses 4 and 5, a load each), joined by a line 4-5 with a load-break switch."""
    net = pp.create_empty_network()
    bars = []
    for _ in range(2):
        hv, bar = pp.create_bus(net, 110.0), pp.create_bus(net, 20.0)
        pp.create_ext_grid(net, hv)
        pp.create_transformer(net, hv, bar, std_type="25 MVA 110/20 kV")
        bars.append(bar)
    x1, x2 = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_line(net, bars[0], x1, 1.0, std_type=CABLE)
    pp.create_line(net, bars[1], x2, 1.0, std_type=CABLE)
    tie = pp.create_line(net, x1, x2, 1.0, std_type=CABLE)
    pp.create_switch(net, x1, tie, et="l", closed=tie_closed, type="LBS")
    pp.create_load(net, x1, 0.1)
    pp.create_load(net, x2, 0.1)
    return net


def test_two_substations_in_parallel_are_refused_naming_them() -> None:
    """A closed way between two external grids not joined at high voltage parallels two
    substations: refused with both and the elements between, whether the way runs over two
    feeders or is one line between their busbars; with the tie open the grid imports and keeps it."""
    with pytest.raises(NetworkError, match=re.escape(
            "two substations in parallel: ext_grid:0 at bus:0 and ext_grid:1 at bus:2 are joined through "
            "line:0, line:1, line:2 with no open point")):
        region_from_pandapower(_two_substations(tie_closed=True), name="parallel")
    net = _two_substations(tie_closed=False)
    pp.create_line(net, 1, 3, 1.0, std_type=CABLE)
    with pytest.raises(NetworkError, match=re.escape(
            "two substations in parallel: ext_grid:0 at bus:0 and ext_grid:1 at bus:2 are joined through "
            "line:3 with no open point")):
        region_from_pandapower(net, name="parallel")
    net = _two_substations(tie_closed=False)
    region = region_from_pandapower(net, name="two")
    (tie,) = switches_from_pandapower(net, region).ties
    assert (tie.tie_id, region.network.node_id[tie.a], region.network.node_id[tie.b]) == ("switch:0", "bus:4",
                                                                                         "bus:5")


def test_a_closed_bus_coupler_on_a_feeder_is_a_switch_point() -> None:
    """A closed bus-bus switch inside a feeder is an edge of the tree (the import failed on one
    before) and a sectionalising switch."""
    net = one_transformer_grid()
    m3 = pp.create_bus(net, 20.0)
    pp.create_switch(net, 3, m3, et="b", closed=True, type="LBS")
    pp.create_load(net, m3, 0.1)
    region = region_from_pandapower(net, name="coupler")
    network = region.network
    idx = network.index_of()
    assert [network.node_id[i] for i in network.path_up(idx["load:3"])][3:] == ["bus:7", "bus:3", "bus:2",
                                                                                 "bus:0"]
    layer = switches_from_pandapower(net, region)
    assert layer.switch_id[idx["bus:7"]] == "switch:1" and layer.switch[idx["bus:7"]] != SwitchKind.NONE


def test_predict_cli_on_a_pandapower_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "tiny.json"
    pp.to_json(one_transformer_grid(), str(grid))
    calls = tmp_path / "calls.csv"
    calls.write_text("call_id,time,customer_id\n"
                     "K1,2024-02-04T10:00:00Z,load:1\n"
                     "K2,2024-02-04T10:02:00Z,load:2\n"
                     "K3,later,load:0\n"
                     "K4,2024-02-04T10:03:00Z,load:77\n", encoding="utf-8")
    out = tmp_path / "incidents.json"
    assert main(["predict", "--grid", str(grid), "--calls", str(calls), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["rejected_rows"] == [f"{calls}:4: call K3: bad time 'later'"]
    incidents = {i["kind"]: i for i in doc["incidents"]}
    assert incidents["unlocated"]["call_ids"] == ["K4"]
    device = incidents["device"]
    assert device["device_id"] == "drop:load:2" or device["customers_out"]
    for cid in ("load:1", "load:2"):
        holders = [i for i in doc["incidents"] if cid in i["customers_out"]]
        assert len(holders) == 1


def test_predict_cli_refuses_a_csv_without_its_columns(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "tiny.json"
    pp.to_json(one_transformer_grid(), str(grid))
    calls = tmp_path / "calls.csv"
    calls.write_text("id,when\nK1,0\n", encoding="utf-8")
    assert main(["predict", "--grid", str(grid), "--calls", str(calls), "-o", str(tmp_path / "o")]) == 2
    assert "missing column(s) call_id, time, customer_id" in capsys.readouterr().err


def test_open_and_closed_line_switches_become_ties_and_sectionalising_switches() -> None:
    net = two_feeders_with_a_tie()
    region = region_from_pandapower(net, name="tie")  # the open point keeps the grid radial
    layer = switches_from_pandapower(net, region)
    network = region.network
    idx = network.index_of()
    (tie,) = layer.ties
    assert (tie.tie_id, network.node_id[tie.a], network.node_id[tie.b]) == ("switch:1", "bus:3", "bus:4")
    assert tie.capacity == 2  # half the customers of either feeder (4 each)
    assert layer.switch_id[idx["bus:3"]] == "switch:0" and layer.switch[idx["bus:3"]] != SwitchKind.NONE
    cleared = np.zeros(network.n_nodes, dtype=bool)
    cleared[idx["bus:2"]] = True  # feeder a's breaker cleared a fault on its first section
    plan = plan_switching(network, layer, idx["bus:2"], open_nodes=cleared)
    assert [(s.action, s.element_id, s.restores) for s in plan.steps if s.phase != "normal"] == [
        ("open", "switch:0", 0), ("close", "switch:1", 2)]
    assert plan.customers_restored == 2 and plan.customers_dark == 2


def test_the_region_carries_the_nets_own_switches_when_it_has_any() -> None:
    """The import keeps the net's switches and ties on the region (switching uses them instead
    of placing its own); a net without line or bus-bus switches leaves that to the placement rule."""
    net = two_feeders_with_a_tie()
    region = region_from_pandapower(net, name="tie")
    layer = switches_from_pandapower(net, region)
    assert region.switches is not None
    assert region.switches.ties == layer.ties and region.switches.switch_id == layer.switch_id
    net.switch = net.switch.iloc[0:0]
    net.line = net.line.drop(index=3)  # the tie's line, open no more
    assert region_from_pandapower(net, name="switchless").switches is None
