"""Experiments for planners: storms x policies x parameters x seeds, each combination one
replay, run on Dask (a LocalCluster unless a scheduler address is given) and collected into one
table. Every run is deterministic, so the results do not depend on which worker ran it; a run
that fails is recorded with its error while the others finish.

Plan file (TOML; paths are relative to it)::

    name = "crews and limits"
    policies = ["optimizer", "baseline"]
    seeds = [0, 1]

    [[storms]]
    name = "pge-2024-02"
    history = "data/pge-2024-02-storm.csv"   # or: storm = "storm-1.events.jsonl"
    format = "pge"                      # or: columns = "mapping.toml" (a column mapping file)
    crews = 300

    [parameters]            # every combination of these lists
    crews = [200, 300]
    arrival_urban_min = [45, 60]
    improve_iterations = [100, 300]   # optimizer only: the baseline runs once per other values

Run options (``crews``, ``mutual_aid``, ``mutual_aid_at_h``, ``ami``, ``skip_bad_rows``) may sit
in a storm or in ``[parameters]``; everything else in ``[parameters]`` is a policy parameter
(``dispatch.replay.make_policy``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dispatch.optimizer import OptimizerParams
from dispatch.replay import POLICIES, Replay, ReplayOptions, replay_history, replay_storm
from grid_model.history_columns import FORMATS, ColumnMappingError, read_column_mapping

log = logging.getLogger(__name__)

_RUN_OPTIONS = {"crews": int, "mutual_aid": int, "mutual_aid_at_h": float, "ami": bool, "skip_bad_rows": bool}
_STORM_KEYS = {"name", "storm", "history", "format", "columns", "depots", *_RUN_OPTIONS}
_OPTIMIZER_ONLY = frozenset(f.name for f in dataclasses.fields(OptimizerParams))


class PlanError(ValueError):
    """An experiment plan that cannot be run; the message names the file, key and reason."""


@dataclass(frozen=True, slots=True)
class StormSource:
    name: str
    path: Path
    kind: str  # "storm" or "history"
    history_format: str = "pge"
    depots: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    columns: Path | None = None  # a history's column mapping file, instead of the preset


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One replay of an experiment."""

    run_id: str
    storm: StormSource
    policy: str
    seed: int
    options: Mapping[str, Any]
    params: Mapping[str, float]

    def replay_options(self) -> ReplayOptions:
        return ReplayOptions(policy=self.policy, seed=self.seed, params=dict(self.params),
                             history_format=self.storm.history_format, history_columns=self.storm.columns,
                             depots=self.storm.depots,
                             **{**self.storm.options, **self.options})


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    runs: tuple[RunSpec, ...]


@dataclass(frozen=True, slots=True)
class RunOutput:
    """A run's row of the results table, and its detail tables for the report."""

    row: dict[str, Any]
    tables: dict[str, pd.DataFrame]


def _list(path: Path, doc: Mapping[str, Any], key: str, default: list[Any]) -> list[Any]:
    value = doc.get(key, default)
    if not isinstance(value, list) or not value:
        raise PlanError(f"{path}: {key} must be a non-empty list, got {value!r}")
    return value


def _storm(path: Path, k: int, raw: Any) -> StormSource:
    where = f"{path}: storms[{k}]"
    if not isinstance(raw, dict):
        raise PlanError(f"{where} must be a table")
    unknown = sorted(set(raw) - _STORM_KEYS)
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if ("storm" in raw) == ("history" in raw):
        raise PlanError(f"{where}: give exactly one of storm (an event file) or history (a CSV)")
    kind = "storm" if "storm" in raw else "history"
    source = (path.parent / str(raw[kind])).resolve()
    if not source.exists():
        raise PlanError(f"{where}: {kind} file {source} does not exist")
    options = {}
    for key, typ in _RUN_OPTIONS.items():
        if key in raw:
            options[key] = _typed(where, key, raw[key], typ)
    if kind == "history" and "crews" not in options:
        options["crews"] = None  # must come from [parameters]
    depots = (path.parent / str(raw["depots"])).resolve() if "depots" in raw else None
    return StormSource(str(raw.get("name", source.stem)), source, kind, _format(where, raw, kind), depots,
                       options, _columns(path, where, raw, kind))


def _format(where: str, raw: Mapping[str, Any], kind: str) -> str:
    """A history's column preset, refused here if unknown rather than in every run."""
    name = str(raw.get("format", "pge"))
    if "format" in raw and kind != "history":
        raise PlanError(f"{where}: format applies to a history, not a storm file")
    if name not in FORMATS:
        raise PlanError(f"{where}: unknown history format {name!r}; choose from {', '.join(FORMATS)}")
    return name


def _columns(path: Path, where: str, raw: Mapping[str, Any], kind: str) -> Path | None:
    """A history's column mapping file, read now so a bad one stops the plan, not every run."""
    if "columns" not in raw:
        return None
    if kind != "history" or "format" in raw:
        raise PlanError(f"{where}: columns (a mapping file) applies to a history, instead of format")
    columns = (path.parent / str(raw["columns"])).resolve()
    try:
        read_column_mapping(columns)
    except ColumnMappingError as exc:
        raise PlanError(f"{where}: {exc}") from exc
    return columns


def _typed(where: str, key: str, value: Any, typ: type) -> Any:
    if typ is bool:
        if not isinstance(value, bool):
            raise PlanError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or (typ is int and value != int(value)):
        raise PlanError(f"{where}: {key} must be {'a whole number' if typ is int else 'a number'}, "
                        f"got {value!r}")
    return typ(value)


