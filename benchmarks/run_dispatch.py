"""Dispatch engine benchmarks: re-planning latency, and the optimizer against the baseline.

    python -m benchmarks.run_dispatch --suite latency    # results/dispatch-latency.json
    python -m benchmarks.run_dispatch --suite policies   # results/dispatch-policies.json
    python -m benchmarks.run_dispatch --suite grouping   # results/dispatch-grouping.json

latency: (1) the live plan at 10,000 open jobs and 300 crews (a storm-peak snapshot of the
default region, road travel, duty limits): a seeded stream of events (new job, crew sets off,
crew on site, job done, job cancelled) each applied by the optimizer's fast path, timed from
event to updated plan; the background re-optimisation is timed apart. (2) every event of the
default storm through the engine with the optimizer policy, timed inside ``handle``.

policies: both policies on the same storms, rosters and field draws. The optimizer's parameters
were tuned on typhoon storms 1-3 (first draw); they are reported apart from storms 4-6, three
draws each (the draw seeds the roster's skills, the smart meters, the responders' visits and
the call-takers), which nothing was tuned on. Also: an ordinary day (storms 1-6), the ceiling
of arrival within limit when the optimizer weighs nothing but arrival, and how arrival grows
with the number of first responders (3, 5 and 10 times the region's, both policies).

grouping: the optimizer with the engine's two groupings of reports into incidents (the roll-up
rules, its default, and the posterior regrouped every 15 min: ``dispatch.engine.GROUPINGS``) on
the same typhoons, rosters and draws: storms 1-3 (the optimizer's tuning storms) and the first
draw of storms 4-6; nothing of the posterior grouping was tuned on any of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from dispatch.engine import GROUPINGS
from grid_model.network import AREA_NAMES

RESULTS = Path(__file__).resolve().parent / "results"


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"events": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3)}


def plan_latency(n_orders: int = 10_000, n_crews: int = 300, n_events: int = 3000,
                 seed: int = 1) -> dict[str, Any]:
    """Fast-path latency of the live plan at storm-peak size (see the module docstring)."""
    from dispatch.instances import storm_instance
    from grid_model.region import load_region
    from routing.io import problem_from_dict
    from routing.live import LivePlan, NewOrder
    from routing.solver import MaxIterations
    from routing.travel import RoadTravel, with_road_travel

    region = load_region()
    travel = RoadTravel(region.roads)
    inst = storm_instance(region, n_orders=n_orders, n_crews=n_crews, seed=seed)
    p = problem_from_dict(inst)
    ox, oy = region.origin_m
    # duty limits as the live engine sets them: a job must fit in the crew's duty, relays past 8 h
    problem = with_road_travel(dataclasses.replace(p, x=p.x + ox, y=p.y + oy, shift_work_s=8 * 3600), travel)
    t0 = time.perf_counter()
    plan = LivePlan(problem, travel=travel, seed=seed)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    now = 0
    on_site: dict[str, tuple[str, int]] = {}
    for crew in plan.crew_ids:
        head = plan.head(crew)
        if head:
            plan.commit(crew, head)
    times: dict[str, list[float]] = {"new_order": [], "crew_sets_off": [], "crew_on_site": [],
                                     "repair_done": [], "order_cancelled": []}
    kinds = list(times)
    xs, ys = problem.x[n_crews:], problem.y[n_crews:]
    for k in range(n_events):
        now += int(rng.integers(0, 60))
        kind = kinds[int(rng.choice(5, p=[0.4, 0.15, 0.15, 0.2, 0.1]))]
        crew = plan.crew_ids[int(rng.integers(n_crews))]
        t0 = time.perf_counter()
        if kind == "new_order":  # half first responses (any crew, 20 min), half lv repairs
            j = int(rng.integers(len(xs)))
            first = k % 2 == 0
            plan.add(NewOrder(f"N{k}", float(xs[j] + rng.normal(0, 300)), float(ys[j] + rng.normal(0, 300)),
                              now, now + 2700, 1200 if first else int(rng.integers(1800, 9000)),
                              int(rng.integers(1, 40)), 5 if first else 0,
                              ("lv", "mv", "cable") if first else "lv"))
        elif kind == "crew_sets_off" and not plan.committed(crew) and crew not in on_site:
            head = plan.head(crew)
            if head:
                plan.commit(crew, head)
        elif kind == "crew_on_site" and plan.committed(crew):
            job = plan.committed(crew)[0]
            finish = plan.finish_s(job) or now
            plan.retire(job)
            plan.move_crew(crew, start_s=max(now, finish), x=float(xs[0]), y=float(ys[0]))
            on_site[crew] = (job, finish)
        elif kind == "repair_done" and crew in on_site:
            del on_site[crew]
            plan.move_crew(crew, start_s=now, x=float(xs[0]), y=float(ys[0]))
            head = plan.head(crew)
            if head:
                plan.commit(crew, head)
        elif kind == "order_cancelled":
            j = int(rng.integers(len(plan.order_ids)))
            plan.retire(plan.order_ids[j])
        else:
            continue
        times[kind].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    plan.search(MaxIterations(300))
    improve_s = time.perf_counter() - t0
    every = [s for v in times.values() for s in v]
    return {"orders": n_orders, "crews": n_crews, "build_s": round(build_s, 2),
            "all_events": _percentiles(every),
            "by_event": {k: _percentiles(v) for k, v in times.items() if v},
            "background_improve_300_iterations_s": round(improve_s, 3),
            "orders_in_plan": len(plan.order_ids),
            "orders_routed_at_end": int(sum(plan.core.S.route_of >= 0))}


def engine_latency(seed: int = 1) -> dict[str, Any]:
    """Time every event of storm ``seed`` through the engine under the optimizer."""
    from dispatch import engine as engine_module
    from dispatch.demo import run_demo

    timings: list[tuple[float, bool, int]] = []
    handle = engine_module.DispatchEngine.handle

    def timed(self: Any, event: Any) -> Any:
        before = self.policy.stats.replans
        t0 = time.perf_counter()
        out = handle(self, event)
        open_now = len(self.open_orders()) if len(timings) % 500 == 0 else -1
        timings.append((time.perf_counter() - t0, self.policy.stats.replans > before, open_now))
        return out

    engine_module.DispatchEngine.handle = timed  # type: ignore[method-assign,assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            res = run_demo(seed=seed, policy="optimizer", out_dir=Path(tmp), progress=False)
    finally:
        engine_module.DispatchEngine.handle = handle  # type: ignore[method-assign]
    fast = [t for t, replanned, _ in timings if not replanned]
    replans = [t for t, replanned, _ in timings if replanned]
    return {"storm_seed": seed, "fast_path": _percentiles(fast), "with_replan": _percentiles(replans),
            "max_open_orders_sampled": max(n for _, _, n in timings),
            "simulation_s": round(res.seconds["simulation"], 1)}


TUNED = ((1, 1), (2, 1), (3, 1))
HELD_OUT = tuple((storm, draw) for storm in (4, 5, 6) for draw in (1, 2, 3))
DAYS = (1, 2, 3, 4, 5, 6)
# Everything for arrival: a late order still weighs a hundred times what a customer-hour does.
RESPONDER_SCALES = (3.0, 5.0, 10.0)
ARRIVAL_ONLY = {"arrival_priority": 10_000.0, "late_priority": 1_000.0}


class Run(NamedTuple):
    """One replay of the policies and grouping suites."""

    scenario: str
    storm_seed: int
    draw: int
    policy: str
    params: dict[str, float]
    responder_scale: float
    grouping: str = "rollup"


def _policy_run(run: Run) -> dict[str, Any]:
    from dispatch.replay import ReplayOptions, replay_storm
    from grid_model.region import load_region
    from grid_model.storm import StormParams, generate_storm
    from grid_model.stormfile import write_storm

    scenario, storm_seed, draw, policy, params, responder_scale, grouping = run
    region = load_region()
    storm = generate_storm(region, StormParams.normal_day(storm_seed) if scenario == "day"
                           else StormParams(seed=storm_seed))
    with tempfile.TemporaryDirectory() as tmp:
        ev, truth = write_storm(storm, region, Path(tmp), "storm")
        options = ReplayOptions(policy=policy, seed=draw, params=params, responder_scale=responder_scale,
                                grouping=grouping)
        res = replay_storm(ev, options, truth_path=truth, region=region)
    k = dict(res.kpis)
    k.update({"scenario": scenario, "storm_seed": storm_seed, "draw": draw, "params": params,
              "grouping": grouping,
              "responder_scale": responder_scale, "simulation_s": round(res.seconds["simulation"], 1),
              **_peak(res)})
    return k


def _peak(res: Any) -> dict[str, int]:
    """The busiest hour: work orders opened in it, and crews on duty at its start."""
    opened = np.bincount([o.first_report_s // 3600 for o in res.engine.orders.values()
                          if o.first_report_s >= 0])
    hour = int(np.argmax(opened))
    on_duty = sum(1 for s in res.engine.crews.values()
                  if any(a <= hour * 3600 < b for a, b in s.crew.shifts((hour + 1) * 3600)))
    return {"peak_hour": hour, "orders_opened_peak_hour": int(opened[hour]),
            "crews_on_duty_peak_hour": on_duty}


def _mean(runs: list[dict[str, Any]], key: str, area: str | None = None) -> float:
    values = [r[key][area] if area else r[key] for r in runs]
    return round(float(np.mean([v for v in values if v is not None])), 4)


def _means(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Arrival, first-responder and customer-minute means of one policy's runs."""
    return {"runs": len(runs), "customer_minutes_interrupted": _mean(runs, "customer_minutes_interrupted"),
            "arrival_within_limit_rate": _mean(runs, "arrival_within_limit_rate"),
            "arrival_within_limit_rate_by_area": {a: _mean(runs, "arrival_within_limit_rate_by_area", a)
                                                  for a in AREA_NAMES},
            "critical_arrival_within_limit_rate": _mean(runs, "critical_arrival_within_limit_rate"),
            "reached_by_first_responder_share": _mean(runs, "reached_by_first_responder_share")}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the runs of one set, per policy, the worst run's invariants, and the
    optimizer's customer-minute lead."""
    out: dict[str, Any] = {}
    for policy in ("baseline", "optimizer"):
        mine = [r for r in runs if r["policy"] == policy]
        out[policy] = _means(mine) | {
            "repairs_by_unqualified_crew": max(r["repairs_by_unqualified_crew"] for r in mine),
            "hours_of_service_breaches": max(r["hours_of_service_breaches"] for r in mine),
            "callback_rate": min(r["callback_rate"] for r in mine),
            "simulation_s_max": max(r["simulation_s"] for r in mine),
        }
    out["cmi_reduction"] = round(1 - out["optimizer"]["customer_minutes_interrupted"]
                                 / out["baseline"]["customer_minutes_interrupted"], 4)
    return out


