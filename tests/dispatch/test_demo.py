"""End to end on a small seed: the demo runs, its KPIs are recomputed from the raw records, and
the field's rules hold (no unqualified repair, no work past a duty limit, every caller called
back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from dispatch.demo import run_demo
from dispatch.engine import DispatchEngine
from dispatch.orders import OrderOrigin, OrderStatus, WorkOrder
from grid_model.region import Region
from tests.conftest import SMALL


def test_demo_kpis_agree_with_the_orders_and_outage_records(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=2, out_dir=tmp_path, region_params=SMALL, crew_scale=0.3, progress=False)
    k, eng, world = res.kpis, res.engine, res.world
    orders = list(eng.orders.values())
    assert k["work_orders"] == len(orders) > 0
    counted = [o for o in orders if o.origin != OrderOrigin.CALLBACK
               and not (o.reached_s is None and _head(eng, o).status == OrderStatus.CANCELLED)]
    merged = [o for o in counted if o.status == OrderStatus.MERGED]
    assert merged and k["orders_needing_arrival"] == len(counted)  # merged orders count too
    on_time = [o for o in counted if o.reached_s is not None and o.reached_s <= o.deadline_s]
    assert k["arrival_within_limit_rate"] == round(len(on_time) / len(counted), 4)
    urban = [o for o in counted if o.area == "urban"]
    urban_ok = [o for o in urban if o.reached_s is not None and o.reached_s <= o.deadline_s]
    assert k["arrival_within_limit_rate_by_area"]["urban"] == round(len(urban_ok) / len(urban), 4)
    assert all(o.reached_s is None or o.reached_s >= o.first_report_s for o in orders)
    nodes = small_region.customers["node_idx"].to_numpy()
    cmi = world.outage_s[nodes].sum() / 60
    assert k["customer_minutes_interrupted"] == pytest.approx(cmi, abs=0.1)
    assert k["saidi_minutes"] == pytest.approx(cmi / len(nodes), abs=1e-3)
    assert k["saifi"] == pytest.approx(world.interruptions[nodes].sum() / len(nodes), abs=1e-5)
    assert k["caidi_minutes"] == pytest.approx(k["saidi_minutes"] / k["saifi"], abs=0.01)
    assert k["storm_end_s"] <= k["customer_minutes_until_s"]
    assert world.outage_s[nodes].max() <= k["customer_minutes_until_s"]
    assert json.loads(res.files["kpis"].read_text())["saidi_minutes"] == k["saidi_minutes"]
    assert k["ami_messages"] > 0 and k["events_rejected"] == 0
    assert k["repairs_by_unqualified_crew"] == 0 and k["hours_of_service_breaches"] == 0
    assert k["hours_of_service_alerts"] == 0 and k["callback_rate"] == 1.0
    assert k["customer_side_customer_minutes"] > 0 and k["first_response_jobs"] > 0
    assert "<svg" in res.files["map"].read_text()


def _head(eng: DispatchEngine, order: WorkOrder) -> WorkOrder:
    while order.merged_into:
        order = eng.orders[order.merged_into]
    return order


def test_an_ordinary_day_runs_with_the_normal_roster(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=1, policy="baseline", scenario="day", out_dir=tmp_path, region_params=SMALL,
                   progress=False)
    k = res.kpis
    assert k["scenario"] == "day" and res.files["events"].name == "day-1.events.jsonl"
    assert 0 < k["work_orders"] < 100 and k["work_orders_open_at_end"] == 0
    assert k["arrival_within_limit_rate"] is not None and k["callback_rate"] == 1.0


def test_cli_demo_prints_the_kpi_table_and_writes_json(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], small_region: Region) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    out = tmp_path / "k.json"
    # scale 0.05 with seed 11 is the test region; the CLI uses the default region seed, so
    # this builds (and caches) a tiny region of its own.
    code = main(["demo", "--seed", "3", "--scale", "0.03", "--quiet", "--out", str(tmp_path),
                 "--kpis-json", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "SAIDI (min)" in text and "arrival within limit" in text
    header = next(line for line in text.splitlines() if line.startswith("KPI"))
    assert header.split()[1:] == ["optimizer", "baseline"]  # both policies, side by side
    data = json.loads(out.read_text())
    assert data["policy"] == "optimizer"
    for key in ("work_orders", "customer_minutes_interrupted", "arrival_within_limit_rate",
                "arrival_within_limit_rate_by_area", "critical_arrival_within_limit_rate",
                "repair_within_limit_rate", "saidi_minutes", "saifi", "caidi_minutes",
                "first_response_jobs", "fixed_on_first_visit", "customer_side_faults",
                "repairs_by_unqualified_crew", "hours_of_service_breaches", "callback_rate",
                "switching_steps", "customers_restored_by_switching", "customer_minutes_saved_by_switching"):
        assert key in data
    assert set(data["arrival_within_limit_rate_by_area"]) == {"urban", "rural", "remote"}
    assert data["switching"] == "full" and data["switching_steps_tripped"] == 0


def test_cli_switching_off_turns_it_off_for_both_policies(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], small_region: Region) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    for policy in ("optimizer", "baseline"):
        out = tmp_path / f"{policy}.json"
        code = main(["demo", "--seed", "3", "--scale", "0.03", "--quiet", "--out", str(tmp_path), "--policy",
                     policy, "--param", "switching=off", "--kpis-json", str(out)])
        data = json.loads(out.read_text())
        assert code == 0 and data["switching"] == "off"
        assert (data["switching_steps"], data["customers_restored_by_switching"],
                data["customer_minutes_saved_by_switching"]) == (0, 0, 0.0)


def test_cli_refuses_an_unknown_switching_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--param", "switching=sometimes"])
    assert "switching: 'sometimes' is not one of off, remote, full" in capsys.readouterr().err


def test_mutual_aid_crews_join_mid_storm_and_take_work(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=2, policy="baseline", out_dir=tmp_path, region_params=SMALL, crew_scale=0.3,
                   mutual_aid_crews=4, mutual_aid_at_h=20.0, switching="off", progress=False)
    visiting = {c: s for c, s in res.engine.crews.items() if c.startswith("MA-")}
    assert len(visiting) == 4 and res.kpis["crews"] == len(res.engine.crews)
    assert all(s.visits for s in visiting.values())
    first_job = [res.engine.jobs[s.visits[0]].history for s in visiting.values()]
    assert min(t for h in first_job for t, _ in h if t >= 0) >= 0
    assert min(res.engine.jobs[s.visits[0]].arrived_s or 0 for s in visiting.values()) >= 20 * 3600
    assert sum(s.duty_s for s in visiting.values()) > 0


def test_cli_refuses_a_negative_mutual_aid_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--mutual-aid", "-3"])
    assert "must be 0 or more, got -3" in capsys.readouterr().err
