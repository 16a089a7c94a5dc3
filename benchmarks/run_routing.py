"""Routing benchmarks: storm dispatch instances against dispatchers' rules and OR-Tools,
VRPTW literature instances against PyVRP, and a CI-sized latency record.

    python -m benchmarks.run_routing --suite ci      # ~1 min, run by `make bench-ci`
    python -m benchmarks.run_routing --suite storm   # 300/60, 1000/30, 10000/300
    python -m benchmarks.run_routing --suite families [--families other-72h ...] [--seeds 11 12]
        [--seconds 30] [--orders 10000 --crews 300] [--zero-travel]   # the anytime curve per family
    python -m benchmarks.run_routing --suite opening [--jobs 2]   # route-opening recreates, held out
    python -m benchmarks.run_routing --suite vrptw [--instances R1_10_1 ...] [--seconds 60] [--jobs 2]
        [--solver-seeds 1 2 3]   # both solvers, each seed
        [--out FILE --add]   # this run's rows added to FILE (same instance and seed: replaced)
        [--tuning] [--window 120]   # instances 6-10 (tune there, report on 1-5); windows cut

Each workload runs in a fresh process so peak memory is its own; results are JSON under
``benchmarks/results/``. Kernels are warmed up first and their load/compile time reported apart.
``--jobs 2`` runs two literature instances at a time (each in its own process, ours and PyVRP one
after the other within it, one core each): the 30 HG instances in about half the 65 minutes, but
sharing the machine costs PyVRP more than ours (its mean gap 2.37 -> 3.01 % on the same instances),
so figures to publish come from one instance at a time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchmarks.tight_windows import tighten
from routing.warm import warm_up

DATA = Path(__file__).resolve().parents[1] / "data"
RESULTS = Path(__file__).resolve().parent / "results"
TESTS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


@numba.njit(cache=True)
def _sorting_loop(a: np.ndarray, reps: int) -> int:
    """Fill ``a`` with pseudo-random integers and insertion-sort it, ``reps`` times:
    data-dependent branches and reads of a small array, the solver kernels' kind of work;
    returns a checksum of the middle elements."""
    n = a.shape[0]
    x = np.int64(7)
    acc = np.int64(0)
    for _ in range(reps):
        for i in range(n):
            x = (x * 1103515245 + 12345) % 2147483648
            a[i] = x >> 8
        for i in range(1, n):
            v = a[i]
            j = i - 1
            while j >= 0 and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = v
        acc += a[n // 2] - (acc >> 3)
    return acc


def sorting_reference() -> float:
    """A fixed compiled loop timed in the same run (compiled or loaded first): the CI latency
    record's yardstick, 200 sorts of 2,000 integers. The benchmark machine runs in two speeds
    that switch over time: 40 such sorts took 24 or 37 ms as C101 + R101 + RC201 at 4,000
    iterations each took 0.33-0.36 or 0.54-0.61 s, where a chain of multiplies did not follow
    (0.13-0.15 s either way) and a numpy sort moved tenfold between days on its own."""
    a = np.empty(2000, dtype=np.int64)
    _sorting_loop(a[:10], 1)
    t0 = time.perf_counter()
    _sorting_loop(a, 200)
    return time.perf_counter() - t0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def storm_workload(n_orders: int, n_crews: int, seconds: float, ortools_seconds: float | None,
                   seed: int = 1) -> dict[str, Any]:
    from dispatch.instances import storm_instance
    from grid_model.region import load_region
    from routing.bound import lower_bound
    from routing.heuristics import nearest_available, rule_of_thumb
    from routing.io import problem_from_dict
    from routing.solver import DispatchSolver, MaxRuntime

    compile_s = warm_up()
    p = problem_from_dict(storm_instance(load_region(), n_orders=n_orders, n_crews=n_crews, seed=seed))
    out: dict[str, Any] = {"workload": f"storm {n_orders} orders / {n_crews} crews", "orders": n_orders,
                           "crews": n_crews, "seconds": seconds, "kernel_load_or_compile_s": compile_s}
    rule, near = rule_of_thumb(p), nearest_available(p)
    out["rule_of_thumb"] = {"cost": rule.cost, "unassigned": len(rule.plan.unassigned),
                            "runtime_s": rule.runtime_s}
    out["nearest_available"] = {"cost": near.cost, "unassigned": len(near.plan.unassigned),
                                "runtime_s": near.runtime_s}
    t0 = time.perf_counter()
    bound = lower_bound(p)
    out["lower_bound"] = {"cost": bound, "runtime_s": time.perf_counter() - t0}
    started = time.perf_counter()
    solver = DispatchSolver(p, seed=seed)
    out["first_plan_s"] = solver.construct_s
    out["first_plan_cost"] = solver.best_cost
    res = solver.improve(MaxRuntime(seconds), started=started)
    out["total_s"] = time.perf_counter() - started
    out["ours"] = {"cost": res.cost, "unassigned": len(res.plan.unassigned), "iterations": res.iterations,
                   "history": res.history[-20:],
                   "below_rule_of_thumb": round(1 - res.cost / rule.cost, 4),
                   "below_nearest_available": round(1 - res.cost / near.cost, 4),
                   "gap_to_bound": round(res.cost / bound - 1, 4)}
    order = int(np.flatnonzero(solver.core.S.route_of >= 0)[0])
    times = []
    for _ in range(50):
        solver.remove(order)
        t0 = time.perf_counter()
        solver.insert(order)
        times.append(time.perf_counter() - t0)
    out["insert_one_order_ms"] = {"median": 1000 * float(np.median(times)),
                                  "p95": 1000 * float(np.percentile(times, 95))}
    if ortools_seconds:
        from routing.ortools_backend import solve_ortools

        ort = solve_ortools(p, ortools_seconds)
        found = bool(ort.history)
        out["ortools"] = {"seconds": ortools_seconds, "found_plan": found, "cost": ort.cost,
                          "unassigned": len(ort.plan.unassigned)}
        out["ours"]["below_ortools"] = round(1 - res.cost / ort.cost, 4) if found else None
        out["ortools"]["gap_to_bound"] = round(ort.cost / bound - 1, 4) if found else None
    out["peak_memory_mb"] = _peak_mb()
    return out


CHECKPOINTS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)


def family_workload(family: str, n_orders: int, n_crews: int, seconds: float, seed: int,
                    zero_travel: bool = False) -> dict[str, Any]:
    """One storm of a family (``dispatch.storm_families``): the first plan, then the best
    cost at each checkpoint relative to it (time counted from before the construction), the
    lower bound and the gaps to it, and how far the run went past ``seconds``. With
    ``zero_travel``, the same storm with travel made instant is solved too, and its cost set
    against the same bound: what of the gap is travel the bound does not see."""
    from dispatch.storm_families import FAMILIES, family_instance
    from routing.bound import lower_bound
    from routing.heuristics import rule_of_thumb
    from routing.io import problem_from_dict
    from routing.solver import DispatchSolver, MaxRuntime

    compile_s = warm_up()
    fam = FAMILIES[family]
    inst = family_instance(family, n_orders=n_orders, n_crews=n_crews, seed=seed)
    p = problem_from_dict(inst)
    out: dict[str, Any] = {"family": family, "about": fam.describe() if fam else (
                               "orders cut from generated storms on the default region "
                               "(dispatch/instances.py): 16 h horizon, the region's service stations, "
                               "its skills, repair times and critical customers"),
                           "orders": n_orders, "crews": n_crews, "seed": seed, "seconds": seconds,
                           "kernel_load_or_compile_s": compile_s}
    t0 = time.perf_counter()
    bound = lower_bound(p)
    out["lower_bound"] = {"cost": bound, "runtime_s": time.perf_counter() - t0}
    rule = rule_of_thumb(p)
    out["rule_of_thumb"] = {"cost": rule.cost, "unassigned": len(rule.plan.unassigned)}
    started = time.perf_counter()
    cpu0 = time.process_time()
    solver = DispatchSolver(p, seed=seed)
    first = solver.best_cost
    out["first_plan"] = {"cost": first, "seconds": solver.construct_s,
                         "unassigned": int(np.sum(solver.core.S.route_of < 0)),
                         "gap_to_bound": round(first / bound - 1, 4)}
    res = solver.improve(MaxRuntime(seconds), started=started)
    total = time.perf_counter() - started
    curve = {}
    for t in CHECKPOINTS_S:
        if t <= seconds:
            best = min([c for s, c in res.history if s <= t] + [first])
            curve[f"{t:g}"] = round(best / first - 1, 5)
    out["ours"] = {"cost": res.cost, "unassigned": len(res.plan.unassigned), "iterations": res.iterations,
                   "below_first_plan": round(1 - res.cost / first, 5), "curve_vs_first_plan": curve,
                   "below_rule_of_thumb": round(1 - res.cost / rule.cost, 4),
                   "gap_to_bound": round(res.cost / bound - 1, 4)}
    out["total_s"] = total
    out["overrun_s"] = total - seconds
    out["cpu_share"] = round((time.process_time() - cpu0) / total, 3)
    if zero_travel:
        instant = problem_from_dict({**inst, "travel": {"kind": "euclidean", "speed_kmh": 1e9}})
        res = DispatchSolver(instant, seed=seed).improve(MaxRuntime(seconds))
        out["zero_travel"] = {"cost": res.cost, "unassigned": len(res.plan.unassigned),
                              "gap_to_bound": round(res.cost / bound - 1, 4)}
    out["peak_memory_mb"] = _peak_mb()
    return out


def _gap(distance: float, bks: float | None) -> float | None:
    return None if bks is None else round((distance - bks) / bks, 5)


def vrptw_workload(path: str, fmt: str, seconds: float, bks: float | None, with_pyvrp: bool,
                   seed: int = 1) -> dict[str, Any]:
    from routing.io import read_vrptw
    from routing.solver import MaxRuntime, solve

    compile_s = warm_up()
    p = read_vrptw(Path(path), fmt)
    t0 = time.perf_counter()
    res = solve(p, MaxRuntime(seconds), seed=seed, started=t0)
    ours = res.cost / 10
    out: dict[str, Any] = {"instance": p.name, "seed": seed, "seconds": seconds, "bks": bks,
                           "kernel_load_or_compile_s": compile_s,
                           "ours": {"distance": ours, "gap": _gap(ours, bks),
                                    "routes": sum(1 for r in res.plan.routes.values() if r),
                                    "unassigned": len(res.plan.unassigned), "iterations": res.iterations,
                                    "search": res.search}}
    if with_pyvrp:
        import pyvrp
        from pyvrp.stop import MaxRuntime as PyvrpRuntime

        data = pyvrp.read(path, round_func="dimacs")
        r = pyvrp.solve(data, stop=PyvrpRuntime(seconds), seed=seed, display=False)
        dist = r.cost() / 10
        out["pyvrp"] = {"distance": dist, "gap": _gap(dist, bks), "feasible": r.is_feasible(),
                        "routes": r.best.num_routes(),
                        "version": package_version("pyvrp")}
    out["peak_memory_mb"] = _peak_mb()
    return out


def opening_workload(path: str, seed: int, iterations: int, bks: float) -> dict[str, Any]:
    """One benchmark run of ``routing-vrptw-seeds.json`` made again for the same number of
    iterations, without route-opening recreates and with the share ``SearchCore.opening_share``
    gives it: the rule's effect on an instance no setting was tuned on, on the same budget as
    the 60 s run PyVRP is compared with (iterations, not seconds: free of the machine's speed
    on the day)."""
    from routing.io import read_vrptw
    from routing.solver import DispatchSolver, MaxIterations, SolverParams

    warm_up()
    p = read_vrptw(Path(path), "vrplib")
    out: dict[str, Any] = {"instance": p.name, "seed": seed, "iterations": iterations}
    # the rule as it was measured, inside annealing (the iterated local search counts other iterations)
    for key, params in (("off", SolverParams(open_route=0.0, ils=False)), ("rule", SolverParams(ils=False))):
        solver = DispatchSolver(p, seed=seed, params=params)
        res = solver.improve(MaxIterations(iterations))
        distance = res.cost / 10
        out[key] = {"distance": distance, "gap": _gap(distance, bks),
                    "share": solver.core.opening_share(),
                    "routes": sum(1 for r in res.plan.routes.values() if r)}
    return out


def _opening_row(work: tuple[str, int, int, float]) -> dict[str, Any]:
    return opening_workload(*work)


def package_version(name: str) -> str | None:
    """The installed version of a peer solver's package (``pyvrp``, ``ortools``), None if absent:
    a peer's figures mean little without it (the algorithm behind ``pyvrp.solve`` changed between
    releases: 0.14 runs an iterated local search). PyVRP has no ``__version__``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _vrptw_row(work: tuple[str, str, float, float | None, bool, int]) -> dict[str, Any]:
    return vrptw_workload(*work)


