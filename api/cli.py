"""``outage-dispatch``: the command-line entry point."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from grid_model.stormfile import StormFileError


def _demo(args: argparse.Namespace) -> int:
    from dispatch.demo import run_demo
    from dispatch.kpis import format_kpi_table
    from grid_model.generate import RegionParams

    out_dir = Path(args.out or f"out/demo-seed{args.seed}")
    params = RegionParams(scale=args.scale)
    print(f"outage-dispatch demo: storm seed {args.seed} on the embedded region "
          f"(scale {args.scale:g}), policy {args.policy}", flush=True)
    res = run_demo(seed=args.seed, policy=args.policy, out_dir=out_dir, region_params=params,
                   crew_scale=args.scale if args.scale < 1 else 1.0, progress=not args.quiet)
    k = res.kpis
    print(f"\n{k['calls']:,} calls, {k['faults']:,} faults, {k['crews']} crews; "
          f"region {res.seconds['region']:.1f} s, storm {res.seconds['storm']:.1f} s, "
          f"simulation {res.seconds['simulation']:.1f} s\n")
    print(format_kpi_table([k]))
    if args.kpis_json:
        Path(args.kpis_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.kpis_json).write_text(json.dumps(k, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {res.out_dir}/: " + ", ".join(p.name for p in res.files.values()))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outage-dispatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a whole storm on the embedded default region")
    demo.add_argument("--seed", type=int, default=1, help="storm seed (default 1)")
    demo.add_argument("--policy", default="baseline", choices=["baseline"])
    demo.add_argument("--kpis-json", help="also write the KPI JSON here")
    demo.add_argument("--out", help="output folder (default out/demo-seed<N>)")
    demo.add_argument("--scale", type=float, default=1.0,
                      help="shrink the region (and crews) for quick runs; 1 = the default region")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    region = sub.add_parser("region", help="build (or load) the embedded region, print its counts")
    region.add_argument("--seed", type=int, default=2024)
    region.add_argument("--scale", type=float, default=1.0)
    region.set_defaults(func=_region)
    storm = sub.add_parser("storm", help="generate a storm's event and truth files")
    storm.add_argument("--seed", type=int, default=1)
    storm.add_argument("--scale", type=float, default=1.0)
    storm.add_argument("--out", default="out/storms")
    storm.set_defaults(func=_storm)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (StormFileError, ValueError) as exc:
        print(f"outage-dispatch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