def _peak_mean(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Orders opened in the busiest hour and crews on duty then, averaged over the runs."""
    return {k: _mean(runs, k) for k in ("orders_opened_peak_hour", "crews_on_duty_peak_hour")}


def policies() -> dict[str, Any]:
    """Both policies on the tuned and the held-out typhoons and on ordinary days; the arrival
    ceiling runs (see the module docstring). Every KPI of every run is kept."""
    jobs = [Run("typhoon", s, d, p, {}, 1.0) for s, d in (*TUNED, *HELD_OUT)
            for p in ("baseline", "optimizer")]
    jobs += [Run("day", s, 1, p, {}, 1.0) for s in DAYS for p in ("baseline", "optimizer")]
    jobs += [Run("typhoon", s, d, "optimizer", ARRIVAL_ONLY, 1.0) for s, d in TUNED]
    jobs += [Run("typhoon", s, d, p, {}, scale) for s, d in TUNED for scale in RESPONDER_SCALES
             for p in ("baseline", "optimizer")]
    jobs += [Run("typhoon", s, d, "optimizer", ARRIVAL_ONLY, 3.0) for s, d in TUNED]
    with mp.get_context("spawn").Pool(2) as pool:
        return summarise(pool.map(_policy_run, jobs))


GROUPING_STORMS = ((1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1))
GROUPING_KPIS = ("customer_minutes_interrupted", "critical_customer_minutes_interrupted",
                 "arrival_within_limit_rate", "critical_arrival_within_limit_rate", "work_orders",
                 "work_orders_merged", "first_response_jobs", "repair_jobs", "customers_dark_at_end")


def grouping() -> dict[str, Any]:
    """The optimizer with each grouping on ``GROUPING_STORMS``; per grouping the means, and per
    storm the posterior's customer-minutes over the rules'."""
    jobs = [Run("typhoon", s, d, "optimizer", {}, 1.0, g) for s, d in GROUPING_STORMS for g in GROUPINGS]
    with mp.get_context("spawn").Pool(2) as pool:
        runs = pool.map(_policy_run, jobs)
    cmi = {(r["storm_seed"], r["draw"], r["grouping"]): r["customer_minutes_interrupted"] for r in runs}
    return {"storms": [list(x) for x in GROUPING_STORMS],
            "means": {g: {k: _mean([r for r in runs if r["grouping"] == g], k) for k in GROUPING_KPIS}
                      for g in GROUPINGS},
            "posterior_over_rollup_cmi": {f"{s}/{d}": round(cmi[s, d, "posterior"] / cmi[s, d, "rollup"], 4)
                                          for s, d in GROUPING_STORMS},
            "runs": runs}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The policies suite's summaries from its runs (kept in the result, so a summary can be
    re-derived without running again)."""
    plain = [r for r in runs if not r["params"] and r["responder_scale"] == 1.0]
    typhoon = [r for r in plain if r["scenario"] == "typhoon"]
    days = [r for r in plain if r["scenario"] == "day"]
    tuned = [r for r in typhoon if (r["storm_seed"], r["draw"]) in TUNED]
    held = [r for r in typhoon if (r["storm_seed"], r["draw"]) in HELD_OUT]
    ceiling = [r for r in runs if r["params"] == ARRIVAL_ONLY and r["responder_scale"] == 1.0]
    only_arrival_3 = [r for r in runs if r["params"] == ARRIVAL_ONLY and r["responder_scale"] == 3.0]
    by_scale = {scale: {p: [r for r in runs if not r["params"] and r["scenario"] == "typhoon"
                            and (r["storm_seed"], r["draw"]) in TUNED and r["policy"] == p
                            and r["responder_scale"] == scale] for p in ("baseline", "optimizer")}
                for scale in (1.0, *RESPONDER_SCALES)}
    return {
        "tuned_on": [list(x) for x in TUNED], "held_out": [list(x) for x in HELD_OUT],
        "tuned": _summary(tuned), "held_out_summary": _summary(held),
        "day": {p: {"runs": len(mine := [r for r in days if r["policy"] == p]),
                    "arrival_within_limit_rate_min": min(r["arrival_within_limit_rate"] for r in mine),
                    "arrival_within_limit_rate_by_area_min": {
                        a: min(r["arrival_within_limit_rate_by_area"][a] for r in mine
                               if r["arrival_within_limit_rate_by_area"][a] is not None)
                        for a in AREA_NAMES},
                    "critical_arrival_within_limit_rate_min": min(
                        r["critical_arrival_within_limit_rate"] for r in mine
                        if r["critical_arrival_within_limit_rate"] is not None)}
                for p in ("baseline", "optimizer")},
        "arrival_ceiling": {
            "arrival_only": {"arrival_within_limit_rate": _mean(ceiling, "arrival_within_limit_rate"),
                             "customer_minutes_interrupted": _mean(ceiling, "customer_minutes_interrupted")},
            "arrival_only_three_times_the_responders": {
                "arrival_within_limit_rate": _mean(only_arrival_3, "arrival_within_limit_rate"),
                "customer_minutes_interrupted": _mean(only_arrival_3, "customer_minutes_interrupted")},
            "by_responder_scale": {str(scale): {p: _means(rs) | _peak_mean(rs) for p, rs in pair.items()}
                                   for scale, pair in by_scale.items()}},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("latency", "policies", "grouping"), required=True)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    meta = {"machine": platform.machine(), "python": platform.python_version()}
    if args.suite == "latency":
        result: dict[str, Any] = {"plan_10k": plan_latency(), "engine_default_storm": engine_latency()}
    elif args.suite == "grouping":
        result = grouping()
    else:
        result = policies()
    out = args.out or RESULTS / f"dispatch-{args.suite}.json"
    out.write_text(json.dumps({"suite": args.suite, "meta": meta, "results": result}, indent=1))
    print(json.dumps(result, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
