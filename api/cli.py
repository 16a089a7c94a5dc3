"""``outage-dispatch``: the command-line entry point."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grid_model.calls_csv import CallFileError
from grid_model.history_columns import FORMATS
from grid_model.network import NetworkError
from grid_model.stormfile import StormFileError
from routing.evaluate import PlanError
from routing.problem import ProblemError

if TYPE_CHECKING:
    from api.store import Store
    from grid_model.posterior import OutagePriors
    from grid_model.region import Region


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from dispatch.demo import run_demo
    from dispatch.kpis import format_kpi_table
    from grid_model.generate import RegionParams

    day = args.scenario == "day"
    out_dir = Path(args.out or f"out/demo-{'day' if day else 'seed'}{args.seed}")
    params = RegionParams(scale=args.scale)
    policies = ["optimizer", "baseline"] if args.policy == "both" else [args.policy]
    print(f"outage-dispatch demo: {'ordinary day' if day else 'storm'} seed {args.seed} on the embedded "
          f"region (scale {args.scale:g}), policy {' and '.join(policies)}", flush=True)
    runs = []
    numbers, switching = _split_params(args.param)
    for policy in policies:
        res = run_demo(seed=args.seed, policy=policy, out_dir=out_dir, scenario=args.scenario,
                       region_params=params, crew_scale=args.scale if args.scale < 1 else 1.0,
                       mutual_aid_crews=args.mutual_aid, mutual_aid_at_h=args.mutual_aid_at,
                       ami=not args.no_ami, roster=Path(args.roster) if args.roster else None,
                       params=numbers if policy == "optimizer" else
                       {k: v for k, v in numbers.items() if k.startswith("arrival_")},
                       switching=switching, progress=not args.quiet)
        k = res.kpis
        print(f"\n{policy}: {k['calls']:,} calls, {k['faults']:,} faults, {k['crews']} crews; "
              f"region {res.seconds['region']:.1f} s, storm {res.seconds['storm']:.1f} s, "
              f"simulation {res.seconds['simulation']:.1f} s", flush=True)
        runs.append(res)
    print()
    print(format_kpi_table([r.kpis for r in runs]))
    if args.kpis_json:
        Path(args.kpis_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.kpis_json).write_text(json.dumps(runs[0].kpis, indent=2, ensure_ascii=False),
                                        encoding="utf-8")
    files = sorted({p.name for r in runs for p in r.files.values()})
    print(f"\nwrote {out_dir}/: " + ", ".join(files))
    return 0


def _number(text: str, what: str = "a number") -> float:
    """An argument as a float, or argparse's error naming ``what`` it should be."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def _positive_minutes(text: str) -> float:
    value = _number(text, "a number of minutes")
    if not 0 < value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"minutes must be above 0 and at most a week, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {text}")
    return value


