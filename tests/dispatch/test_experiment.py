"""Experiments: the plan file's combinations, a 4-run experiment on a Dask LocalCluster whose
results match a run in this process, a failed run reported beside the others, and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from api.cli import main
from dispatch.experiment import PlanError, execute, read_plan, write_results
from dispatch.experiment_report import write_report

HEADER = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,city,circuit_id,"
          "device_id,extent,customers,cause,crew_statuses,first_etor_utc")


def _history(path: Path, n: int = 40, seed: int = 3) -> Path:
    """``n`` events over six hours around two towns 30 km apart."""
    rng = np.random.default_rng(seed)
    rows = [HEADER]
    for k in range(n):
        town = k % 2
        lat = 38.40 + 0.02 * rng.standard_normal() + 0.0 * town
        lon = -122.70 + 0.35 * town + 0.02 * rng.standard_normal()
        start = int(rng.integers(0, 6 * 3600))
        extent, customers = ("CUSTOMER", 1) if k % 5 else ("SERVICE TRANSFORMER", int(rng.integers(5, 40)))
        h, m = divmod(start // 60, 60)
        rows.append(f"E{k:03d},2024-02-04T{h:02d}:{m:02d}:00Z,,2024-02-05T{h:02d}:{m:02d}:00Z,{lat:.5f},"
                    f"{lon:.5f},Town{town},C{town},D{k},{extent},{customers},WIND,,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _plan(tmp_path: Path, extra: str = "") -> Path:
    _history(tmp_path / "storm.csv")
    plan = tmp_path / "plan.toml"
    plan.write_text(f"""
name = "two towns"
policies = ["optimizer", "baseline"]
seeds = [0, 1]

