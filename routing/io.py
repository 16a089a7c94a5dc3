"""Read and write the exchange formats: ``*.instance.json`` and ``*.plan.json`` of
docs/formats.md, and VRPTW files (VRPLIB or Solomon) under the DIMACS convention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import vrplib

from routing.problem import Objective, Problem, ProblemError, TravelKind, skill_bits

_ORDER_REQUIRED = ("id", "x", "y", "reported", "deadline", "service", "skill", "customers", "priority")
_CREW_REQUIRED = ("id", "x", "y", "start", "end", "skills")


def _num(obj: dict[str, Any], key: str, where: str, *, integer: bool = True) -> Any:
    if key not in obj:
        raise ProblemError(f"{where}: missing field {key!r}")
    v = obj[key]
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if isinstance(v, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise ProblemError(f"{where}.{key}: must be {kind}, got {v!r}")
    return v


def _require_fields(rows: list[Any], label: str, required: tuple[str, ...]) -> None:
    """Every row an object with every required field; the error names the row and field."""
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ProblemError(f"{label}[{i}]: expected an object")
        for key in required:
            if key not in row:
                raise ProblemError(f"{label}[{i}] ({row.get('id', '?')}): missing field {key!r}")


def problem_from_dict(data: dict[str, Any]) -> Problem:
    """Build a ``Problem`` from an instance object; errors name the field and the item."""
    if not isinstance(data, dict):
        raise ProblemError("instance: expected a JSON object")
    for key in ("crews", "orders", "horizon", "travel"):
        if key not in data:
            raise ProblemError(f"instance: missing field {key!r}")
    crews, orders = data["crews"], data["orders"]
    if not isinstance(crews, list) or not isinstance(orders, list):
        raise ProblemError("instance: crews and orders must be lists")
    _require_fields(crews, "crews", _CREW_REQUIRED)
    _require_fields(orders, "orders", _ORDER_REQUIRED)
    skills: list[str] = []
    for i, c in enumerate(crews):
        if not isinstance(c["skills"], list) or not all(isinstance(s, str) for s in c["skills"]):
            raise ProblemError(f"crews[{i}] ({c['id']}).skills: must be a list of skill names")
        skills.extend(s for s in c["skills"] if s not in skills)
    names = tuple(skills)
    k, n = len(crews), len(orders)
    crew_ids = tuple(str(c["id"]) for c in crews)
    order_ids = tuple(str(o["id"]) for o in orders)
    for label, ids in (("crews", crew_ids), ("orders", order_ids)):
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ProblemError(f"{label}: id {dup!r} appears more than once")
    where_c = [f"crews[{i}] ({crew_ids[i]})" for i in range(k)]
    where_o = [f"orders[{j}] ({order_ids[j]})" for j in range(n)]
    x = [float(_num(c, "x", w, integer=False)) for c, w in zip(crews, where_c, strict=True)]
    y = [float(_num(c, "y", w, integer=False)) for c, w in zip(crews, where_c, strict=True)]
    x += [float(_num(o, "x", w, integer=False)) for o, w in zip(orders, where_o, strict=True)]
    y += [float(_num(o, "y", w, integer=False)) for o, w in zip(orders, where_o, strict=True)]

    def ints(rows: list[dict[str, Any]], where: list[str], key: str, default: int | None = None
             ) -> np.ndarray:
        out = []
        for r, w in zip(rows, where, strict=True):
            out.append(default if default is not None and key not in r else _num(r, key, w))
        return np.asarray(out, dtype=np.int64).reshape(len(rows))

    travel = data["travel"]
    if not isinstance(travel, dict) or travel.get("kind") not in ("euclidean", "matrix"):
        raise ProblemError("travel.kind: must be 'euclidean' or 'matrix'")
    kw: dict[str, Any] = {}
    if travel["kind"] == "euclidean":
        speed = float(_num(travel, "speed_kmh", "travel", integer=False))
        detour = float(travel.get("detour", 1.0))
        if speed <= 0 or detour <= 0:
            raise ProblemError("travel: speed_kmh and detour must be positive")
        kw.update(travel_kind=TravelKind.EUCLIDEAN, seconds_per_metre=detour / (speed / 3.6))
    else:
        secs = travel.get("seconds")
        try:
            matrix = np.asarray(secs, dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise ProblemError(f"travel.seconds: not a matrix of integers ({exc})") from exc
        if matrix.ndim != 2 or matrix.shape != (k + n, k + n):
            raise ProblemError(f"travel.seconds: shape {matrix.shape}, expected ({k + n}, {k + n}) "
                               "(crews then orders)")
        if (matrix < 0).any():
            raise ProblemError("travel.seconds: negative travel time")
        kw.update(travel_kind=TravelKind.MATRIX, matrix=np.ascontiguousarray(matrix))
    return Problem(
        name=str(data.get("name", "instance")), crew_ids=crew_ids, order_ids=order_ids,
        skill_names=names, x=np.asarray(x), y=np.asarray(y),
        crew_start_s=ints(crews, where_c, "start"), crew_end_s=ints(crews, where_c, "end"),
        crew_skills=np.asarray([skill_bits(names, c["skills"], w)
                                for c, w in zip(crews, where_c, strict=True)], dtype=np.int64),
        crew_capacity=ints(crews, where_c, "capacity", 0),
        reported_s=ints(orders, where_o, "reported"), earliest_s=ints(orders, where_o, "earliest", 0),
        deadline_s=ints(orders, where_o, "deadline"), service_s=ints(orders, where_o, "service"),
        customers=ints(orders, where_o, "customers"), priority=ints(orders, where_o, "priority"),
        demand=ints(orders, where_o, "demand", 0),
        order_skill=np.asarray([skill_bits(names, o["skill"], w) if isinstance(o["skill"], str)
                                else _bad_skill(w) for o, w in zip(orders, where_o, strict=True)],
                               dtype=np.int64),
        horizon_s=int(_num(data, "horizon", "instance")),
        lateness_weight=int(data.get("lateness_weight", 100)),
        shift_work_s=_shift_work(data),
        **kw,
    )


def _shift_work(data: dict[str, Any]) -> int:
    value = data.get("shift_work", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProblemError(f"instance.shift_work: must be a whole number of seconds >= 0, got {value!r}")
    return value


def _bad_skill(where: str) -> int:
    raise ProblemError(f"{where}.skill: must be a skill name")


def read_instance(path: Path) -> Problem:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProblemError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    return problem_from_dict(data)


def problem_to_dict(p: Problem) -> dict[str, Any]:
    """The instance object of a (euclidean or matrix) dispatch problem."""
    k = p.n_crews
    names = p.skill_names
    out: dict[str, Any] = {"name": p.name, "time_unit": "s", "horizon": p.horizon_s,
                           "lateness_weight": p.lateness_weight}
    if p.shift_work_s:
        out["shift_work"] = p.shift_work_s
    if p.travel_kind == TravelKind.EUCLIDEAN:
        out["travel"] = {"kind": "euclidean", "speed_kmh": 3.6 / p.seconds_per_metre, "detour": 1.0}
    else:
        out["travel"] = {"kind": "matrix", "seconds": p.matrix.tolist()}
    out["crews"] = [{"id": c, "x": float(p.x[i]), "y": float(p.y[i]), "start": int(p.crew_start_s[i]),
                     "end": int(p.crew_end_s[i]),
                     "skills": [s for b, s in enumerate(names) if p.crew_skills[i] >> b & 1]}
                    for i, c in enumerate(p.crew_ids)]
    out["orders"] = [{"id": o, "x": float(p.x[k + j]), "y": float(p.y[k + j]),
                      "reported": int(p.reported_s[j]), "earliest": int(p.earliest_s[j]),
                      "deadline": int(p.deadline_s[j]), "service": int(p.service_s[j]),
                      "skill": names[int(p.order_skill[j]).bit_length() - 1],
                      "customers": int(p.customers[j]), "priority": int(p.priority[j])}
                     for j, o in enumerate(p.order_ids)]
    return out


def read_vrptw(path: Path, fmt: str) -> Problem:
    """A VRPTW file (``vrplib`` or ``solomon``) as a closed-route, hard-window, capacitated
    problem with DIMACS distances (truncated to one decimal, stored as integer tenths)."""
    if fmt not in ("vrplib", "solomon"):
        raise ProblemError(f"format {fmt!r}: expected 'vrplib' or 'solomon'")
    try:
        inst = vrplib.read_instance(str(path), instance_format=fmt)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ProblemError(f"{path}: cannot read as {fmt}: {exc}") from exc
    coords = np.asarray(inst["node_coord"], dtype=np.float64)
    tw = np.asarray(inst["time_window"], dtype=np.int64) * 10
    demand = np.asarray(inst["demand"], dtype=np.int64)
    service = np.broadcast_to(np.asarray(inst["service_time"], dtype=np.int64) * 10, demand.shape)
    n = len(coords) - 1
    vehicles = int(inst.get("vehicles", n))
    xs = np.concatenate([np.repeat(coords[:1, 0], vehicles), coords[1:, 0]])
    ys = np.concatenate([np.repeat(coords[:1, 1], vehicles), coords[1:, 1]])
    return Problem(
        name=str(inst.get("name", Path(path).stem)),
        crew_ids=tuple(f"route{v + 1}" for v in range(vehicles)),
        order_ids=tuple(str(i) for i in range(1, n + 1)), skill_names=("any",), x=xs, y=ys,
        crew_start_s=np.full(vehicles, tw[0, 0]), crew_end_s=np.full(vehicles, tw[0, 1]),
        crew_skills=np.ones(vehicles, dtype=np.int64),
        crew_capacity=np.full(vehicles, int(inst["capacity"]), dtype=np.int64),
        reported_s=np.zeros(n, dtype=np.int64), earliest_s=np.ascontiguousarray(tw[1:, 0]),
        deadline_s=np.ascontiguousarray(tw[1:, 1]), service_s=np.ascontiguousarray(service[1:]),
        customers=np.zeros(n, dtype=np.int64), priority=np.ones(n, dtype=np.int64),
        demand=np.ascontiguousarray(demand[1:]), order_skill=np.ones(n, dtype=np.int64),
        horizon_s=int(tw[0, 1]), lateness_weight=0, travel_kind=TravelKind.DIMACS,
        objective=Objective.DISTANCE, closed_routes=True, hard_windows=True,
    )


def write_plan(path: Path, problem: Problem, routes: dict[str, list[str]], unassigned: list[str],
               solver: dict[str, Any], lower_bound: int | None = None) -> None:
    """A plan file; ``lower_bound`` (dispatch instances: ``routing.bound``) in the cost's units."""
    doc: dict[str, Any] = {"instance": problem.name, "routes": routes, "unassigned": unassigned,
                           "solver": solver}
    if lower_bound is not None:
        doc["lower_bound"] = lower_bound
    Path(path).write_text(json.dumps(doc, indent=1), encoding="utf-8")
