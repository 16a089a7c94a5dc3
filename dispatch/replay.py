"""Replay a storm through the dispatch engine under a simulated clock: a storm event file (with
its truth file beside it) or a utility's own outage history.

A history has no topology and no repair times: each event becomes one element of a grid built
around the events (``grid_model.history_grid``), reported at its start as the outage record
says (an outage report: one work order per event, a first responder sent to find what
operated, as PG&E's "Awaiting T-Man"), with a repair time drawn around the median of its
element class (``grid_model.storm.FAULT_CLASSES``, minor faults included) from the replay's
seed. The utility's own restorations stay the yardstick: its customer-minutes and first-ETR
accuracy go in the KPIs beside ours. What the history leaves out is inferred as it is read
(``grid_model.history_infer``) and counted in the KPIs (``history_extent_inferred``,
``history_restoration_only``, ``history_without_circuit_id`` and the rest); an event without a
circuit id gets a feeder of its own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dispatch.crews import (
    Crew,
    RosterParams,
    mutual_aid,
    read_roster,
    region_staging,
    staged_responders,
    staged_roster,
    storm_roster,
)
from dispatch.engine import GROUPINGS, DispatchEngine
from dispatch.events import Event, OutageReported
from dispatch.generators import generator_fleet
from dispatch.kpis import compute_kpis
from dispatch.limits import ServiceLimits
from dispatch.optimizer import OptimizerParams, RestorationOptimizer
from dispatch.orders import FOLDED
from dispatch.policy import DispatchPolicy, NearestAvailableCrew
from dispatch.sim.field import AmiParams, FieldParams, FieldSim
from dispatch.sim.run import RunResult, run, storm_events
from dispatch.sim.world import World, WorldFault
from dispatch.switchboard import SwitchingMode
from grid_model.generate import RegionParams
from grid_model.history import History, read_history
from grid_model.history_columns import FORMATS, column_mapping
from grid_model.history_grid import HistoryGrid, HistoryGridParams, build_history_grid
from grid_model.network import AREA_NAMES, Construction, NodeKind
from grid_model.predict import PredictionParams
from grid_model.region import Region, Staging, load_region
from grid_model.storm import CABLE_REPAIR_FACTOR, FAULT_CLASSES, MINOR_REPAIR_MEDIAN_S, Call
from grid_model.stormfile import StormFileError, read_events, read_header, read_truth
from grid_model.switches import SwitchLayer
from routing.travel import RoadTravel

POLICIES = ("optimizer", "baseline")
HORIZON_AFTER_STORM_S = 5 * 86_400
# Outage-map entries left standing for weeks are stale records, not restorations: the
# utility's yardstick leaves them out (and says how many).
STALE_AFTER_S = 14 * 86_400
_LIMIT_PARAMS = {f"arrival_{a}_min": a for a in AREA_NAMES}


class ReplayError(ValueError):
    """Replay options that cannot be used; the message names the option and the reason."""


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What a planner chooses for one replay. ``params`` holds optimizer parameters by field
    name and the arrival limits promised (``arrival_urban_min`` and so on); ``seed`` draws the
    roster, repair times (history), the field's randomness and, unless ``ami_seed`` is given,
    which meters get through. ``crews`` (repair crews) and ``responders`` stage a roster;
    ``roster`` reads one from a file instead; ``crew_scale`` and ``responder_scale`` scale the
    region's own roster. ``switching`` is off, remote or full ("" for the policy's own: the
    optimizer plans manual switching too, the baseline is a plain FLISR, remote only).
    ``grouping``: how the engine groups reports into incidents (``dispatch.engine.GROUPINGS``)."""

    policy: str = "optimizer"
    crews: int | None = None
    responders: int | None = None
    roster: Path | None = None
    crew_scale: float = 1.0
    responder_scale: float = 1.0
    mutual_aid: int = 0
    mutual_aid_at_h: float = 24.0
    depots: Path | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    switching: str = ""
    grouping: str = "rollup"
    seed: int = 0
    ami: bool = True
    ami_seed: int | None = None
    history_format: str = "pge"
    history_columns: Path | None = None  # a column mapping file (TOML), instead of the preset
    skip_bad_rows: bool = False
    repair_spread: float = 0.35  # history: lognormal sigma of repair times around their class median
    field_params: FieldParams = field(default_factory=FieldParams)  # the simulated field (seeded by ``seed``)
    progress: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    """A finished replay: its KPIs, and the engine, world and region for a closer look."""

    kpis: dict[str, object]
    engine: DispatchEngine
    world: World
    region: Region
    result: RunResult
    seconds: dict[str, float]
    sim: FieldSim

    def orders_table(self) -> pd.DataFrame:
        """One row per dispatched work order (merged and cancelled ones left out): where, how
        many customers, and its times from its report."""
        first_etr: dict[str, int] = {}
        for _, order_id, etr in self.engine.etr_history:
            first_etr.setdefault(order_id, etr)
        orders = [o for o in self.engine.orders.values() if o.status not in FOLDED]
        return pd.DataFrame({
            "order_id": [o.order_id for o in orders],
            "area": pd.Categorical([o.area for o in orders], categories=AREA_NAMES),
            "limit_class": [o.limit_class for o in orders],
            "x_m": [o.x_m for o in orders], "y_m": [o.y_m for o in orders],
            "customers": [o.customers for o in orders], "critical": [o.critical for o in orders],
            "first_report_s": [o.first_report_s for o in orders],
            "arrival_limit_s": [o.deadline_s - o.first_report_s for o in orders],
            "arrival_s": [np.nan if o.reached_s is None else o.reached_s - o.first_report_s for o in orders],
            "repaired_s": [np.nan if o.repaired_s is None else o.repaired_s - o.first_report_s
                           for o in orders],
            "first_etr_error_s": [np.nan if o.repaired_s is None or o.order_id not in first_etr
                                  else first_etr[o.order_id] - o.repaired_s for o in orders],
        })

    def timeline(self) -> pd.DataFrame:
        """Customers out over the storm, one row per change."""
        if not self.world.out_changes:
            return pd.DataFrame({"t_s": [0], "customers_out": [0]})
        t, d = zip(*sorted(self.world.out_changes), strict=True)
        frame = pd.DataFrame({"t_s": t, "customers_out": np.cumsum(d)})
        return frame.groupby("t_s", as_index=False).last()

    def crews_table(self) -> pd.DataFrame:
        """Each crew's time on duty and at work."""
        states = self.engine.crews.values()
        return pd.DataFrame({"crew_id": [s.crew.crew_id for s in states],
                             "depot_id": [s.crew.depot_id for s in states],
                             "duty_s": [s.duty_s for s in states],
                             "busy_s": [s.busy_s for s in states]})


