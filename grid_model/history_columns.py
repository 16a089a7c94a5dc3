"""How an outage history's columns and values map to our fields: a preset (``pge``) or a
planner's TOML file, checked when read so a typo is refused by file and reason, not met on
row 5,000.

Mapping file (every key optional but the required fields; times are ISO 8601 unless ``format``
is given, and a time without a UTC offset needs ``timezone``)::

    [columns]                       # our field = the history's column
    event_id = "OUTAGE_ID"
    start = "OUTAGE_TIME"
    restored = "RESTORE_TIME"
    lat = "LATITUDE"
    lon = "LONGITUDE"
    customers = "NUM_CUST_OUT"
    extent = "DEVICE_TYPE"          # also: first_seen, circuit_id, device_id, cause, first_etr

    [times]
    format = "%m/%d/%Y %H:%M"       # strptime; ISO 8601 is always accepted too
    timezone = "America/Chicago"    # for times without an offset (IANA name)

    [extents]                       # the history's extent values -> ours
    XFMR = "SERVICE TRANSFORMER"
    FEEDER = "SOURCE"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Our fields, each with what it holds.
FIELDS: dict[str, str] = {
    "event_id": "the outage's id, unique in the file",
    "start": "when the outage started",
    "first_seen": "when the outage was first reported or shown",
    "restored": "when supply came back",
    "lat": "WGS84 latitude", "lon": "WGS84 longitude",
    "circuit_id": "the feeder circuit", "device_id": "the device that operated",
    "extent": "what the outage was on (see EXTENTS)", "customers": "customers affected",
    "cause": "the recorded cause", "first_etr": "the first estimated restoration time published",
}
# Without these a row cannot be placed in space and time; a start comes from ``start`` or,
# for restoration-only rows, from ``first_seen`` or the history's median duration.
REQUIRED = ("event_id", "restored", "lat", "lon", "customers")
START_FIELDS = ("start", "first_seen")
# What the outage was on, as PG&E's outage map names it, and our element kind for it.
EXTENTS = {"CUSTOMER": "service_drop", "SERVICE TRANSFORMER": "transformer", "DEVICE": "mv_device",
           "SOURCE": "feeder"}
# Our field -> the column of PG&E's outage-map history (the README's replay section).
PGE_COLUMNS: dict[str, str] = {
    "event_id": "event_id", "start": "start_utc", "first_seen": "first_published_utc",
    "restored": "last_published_utc", "lat": "lat", "lon": "lon", "circuit_id": "circuit_id",
    "device_id": "device_id", "extent": "extent", "customers": "customers", "cause": "cause",
    "first_etr": "first_etor_utc",
}


class ColumnMappingError(ValueError):
    """A column mapping that cannot be used; the message names the file (or preset) and reason."""


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Our field -> the history's column, how its times are written, and its extent names
    (upper case) -> ours; ``origin`` says where the mapping came from, for messages."""

    columns: Mapping[str, str]
    origin: str
    time_format: str | None = None
    timezone: ZoneInfo | None = None
    extent_names: Mapping[str, str] = field(default_factory=dict)

    def extent_of(self, text: str) -> str | None:
        """Our element kind for a history's extent value, or None if it names none we know."""
        name = text.strip().upper()
        return EXTENTS.get(self.extent_names.get(name, name))


FORMATS: dict[str, ColumnMapping] = {"pge": ColumnMapping(PGE_COLUMNS, "--format pge")}


def _table(path: Path, doc: Mapping[str, object], key: str) -> dict[str, object]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ColumnMappingError(f"{path}: [{key}] must be a table")
    return value


def _text(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ColumnMappingError(f"{path}: {where} must be a non-empty string, got {value!r}")
    return value.strip()


def column_mapping(preset: str, path: Path | None = None) -> ColumnMapping:
    """The mapping a history is read through: the file at ``path`` if given, else the preset
    (one of ``FORMATS``; the caller names an unknown one in its own terms)."""
    return read_column_mapping(path) if path is not None else FORMATS[preset]


def read_column_mapping(path: Path) -> ColumnMapping:
    """Read and check a mapping file: unknown fields and tables, a required field left
    unmapped, two fields on one column, a bad timezone or extent name are refused."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ColumnMappingError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ColumnMappingError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"columns", "times", "extents"})
    if unknown:
        raise ColumnMappingError(f"{path}: unknown table(s) {', '.join(unknown)}; known: columns, times, "
                                 f"extents")
    raw = _table(path, doc, "columns")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ColumnMappingError(f"{path}: unknown field(s) {', '.join(unknown)} in [columns]; known: "
                                 f"{', '.join(FIELDS)}")
    columns = {f: _text(path, f"columns.{f}", c) for f, c in raw.items()}
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise ColumnMappingError(f"{path}: [columns] must map {', '.join(missing)}")
    if not any(f in columns for f in START_FIELDS):
        raise ColumnMappingError(f"{path}: [columns] must map start or first_seen (when outages began)")
    by_column: dict[str, str] = {}
    for f, c in columns.items():
        if c in by_column:
            raise ColumnMappingError(f"{path}: fields {by_column[c]} and {f} both read column {c!r}")
        by_column[c] = f
    times = _table(path, doc, "times")
    unknown = sorted(set(times) - {"format", "timezone"})
    if unknown:
        raise ColumnMappingError(f"{path}: unknown key(s) {', '.join(unknown)} in [times]; known: format, "
                                 f"timezone")
    time_format = _text(path, "times.format", times["format"]) if "format" in times else None
    if time_format is not None:
        try:
            datetime.strptime(datetime(2024, 2, 4, 21, 32, 5).strftime(time_format), time_format)
        except ValueError as exc:
            raise ColumnMappingError(f"{path}: times.format {time_format!r} cannot read the times it "
                                     f"writes: {exc}") from None
    timezone = None
    if "timezone" in times:
        name = _text(path, "times.timezone", times["timezone"])
        try:
            timezone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ColumnMappingError(f"{path}: times.timezone {name!r} is not an IANA time zone") from None
    extent_names = {}
    for name, ours in _table(path, doc, "extents").items():
        value = _text(path, f"extents.{name}", ours).upper()
        if value not in EXTENTS:
            raise ColumnMappingError(f"{path}: extents.{name} = {ours!r} is not one of {', '.join(EXTENTS)}")
        extent_names[name.strip().upper()] = value
    return ColumnMapping(columns, str(path), time_format, timezone, extent_names)
