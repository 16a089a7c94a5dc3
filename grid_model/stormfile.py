"""Storm event files (JSON Lines): what the utility sees, and the ground truth kept apart.

``<name>.events.jsonl`` is the input of the dispatch engine in demo and replay: a header line,
then events in time order. ``<name>.truth.jsonl`` holds the faults and the cause of every call,
for the simulated world and for scoring predictions; the engine never reads it.
Format: docs/storm-events.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grid_model.network import KIND_NAMES, SKILLS
from grid_model.region import Region
from grid_model.storm import Call, PlannedOutage, Storm

EVENTS_FORMAT = "outage-dispatch/storm-events"
TRUTH_FORMAT = "outage-dispatch/storm-truth"
VERSION = 1


class StormFileError(ValueError):
    """A storm file line that cannot be used; the message names the file, line and reason."""


@dataclass(frozen=True, slots=True)
class PlannedOutageEvent:
    """A planned outage announced at ``t_s``: ``device_id`` opened from ``start_s`` to ``end_s``.
    An announcement less than the notice period ahead must be ``urgent``, with a ``reason``,
    unless ``owes_notice`` is false (one logged before the rule existed)."""

    t_s: int
    outage_id: str
    device_id: str
    start_s: int
    end_s: int
    urgent: bool = False
    reason: str = ""
    owes_notice: bool = True


@dataclass(frozen=True, slots=True)
class TruthFault:
    fault_id: str
    t_s: int
    element_id: str
    element_kind: str
    fault_class: str
    limit_class: str
    operates_id: str
    repair_s: int


StormEvent = Call | PlannedOutageEvent


def write_storm(storm: Storm, region: Region, folder: Path, name: str) -> tuple[Path, Path]:
    """Write the event file and the truth file; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    net = region.network
    header = {"region": {"name": region.name, "seed": region.seed, "scale": region.scale},
              "storm": storm.params.to_dict(), "track_m": storm.track_m,
              "start": storm.params.start}
    events: list[tuple[int, int, dict[str, object]]] = []
    for po in storm.planned:
        events.append((po.announced_s, 0, _planned_json(po, net.device_id[po.device_idx])))
    for k, c in enumerate(storm.calls):
        events.append((c.t_s, 1 + k, _call_json(c)))
    events.sort(key=lambda e: (e[0], e[1]))
    ev_path = folder / f"{name}.events.jsonl"
    with open(ev_path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": EVENTS_FORMAT, "version": VERSION, **header},
                            ensure_ascii=False) + "\n")
        for _, _, ev in events:
            fh.write(json.dumps(ev, ensure_ascii=False) + "\n")
    truth_path = folder / f"{name}.truth.jsonl"
    with open(truth_path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": TRUTH_FORMAT, "version": VERSION, **header},
                            ensure_ascii=False) + "\n")
        for f in storm.faults:
            fh.write(json.dumps({
                "type": "fault", "fault_id": f.fault_id, "t_s": f.t_s,
                "element_id": net.node_id[f.node_idx], "element_kind": KIND_NAMES[net.kind[f.node_idx]],
                "fault_class": f.fault_class, "limit_class": f.limit_class,
                "operates_id": _operates_id(region, f.operates_idx), "repair_s": f.repair_s,
            }, ensure_ascii=False) + "\n")
        for po in storm.planned:
            fh.write(json.dumps({**_planned_json(po, net.device_id[po.device_idx]), "type": "planned"},
                                ensure_ascii=False) + "\n")
        for c, cause, idx in zip(storm.calls, storm.call_cause, storm.call_customer_idx, strict=True):
            fh.write(json.dumps({"type": "call", "call_id": c.call_id,
                                 "customer_id": str(region.customers["customer_id"].iat[idx]),
                                 "cause": cause}) + "\n")
    return ev_path, truth_path


def _operates_id(region: Region, idx: int) -> str:
    dev = region.network.device_id[idx]
    return dev or region.network.node_id[idx]