def _rate(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a share above 0 and below 1, got {text}")
    return value


def _param(text: str) -> tuple[str, float | str]:
    """KEY=VALUE: a number, but for ``switching`` (off, remote or full)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key.strip() == "switching":
        from dispatch.switchboard import SwitchingMode

        modes = [m.value for m in SwitchingMode]
        if value.strip() not in modes:
            raise argparse.ArgumentTypeError(f"switching: {value!r} is not one of {', '.join(modes)}")
        return "switching", value.strip()
    try:
        return key.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key.strip()}: {value!r} is not a number") from None


def _split_params(pairs: list[tuple[str, float | str]] | None) -> tuple[dict[str, float], str]:
    """The numeric parameters, and the switching choice ("" for the policy's own)."""
    numbers = {k: float(v) for k, v in pairs or [] if k != "switching"}
    return numbers, next((str(v) for k, v in reversed(pairs or []) if k == "switching"), "")


def _replay(args: argparse.Namespace) -> int:
    from dispatch.kpis import format_kpi_table
    from dispatch.replay import ReplayOptions, replay_history, replay_storm

    numbers, switching = _split_params(args.param)
    options = ReplayOptions(
        policy=args.policy, crews=args.crews, responders=args.responders,
        roster=Path(args.roster) if args.roster else None, crew_scale=args.crew_scale,
        mutual_aid=args.mutual_aid,
        mutual_aid_at_h=args.mutual_aid_at, depots=Path(args.depots) if args.depots else None,
        params=numbers, switching=switching, grouping=args.grouping, seed=args.seed, ami=not args.no_ami,
        history_format=args.format or "pge", history_columns=Path(args.columns) if args.columns else None,
        skip_bad_rows=args.skip_bad_rows, progress=not args.quiet)
    if args.history:
        replay = replay_history(Path(args.history), options)
    else:
        replay = replay_storm(Path(args.storm), options)
    kpis = replay.kpis
    print(format_kpi_table([kpis]))
    if "utility_customer_minutes_interrupted" in kpis:
        etr = kpis["utility_etr_first_within_1h_rate"]
        etr_text = "n/a" if not isinstance(etr, float | int) else f"{100 * etr:.1f} %"
        print(f"\nthe utility's own restorations: {kpis['utility_customer_minutes_interrupted']:,.0f} "
              f"customer-minutes, median {kpis['utility_median_restoration_hours']} h to restore "
              f"({kpis['utility_events_stale']} entries open over two weeks left out); first ETR within "
              f"1 h: {etr_text}")
    if kpis.get("history_rows_skipped"):
        print(f"skipped {kpis['history_rows_skipped']} bad row(s) of the history", file=sys.stderr)
    if any(kpis.get(k) for k in ("history_extent_inferred", "history_restoration_only",
                                  "history_without_circuit_id", "history_without_device_id")):
        print(_inferred_text(kpis))
    if args.kpis_json:
        Path(args.kpis_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.kpis_json).write_text(json.dumps(kpis, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"replayed in {replay.seconds['simulation']:.1f} s" +
          (f"; wrote {args.kpis_json}" if args.kpis_json else ""))
    return 0


def _inferred_text(kpis: dict[str, object]) -> str:
    """What a history replay inferred or went without, in one line (the KPI JSON has the counts)."""
    k = {key: f"{value:,}" for key, value in kpis.items() if isinstance(value, int)}
    return (f"inferred from the history: extent of {k['history_extent_inferred']} event(s) "
            f"({k['history_extent_from_device_id']} from the device id, {k['history_extent_from_customers']} "
            f"from customers); start of {k['history_restoration_only']} restoration-only row(s) "
            f"({k['history_start_from_first_seen']} first seen, {k['history_start_from_median_duration']} "
            f"median duration); {k['history_without_circuit_id']} event(s) without a circuit id (a feeder "
            f"each), {k['history_without_device_id']} without a device id")


def _experiment(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from dispatch.experiment import execute, read_plan, write_results
    from dispatch.experiment_report import write_report

    plan = read_plan(Path(args.plan))
    out_dir = Path(args.out)
    where = ("in this process" if args.local
             else args.scheduler or f"a LocalCluster of {args.workers} workers")
    print(f"experiment {plan.name!r}: {len(plan.runs)} runs on {where}", flush=True)
    with tqdm(total=len(plan.runs), unit="run", disable=args.quiet) as bar:
        def done(out: object) -> None:
            bar.update(1)

        outputs = execute(plan.runs, scheduler=args.scheduler, workers=args.workers, local=args.local,
                          on_done=done)
    results_path = write_results(outputs, out_dir)
    report = write_report(pd.read_parquet(results_path), out_dir, title=plan.name)
    failed = [o.row for o in outputs if o.row["status"] != "ok"]
    for row in failed:
        print(f"run {row['run_id']} ({row['storm']}, {row['policy']}) failed: {row['error']}",
              file=sys.stderr)
    print(f"{len(outputs) - len(failed)} of {len(outputs)} runs succeeded; wrote {results_path} and {report}")
    return 1 if failed else 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings, check_data_dir
    from api.writer_lock import WriterLock

    settings = Settings.from_env(Path(args.data_dir), dev_mode=args.dev or args.demo, demo=args.demo,
                                 demo_speed=args.demo_speed, grid=args.grid,
                                 grid_scale=args.scale, policy=args.policy, notice_channel=args.notices,
                                 switching=args.switching or ("full" if args.demo else "off"),
                                 etr_notice_margin_s=int(args.etr_notice_margin * 60),
                                 webhook_allow_private=args.allow_private_webhooks)
    settings.check()
    check_data_dir(settings.data_dir)
    lock = WriterLock(settings.database_url).acquire()  # held until the process ends
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per webhook delivery
    try:
        uvicorn.run(create_app(settings, writer_lock=lock), host=args.host, port=args.port,
                    log_level="warning", timeout_graceful_shutdown=5)
    finally:
        lock.release()
    return 0


def _token_store(data_dir: Path) -> Store:
    """The store of ``data_dir`` (or ``DATABASE_URL``), migrated, for the token commands."""
    from api.settings import Settings, check_data_dir
    from api.store import Store

    check_data_dir(data_dir)
    store = Store(Settings.from_env(data_dir).database_url)
    store.migrate()
    return store


def _roster(store: Store, grid: str, scale: float) -> set[str]:
    """The crews the server dispatches: recorded by its last start, else those of ``grid``."""
    recorded = store.roster()
    if recorded:
        return recorded
    from dispatch.crews import region_roster
    from grid_model.grids import load_grid

    return {c.crew_id for c in region_roster(load_grid(grid, scale), seed=0, scale=min(1.0, scale))}


def _token(args: argparse.Namespace) -> int:
    from api.auth import create_token
    from api.settings import ensure_secret

    data_dir = Path(args.data_dir)
    store = _token_store(data_dir)
    try:
        secret = ensure_secret(data_dir)
        if args.crew and args.crew not in _roster(store, args.grid, args.scale):
            raise ValueError(f"no crew {args.crew!r} in the roster the server dispatches; "
                             f"`outage-dispatch serve` records it in the store at start")
        token = create_token(store, secret, args.role, args.crew)
    finally:
        store.dispose()
    print(token)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    store = _token_store(Path(args.data_dir))
    keys = store.list_keys()
    store.dispose()
    for k in keys:
        print(f"{k['key_id']}  {k['role']:<10}  {k['crew_id'] or '-':<12}  {k['created_at']}"
              f"{'  revoked' if k['revoked'] else ''}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from api.auth import revoke_token
    from api.settings import Settings, read_secret

    data_dir = Path(args.data_dir)
    settings = Settings.from_env(data_dir)
    if (args.token is None) == (args.id is None):
        raise ValueError("name the token to revoke, or its --id (see `token list`)")
    store = _token_store(data_dir)
    try:
        if args.id is not None:
            revoked = store.revoke_key_id(args.id)
        else:
            secret = settings.secret or read_secret(data_dir)
            if not secret:
                raise ValueError(f"no secret for {data_dir}: nothing was ever issued there")
            revoked = revoke_token(store, secret, args.token)
    finally:
        store.dispose()
    if not revoked:
        raise ValueError("no live token like that in this store")
    print(f"revoked; a running server refuses it, and ends its open streams, within "
          f"{settings.token_cache_s:.0f} s")
    return 0


def _region(args: argparse.Namespace) -> int:
    from grid_model.generate import RegionParams
    from grid_model.region import load_region

    region = load_region(RegionParams(seed=args.seed, scale=args.scale))
    print(json.dumps(region.summary(), indent=2))
    return 0


def _storm(args: argparse.Namespace) -> int:
    from grid_model.generate import RegionParams
    from grid_model.region import load_region
    from grid_model.storm import StormParams, generate_storm
    from grid_model.stormfile import write_storm

    region = load_region(RegionParams(scale=args.scale))
    storm = generate_storm(region, StormParams(seed=args.seed))
    ev, truth = write_storm(storm, region, Path(args.out), f"storm-{args.seed}")
    print(f"{len(storm.calls):,} calls, {len(storm.faults):,} faults -> {ev}, {truth}")
    return 0


def _process_started() -> float:
    """When this process started, on the ``time.perf_counter()`` clock (``solve --seconds``
    counts from there: interpreter start and imports included). Linux: from /proc; elsewhere
    (or if it cannot be read): now."""
    now = time.perf_counter()
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(stat[19])  # field 22, starttime: clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - max(0.0, age)


# Seconds kept from ``solve --seconds`` for the work after the search (re-scoring the plan,
# the reasons for unassigned orders, writing it): a base and a cost per order and crew.
_AFTER_SEARCH_S = 0.05
_AFTER_SEARCH_PER_ITEM_S = 20e-6


def _solve(args: argparse.Namespace) -> int:
    from routing.bound import lower_bound
    from routing.evaluate import evaluate, unassigned_reasons
    from routing.io import read_instance, read_vrptw, write_plan
    from routing.problem import Objective
    from routing.solver import MaxIterations, MaxRuntime, solve

    t0 = args.started
    problem = read_vrptw(Path(args.file), args.format) if args.format else read_instance(Path(args.file))
    # the bound does not depend on the plan: computed first, inside the time limit
    bound = lower_bound(problem) if problem.objective == Objective.DISPATCH else None
    after = _AFTER_SEARCH_S + _AFTER_SEARCH_PER_ITEM_S * (problem.n_orders + problem.n_crews)
    stop = (MaxIterations(args.iterations) if args.iterations
            else MaxRuntime(max(0.0, args.seconds - after)))
    result = solve(problem, stop, seed=args.seed, started=t0)
    plan = result.plan
    ev = evaluate(problem, plan.routes)
    routes: dict[str, list[object]] = {c: list(seq) for c, seq in plan.routes.items()}
    info: dict[str, object] = {"name": "outage-dispatch sisr", "search": result.search, "seed": args.seed,
                               "seconds": 0.0, "cost": ev.cost, "iterations": result.iterations}
    if problem.objective == Objective.DISTANCE:
        routes = {c: [int(o) for o in seq] for c, seq in plan.routes.items() if seq}
        info["distance"] = ev.cost / 10
    else:
        info.update(on_time_rate=round(ev.on_time_rate, 4), travel_s=ev.travel_s,
                    customer_minutes=round(ev.customer_minutes, 1))
    index = {o: j for j, o in enumerate(problem.order_ids)}
    info["unassigned_reasons"] = dict(zip(plan.unassigned, unassigned_reasons(
        problem, [index[o] for o in plan.unassigned]), strict=True))
    info["seconds"] = round(time.perf_counter() - t0, 3)
    write_plan(Path(args.output), problem, routes, plan.unassigned, info,  # type: ignore[arg-type]
               lower_bound=bound)
    summary = {k: v for k, v in info.items() if k != "unassigned_reasons"}
    if bound is not None:
        summary.update(lower_bound=bound, gap=round(ev.cost / bound - 1, 4) if bound else None)
    print(json.dumps(summary))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from grid_model.calls_csv import read_calls_csv
    from grid_model.grids import load_grid
    from grid_model.incidents import predict_calls
    from grid_model.posterior import CANDIDATE_NAMES
    from grid_model.predict import PredictionParams

    region = load_grid(args.grid)
    start, history = _prediction_start(args, region)
    rows = read_calls_csv(Path(args.calls))
    pred = predict_calls(region, rows.calls, PredictionParams(priors=start))
    doc = {"grid": args.grid, "epoch": rows.epoch, "calls": len(rows.calls),
           "rejected_rows": rows.rejected, "incidents": pred.incidents,
           "start": {"priors": dict(zip(CANDIDATE_NAMES, start.prior, strict=True)),
                     "call_rate": start.call_rate, "history": history}}
    Path(args.output).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    for line in rows.rejected:
        print(f"rejected: {line}", file=sys.stderr)
    kinds: dict[str, int] = {}
    for inc in pred.incidents:
        kinds[str(inc["kind"])] = kinds.get(str(inc["kind"]), 0) + 1
    print(f"{len(rows.calls)} calls -> {len(pred.incidents)} incidents {kinds}; "
          f"{len(rows.rejected)} rows rejected; wrote {args.output}")
    return 0


def _prediction_start(args: argparse.Namespace,
                      region: Region) -> tuple[OutagePriors, dict[str, object] | None]:
    """Where the predictor's estimation starts: the defaults, with ``--call-rate``, or the priors
    from ``--history`` (its outages per storm by kind, over this grid's elements), and what the
    history gave and what was inferred in reading it (None without one)."""
    from grid_model.history import read_history
    from grid_model.history_columns import column_mapping
    from grid_model.posterior import CANDIDATE_NAMES, supply_tree_from_network
    from grid_model.priors import DEFAULT_PRIORS, outages_per_storm, priors_from_history

    call_rate = DEFAULT_PRIORS.call_rate if args.call_rate is None else args.call_rate
    if not args.history:
        if args.columns or args.format or args.history_storms is not None:
            raise ValueError("--format, --columns and --history-storms describe a --history file; none given")
        return dataclasses.replace(DEFAULT_PRIORS, call_rate=call_rate), None
    mapping = column_mapping(args.format or "pge", Path(args.columns) if args.columns else None)
    history = read_history(Path(args.history), mapping=mapping)
    storms = 1.0 if args.history_storms is None else args.history_storms
    per_storm = outages_per_storm((e.extent for e in history.events), storms)
    start = priors_from_history(supply_tree_from_network(region.network), per_storm, call_rate=call_rate)
    print(f"start from {args.history}: {len(history.events)} outages over {storms:g} storm(s), per storm "
          + ", ".join(f"{CANDIDATE_NAMES[k]} {n:g}" for k, n in per_storm.items())
          + f"; extent inferred for {history.inference_counts()['extent_inferred']}")
    return start, {"file": args.history, "events": len(history.events), "storms": storms,
                   "outages_per_storm": {CANDIDATE_NAMES[k]: n for k, n in per_storm.items()},
                   **history.inference_counts()}


def build_parser() -> argparse.ArgumentParser:
    from dispatch.switchboard import SwitchingMode

    parser = argparse.ArgumentParser(prog="outage-dispatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a whole storm on the embedded default region")
    demo.add_argument("--seed", type=int, default=1, help="storm seed (default 1)")
    demo.add_argument("--policy", default="both", choices=["optimizer", "baseline", "both"],
                      help="dispatch policy; both (default) runs the optimizer and the baseline "
                           "and prints them side by side")
    demo.add_argument("--kpis-json", help="also write the KPI JSON here (the optimizer's when both run)")
    demo.add_argument("--out", help="output folder (default out/demo-seed<N>)")
    demo.add_argument("--scale", type=float, default=1.0,
                      help="shrink the region (and crews) for quick runs; 1 = the default region")
    demo.add_argument("--mutual-aid", type=_non_negative_int, default=0, metavar="N",
                      help="N visiting crews (lv and mv) join mid-storm")
    demo.add_argument("--mutual-aid-at", type=float, default=24.0, metavar="HOURS",
                      help="when the visiting crews arrive, hours into the storm (default 24)")
    demo.add_argument("--no-ami", action="store_true",
                      help="no smart-meter last gasps and restores (calls and SCADA only)")
    demo.add_argument("--scenario", default="typhoon", choices=["typhoon", "day"],
                      help="the default typhoon, or an ordinary day's faults with the normal roster")
    demo.add_argument("--roster", help="a roster CSV (crew_id,role,lat,lon,skills,shift_start_h,"
                                       "shift_hours[,depot_id,duty_limit_h,rest_h]) instead of the region's")
    demo.add_argument("--param", type=_param, action="append", metavar="KEY=VALUE",
                      help="an optimizer parameter, arrival_urban_min and so on, or "
                           "switching=off|remote|full (default: full for the optimizer, remote for the "
                           "baseline); repeatable")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    rp = sub.add_parser("replay", help="replay a storm file or a utility's outage history through the "
                                       "dispatch engine")
    source = rp.add_mutually_exclusive_group(required=True)
    source.add_argument("--storm", help="a storm event file (<name>.events.jsonl, truth file beside it)")
    source.add_argument("--history", help="an outage history CSV or Parquet (columns named by --format "
                                          "or --columns)")
    columns = rp.add_mutually_exclusive_group()
    columns.add_argument("--format", choices=sorted(FORMATS),
                         help="history column preset (default pge)")
    columns.add_argument("--columns", metavar="MAPPING.toml",
                         help="--history: a column mapping file (our field = its column; README)")
    rp.add_argument("--policy", default="optimizer", choices=["optimizer", "baseline"])
    rp.add_argument("--crews", type=int, help="repair crews on the roster (required for --history unless "
                                              "--roster; with --storm, staged over the region's depots)")
    rp.add_argument("--responders", type=_non_negative_int,
                    help="first responders staged with --crews (default a third of the crews)")
    rp.add_argument("--roster", help="a roster CSV (crew_id,role,lat,lon,skills,shift_start_h,shift_hours"
                                     "[,depot_id,duty_limit_h,rest_h]) instead of --crews")
    rp.add_argument("--crew-scale", type=float, default=1.0, help="--storm: scale the region's roster")
    rp.add_argument("--depots", help="--history: staging CSV depot_id,lat,lon,crews (default: staged "
                                     "near the events)")
    rp.add_argument("--mutual-aid", type=_non_negative_int, default=0, metavar="N",
                    help="N visiting crews (lv and mv) join mid-storm")
    rp.add_argument("--mutual-aid-at", type=float, default=24.0, metavar="HOURS",
                    help="when the visiting crews arrive, hours into the storm (default 24)")
    rp.add_argument("--param", type=_param, action="append", metavar="KEY=VALUE",
                    help="a policy parameter (optimizer field, arrival_urban_min and so on, or "
                         "switching=off|remote|full); repeatable")
    rp.add_argument("--seed", type=int, default=0, help="roster, repair-time and AMI draws (default 0)")
    rp.add_argument("--grouping", default="rollup", choices=["rollup", "posterior"],
                    help="how reports are grouped into incidents: the roll-up rules (default) or the "
                         "posterior, regrouped every 15 min of storm clock (finer incidents)")
    rp.add_argument("--no-ami", action="store_true", help="--storm: no smart-meter messages")
    rp.add_argument("--skip-bad-rows", action="store_true",
                    help="skip history rows that cannot be read (counted) instead of stopping")
    rp.add_argument("--kpis-json", help="write the KPI JSON here")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=_replay)
    ex = sub.add_parser("experiment", help="run storms x policies x parameters x seeds on Dask; "
                                           "write results.parquet and report.html")
    ex.add_argument("plan", help="PLAN.toml (format: dispatch/experiment.py, README)")
    ex.add_argument("--out", required=True, help="output folder")
    ex.add_argument("--scheduler", help="a Dask scheduler address (tcp://...); default a LocalCluster")
    ex.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    ex.add_argument("--local", action="store_true", help="run one after another in this process, no Dask")
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    ex.set_defaults(func=_experiment)
    sv = sub.add_parser("serve", help="run the dispatcher API (FastAPI) over a store in --data-dir")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--data-dir", required=True, help="SQLite store and secret.key here (DATABASE_URL "
                                                      "selects PostgreSQL instead)")
    sv.add_argument("--grid", default="default", help="the grid served (as predict --grid)")
    sv.add_argument("--scale", type=float, default=1.0, help="shrink the default region")
    sv.add_argument("--policy", default="optimizer", choices=["optimizer", "baseline"])
    sv.add_argument("--switching", choices=[m.value for m in SwitchingMode],
                    help="switching of the MV network: off (default; full with --demo), remote (the "
                         "control room's remote switches from SCADA's fault indicators) or full (manual "
                         "switching too, once a crew has found the fault); a store keeps the choice it "
                         "was first served with")
    sv.add_argument("--dev", action="store_true",
                    help="development mode: a default secret and anonymous read access are allowed")
    sv.add_argument("--demo", action="store_true",
                    help="development use only: play the default storm live on a simulated clock, "
                         "anonymous visitors may read (needs a data folder without an event log)")
    sv.add_argument("--demo-speed", type=float, default=60.0,
                    help="--demo: storm seconds per real second (default 60)")
    sv.add_argument("--notices", choices=["customer", "transformer"], default="customer",
                    help="customer notices: one per customer (SMS, app), or one per transformer area for "
                         "group channels (WeChat groups); default customer")
    sv.add_argument("--allow-private-webhooks", action="store_true",
                    help="deliver customer notices to loopback and private addresses too (a gateway on "
                         "this host or network); refused by default")
    sv.add_argument("--etr-notice-margin", type=_positive_minutes, default=60.0, metavar="MINUTES",
                    help="tell an acknowledged caller of a new ETR once it moves this much (default 60)")
    sv.set_defaults(func=_serve)
    tk = sub.add_parser("token", help="API tokens")
    tk_sub = tk.add_subparsers(dest="token_command", required=True)
    tc = tk_sub.add_parser("create", help="create a token for a role and print it (shown once)")
    tc.add_argument("--role", required=True, choices=["call_taker", "dispatcher", "crew", "viewer"])
    tc.add_argument("--crew", help="the crew a crew token speaks for (one of the served roster)")
    tc.add_argument("--data-dir", required=True)
    tc.add_argument("--grid", default="default",
                    help="before the first serve: the grid whose roster --crew is checked against")
    tc.add_argument("--scale", type=float, default=1.0, help="before the first serve: as serve --scale")
    tc.set_defaults(func=_token)
    tl = tk_sub.add_parser("list", help="list tokens: id, role, crew, created, revoked (never the token)")
    tl.add_argument("--data-dir", required=True)
    tl.set_defaults(func=_token_list)
    tr = tk_sub.add_parser("revoke", help="revoke a token, or one by --id (a running server refuses it "
                                          "within 30 s)")
    tr.add_argument("token", nargs="?")
    tr.add_argument("--id", help="the token's id, as `token list` shows it")
    tr.add_argument("--data-dir", required=True)
    tr.set_defaults(func=_token_revoke)
    region = sub.add_parser("region", help="build (or load) the embedded region, print its counts")
    region.add_argument("--seed", type=int, default=2024)
    region.add_argument("--scale", type=float, default=1.0)
    region.set_defaults(func=_region)
    storm = sub.add_parser("storm", help="generate a storm's event and truth files")
    storm.add_argument("--seed", type=int, default=1)
    storm.add_argument("--scale", type=float, default=1.0)
    storm.add_argument("--out", default="out/storms")
    storm.set_defaults(func=_storm)
    solve = sub.add_parser("solve", help="plan crews for an instance (docs/formats.md) or a VRPTW file")
    solve.add_argument("file", help="INSTANCE.json, or a VRPLIB / Solomon file with --format")
    solve.add_argument("--format", choices=["vrplib", "solomon"], help="read a VRPTW file")
    solve.add_argument("--seconds", type=float, default=10.0, help="time limit (default 10)")
    solve.add_argument("--iterations", type=int, help="stop after this many iterations instead")
    solve.add_argument("--seed", type=int, default=0)
    solve.add_argument("-o", "--output", required=True, help="PLAN.json to write")
    solve.set_defaults(func=_solve)
    pr = sub.add_parser("predict", help="group trouble calls into incidents on a grid")
    pr.add_argument("--grid", default="default",
                    help="default | simbench:CODE | GeoPackage or GeoJSON folder | pandapower .json")
    pr.add_argument("--calls", required=True, help="CSV: call_id,time,customer_id[,address,lon,lat]")
    pr.add_argument("-o", "--output", required=True, help="incidents.json to write")
    pr.add_argument("--history", help="start the estimation from this grid's outage history (CSV or "
                                      "Parquet): its outages per storm by kind become the priors")
    pr_columns = pr.add_mutually_exclusive_group()
    pr_columns.add_argument("--format", choices=sorted(FORMATS), help="--history column preset (default pge)")
    pr_columns.add_argument("--columns", metavar="MAPPING.toml", help="--history: a column mapping file")
    pr.add_argument("--history-storms", type=_positive_float, metavar="N",
                    help="--history: how many storms the history covers (default 1)")
    pr.add_argument("--call-rate", type=_rate, help="the share of customers without supply who call, "
                                                    "where its estimation starts (default 0.1)")
    pr.set_defaults(func=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # a command line counts its time from the process start, a call (argv given) from here
    started = _process_started() if argv is None else time.perf_counter()
    args = build_parser().parse_args(argv)
    args.started = started
    try:
        return int(args.func(args))
    except (StormFileError, CallFileError, NetworkError, ProblemError, PlanError, ValueError) as exc:
        print(f"outage-dispatch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
