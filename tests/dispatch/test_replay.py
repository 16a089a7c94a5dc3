"""Replaying an outage history: a two-event storm whose KPIs are worked out by hand, the
synthetic grid around the events, options and bad input refused by name; a storm on an imported
grid switched with the grid's own switches and ties."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import networkx as nx
import pytest
from pyproj import Transformer

from api.cli import main
from dispatch.engine import DispatchEngine
from dispatch.replay import (
    ReplayError,
    ReplayOptions,
    grouping_params,
    make_policy,
    replay_history,
    replay_storm,
)
from dispatch.sim.field import FieldParams
from grid_model.history import HistoryError
from grid_model.pandapower_import import region_from_pandapower
from grid_model.region import Region
from grid_model.storm import StormParams, generate_storm
from grid_model.stormfile import StormFileError, write_storm
from tests.grid_model.pp_feeders import two_feeders_with_a_tie

HEADER = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,city,circuit_id,"
          "device_id,extent,customers,cause,crew_statuses,first_etor_utc")
TO_WGS = Transformer.from_crs("EPSG:32610", "EPSG:4326", always_xy=True)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS.transform(x, y)
    return round(float(lon), 7), round(float(lat), 7)


A = _lonlat(600_000.0, 4_100_000.0)
B = _lonlat(640_000.0, 4_100_000.0)  # 40 km east of A


def _storm(tmp_path: Path) -> tuple[Path, Path]:
    """A: one customer's service drop at 00:00; B: a transformer with 10 customers 40 km
    east at 00:10. One lv+mv crew is staged at A."""
    history = tmp_path / "storm.csv"
    history.write_text("\n".join([
        HEADER,
        f"A1,2024-02-04T00:00:00Z,,2024-02-04T02:00:00Z,{A[1]},{A[0]},Here,C1,D1,CUSTOMER,1,REPLCE SRVC,,",
        f"B1,2024-02-04T00:10:00Z,,2024-02-04T06:10:00Z,{B[1]},{B[0]},There,C2,D2,SERVICE TRANSFORMER,10,"
        "TREE,,2024-02-04T05:40:00Z",
    ]) + "\n", encoding="utf-8")
    depots = tmp_path / "depots.csv"
    depots.write_text(f"depot_id,lat,lon,crews,skills\nyard,{A[1]},{A[0]},1,lv mv\n", encoding="utf-8")
    return history, depots


def test_two_event_storm_matches_the_hand_computed_kpis(tmp_path: Path) -> None:
    history, depots = _storm(tmp_path)
    field = FieldParams(assess_s=(1200, 1200), estimate_spread=0.0)
    replay = replay_history(history, ReplayOptions(policy="baseline", crews=1, depots=depots,
                                                   repair_spread=0.0, field_params=field))
    k = replay.kpis
    # Both events are remote (no other event within 10 km): 45 km/h, detour 1.3, limit 120 min.
    # No first responder on the roster: the one crew (lv, mv) responds too. Seed 0 draws B's
    # transformer fault minor (a blown fuse, 20 min), A's drop not.
    faults = sorted(replay.world.faults, key=lambda f: f.t_s)
    assert [f.repair_s for f in faults] == [4500, 1200]
    # A: the crew is at A at 00:00 (reached at once), assesses for 20 min, then repairs the
    # drop in 1.25 h: back at 5,700 s.
    # B: reported at 600 s; the crew leaves A at 5,700 s, drives 40 km x 1.3 / 12.5 m/s = 4,160 s,
    # arrives at 9,860 s (9,260 s = 154 min after the report: late), assesses for 20 min and
    # re-fuses the transformer on the spot (20 min): back at 12,260 s.
    orders = replay.orders_table().set_index("order_id")
    assert list(orders["area"]) == ["remote", "remote"]
    assert orders["arrival_s"].tolist() == [0.0, pytest.approx(9260, abs=1)]
    assert orders["repaired_s"].tolist() == [5700.0, pytest.approx(12260 - 600, abs=1)]
    assert k["arrival_within_limit_rate"] == 0.5
    assert k["median_arrival_minutes"] == pytest.approx(9260 / 2 / 60, abs=0.1)
    assert (k["first_response_jobs"], k["repair_jobs"], k["fixed_on_first_visit"]) == (2, 1, 1)
    assert k["reached_by_first_responder_share"] == 0.0
    cmi = 1 * 5700 / 60 + 10 * (12260 - 600) / 60
    assert k["customer_minutes_interrupted"] == pytest.approx(cmi, abs=0.5)
    assert k["saidi_minutes"] == pytest.approx(cmi / 11, abs=0.01)
    assert k["work_orders"] == 2 and k["work_orders_open_at_end"] == 0
    assert k["crews"] == 1 and k["history_events"] == 2
    # The utility's own restorations: 2 h for one customer, 6 h for ten.
    assert k["utility_customer_minutes_interrupted"] == 1 * 120 + 10 * 360
    assert k["utility_median_restoration_hours"] == 4.0
    assert k["utility_etr_first_within_1h_rate"] == 1.0  # B's first ETR was 30 min early
    timeline = replay.timeline()
    assert timeline["customers_out"].tolist() == [1, 11, 10, 0]
    assert timeline["t_s"].tolist()[-1] == pytest.approx(12260, abs=1)


def test_synthetic_grid_gives_each_event_its_own_element(tmp_path: Path) -> None:
    history, depots = _storm(tmp_path)
    replay = replay_history(history, ReplayOptions(policy="baseline", crews=1, depots=depots))
    net = replay.region.network
    index = net.index_of()
    a, b = index["event:A1"], index["event:B1"]
    assert net.device_id[a] == "A1" and net.device_id[b] == "B1"
    assert int(net.size[a]) == 3 and int(net.size[b]) == 1 + 1 + 1 + 10  # drop, box, customers
    assert not net.is_ancestor(a, b) and not net.is_ancestor(b, a)
    assert len(replay.region.customers) == 11


def test_cli_replays_a_history_and_writes_the_kpi_json(tmp_path: Path) -> None:
    history, _ = _storm(tmp_path)
    out = tmp_path / "kpis.json"
    assert main(["replay", "--history", str(history), "--format", "pge", "--crews", "2", "--kpis-json",
                 str(out), "--quiet"]) == 0
    kpis = json.loads(out.read_text(encoding="utf-8"))
    assert kpis["work_orders"] == 2 and kpis["crews"] == 2 and kpis["policy"] == "optimizer"
    assert kpis["work_orders_open_at_end"] == 0


def test_bad_history_rows_stop_the_replay_or_are_skipped_and_counted(tmp_path: Path) -> None:
    history, depots = _storm(tmp_path)
    text = history.read_text(encoding="utf-8") + \
        f"C1,2024-02-04T03:00:00Z,,2024-02-04T01:00:00Z,{A[1]},{A[0]},Here,C1,D3,CUSTOMER,1,X,,\n"
    history.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryError, match=r"storm.csv:4: restoration .* is before the start"):
        replay_history(history, ReplayOptions(policy="baseline", crews=1, depots=depots))
    replay = replay_history(history, ReplayOptions(policy="baseline", crews=1, depots=depots,
                                                   skip_bad_rows=True))
    assert replay.kpis["history_rows_skipped"] == 1 and replay.kpis["work_orders"] == 2


def test_options_and_staging_files_are_checked(tmp_path: Path) -> None:
    history, depots = _storm(tmp_path)
    with pytest.raises(ReplayError, match="needs the number of crews"):
        replay_history(history, ReplayOptions())
    with pytest.raises(ReplayError, match="unknown history format 'xyz'"):
        replay_history(history, ReplayOptions(crews=1, history_format="xyz"))
    depots.write_text(f"depot_id,lat,lon,crews,skills\nyard,{A[1]},{A[0]},1,lv welding\n", encoding="utf-8")
    with pytest.raises(HistoryError, match=r"depots.csv:2: unknown skill\(s\) welding"):
        replay_history(history, ReplayOptions(crews=1, depots=depots))
    depots.write_text("depot_id,lat,crews\nyard,1,1\n", encoding="utf-8")
    with pytest.raises(HistoryError, match="missing column"):
        replay_history(history, ReplayOptions(crews=1, depots=depots))
    at = f"{A[1]},{A[0]}"
    bad = [(f"yard,{A[1]}", "depots.csv:2: fewer fields than the header names"),
           (f"yard,{at},1,lv,spare", "depots.csv:2: more fields than the header names"),
           (f",{at},1,lv", "depots.csv:2: depot_id '' is empty"),
           (f"yard,{at},1,lv\nyard,{at},2,lv", "depots.csv:3: depot_id 'yard' is listed twice"),
           (f"yard,{at},nan,lv", "depots.csv:2: position .* or crews nan is out of range"),
           (f"yard,{at},inf,lv", "depots.csv:2: position .* or crews inf is out of range")]
    for rows, reason in bad:
        depots.write_text(f"depot_id,lat,lon,crews,skills\n{rows}\n", encoding="utf-8")
        with pytest.raises(HistoryError, match=reason):
            replay_history(history, ReplayOptions(crews=1, depots=depots))


def test_policy_parameters_are_applied_or_refused_by_name() -> None:
    policy, limits = make_policy("optimizer", {"improve_iterations": 50, "arrival_urban_min": 60})
    assert policy.params.improve_iterations == 50  # type: ignore[attr-defined]
    assert limits.arrival_limit("urban") == 3600 and limits.arrival_limit("rural") == 5400
    with pytest.raises(ReplayError, match="unknown parameter 'speed'"):
        make_policy("optimizer", {"speed": 1})
    with pytest.raises(ReplayError, match="applies to the optimizer policy"):
        make_policy("baseline", {"improve_iterations": 5})
    with pytest.raises(ReplayError, match="unknown policy 'fastest'"):
        make_policy("fastest", {})
    with pytest.raises(ReplayError, match="must be above 0"):
        make_policy("baseline", {"arrival_rural_min": 0})


# The two-event storm as another utility exports it: its own column names, Pacific local times
# (PST, UTC-8), no circuit or device ids, its own name for a transformer.
OTHER_HEADER = "ID,BEGAN,ENDED,Y,X,CUST,KIND,CAUSE,ETR"
MAPPING = """
[columns]
event_id = "ID"
start = "BEGAN"
restored = "ENDED"
lat = "Y"
lon = "X"
customers = "CUST"
extent = "KIND"
cause = "CAUSE"
first_etr = "ETR"