def _planned_json(po: PlannedOutage, device_id: str) -> dict[str, object]:
    return {"t_s": po.announced_s, "type": "planned_outage", "outage_id": po.outage_id,
            "device_id": device_id, "start_s": po.start_s, "end_s": po.end_s}


def _call_json(c: Call) -> dict[str, object]:
    out: dict[str, object] = {"t_s": c.t_s, "type": "call", "call_id": c.call_id}
    for key in ("customer_id", "meter_id", "address"):
        if getattr(c, key):
            out[key] = getattr(c, key)
    if c.lon is not None:
        out["lon"], out["lat"] = c.lon, c.lat
    return out


def read_header(path: Path, expected_format: str = EVENTS_FORMAT) -> dict[str, object]:
    """The header line of a storm file (region, storm parameters, start), checked."""
    try:
        with open(path, encoding="utf-8") as fh:
            line = fh.readline()
    except OSError as exc:
        raise StormFileError(f"{path}: cannot open: {exc.strerror}") from exc
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StormFileError(f"{path}:1: malformed JSON: {exc.msg}") from exc
    if not isinstance(obj, dict) or obj.get("format") != expected_format or obj.get("version") != VERSION:
        raise StormFileError(f"{path}:1: header must have format {expected_format!r} and version {VERSION}")
    return obj


