"""The whole storm end to end on the embedded region: generate, write and re-read the storm
file, then resolve, trace, group, dispatch and repair under a simulated clock."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dispatch.crews import mutual_aid, region_roster
from dispatch.engine import DispatchEngine
from dispatch.generators import generator_fleet
from dispatch.kpis import compute_kpis
from dispatch.optimizer import RestorationOptimizer
from dispatch.policy import DispatchPolicy, NearestAvailableCrew
from dispatch.simulate import AmiParams, run, storm_events
from dispatch.storm_map import render_map
from dispatch.world import World
from grid_model.generate import RegionParams
from grid_model.region import load_region
from grid_model.storm import StormParams, generate_storm
from grid_model.stormfile import read_events, read_truth, write_storm
from routing.travel import RoadTravel

log = logging.getLogger(__name__)

POLICIES: dict[str, type[DispatchPolicy]] = {"optimizer": RestorationOptimizer,
                                             "baseline": NearestAvailableCrew}
HORIZON_AFTER_STORM_S = 5 * 86_400


@dataclass(frozen=True, slots=True)
class DemoResult:
    kpis: dict[str, object]
    out_dir: Path
    files: dict[str, Path]
    seconds: dict[str, float]
    engine: DispatchEngine
    world: World


def run_demo(*, seed: int = 1, policy: str = "baseline", out_dir: Path,
             region_params: RegionParams | None = None, crew_scale: float = 1.0,
             mutual_aid_crews: int = 0, mutual_aid_at_h: float = 24.0, ami: bool = True,
             ami_seed: int | None = None, progress: bool = True) -> DemoResult:
    """Run storm ``seed`` on the embedded region with ``policy``; write KPIs, map, storm files.
    ``mutual_aid_crews`` visiting crews join ``mutual_aid_at_h`` hours into the storm; with
    ``ami``, smart meters report supply lost and back (``AmiParams``, which meters get through
    drawn with ``ami_seed``, by default the storm seed)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {sorted(POLICIES)}")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    region = load_region(region_params)
    seconds["region"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    storm = generate_storm(region, StormParams(seed=seed))
    ev_path, truth_path = write_storm(storm, region, out_dir, f"storm-{seed}")
    events = read_events(ev_path, region)
    faults, _, _ = read_truth(truth_path)
    seconds["storm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    crews = region_roster(region, seed=seed, scale=crew_scale)
    crews += mutual_aid(region, mutual_aid_crews, joins_s=int(mutual_aid_at_h * 3600), seed=seed)
    travel = RoadTravel(region.roads)
    engine = DispatchEngine(region, crews, POLICIES[policy](), travel=travel,
                            generators=generator_fleet(region))
    world = World.from_truth(region.network, region.customers["node_idx"].to_numpy(), faults)
    max_s = int(storm.params.duration_h * 3600) + HORIZON_AFTER_STORM_S
    result = run(engine, world, storm_events(events), crews, max_s=max_s,
                 ami=AmiParams(seed=seed if ami_seed is None else ami_seed) if ami else None,
                 progress=progress)
    seconds["simulation"] = time.perf_counter() - t0
    kpis = compute_kpis(engine, world, policy=policy, end_s=result.end_s)
    kpis.update({"storm_seed": seed, "calls": len(storm.calls), "faults": len(storm.faults),
                 "crews": len(crews), "generator_trucks": len(engine.generators.trucks),
                 "ami_messages": result.ami_messages, "ami_seed": seed if ami_seed is None else ami_seed,
                 "events_rejected": result.rejected})
    kpi_path = out_dir / f"kpis-{policy}.json"
    kpi_path.write_text(json.dumps(kpis, indent=2, ensure_ascii=False), encoding="utf-8")
    map_path = out_dir / f"map-{policy}.html"
    render_map(region, engine, kpis, map_path)
    return DemoResult(kpis, out_dir, {"events": ev_path, "truth": truth_path, "kpis": kpi_path,
                                      "map": map_path}, seconds, engine, world)