[[storms]]
name = "towns"
history = "storm.csv"
crews = 4
{extra}
[parameters]
improve_iterations = [50]
""", encoding="utf-8")
    return plan


def test_plan_lists_every_combination_once(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    runs = read_plan(plan).runs
    assert [(r.policy, r.seed, dict(r.params)) for r in runs] == [
        ("optimizer", 0, {"improve_iterations": 50.0}), ("optimizer", 1, {"improve_iterations": 50.0}),
        ("baseline", 0, {}), ("baseline", 1, {})]
    assert runs[0].storm.path == (tmp_path / "storm.csv").resolve()
    assert runs[0].replay_options().crews == 4


@pytest.mark.parametrize(("text", "message"), [
    ('policies = ["fastest"]\n[[storms]]\nhistory = "storm.csv"\ncrews = 1\n', "unknown policy 'fastest'"),
    ('[[storms]]\nhistory = "nowhere.csv"\ncrews = 1\n', "does not exist"),
    ('[[storms]]\nhistory = "storm.csv"\nstorm = "storm.csv"\n', "exactly one of storm"),
    ('[[storms]]\nhistory = "storm.csv"\n', "give crews"),
    ('[[storms]]\nhistory = "storm.csv"\ncrews = 2.5\n', "crews must be a whole number"),
    ('[[storms]]\nhistory = "storm.csv"\ncrews = 1\nspeed = 3\n', r"storms\[0\]: unknown key\(s\) speed"),
    ('seeds = []\n[[storms]]\nhistory = "storm.csv"\ncrews = 1\n', "seeds must be a non-empty list"),
    ('[[storms]\n', "not valid TOML"),
    ('[[storms]]\nhistory = "storm.csv"\ncrews = 1\nformat = "eia"\n', "unknown history format 'eia'"),
    ('[[storms]]\nstorm = "storm.csv"\nformat = "pge"\n', "format applies to a history, not a storm file"),
    ('[[storms]]\nhistory = "storm.csv"\ncrews = 1\nformat = "pge"\ncolumns = "map.toml"\n',
     "columns .* instead of format"),
    ('[[storms]]\nhistory = "storm.csv"\ncrews = 1\ncolumns = "map.toml"\n',
     r"storms\[0\]: .*map.toml: \[columns\] must map event_id"),
])
def test_bad_plans_are_refused_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    _history(tmp_path / "storm.csv", n=3)
    (tmp_path / "map.toml").write_text('[columns]\nstart = "start_utc"\n', encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError, match=message):
        read_plan(plan)


def test_four_runs_on_a_local_cluster_match_runs_in_this_process(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    on_cluster = execute(plan.runs, workers=2)
    here = execute(plan.runs, local=True)
    cols = ["run_id", "policy", "seed", "status", "customer_minutes_interrupted", "arrival_within_limit_rate",
            "work_orders", "crew_assignments"]
    a = pd.DataFrame([o.row for o in on_cluster])[cols]
    b = pd.DataFrame([o.row for o in here])[cols]
    pd.testing.assert_frame_equal(a, b)
    assert set(a["status"]) == {"ok"} and (a["work_orders"] == 40).all()
    # the seed draws the repair times: the two seeds differ, the policies differ
    assert a["customer_minutes_interrupted"].nunique() == 4


def test_failed_run_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nX1,2024-02-04T03:00:00Z,,2024-02-04T01:00:00Z,38.4,-122.7,T,C,D,CUSTOMER,1,W,,"
                            "\n", encoding="utf-8")
    plan = _plan(tmp_path, extra='[[storms]]\nname = "broken"\nhistory = "bad.csv"\ncrews = 1\n')
    out_dir = tmp_path / "out"
    assert main(["experiment", str(plan), "--out", str(out_dir), "--local", "--quiet"]) == 1
    results = pd.read_parquet(out_dir / "results.parquet")
    assert len(results) == 8
    failed = results[results["status"] == "failed"]
    assert set(failed["storm"]) == {"broken"} and len(failed) == 4
    assert failed["error"].str.contains("bad.csv:2: restoration").all()
    assert (results.loc[results["storm"] == "towns", "status"] == "ok").all()
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "Failed runs" in page and "bad.csv:2" in page


def test_bad_history_rows_can_be_skipped_and_are_counted_in_the_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    good_row = _history(tmp_path / "storm.csv", n=3).read_text(encoding="utf-8").splitlines()[1]
    broken = "X1,2024-02-04T03:00:00Z,,2024-02-04T01:00:00Z,38.4,-122.7,T,C,D,CUSTOMER,1,W,,"
    bad.write_text("\n".join([HEADER, good_row, broken]) + "\n", encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text('policies = ["baseline"]\n[[storms]]\nhistory = "bad.csv"\ncrews = 1\n'
                    'skip_bad_rows = true\n', encoding="utf-8")
    out_dir = tmp_path / "out"
    assert main(["experiment", str(plan), "--out", str(out_dir), "--local", "--quiet"]) == 0
    results = pd.read_parquet(out_dir / "results.parquet")
    assert results["history_rows_skipped"].tolist() == [1] and results["work_orders"].tolist() == [1]
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "history rows skipped (bad)" in page


def test_report_holds_the_kpi_table_and_every_figure(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    outputs = execute(plan.runs, local=True)
    out_dir = tmp_path / "out"
    results = pd.read_parquet(write_results(outputs, out_dir))
    assert {"arrival_within_limit_rate_by_area_urban", "param_improve_iterations",
            "wall_seconds"} <= set(results)
    assert (out_dir / "runs" / "r001" / "orders.parquet").exists()
    page = write_report(results, out_dir, title=plan.name).read_text(encoding="utf-8")
    for heading in ("KPIs per policy", "Arrival times by area class", "Customers out over time",
                    "Crew utilisation", "ETR accuracy", "Map of work orders, optimizer", "All runs"):
        assert heading in page
    assert page.count("data:image/png;base64,") == 6
    figures = sorted(p.name for p in (out_dir / "figures").iterdir())
    assert figures == ["towns-arrivals.png", "towns-crews.png", "towns-customers-out.png", "towns-etr.png",
                       "towns-map-baseline.png", "towns-map-optimizer.png"]
    # the KPI table shows the mean over each policy's runs
    mean = results.loc[results["policy"] == "baseline", "customer_minutes_interrupted"].mean()
    assert f"{mean:,.0f}" in page


RENAMED = {"event_id": "ID", "start_utc": "BEGAN", "last_published_utc": "ENDED", "lat": "Y", "lon": "X",
           "customers": "CUST", "extent": "KIND"}
MAPPING = {"event_id": "ID", "start": "BEGAN", "restored": "ENDED", "lat": "Y", "lon": "X",
           "customers": "CUST", "extent": "KIND"}


def test_histories_with_other_columns_run_and_their_inferences_reach_the_report(tmp_path: Path) -> None:
    pge = pd.read_csv(_history(tmp_path / "pge.csv"), dtype=str, keep_default_na=False)
    other = pge[list(RENAMED)].rename(columns=RENAMED)  # no circuit or device ids
    other.to_csv(tmp_path / "other.csv", index=False)
    other.assign(KIND="").to_csv(tmp_path / "blank.csv", index=False)
    (tmp_path / "other.toml").write_text(
        "[columns]\n" + "".join(f'{f} = "{c}"\n' for f, c in MAPPING.items()), encoding="utf-8")
    plan = tmp_path / "plan.toml"
    plan.write_text('policies = ["baseline"]\n' + "".join(
        f'[[storms]]\nname = "{name}"\nhistory = "{name}.csv"\ncrews = 4\n{extra}'
        for name, extra in (("pge", ""), ("other", 'columns = "other.toml"\n'),
                            ("blank", 'columns = "other.toml"\n'))), encoding="utf-8")
    out_dir = tmp_path / "out"
    assert main(["experiment", str(plan), "--out", str(out_dir), "--local", "--quiet"]) == 0
    results = pd.read_parquet(out_dir / "results.parquet").set_index("storm")
    # renamed columns, no ids (each event its own feeder): the same storm, the same KPIs
    for kpi in ("customer_minutes_interrupted", "arrival_within_limit_rate", "work_orders", "repair_jobs"):
        assert results.loc["other", kpi] == results.loc["pge", kpi]
    assert results.loc["other", "history_without_circuit_id"] == 40
    assert results.loc["pge", "history_without_circuit_id"] == 0
    # no extents: all 40 inferred from customers and counted
    assert results.loc["blank", "history_extent_inferred"] == 40
    assert results.loc["blank", "history_extent_from_customers"] == 40
    assert results.loc["other", "history_extent_inferred"] == 0
    assert results.loc["pge", "history_extent_inferred"] == 0
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "history extents inferred" in page and "history events without circuit id" in page
