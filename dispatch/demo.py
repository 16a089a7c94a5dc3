"""The whole storm end to end on the embedded region: generate, write and re-read the storm
file, then replay it: resolve, trace, group, dispatch and repair under a simulated clock."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dispatch.engine import DispatchEngine
from dispatch.replay import ReplayOptions, replay_storm
from dispatch.sim.world import World
from dispatch.storm_map import render_map
from grid_model.generate import RegionParams
from grid_model.region import load_region
from grid_model.storm import StormParams, generate_storm
from grid_model.stormfile import write_storm

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoResult:
    kpis: dict[str, object]
    out_dir: Path
    files: dict[str, Path]
    seconds: dict[str, float]
    engine: DispatchEngine
    world: World


def run_demo(*, seed: int = 1, policy: str = "baseline", out_dir: Path, scenario: str = "typhoon",
             region_params: RegionParams | None = None, crew_scale: float = 1.0,
             mutual_aid_crews: int = 0, mutual_aid_at_h: float = 24.0, ami: bool = True,
             ami_seed: int | None = None, roster: Path | None = None,
             params: dict[str, float] | None = None, switching: str = "",
             progress: bool = True) -> DemoResult:
    """Run storm ``seed`` of ``scenario`` (the default typhoon, or an ordinary ``day``) on the
    embedded region with ``policy``; write KPIs, map, storm files. ``mutual_aid_crews``
    visiting crews join ``mutual_aid_at_h`` hours into the storm; with ``ami``, smart meters
    report supply lost and back (which meters get through drawn with ``ami_seed``, by default
    the storm seed); ``roster`` replaces the region's crews; ``params`` as ``replay --param``;
    ``switching`` off, remote or full ("" for the policy's own)."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    region = load_region(region_params)
    seconds["region"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    storm_params = StormParams.normal_day(seed) if scenario == "day" else StormParams(seed=seed)
    storm = generate_storm(region, storm_params)
    name = f"day-{seed}" if scenario == "day" else f"storm-{seed}"
    ev_path, truth_path = write_storm(storm, region, out_dir, name)
    seconds["storm"] = time.perf_counter() - t0
    replay = replay_storm(ev_path, ReplayOptions(
        policy=policy, crew_scale=crew_scale, mutual_aid=mutual_aid_crews, mutual_aid_at_h=mutual_aid_at_h,
        seed=seed, ami=ami, ami_seed=ami_seed, roster=roster, params=params or {}, switching=switching,
        progress=progress),
        truth_path=truth_path, region=region)
    seconds["simulation"] = replay.seconds["simulation"]
    kpis = replay.kpis
    kpis.pop("source")
    kpis.update({"scenario": scenario, "storm_seed": seed,
                 "ami_seed": seed if ami_seed is None else ami_seed})
    kpi_path = out_dir / f"kpis-{policy}.json"
    kpi_path.write_text(json.dumps(kpis, indent=2, ensure_ascii=False), encoding="utf-8")
    map_path = out_dir / f"map-{policy}.html"
    render_map(region, replay.engine, kpis, map_path)
    return DemoResult(kpis, out_dir, {"events": ev_path, "truth": truth_path, "kpis": kpi_path,
                                      "map": map_path}, seconds, replay.engine, replay.world)