def make_policy(name: str, params: Mapping[str, float]) -> tuple[DispatchPolicy, ServiceLimits]:
    """The named policy and the service limits, with ``params`` applied; unknown names and
    parameters are refused by name."""
    if name not in POLICIES:
        raise ReplayError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    fields = {f.name: f.type for f in dataclasses.fields(OptimizerParams)}
    limits = ServiceLimits()
    optimizer: dict[str, float] = {}
    for key, value in params.items():
        if key in _LIMIT_PARAMS:
            if value <= 0:
                raise ReplayError(f"parameter {key} must be above 0, got {value}")
            limits.arrival_s[_LIMIT_PARAMS[key]] = round(value * 60)
        elif key in fields:
            if name != "optimizer":
                raise ReplayError(f"parameter {key} applies to the optimizer policy, not {name!r}")
            optimizer[key] = float(value) if fields[key] == "float" else int(value)
        else:
            raise ReplayError(f"unknown parameter {key!r}; known: "
                              f"{', '.join(sorted([*fields, *_LIMIT_PARAMS]))}")
    if name == "baseline":
        return NearestAvailableCrew(), limits
    return RestorationOptimizer(OptimizerParams(**optimizer)), limits  # type: ignore[arg-type]


def switching_mode(options: ReplayOptions) -> SwitchingMode:
    """The replay's switching: as chosen, or the policy's own; an unknown choice is refused."""
    if not options.switching:
        return SwitchingMode.FULL if options.policy == "optimizer" else SwitchingMode.REMOTE
    try:
        return SwitchingMode(options.switching)
    except ValueError:
        raise ReplayError(f"switching must be one of {', '.join(m.value for m in SwitchingMode)}, "
                          f"got {options.switching!r}") from None


def grouping_params(options: ReplayOptions) -> PredictionParams:
    """The engine's grouping as chosen; an unknown choice is refused."""
    try:
        return GROUPINGS[options.grouping]
    except KeyError:
        raise ReplayError(f"grouping must be one of {', '.join(GROUPINGS)}, "
                          f"got {options.grouping!r}") from None


def _switch_layer(region: Region, options: ReplayOptions) -> SwitchLayer | None:
    """The switches and ties the replay switches with: an imported grid's own when its source
    names them (``Region.switches``), else the placement rule's; none when switching is off."""
    if switching_mode(options) == SwitchingMode.OFF:
        return None
    return region.switch_layer()


