"""End to end on a small seed: the demo runs, and its KPIs are recomputed from the raw records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from dispatch.demo import run_demo
from dispatch.orders import OrderStatus
from grid_model.region import Region
from tests.conftest import SMALL


def test_demo_kpis_agree_with_the_orders_and_outage_records(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=2, out_dir=tmp_path, region_params=SMALL, crew_scale=0.3, progress=False)
    k, eng, world = res.kpis, res.engine, res.world
    orders = list(eng.orders.values())
    assert k["work_orders"] == len(orders) > 0
    counted = [o for o in orders if o.status not in (OrderStatus.MERGED, OrderStatus.CANCELLED)]
    assert k["work_orders_dispatched"] == len(counted)
    on_time = [o for o in counted if o.arrived_s is not None and o.arrived_s <= o.deadline_s]
    assert k["arrival_within_limit_rate"] == round(len(on_time) / len(counted), 4)
    urban = [o for o in counted if o.area == "urban"]
    urban_ok = [o for o in urban if o.arrived_s is not None and o.arrived_s <= o.deadline_s]
    assert k["arrival_within_limit_rate_by_area"]["urban"] == round(len(urban_ok) / len(urban), 4)
    nodes = small_region.customers["node_idx"].to_numpy()
    cmi = world.outage_s[nodes].sum() / 60
    assert k["customer_minutes_interrupted"] == pytest.approx(cmi, abs=0.1)
    assert k["saidi_minutes"] == pytest.approx(cmi / len(nodes), abs=1e-3)
    assert k["saifi"] == pytest.approx(world.interruptions[nodes].sum() / len(nodes), abs=1e-5)
    assert k["caidi_minutes"] == pytest.approx(k["saidi_minutes"] / k["saifi"], abs=0.01)
    assert world.outage_s[nodes].max() <= k["storm_end_s"]
    assert json.loads(res.files["kpis"].read_text())["saidi_minutes"] == k["saidi_minutes"]
    assert k["ami_messages"] > 0 and k["events_rejected"] == 0
    assert "<svg" in res.files["map"].read_text()


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
                "repair_within_limit_rate", "saidi_minutes", "saifi", "caidi_minutes"):
        assert key in data
    assert set(data["arrival_within_limit_rate_by_area"]) == {"urban", "rural", "remote"}


def test_mutual_aid_crews_join_mid_storm_and_take_work(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=2, policy="baseline", out_dir=tmp_path, region_params=SMALL, crew_scale=0.3,
                   mutual_aid_crews=4, mutual_aid_at_h=20.0, progress=False)
    visiting = {c: s for c, s in res.engine.crews.items() if c.startswith("MA-")}
    assert len(visiting) == 4 and res.kpis["crews"] == len(res.engine.crews)
    first_job = [t for o in res.engine.orders.values() for t, s in o.history
                 if s == OrderStatus.EN_ROUTE and o.team and o.team[0] in visiting]
    assert first_job and min(first_job) >= 20 * 3600
    assert sum(s.duty_s for s in visiting.values()) > 0


def test_cli_refuses_a_negative_mutual_aid_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--mutual-aid", "-3"])
    assert "must be 0 or more, got -3" in capsys.readouterr().err
