"""Storm replay benchmarks for planners.

    python -m benchmarks.run_replay --suite speed        # results/replay-speed.json
    python -m benchmarks.run_replay --suite experiment   # results/replay-experiment.json

speed: PG&E's February 2024 storm (data/pge-2024-02-storm.csv: 10,367 outage events,
one work order each, starting over four days) replayed with 300 crews, each policy in its own
process on one core, the optimizer updating its plan on every event and re-planning every 30
storm-minutes. Kernel load (or first compile) is timed apart on a two-event history first.
experiment: 16 replays (2 policies x 4 seeds x 2 crew counts on the storm's first 1,500 events),
one after another in one process, then on a 2-worker Dask LocalCluster (cluster start included);
the two result tables must be identical.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PGE = Path(__file__).resolve().parents[1] / "data" / "pge-2024-02-storm.csv"
CREWS = 300
SUBSET_EVENTS = 1500


def _tiny_history(folder: Path) -> Path:
    """Two events a few km apart: enough to load every kernel a replay uses."""
    path = folder / "tiny.csv"
    lines = PGE.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    return path


def _speed_run(policy: str) -> dict[str, Any]:
    from dispatch.replay import ReplayOptions, replay_history

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        replay_history(_tiny_history(Path(tmp)), ReplayOptions(policy=policy, crews=2))
        load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay = replay_history(PGE, ReplayOptions(policy=policy, crews=CREWS))
    wall = time.perf_counter() - t0
    stats = getattr(replay.engine.policy, "stats", None)
    keep = ("work_orders", "work_orders_open_at_end", "arrival_within_limit_rate",
            "arrival_within_limit_rate_by_area", "median_arrival_minutes", "customer_minutes_interrupted",
            "saidi_minutes", "crew_utilisation",
            "etr_first_within_1h_rate", "storm_end_s", "utility_customer_minutes_interrupted",
            "utility_median_restoration_hours", "utility_etr_first_within_1h_rate", "utility_events_stale",
            "customers_by_area", "depots")
    return {"policy": policy, "kernel_load_s": round(load_s, 2), "wall_s": round(wall, 1),
            "build_s": round(replay.seconds["build"], 1),
            "simulation_s": round(replay.seconds["simulation"], 1),
            "events_handled": replay.result.events, "replans": getattr(stats, "replans", None),
            "kpis": {k: replay.kpis[k] for k in keep}}


def speed() -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        runs = pool.map(_speed_run, ["optimizer", "baseline"])
    opt = runs[0]
    return {"storm": PGE.name, "crews": CREWS, "runs": runs, "target_s": 180,
            "met": opt["wall_s"] < 180}


def _subset(folder: Path) -> Path:
    lines = PGE.read_text(encoding="utf-8").splitlines()
    path = folder / "pge-first-1500.csv"
    header, rows = lines[0], sorted(lines[1:], key=lambda r: r.split(",")[1])[:SUBSET_EVENTS]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def experiment() -> dict[str, Any]:
    import pandas as pd

    from dispatch.experiment import execute, read_plan

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _subset(folder)
        plan_path = folder / "plan.toml"
        plan_path.write_text("""
name = "pge first 1500 events"
policies = ["optimizer", "baseline"]
seeds = [0, 1, 2, 3]
[[storms]]
name = "pge-first-1500"
history = "pge-first-1500.csv"
[parameters]
crews = [40, 60]
""", encoding="utf-8")
        plan = read_plan(plan_path)
        t0 = time.perf_counter()
        here = execute(plan.runs, local=True)
        sequential = time.perf_counter() - t0
        t0 = time.perf_counter()
        cluster = execute(plan.runs, workers=2)
        parallel = time.perf_counter() - t0
    cols = ["run_id", "policy", "seed", "option_crews", "status", "customer_minutes_interrupted",
            "arrival_within_limit_rate", "crew_assignments"]
    a = pd.DataFrame([o.row for o in here])[cols]
    b = pd.DataFrame([o.row for o in cluster])[cols]
    return {"runs": len(plan.runs), "sequential_s": round(sequential, 1),
            "local_cluster_2_workers_s": round(parallel, 1),
            "speedup": round(sequential / parallel, 2), "target_speedup": 1.7,
            "met": sequential / parallel >= 1.7, "identical_results": bool(a.equals(b)),
            "run_seconds": [o.row["wall_seconds"] for o in here],
            "failed": [o.row["run_id"] for o in here + cluster if o.row["status"] != "ok"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("speed", "experiment"), required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not PGE.exists():
        print(f"needs {PGE.resolve()} (the repository's data folder)", file=sys.stderr)
        return 2
    meta = {"machine": platform.machine(), "python": platform.python_version()}
    result = speed() if args.suite == "speed" else experiment()
    out = args.out or RESULTS / f"replay-{args.suite}.json"
    out.write_text(json.dumps({"suite": args.suite, "meta": meta, "results": result}, indent=1))
    print(json.dumps(result, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
