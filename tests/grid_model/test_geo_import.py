"""GIS layers to a network: exact traces and devices on a tiny feeder, from a GeoPackage and from
a folder of GeoJSON files; islands, loops, ties with load below and bad values are refused."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

from api.cli import main
from grid_model.geo_import import GridLayerError, region_from_layers
from grid_model.network import DeviceKind, NodeKind

LON, LAT = 118.87, 28.94


def _pt(dx: float, dy: float = 0.0) -> Point:
    return Point(LON + dx * 1e-3, LAT + dy * 1e-3)


def _line(a: float, b: float) -> LineString:
    return LineString([(LON + a * 1e-3, LAT), (LON + b * 1e-3, LAT)])


def _layers() -> dict[str, gpd.GeoDataFrame]:
    def frame(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")

    return {
        "substations": frame([{"id": "SUB", "geometry": _pt(0)}]),
        "feeders": frame([{"id": "F1", "substation_id": "SUB", "construction": "overhead",
                           "geometry": _pt(0.2)}]),
        "sections": frame([
            {"id": "S1", "parent_id": "F1", "device": "recloser", "device_id": "RC-7",
             "geometry": _line(0.2, 5)},
            {"id": "S2", "parent_id": "S1", "device": "none", "device_id": None, "geometry": _line(5, 9)},
            {"id": "S3", "parent_id": "S2", "device": "switch", "device_id": None, "normally_open": True,
             "geometry": _line(9, 12)},
        ]),
        "transformers": frame([{"id": "T1", "parent_id": "S1", "geometry": _pt(5, 1)},
                               {"id": "T2", "parent_id": "S2", "fuse_id": "FU-T2", "geometry": _pt(9, 1)}]),
        "service_points": frame([
            {"id": "L1", "parent_id": "T1", "kind": "lv_branch", "geometry": _pt(5, 2)},
            {"id": "D1", "parent_id": "L1", "kind": "service_drop", "geometry": _pt(5, 3)},
            {"id": "D2", "parent_id": "T2", "kind": "service_drop", "geometry": _pt(9, 2)},
        ]),
        "customers": frame([
            {"id": "C1", "service_point_id": "D1", "meter_id": "M1", "address": "幸福路 1 号",
             "critical": None, "geometry": _pt(5, 3.1)},
            {"id": "C2", "service_point_id": "D1", "meter_id": None, "address": None,
             "critical": None, "geometry": _pt(5.1, 3.1)},
            {"id": "C3", "service_point_id": "L1", "meter_id": None, "address": None,
             "critical": None, "geometry": _pt(5.2, 2.1)},
            {"id": "C4", "service_point_id": "D2", "meter_id": None, "address": None,
             "critical": "hospital", "geometry": _pt(9, 2.1)},
        ]),
    }


def _gpkg(tmp_path: Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    path = tmp_path / "grid.gpkg"
    for name, frame in layers.items():
        frame.to_file(path, layer=name, driver="GPKG")
    return path


def test_a_geopackage_becomes_a_traced_network(tmp_path: Path) -> None:
    region = region_from_layers(_gpkg(tmp_path, _layers()))
    net = region.network
    idx = net.index_of()
    assert [net.node_id[i] for i in net.path_up(idx["C4"])] == ["C4", "box:C4", "D2", "T2", "S2", "S1",
                                                                "F1", "SUB"]
    assert [net.node_id[i] for i in net.path_up(idx["C3"])] == ["C3", "box:C3", "drop:C3", "L1", "T1", "S1",
                                                                "F1", "SUB"]
    devices = {net.node_id[i]: (DeviceKind(net.device[i]).name, net.device_id[i])
               for i in range(net.n_nodes) if net.device[i] != DeviceKind.NONE}
    assert devices == {"F1": ("BREAKER", "breaker:F1"), "S1": ("RECLOSER", "RC-7"),
                       "T1": ("FUSE", "fuse:T1"), "T2": ("FUSE", "FU-T2"), "L1": ("FUSE", "fuse:L1")}
    assert "S3" not in idx  # the normally open tie carries nothing
    assert net.kind[idx["S2"]] == NodeKind.MV_NODE and 380 < net.length_m[idx["S2"]] < 400
    cust = region.customers.set_index("customer_id")
    assert cust.loc["C1", "meter_id"] == "M1" and cust.loc["C2", "meter_id"] == "meter:C2"
    assert cust.loc["C4", "critical"] == "hospital" and region.critical_node_mask().sum() == 1
    assert region.crs == "EPSG:32650" and len(region.feeders) == 1
    assert int(region.feeders["reclosers"].iat[0]) == 1 and int(region.feeders["transformers"].iat[0]) == 2


def test_a_folder_of_geojson_predicts_through_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "layers"
    folder.mkdir()
    for name, frame in _layers().items():
        frame.to_file(folder / f"{name}.geojson", driver="GeoJSON")
    calls = tmp_path / "calls.csv"
    calls.write_text("call_id,time,customer_id\nK1,60,C1\nK2,90,C2\nK3,100,C9\n", encoding="utf-8")
    out = tmp_path / "incidents.json"
    assert main(["predict", "--grid", str(folder), "--calls", str(calls), "-o", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    located = [i for i in doc["incidents"] if i["kind"] != "unlocated"]
    assert [(i["device_id"], sorted(i["customers_out"])) for i in located] == [("D1", ["C1", "C2"])]
    assert any(i["kind"] == "unlocated" and i["call_ids"] == ["K3"] for i in doc["incidents"])


@pytest.mark.parametrize(("layer", "change", "message"), [
    ("sections", {"parent_id": ["F1", "S9", "S2"]},
     r"S2 hangs below 'S9', which is not in the grid \(an island\)"),
    ("sections", {"parent_id": ["S2", "S1", "S2"]}, r"the parents of S1, S2 form a loop"),
    ("transformers", {"parent_id": ["S1", "S3"]}, r"T2\): parent 'S3' is not an energised feeder or section"),
    ("service_points", {"kind": ["lv_branch", "meter", "service_drop"]}, r"D1 has kind 'meter'"),
    ("customers", {"critical": [None, None, None, "vip"]}, r"C4\): critical must be hospital"),
    ("sections", {"device": ["recloser", "relay", "switch"]}, r"S2 has device 'relay'"),
])
def test_bad_layers_are_refused_with_the_element_named(tmp_path: Path, layer: str,
                                                       change: dict[str, list[object]], message: str) -> None:
    layers = _layers()
    for column, values in change.items():
        layers[layer][column] = values
    with pytest.raises(GridLayerError, match=message):
        region_from_layers(_gpkg(tmp_path, layers))


def test_a_missing_column_or_layer_is_named(tmp_path: Path) -> None:
    layers = _layers()
    layers["transformers"] = layers["transformers"].drop(columns=["parent_id"])
    with pytest.raises(GridLayerError, match=r"layer transformers: missing column\(s\) parent_id"):
        region_from_layers(_gpkg(tmp_path, layers))
    folder = tmp_path / "partial"
    folder.mkdir()
    _layers()["substations"].to_file(folder / "substations.geojson", driver="GeoJSON")
    with pytest.raises(GridLayerError, match=r"no feeders\.geojson"):
        region_from_layers(folder)
