"""Switching benchmark (issue 17): the default typhoon and three other draws, both policies, with
switching (the policy's own: the optimizer plans manual switching too, the baseline is a plain
FLISR, remote only) and without, all in the same run.

    python -m benchmarks.run_switching            # results/switching.json (about 15 min)

Seed 1 (the storm of ``make demo``) is the draw the switching rules were built and checked on;
seeds 2-4 are held out. Beside the runs:

- **ceiling**: how much of the customer-minutes switching could take off at most with the
  region's switches and ties: every MV device that operated in the run without switching, its
  faults cut off at the moment of the trip by the best plan for them, and every customer that
  plan brings back spared *all* its outage minutes (an over-estimate: they were dark for other
  reasons too, and no crew travels in no time);
- **plan time**: a switching plan for a fault at every MV junction of the default region,
  cleared by its nearest device (pure Python; the machine's other load is not controlled).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.demo import run_demo
from grid_model.network import NodeKind
from grid_model.region import load_region
from grid_model.switches import SwitchKind, SwitchLayer, energised, place_switches
from grid_model.switching import SwitchingError, plan_switching

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (1, 2, 3, 4)
TUNED_SEEDS = (1,)
POLICIES = ("optimizer", "baseline")
KEYS = ("customer_minutes_interrupted", "switching", "switching_steps", "switching_jobs",
        "switching_steps_tripped", "switching_steps_refused", "ties_tripped_by_faults",
        "customers_restored_by_switching", "customer_minutes_saved_by_switching", "arrival_within_limit_rate",
        "work_orders_open_at_end", "switches_off_normal_at_end", "customers_dark_at_end",
        "unreported_customer_minutes", "repairs_by_unqualified_crew", "hours_of_service_breaches",
        "events_rejected")


def _restorable(layer: SwitchLayer, world: Any) -> np.ndarray:
    """Customers the best plan at each trip would bring back (see the module docstring)."""
    net = world.net
    out = np.zeros(net.n_nodes, dtype=bool)
    ops: dict[int, list[int]] = {}
    for f in world.faults:
        if not f.customer_side and net.kind[f.operates_idx] <= NodeKind.MV_NODE:
            ops.setdefault(f.operates_idx, []).append(f.node_idx)
    for op, faults in ops.items():
        state = np.zeros(net.n_nodes, dtype=bool)
        state[op] = True
        try:
            plan = plan_switching(net, layer, sorted(set(faults)), open_nodes=state)
        except SwitchingError:
            continue
        closed = []
        for step in plan.steps:
            if step.phase == "normal":
                break
            if step.tie is not None:
                closed.append(step.tie)
            else:
                state[step.node] = step.action == "open"
        sl = net.subtree(op)
        out[sl] |= energised(net, state, closed)[sl]
    return out


def _run(seed: int, policy: str, switching: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = run_demo(seed=seed, policy=policy, out_dir=Path(tempfile.mkdtemp()), switching=switching,
                   progress=False)
    out: dict[str, Any] = {"seed": seed, "policy": policy, "switched": switching != "off",
                           **{k: res.kpis[k] for k in KEYS}, "seconds": round(time.perf_counter() - t0, 1)}
    if policy == "optimizer" and switching == "off":
        world, net = res.world, res.world.net
        cust = res.engine.region.customers["node_idx"].to_numpy()
        total = float(world.outage_s[cust].sum())
        restorable = _restorable(place_switches(net), world)
        behind_mv = np.zeros(net.n_nodes, dtype=bool)
        for f in world.faults:
            if not f.customer_side and net.kind[f.operates_idx] <= NodeKind.MV_NODE:
                behind_mv[net.subtree(f.operates_idx)] = True
        out["ceiling_share"] = round(float(world.outage_s[cust[restorable[cust]]].sum()) / total, 4)
        out["behind_mv_device_share"] = round(float(world.outage_s[cust[behind_mv[cust]]].sum()) / total, 4)
    return out


def _plan_times() -> dict[str, Any]:
    region = load_region()
    net = region.network
    layer = place_switches(net)
    times = []
    for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
        state = np.zeros(net.n_nodes, dtype=bool)
        state[int(net.device_ancestor[f])] = True
        t0 = time.perf_counter()
        plan_switching(net, layer, f, open_nodes=state)
        times.append((time.perf_counter() - t0) * 1000)
    ms = np.array(times)
    return {"faults": len(times), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3), "over_10ms": int((ms > 10).sum()),
            "switches": len(layer.switch_points()), "ties": len(layer.ties),
            "remote_switches": int((layer.switch == SwitchKind.REMOTE).sum()),
            "remote_ties": sum(t.remote for t in layer.ties)}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    cmi = {(r["seed"], r["policy"], r["switched"]): r["customer_minutes_interrupted"] for r in runs}
    out: dict[str, Any] = {}
    for policy in POLICIES:
        change = [cmi[(s, policy, True)] / cmi[(s, policy, False)] - 1 for s in SEEDS]
        out[f"{policy}_switching_change"] = [round(c, 4) for c in change]
        out[f"{policy}_switching_change_mean"] = round(float(np.mean(change)), 4)
    lead = [cmi[(s, "optimizer", True)] / cmi[(s, "baseline", True)] - 1 for s in SEEDS]
    out["optimizer_vs_flisr_baseline"] = [round(c, 4) for c in lead]
    out["optimizer_vs_flisr_baseline_mean"] = round(float(np.mean(lead)), 4)
    out["unsafe_steps"] = sum(r["switching_steps_tripped"] + r["switching_steps_refused"] for r in runs)
    out["switches_off_normal_at_end"] = sum(r["switches_off_normal_at_end"] for r in runs)
    out["met_30pct_switching"] = all(out[f"{p}_switching_change_mean"] <= -0.30 for p in POLICIES)
    out["met_20pct_over_flisr"] = out["optimizer_vs_flisr_baseline_mean"] <= -0.20
    ceilings = [r["ceiling_share"] for r in runs if "ceiling_share" in r]
    out["ceiling_share_mean"] = round(float(np.mean(ceilings)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [(s, p, sw) for s in SEEDS for p in POLICIES for sw in ("", "off")]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(_run, *zip(*jobs, strict=True)))
    results = {"seeds": list(SEEDS), "tuned_seeds": list(TUNED_SEEDS), "runs": runs,
               "summary": _summary(runs), "plans": _plan_times()}
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "switching.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(json.dumps(results["summary"], indent=1))


if __name__ == "__main__":
    main()