def ci_workload(rounds: int = 7) -> dict[str, Any]:
    """Fixed-iteration runs (deterministic work) timed against a compiled loop of sorts
    (``sorting_reference``), in ``rounds`` rounds of the yardstick then every run; the round
    whose total ratio is the median is recorded, its yardstick, times and ratios (back-to-back
    records of one reference then the best of three runs moved x1.03 to x1.58 on an idle
    machine)."""
    from routing.io import read_vrptw
    from routing.solver import DispatchSolver, MaxIterations

    compile_s = warm_up()
    names = ("C101", "R101", "RC201")
    problems = {n: read_vrptw(TESTS_DATA / "solomon" / f"{n}.txt", "solomon") for n in names}
    measured = []
    results = {}
    for _ in range(rounds):
        ref = sorting_reference()
        seconds = {}
        for name, problem in problems.items():
            s = DispatchSolver(problem, seed=1)
            t0 = time.perf_counter()
            results[name] = s.improve(MaxIterations(4000))
            seconds[name] = time.perf_counter() - t0
        measured.append((sum(seconds.values()) / ref, ref, seconds))
    measured.sort(key=lambda m: m[0])
    total, ref, seconds = measured[rounds // 2]
    runs = {n: {"seconds": seconds[n], "ratio_to_reference": round(seconds[n] / ref, 3),
                "distance": results[n].cost / 10, "iterations": results[n].iterations}
            for n in names}
    return {"reference_s": ref, "kernel_load_or_compile_s": compile_s, "rounds": rounds,
            "runs": runs, "ratio_total": round(total, 3),
            "ratio_total_spread": [round(measured[0][0], 3), round(measured[-1][0], 3)],
            "peak_memory_mb": _peak_mb()}


def _in_child(fn: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def _pooled(fn: Any, work: list[Any], jobs: int) -> list[dict[str, Any]]:
    """``fn`` over ``work``, ``jobs`` at a time, each in a fresh process (peak memory and kernel
    load are its own); each row printed as it comes."""
    with mp.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        result = []
        for row in pool.imap(fn, work):
            print(json.dumps(row), flush=True)
            result.append(row)
    return result


def _opening_work() -> list[tuple[str, int, int, float]]:
    """The runs of ``routing-vrptw-seeds.json`` on the instances where the route-opening rule
    fires (``opening_workload``)."""
    from routing.io import read_vrptw
    from routing.solver import DispatchSolver

    runs = json.loads((RESULTS / "routing-vrptw-seeds.json").read_text())["results"]
    path = {name: DATA / "vrptw-hg1000" / f"{name}.vrp" for name in {r["instance"] for r in runs}}
    fires = {name for name, p in path.items()
             if DispatchSolver(read_vrptw(p, "vrplib")).core.opening_share() > 0}
    return [(str(path[r["instance"]]), r["seed"], r["ours"]["iterations"], r["bks"])
            for r in runs if r["instance"] in fires]


def _row_key(row: dict[str, Any]) -> tuple[str, int]:
    """A literature row's instance and solver seed (rows written before seeds were recorded
    ran seed 1: ``solve(..., seed=1)`` then)."""
    return row["instance"], int(row.get("seed", 1))


def _kind(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("meta") or {}
    return {"suite": doc.get("suite"), "instances": meta.get("instances"), "window": meta.get("window")}


def refuse_other_kind(old: dict[str, Any], new: dict[str, Any], where: Path) -> None:
    """Stop, naming the file, when ``new`` is another suite, instance set or window width than
    the results in ``old`` (checked before a run: its flags say all three)."""
    was, now = _kind(old), _kind(new)
    for key in was:
        if was[key] != now[key]:
            raise SystemExit(f"{where}: {key} {was[key]!r}, not {now[key]!r}: nothing added")


def added_run(old: dict[str, Any], new: dict[str, Any], where: Path) -> dict[str, Any]:
    """``old`` results with ``new``'s rows added: a row of the same instance and seed replaced
    in its place (an earlier run's ``rows`` in ``meta.runs`` lose it), the others after them.
    ``meta.runs`` lists each run's date, machine, peers and rows as ``[instance, seed]`` (the
    first run's from the file's own meta, which stays the top-level one). Refused for another
    kind of results (``refuse_other_kind``)."""
    refuse_other_kind(old, new, where)

    def run(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {**{k: meta.get(k) for k in ("date", "machine", "python", "cpus", "peers",
                                            "instances_at_a_time")},
                "rows": [list(k) for k in sorted({_row_key(r) for r in rows})]}

    fresh = {_row_key(r) for r in new["results"]}
    meta = dict(old["meta"])
    runs = [{**earlier, "rows": [k for k in earlier["rows"] if (k[0], k[1]) not in fresh]}
            for earlier in meta.pop("runs", None) or [run(meta, old["results"])]]
    meta["runs"] = [*runs, run(new["meta"], new["results"])]
    by_key = {_row_key(r): r for r in new["results"]}
    replaced = [by_key.get(_row_key(r), r) for r in old["results"]]
    held = {_row_key(r) for r in old["results"]}
    added = [r for r in new["results"] if _row_key(r) not in held]
    return {"suite": old["suite"], "meta": meta, "results": replaced + added}


def _bks(folder: str, name: str) -> float:
    import csv

    with open(DATA / folder / "bks.csv") as fh:
        for row in csv.DictReader(fh):
            if row["instance"] == name:
                return float(row.get("bks_distance") or row["dimacs_distance"])
    raise KeyError(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True,
                    choices=["ci", "storm", "families", "vrptw", "solomon", "opening"])
    ap.add_argument("--instances", nargs="*")
    ap.add_argument("--seconds", type=float, help="time limit (default 60; families: 30)")
    ap.add_argument("--families", nargs="*", help="families: names in dispatch.storm_families "
                    "(default all)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[11, 12], help="families: instance seeds")
    ap.add_argument("--zero-travel", action="store_true", help="families: also solve each storm with "
                    "instant travel, against the same bound")
    ap.add_argument("--orders", type=int, default=10000)
    ap.add_argument("--crews", type=int, default=300)
    ap.add_argument("--no-pyvrp", action="store_true")
    ap.add_argument("--tuning", action="store_true", help="vrptw: the tuning instances (Gehring-Homberger "
                    "6-10 of each class, data/vrptw-hg1000-tuning) instead of the benchmark's 1-5")
    ap.add_argument("--window", type=int, help="vrptw: cut every customer's window to this width "
                    "(benchmarks.tight_windows; gaps are then left out: no best-known plan)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--solver-seeds", nargs="*", type=int, default=[1],
                    help="vrptw, solomon: the seeds both solvers run each instance with")
    ap.add_argument("--jobs", type=int, default=1, choices=[1, 2],
                    help="vrptw, solomon: instances run at a time (one process and core each)")
    ap.add_argument("--add", action="store_true", help="vrptw, solomon: add this run's rows to the "
                    "--out file (a row of the same instance and seed is replaced), its date to meta.runs")
    args = ap.parse_args(argv)
    if args.add and (args.suite not in ("vrptw", "solomon") or args.out is None or not args.out.exists()):
        ap.error("--add needs --suite vrptw or solomon and an existing --out file to add to")
    added_to: dict[str, Any] | None = json.loads(args.out.read_text()) if args.add else None
    meta = {"machine": platform.machine(), "python": platform.python_version(),
            "cpus": mp.cpu_count(), "date": time.strftime("%Y-%m-%d"), "instances_at_a_time": args.jobs,
            "peers": {name: package_version(name) for name in ("pyvrp", "ortools")}}
    tuning = args.suite == "vrptw" and (args.tuning or args.window)
    if tuning:
        meta.update(instances="vrptw-hg1000-tuning" if args.tuning else "vrptw-hg1000", window=args.window)
    if added_to is not None:
        refuse_other_kind(added_to, {"suite": args.suite, "meta": meta}, args.out)
    if args.suite == "ci":
        result: Any = _in_child(ci_workload)
    elif args.suite == "families":
        from dispatch.storm_families import FAMILIES

        result = []
        for family in args.families or list(FAMILIES):
            for seed in args.seeds:
                row = _in_child(family_workload, family, args.orders, args.crews, args.seconds or 30.0, seed,
                                args.zero_travel)
                print(json.dumps({k: row[k] for k in ("family", "seed", "first_plan", "ours", "overrun_s")}),
                      flush=True)
                result.append(row)
    elif args.suite == "opening":
        result = _pooled(_opening_row, _opening_work(), args.jobs)
    elif args.suite == "storm":
        result = [_in_child(storm_workload, 300, 60, 10.0, 10.0),
                  _in_child(storm_workload, 1000, 30, 30.0, 60.0),
                  _in_child(storm_workload, 10000, 300, 30.0, 30.0)]
    else:
        folder, fmt, ext = (("vrptw-hg1000-tuning" if args.tuning else "vrptw-hg1000", "vrplib", ".vrp")
                            if args.suite == "vrptw" else ("vrptw-solomon", "solomon", ".txt"))
        names = args.instances or sorted(p.stem for p in (DATA / folder).glob(f"*{ext}"))
        paths = {name: DATA / folder / f"{name}{ext}" for name in names}
        bks: dict[str, float | None] = {name: _bks(folder, name) for name in names}
        if args.window:
            tight = Path(tempfile.mkdtemp(prefix="tight-windows-"))
            paths = {name: tighten(path, tight / path.name, args.window) for name, path in paths.items()}
            bks = dict.fromkeys(names)  # no best-known plan: compare the solvers' distances
        work = [(str(paths[name]), fmt, args.seconds or 60.0, bks[name], not args.no_pyvrp, seed)
                for seed in args.solver_seeds for name in names]
        result = _pooled(_vrptw_row, work, args.jobs)
    doc = {"suite": args.suite, "meta": meta, "results": result}
    if added_to is not None:
        doc = added_run(added_to, doc, args.out)
    out = args.out or RESULTS / f"routing-{args.suite}{'-tuning' if tuning else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1)
    out.write_text(text)
    if args.suite == "vrptw" and args.jobs == 1 and not args.instances and args.out is None \
            and args.solver_seeds == [1] and not tuning:
        # the reference a run of two instances at a time is read against (benchmarks.report)
        (RESULTS / "routing-vrptw-sequential.json").write_text(text)
    print(text if args.suite == "ci" else f"wrote {out}")
    baseline = RESULTS / "routing-ci.json"
    if args.suite == "ci" and baseline.exists() and out != baseline:
        ref = json.loads(baseline.read_text())["results"]["ratio_total"]
        change = result["ratio_total"] / ref
        verdict = "SLOWER than" if change > 1.3 else "in line with"
        print(f"solver latency ratio {result['ratio_total']} vs baseline {ref}: x{change:.2f}, "
              f"{verdict} the committed baseline (warning only; timings are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