def _simulate(region: Region, crews: list[Crew], events: list[Event], world: World, options: ReplayOptions,
              travel: RoadTravel, *, max_s: int, ami: AmiParams | None,
              with_generators: bool) -> tuple[DispatchEngine, FieldSim, RunResult]:
    policy, limits = make_policy(options.policy, options.params)
    engine = DispatchEngine(region, crews, policy, travel=travel, limits=limits,
                            generators=generator_fleet(region) if with_generators else None,
                            switches=world.switches, switching=switching_mode(options),
                            grouping=grouping_params(options))
    sim = FieldSim(world, crews, region.customers, ami=ami, until_s=max_s,
                   params=dataclasses.replace(options.field_params, seed=options.seed))
    sim.add_outside(events)
    result = run(engine, sim, max_s=max_s, progress=options.progress)
    return engine, sim, result


def _roster(region: Region, options: ReplayOptions, params: RosterParams,
            stagings: list[Staging] | None) -> list[Crew]:
    """The replay's crews: a roster file; or ``crews`` repair crews and ``responders`` first
    responders staged over ``stagings`` (responders by default a third of the crews); or the
    region's own roster; then any mutual aid."""
    if options.roster is not None:
        crews = read_roster(options.roster, region.crs)
    elif options.crews is not None:
        depots = stagings or region_staging(region)
        responders = options.responders if options.responders is not None else options.crews // 3
        crews = (staged_roster(depots, options.crews, seed=options.seed)
                 + staged_responders(depots, responders))
    else:
        crews = storm_roster(region, seed=options.seed, params=dataclasses.replace(
            params, repair_scale=params.repair_scale * options.crew_scale,
            responder_scale=params.responder_scale * options.responder_scale))
    return crews + mutual_aid(region, options.mutual_aid, joins_s=int(options.mutual_aid_at_h * 3600),
                              seed=options.seed)


def replay_storm(events_path: Path, options: ReplayOptions, *, truth_path: Path | None = None,
                 region: Region | None = None) -> Replay:
    """Replay a storm event file on the region its header names, the world from its truth
    file (``<name>.truth.jsonl`` beside it unless given)."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    header = read_header(events_path)
    spec = header.get("region")
    if region is None:
        if not isinstance(spec, dict):
            raise StormFileError(f"{events_path}:1: header has no region")
        region = load_region(RegionParams(seed=int(spec.get("seed", 2024)),
                                          scale=float(spec.get("scale", 1.0))))
    truth_path = truth_path or events_path.with_name(events_path.name.replace(".events.", ".truth."))
    events = read_events(events_path, region)
    faults, _, _ = read_truth(truth_path)
    seconds["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    storm = header.get("storm")
    duration_h = float(storm.get("duration_h", 30.0)) if isinstance(storm, dict) else 30.0
    day = isinstance(storm, dict) and storm.get("kind") == "day"
    crews = _roster(region, options, RosterParams.normal_day() if day else RosterParams(), None)
    try:
        world = World.from_truth(region.network, region.customers["node_idx"].to_numpy(), faults,
                                 switches=_switch_layer(region, options))
    except ValueError as exc:
        raise StormFileError(f"{truth_path}: {exc} (a truth file of another region?)") from None
    engine, sim, result = _simulate(
        region, crews, storm_events(events), world, options, RoadTravel(region.roads),
        max_s=int(duration_h * 3600) + HORIZON_AFTER_STORM_S,
        ami=AmiParams(seed=options.seed if options.ami_seed is None else options.ami_seed)
        if options.ami else None,
        with_generators=True)
    seconds["simulation"] = time.perf_counter() - t0
    kpis = compute_kpis(engine, world, policy=options.policy, end_s=result.end_s, field=sim.stats)
    kpis.update({"source": str(events_path), "calls": sum(isinstance(e, Call) for e in events),
                 "faults": len(faults), "crews": len(crews),
                 "generator_trucks": len(engine.generators.trucks),
                 "ami_messages": result.ami_messages, "events_rejected": result.rejected,
                 "replay_seconds": round(seconds["simulation"], 2)})
    return Replay(kpis, engine, world, region, result, seconds, sim)


def history_faults(history: History, grid: HistoryGrid, *, seed: int, spread: float) -> list[WorldFault]:
    """Each event's element fails at its start and opens itself; repair times are drawn
    lognormally (sigma ``spread``) around the median of the element's class (doubled for
    cable), or, for the class's share of minor faults, around ``MINOR_REPAIR_MEDIAN_S``."""
    net = grid.region.network
    index = net.index_of()
    rng = np.random.default_rng([seed, 5])
    draws = rng.lognormal(0.0, spread, len(history.events))
    minor_rng = np.random.default_rng([seed, 6])
    out = []
    for e, draw in zip(history.events, draws.tolist(), strict=True):
        node = index[grid.event_node[e.event_id]]
        fc = FAULT_CLASSES[int(net.kind[node])]
        cable = net.construction[node] == Construction.CABLE
        median = fc.repair_median_s * (CABLE_REPAIR_FACTOR if cable else 1.0)
        if minor_rng.random() < fc.minor_share:
            median = MINOR_REPAIR_MEDIAN_S
        skill = "cable" if cable and net.kind[node] <= NodeKind.MV_NODE else fc.limit_class
        out.append(WorldFault(e.start_s, node, node, round(median * draw), skill))
    return out