def _lines(path: Path, expected_format: str) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield (line number, object) after the header; raise StormFileError with the line."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise StormFileError(f"{path}: cannot open: {exc.strerror}") from exc
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise StormFileError(f"{path}:{lineno}: malformed JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise StormFileError(f"{path}:{lineno}: expected a JSON object")
            if lineno == 1:
                if obj.get("format") != expected_format or obj.get("version") != VERSION:
                    raise StormFileError(f"{path}:1: header must have format {expected_format!r} "
                                         f"and version {VERSION}")
                continue
            yield lineno, obj


def _field(path: Path, lineno: int, obj: dict[str, object], key: str, typ: type) -> object:
    if key not in obj:
        raise StormFileError(f"{path}:{lineno}: missing field {key!r}")
    val = obj[key]
    if typ is float and isinstance(val, int) and not isinstance(val, bool):
        val = float(val)
    if not isinstance(val, typ) or isinstance(val, bool):
        raise StormFileError(f"{path}:{lineno}: field {key!r} must be {typ.__name__}, got {val!r}")
    return val


def read_events(path: Path, region: Region) -> list[StormEvent]:
    """Read and validate an event file against ``region``.

    Stops at the first bad line with its number and reason: malformed JSON, a missing or
    mistyped field, an unknown event type, customer, meter or device, or a time earlier
    than the line before.
    """
    customers = set(region.customers["customer_id"])
    meters = set(region.customers["meter_id"])
    devices = {d for d in region.network.device_id if d}
    out: list[StormEvent] = []
    last_t = None
    for lineno, obj in _lines(path, EVENTS_FORMAT):
        t = int(_field(path, lineno, obj, "t_s", int))  # type: ignore[call-overload]
        if last_t is not None and t < last_t:
            raise StormFileError(f"{path}:{lineno}: time {t} s is earlier than the previous "
                                 f"event ({last_t} s); events must be in time order")
        last_t = t
        kind = obj.get("type")
        if kind == "call":
            out.append(_read_call(path, lineno, obj, t, customers, meters))
        elif kind == "planned_outage":
            dev = str(_field(path, lineno, obj, "device_id", str))
            if dev not in devices:
                raise StormFileError(f"{path}:{lineno}: unknown device {dev!r}")
            start = int(_field(path, lineno, obj, "start_s", int))  # type: ignore[call-overload]
            end = int(_field(path, lineno, obj, "end_s", int))  # type: ignore[call-overload]
            if end <= start:
                raise StormFileError(f"{path}:{lineno}: planned outage ends ({end}) before it "
                                     f"starts ({start})")
            urgent, reason = obj.get("urgent", False), obj.get("reason", "")
            if not isinstance(urgent, bool) or not isinstance(reason, str):
                raise StormFileError(f"{path}:{lineno}: planned outage: 'urgent' must be true or false and "
                                     f"'reason' text, got {urgent!r} and {reason!r}")
            out.append(PlannedOutageEvent(t, str(_field(path, lineno, obj, "outage_id", str)),
                                          dev, start, end, urgent, reason))
        else:
            raise StormFileError(f"{path}:{lineno}: unknown event type {kind!r}")
    return out


def _read_call(path: Path, lineno: int, obj: dict[str, object], t: int, customers: set[str],
               meters: set[str]) -> Call:
    call_id = str(_field(path, lineno, obj, "call_id", str))
    if "customer_id" in obj:
        cid = str(_field(path, lineno, obj, "customer_id", str))
        if cid not in customers:
            raise StormFileError(f"{path}:{lineno}: call {call_id}: unknown customer {cid!r}")
        return Call(call_id, t, customer_id=cid)
    if "meter_id" in obj:
        mid = str(_field(path, lineno, obj, "meter_id", str))
        if mid not in meters:
            raise StormFileError(f"{path}:{lineno}: call {call_id}: unknown meter {mid!r}")
        return Call(call_id, t, meter_id=mid)
    if "address" in obj:
        return Call(call_id, t, address=str(_field(path, lineno, obj, "address", str)))
    if "lon" in obj or "lat" in obj:
        lon = float(_field(path, lineno, obj, "lon", float))  # type: ignore[arg-type]
        lat = float(_field(path, lineno, obj, "lat", float))  # type: ignore[arg-type]
        return Call(call_id, t, lon=lon, lat=lat)
    raise StormFileError(f"{path}:{lineno}: call {call_id} has none of customer_id, meter_id, "
                         "address, lon/lat")


def read_truth(path: Path) -> tuple[list[TruthFault], list[PlannedOutageEvent], dict[str, tuple[str, str]]]:
    """Faults, planned outages and each call's (customer_id, cause) from a truth file."""
    faults, planned, calls = [], [], {}
    for lineno, obj in _lines(path, TRUTH_FORMAT):
        kind = obj.get("type")
        if kind == "fault":
            if obj.get("limit_class") not in SKILLS:
                raise StormFileError(f"{path}:{lineno}: limit_class must be one of "
                                     f"{', '.join(SKILLS)}, got {obj.get('limit_class')!r}")
            repair_s = obj.get("repair_s")
            if isinstance(repair_s, int) and repair_s < 0:
                raise StormFileError(f"{path}:{lineno}: repair_s is negative")
            faults.append(TruthFault(
                str(_field(path, lineno, obj, "fault_id", str)),
                int(_field(path, lineno, obj, "t_s", int)),  # type: ignore[call-overload]
                str(_field(path, lineno, obj, "element_id", str)),
                str(_field(path, lineno, obj, "element_kind", str)),
                str(_field(path, lineno, obj, "fault_class", str)),
                str(_field(path, lineno, obj, "limit_class", str)),
                str(_field(path, lineno, obj, "operates_id", str)),
                int(_field(path, lineno, obj, "repair_s", int))))  # type: ignore[call-overload]
        elif kind == "planned":
            planned.append(PlannedOutageEvent(
                int(_field(path, lineno, obj, "t_s", int)),  # type: ignore[call-overload]
                str(_field(path, lineno, obj, "outage_id", str)),
                str(_field(path, lineno, obj, "device_id", str)),
                int(_field(path, lineno, obj, "start_s", int)),  # type: ignore[call-overload]
                int(_field(path, lineno, obj, "end_s", int))))  # type: ignore[call-overload]
        elif kind == "call":
            calls[str(_field(path, lineno, obj, "call_id", str))] = (
                str(_field(path, lineno, obj, "customer_id", str)),
                str(_field(path, lineno, obj, "cause", str)))
        else:
            raise StormFileError(f"{path}:{lineno}: unknown truth record {kind!r}")
    return faults, planned, calls