[times]
format = "%Y-%m-%d %H:%M"
timezone = "America/Los_Angeles"

[extents]
XFMR = "SERVICE TRANSFORMER"
"""


def _other_storm(tmp_path: Path) -> tuple[Path, Path]:
    history = tmp_path / "other.csv"
    history.write_text("\n".join([
        OTHER_HEADER,
        f"A1,2024-02-03 16:00,2024-02-03 18:00,{A[1]},{A[0]},1,CUSTOMER,REPLCE SRVC,",
        f"B1,2024-02-03 16:10,2024-02-03 22:10,{B[1]},{B[0]},10,XFMR,TREE,2024-02-03 21:40",
    ]) + "\n", encoding="utf-8")
    mapping = tmp_path / "other.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return history, mapping


def _comparable(kpis: dict[str, object]) -> dict[str, object]:
    """The KPIs of the storm itself: not where it was read from, how long it took or what was inferred."""
    return {k: v for k, v in kpis.items() if k not in ("source", "replay_seconds") and not (
        k.startswith("history_") and k not in ("history_events", "history_rows_skipped"))}


def test_renamed_columns_replay_to_the_same_kpis_as_pge_columns(tmp_path: Path) -> None:
    pge, depots = _storm(tmp_path)
    other, mapping = _other_storm(tmp_path)
    options = ReplayOptions(policy="baseline", crews=1, depots=depots)
    by_pge = replay_history(pge, options)
    by_mapping = replay_history(other, dataclasses.replace(options, history_columns=mapping))
    assert _comparable(by_mapping.kpis) == _comparable(by_pge.kpis)
    assert by_mapping.kpis["work_orders"] == 2 and by_mapping.kpis["history_extent_inferred"] == 0
    assert by_mapping.kpis["history_without_circuit_id"] == 2


def test_a_pge_history_with_empty_extent_circuit_and_device_replays_and_counts_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history, _ = _storm(tmp_path)
    full = tmp_path / "full.json"
    assert main(["replay", "--history", str(history), "--format", "pge", "--crews", "2", "--kpis-json",
                 str(full), "--quiet"]) == 0
    lines = history.read_text(encoding="utf-8").splitlines()
    blank = [lines[0]] + [",".join("" if k in (7, 8, 9) else v for k, v in enumerate(line.split(",")))
                          for line in lines[1:]]
    blanked = tmp_path / "blanked.csv"
    blanked.write_text("\n".join(blank) + "\n", encoding="utf-8")
    out = tmp_path / "blanked.json"
    assert main(["replay", "--history", str(blanked), "--format", "pge", "--crews", "2", "--kpis-json",
                 str(out), "--quiet"]) == 0
    kpis, expected = json.loads(out.read_text(encoding="utf-8")), json.loads(full.read_text(encoding="utf-8"))
    # 1 customer -> a service drop, 10 -> a transformer: what the file said, so the same storm
    assert _comparable(kpis) == _comparable(expected)
    assert (kpis["history_extent_inferred"], kpis["history_extent_from_customers"],
            kpis["history_without_circuit_id"], kpis["history_without_device_id"]) == (2, 2, 2, 2)
    assert expected["history_extent_inferred"] == 0 and expected["history_without_circuit_id"] == 0
    printed = capsys.readouterr().out  # said for the blanked file only
    assert printed.count("inferred from the history") == 1
    assert "extent of 2 event(s) (0 from the device id, 2 from customers)" in printed


def test_restoration_only_rows_replay_from_first_seen_and_are_counted(tmp_path: Path) -> None:
    history, depots = _storm(tmp_path)
    text = history.read_text(encoding="utf-8").replace(
        "B1,2024-02-04T00:10:00Z,,", "B1,,2024-02-04T00:40:00Z,")
    history.write_text(text, encoding="utf-8")
    replay = replay_history(history, ReplayOptions(policy="baseline", crews=1, depots=depots))
    k = replay.kpis
    assert (k["history_restoration_only"], k["history_start_from_first_seen"]) == (1, 1)
    assert k["work_orders"] == 2
    reported = sorted(replay.orders_table()["first_report_s"].tolist())
    assert reported == [0, 2400]  # B1 reported when first seen, 40 min after A1


def test_cli_refuses_a_bad_mapping_file_and_two_column_sources(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    other, mapping = _other_storm(tmp_path)
    mapping.write_text(MAPPING.replace('customers = "CUST"', 'clients = "CUST"'), encoding="utf-8")
    args = ["replay", "--history", str(other), "--columns", str(mapping), "--crews", "1", "--quiet"]
    assert main(args) == 2
    assert "other.toml: unknown field(s) clients in [columns]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--format", "pge"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_truth_file_naming_elements_the_region_lacks_is_refused(small_region: Region,
                                                                  tmp_path: Path) -> None:
    """A truth file of another region names elements this one does not have: refused with the
    fault and the element (an unknown operating device was taken silently as none)."""
    header = {"format": "outage-dispatch/storm-events", "version": 1, "region": {"seed": small_region.seed}}
    events = tmp_path / "s.events.jsonl"
    events.write_text(json.dumps(header) + "\n", encoding="utf-8")
    fault = {"t_s": 5, "type": "fault", "fault_id": "X1", "element_id": "NOPE", "element_kind": "transformer",
             "fault_class": "transformer", "limit_class": "mv", "operates_id": "NOPE", "repair_s": 3600}
    (tmp_path / "s.truth.jsonl").write_text(
        json.dumps({"format": "outage-dispatch/storm-truth", "version": 1}) + "\n" + json.dumps(fault) + "\n",
        encoding="utf-8")
    with pytest.raises(StormFileError, match=r"s\.truth\.jsonl: fault X1: the network has no element 'NOPE'"):
        replay_storm(events, ReplayOptions(crews=1), region=small_region)



def _tied_grid() -> Region:
    """A pandapower grid of two feeders from one busbar: a1 - a2 (a load-break switch, switch:0,
    on the line between) and b1, a normally-open tie (switch:1) from a2 to b1; two customers on
    a1, two on a2, four on b1; one road across the grid."""
    net = two_feeders_with_a_tie()
    lonlat = [(8.0, 50.0), (8.0, 50.0), (8.01, 50.0), (8.02, 50.0), (8.02, 50.01)]  # hv, busbar, a1, a2, b1
    net.bus["geo"] = [json.dumps({"type": "Point", "coordinates": lonlat[b]}) for b in net.bus.index]
    region = region_from_pandapower(net, name="tied")
    x, y = region.network.x_m, region.network.y_m
    roads = nx.Graph()
    roads.add_node(0, x=float(x.min()), y=float(y.min()))
    roads.add_node(1, x=float(x.max()), y=float(y.max()))
    roads.add_edge(0, 1, travel_s=180.0, length_m=2500.0)
    return dataclasses.replace(region, roads=roads)


def test_a_replay_on_an_imported_grid_switches_with_its_own_switches_and_ties(tmp_path: Path) -> None:
    """A fault on feeder a's first section trips its breaker; the replay switches with the
    grid's own load-break switch and tie (no switch or tie placed by the generated region's
    rule): a2's two customers come back over the tie from feeder b before the repair."""
    region = _tied_grid()
    header = {"format": "outage-dispatch/storm-events", "version": 1, "region": {"name": region.name},
              "storm": {"duration_h": 2.0}}
    events = tmp_path / "s.events.jsonl"
    events.write_text(json.dumps(header) + "\n" + json.dumps(
        {"t_s": 120, "type": "call", "call_id": "K1", "customer_id": "load:2"}) + "\n", encoding="utf-8")
    fault = {"t_s": 60, "type": "fault", "fault_id": "X1", "element_id": "bus:2",
             "element_kind": "feeder_head", "fault_class": "mv_section", "limit_class": "mv",
             "operates_id": "breaker:line:0", "repair_s": 4 * 3600}
    truth_header = {"format": "outage-dispatch/storm-truth", "version": 1}
    (tmp_path / "s.truth.jsonl").write_text(json.dumps(truth_header) + "\n" + json.dumps(fault) + "\n",
                                            encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("crew_id,role,lat,lon,skills,shift_start_h,shift_hours\n"
                      "C1,repair,50.0,8.0,lv mv,0,12\nC2,repair,50.0,8.0,lv mv,0,12\n", encoding="utf-8")
    replay = replay_storm(events, ReplayOptions(roster=roster, switching="full"), region=region)
    assert replay.world.switches is region.switches
    board = replay.engine.switchboard
    assert board is not None
    assert [(ps.step.action, ps.step.element_id) for ps in board.steps] == [
        ("open", "switch:0"), ("close", "switch:1"), ("open", "switch:1"), ("close", "switch:0")]
    assert replay.kpis["customers_restored_by_switching"] == 2 and replay.kpis["switching_unsafe_steps"] == 0


def test_a_storm_replayed_with_the_posterior_grouping_regroups_and_ends_with_every_customer_back(
        small_region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The small region's typhoon with the posterior grouping: orders no crew was sent to move as
    the regroupings read the reports, and the storm still ends with every fault repaired, every
    order closed and every caller called back."""
    moved: list[str] = []
    move = DispatchEngine._move_order

    def counted(self: DispatchEngine, order, node, t_s):  # type: ignore[no-untyped-def]
        moved.append(order.order_id)
        return move(self, order, node, t_s)

    monkeypatch.setattr(DispatchEngine, "_move_order", counted)
    storm = generate_storm(small_region, StormParams(seed=2))
    events, truth = write_storm(storm, small_region, tmp_path, "s")
    kpis = replay_storm(events, ReplayOptions(grouping="posterior", seed=1), truth_path=truth,
                        region=small_region).kpis
    assert kpis["grouping"] == "posterior" and moved
    assert kpis["customers_dark_at_end"] == 0 and kpis["work_orders_open_at_end"] == 0
    assert kpis["callback_rate"] == 1.0 and kpis["events_rejected"] == 0
    assert kpis["repairs_by_unqualified_crew"] == 0 and kpis["hours_of_service_breaches"] == 0
    with pytest.raises(ReplayError, match="grouping must be one of rollup, posterior, got 'map'"):
        grouping_params(ReplayOptions(grouping="map"))