def utility_yardstick(history: History) -> dict[str, object]:
    """What the utility itself achieved on this storm: customer-minutes (stale map entries
    left out, and counted), median hours to restoration, and its first ETRs' accuracy."""
    kept = [e for e in history.events if e.restored_s - e.start_s <= STALE_AFTER_S]
    hours = [(e.restored_s - e.start_s) / 3600 for e in kept]
    etr = [abs(e.first_etr_s - e.restored_s) / 3600 for e in kept if e.first_etr_s is not None]
    return {
        "utility_customer_minutes_interrupted": round(history.customer_minutes(STALE_AFTER_S), 1),
        "utility_median_restoration_hours": round(float(np.median(hours)), 2) if hours else None,
        "utility_etr_first_within_1h_rate": round(sum(x <= 1.0 for x in etr) / len(etr), 4) if etr else None,
        "utility_events_stale": len(history.events) - len(kept),
    }


def replay_history(path: Path, options: ReplayOptions, *,
                   grid_params: HistoryGridParams | None = None) -> Replay:
    """Replay a utility's outage history (its columns named by ``options.history_columns``, a
    mapping file, or else the ``options.history_format`` preset) with ``options.crews`` crews
    staged near the events or at ``options.depots``; what the history leaves out is inferred
    and counted in the KPIs (``history_extent_inferred`` and the rest)."""
    if options.history_columns is None and options.history_format not in FORMATS:
        raise ReplayError(f"unknown history format {options.history_format!r}; "
                          f"choose from {', '.join(FORMATS)}")
    if options.roster is None and (options.crews is None or options.crews < 1):
        raise ReplayError("a history replay needs the number of crews (--crews N, at least 1) or a --roster")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    mapping = column_mapping(options.history_format, options.history_columns)
    history = read_history(path, mapping=mapping, skip_bad_rows=options.skip_bad_rows)
    gp = dataclasses.replace(grid_params or HistoryGridParams(), seed=options.seed)
    grid, depots = build_history_grid(history, n_crews=options.crews or 1, params=gp,
                                      depots_file=options.depots,
                                      name=path.stem)
    region = grid.region
    crews = _roster(region, options, RosterParams(), depots)
    travel = RoadTravel(region.roads, access_speed_kmh=gp.access_speed_kmh, access_detour=gp.detour)
    seconds["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = region.network
    faults = history_faults(history, grid, seed=options.seed, spread=options.repair_spread)
    world = World(net, region.customers["node_idx"].to_numpy(), faults,
                  telemetered=np.zeros(net.n_nodes, dtype=bool), switches=_switch_layer(region, options))
    events: list[Event] = [OutageReported(e.start_s, e.event_id) for e in history.events]
    last_start = max(e.start_s for e in history.events)
    engine, sim, result = _simulate(region, crews, events, world, options, travel,
                                      max_s=last_start + HORIZON_AFTER_STORM_S, ami=None,
                                      with_generators=False)
    seconds["simulation"] = time.perf_counter() - t0
    kpis = compute_kpis(engine, world, policy=options.policy, end_s=result.end_s, field=sim.stats)
    kpis.update({"source": str(path), "history_events": len(history.events),
                 "history_rows_skipped": len(history.skipped),
                 **{f"history_{k}": v for k, v in history.inference_counts().items()}, "crews": len(crews),
                 "depots": len(depots), "events_rejected": result.rejected,
                 "customers_by_area": {a: int((region.customers["area"] == i).sum())
                                       for i, a in enumerate(AREA_NAMES)},
                 "replay_seconds": round(seconds["simulation"], 2), **utility_yardstick(history)})
    return Replay(kpis, engine, world, region, result, seconds, sim)