def read_plan(path: Path) -> Plan:
    """Read and check a plan file; every combination becomes a ``RunSpec``."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"name", "storms", "policies", "seeds", "parameters"})
    if unknown:
        raise PlanError(f"{path}: unknown key(s) {', '.join(unknown)}")
    storms = [_storm(path, k, raw) for k, raw in enumerate(_list(path, doc, "storms", []))]
    if len({s.name for s in storms}) != len(storms):
        raise PlanError(f"{path}: storm names must be unique")
    policies = _list(path, doc, "policies", ["optimizer", "baseline"])
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        raise PlanError(f"{path}: unknown policy {bad[0]!r}; choose from {', '.join(POLICIES)}")
    seeds = [_typed(f"{path}: seeds", "seed", s, int) for s in _list(path, doc, "seeds", [0])]
    grid = doc.get("parameters", {})
    if not isinstance(grid, dict):
        raise PlanError(f"{path}: [parameters] must be a table of lists")
    axes: dict[str, list[Any]] = {}
    for key, values in grid.items():
        values = values if isinstance(values, list) else [values]
        typ = _RUN_OPTIONS.get(key, float)
        axes[key] = [_typed(f"{path}: parameters", key, v, typ) for v in values]
        if not values:
            raise PlanError(f"{path}: parameters.{key} has no values")
    runs: list[RunSpec] = []
    seen: set[tuple[Any, ...]] = set()
    for storm, policy, seed in itertools.product(storms, policies, seeds):
        for combo in itertools.product(*axes.values()) if axes else [()]:
            chosen = dict(zip(axes, combo, strict=True))
            options = {k: v for k, v in chosen.items() if k in _RUN_OPTIONS}
            params = {k: v for k, v in chosen.items() if k not in _RUN_OPTIONS
                      and (policy == "optimizer" or k not in _OPTIMIZER_ONLY)}
            if storm.kind == "history" and options.get("crews", storm.options.get("crews")) is None:
                raise PlanError(f"{path}: storm {storm.name!r} is a history: give crews in the storm "
                                f"or in [parameters]")
            key = (storm.name, policy, seed, tuple(sorted(options.items())), tuple(sorted(params.items())))
            if key in seen:
                continue
            seen.add(key)
            runs.append(RunSpec(f"r{len(runs) + 1:03d}", storm, policy, seed, options, params))
    return Plan(str(doc.get("name", path.stem)), tuple(runs))


def _flat(kpis: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kpis.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def run_one(spec: RunSpec) -> RunOutput:
    """Replay one combination; an error becomes a failed row, never an exception."""
    row: dict[str, Any] = {"run_id": spec.run_id, "storm": spec.storm.name, "policy": spec.policy,
                           "seed": spec.seed, **{f"option_{k}": v for k, v in spec.options.items()},
                           **{f"param_{k}": v for k, v in spec.params.items()}}
    t0 = time.perf_counter()
    try:
        options = spec.replay_options()
        replay: Replay = (replay_history(spec.storm.path, options) if spec.storm.kind == "history"
                          else replay_storm(spec.storm.path, options))
    except Exception as exc:  # a planner's failed run is reported, the experiment goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc(limit=5), wall_seconds=round(time.perf_counter() - t0, 2))
        return RunOutput(row, {})
    row.update(status="ok", error="", traceback="", wall_seconds=round(time.perf_counter() - t0, 2),
               **_flat({k: v for k, v in replay.kpis.items() if k not in ("policy", "source")}))
    return RunOutput(row, {"orders": replay.orders_table(), "timeline": replay.timeline(),
                           "crews": replay.crews_table()})


def execute(runs: Iterable[RunSpec], *, scheduler: str | None = None, workers: int = 2,
            local: bool = False, on_done: Callable[[RunOutput], None] | None = None) -> list[RunOutput]:
    """Run every spec: on the Dask scheduler at ``scheduler``, else on a LocalCluster of
    ``workers`` single-threaded processes, else (``local``) one after another in this process.
    Outputs come back in the specs' order."""
    specs = list(runs)
    done = on_done or (lambda out: None)
    if local:
        outputs = []
        for spec in specs:
            outputs.append(run_one(spec))
            done(outputs[-1])
        return outputs
    from distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its start-up chatter, not ours
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None, silence_logs=logging.WARNING)
    try:
        with Client(scheduler or cluster) as client:
            futures = client.map(run_one, specs, pure=False)
            by_id: dict[str, RunOutput] = {}
            for future in as_completed(futures):
                out = future.result()
                by_id[out.row["run_id"]] = out
                done(out)
            return [by_id[s.run_id] for s in specs]
    finally:
        if cluster is not None:
            cluster.close()


def write_results(outputs: list[RunOutput], out_dir: Path) -> Path:
    """``results.parquet`` (one row per run) and each run's tables under ``runs/<run_id>/``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for out in outputs:
        folder = out_dir / "runs" / out.row["run_id"]
        if out.tables:
            folder.mkdir(parents=True, exist_ok=True)
            for name, table in out.tables.items():
                table.to_parquet(folder / f"{name}.parquet", index=False)
    path = out_dir / "results.parquet"
    pd.DataFrame([o.row for o in outputs]).to_parquet(path, index=False)
    return path
