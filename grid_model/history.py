"""A utility's own outage history as a replay source: one row per outage event, read through a
column mapping (``grid_model.history_columns``: the ``pge`` preset or a planner's TOML file) and
checked row by row.

CSV or Parquet. Times become seconds from the earliest start. What a row leaves out is inferred
by ``grid_model.history_infer``'s rules and recorded on the event (an empty extent from the
device id or the customers affected; a restoration-only row's start from when it was first seen
or the history's median duration); empty circuit and device ids are kept empty. A bad row (a
missing or unparsable value, a restoration before the start, a position off the globe, an unknown
extent) stops the read with the file, line and reason, or, with ``skip_bad_rows``, is counted and
reported while the others go through.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grid_model.history_columns import EXTENTS, FORMATS, ColumnMapping
from grid_model.history_infer import ExtentFrom, StartFrom, infer_extent, median_durations_s


class HistoryError(ValueError):
    """An outage history that cannot be read; the message names the file, line and reason."""


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One outage: where, on what, how many customers, and when it started and ended."""

    event_id: str
    start_s: int
    restored_s: int
    lon: float
    lat: float
    extent: str
    customers: int
    circuit_id: str = ""
    device_id: str = ""
    cause: str = ""
    first_seen_s: int | None = None
    first_etr_s: int | None = None
    extent_from: ExtentFrom = ExtentFrom.FILE
    start_from: StartFrom = StartFrom.FILE


@dataclass(frozen=True, slots=True)
class History:
    """Events in start order, the instant their times count from, and the rows skipped."""

    epoch: datetime
    events: tuple[HistoryEvent, ...]
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def customer_minutes(self, stale_after_s: int | None = None) -> float:
        """Customer-minutes the utility's own restorations add up to: the yardstick a replay's
        customer-minutes compare with; events open longer than ``stale_after_s`` (entries an
        outage map left standing) are left out."""
        return sum(e.customers * (e.restored_s - e.start_s) for e in self.events
                   if stale_after_s is None or e.restored_s - e.start_s <= stale_after_s) / 60.0

    def inference_counts(self) -> dict[str, int]:
        """How many events had their extent or start inferred, by rule, and how many have no
        circuit or device id: what a replay of this history rests on besides the file."""
        events = self.events
        by_extent = {f: sum(e.extent_from == f for e in events) for f in ExtentFrom}
        by_start = {f: sum(e.start_from == f for e in events) for f in StartFrom}
        return {
            "extent_inferred": len(events) - by_extent[ExtentFrom.FILE],
            "extent_from_device_id": by_extent[ExtentFrom.DEVICE_ID],
            "extent_from_customers": by_extent[ExtentFrom.CUSTOMERS],
            "restoration_only": len(events) - by_start[StartFrom.FILE],
            "start_from_first_seen": by_start[StartFrom.FIRST_SEEN],
            "start_from_median_duration": by_start[StartFrom.MEDIAN_DURATION],
            "without_circuit_id": sum(not e.circuit_id for e in events),
            "without_device_id": sum(not e.device_id for e in events),
        }


@dataclass(frozen=True, slots=True)
class _Row:
    """A row checked, its times absolute; ``start`` None for a restoration-only row not seen
    before its restoration (placed by the history's median duration)."""

    where: str
    event_id: str
    start: datetime | None
    start_from: StartFrom
    restored: datetime
    lon: float
    lat: float
    extent: str
    extent_from: ExtentFrom
    customers: int
    circuit_id: str
    device_id: str
    cause: str
    first_seen: datetime | None
    first_etr: datetime | None


def _instant(text: str, what: str, mapping: ColumnMapping) -> datetime:
    """A time in UTC: ISO 8601 or the mapping's format; without an offset, in its time zone."""
    value = text.strip()
    if not value:
        raise ValueError(f"no {what} time")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        if mapping.time_format is None:
            raise ValueError(f"{what} {text!r} is not an ISO 8601 time") from None
        try:
            t = datetime.strptime(value, mapping.time_format)
        except ValueError:
            raise ValueError(f"{what} {text!r} is neither ISO 8601 nor {mapping.time_format!r}") from None
    if t.tzinfo is None:
        if mapping.timezone is None:
            raise ValueError(f"{what} {text!r} has no UTC offset (a column mapping's [times] timezone "
                             f"gives one)")
        t = t.replace(tzinfo=mapping.timezone)
    return t.astimezone(UTC)


def _rows(path: Path) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """The header and the rows of a CSV or Parquet file, each row with where it is
    (``file:line``, or ``file row N`` for Parquet) and its values as text."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise HistoryError(f"{path}: cannot read as Parquet: {exc}") from exc

        def text(v: object) -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
                return ""
            if isinstance(v, float) and v.is_integer():
                return str(int(v))  # an integer column with gaps comes back as floats
            return v.isoformat() if isinstance(v, pd.Timestamp | datetime) else str(v)

        records = frame.to_dict(orient="records")
        return ([str(c) for c in frame.columns],
                [(f"{path} row {k + 1}", {str(c): text(v) for c, v in r.items()})
                 for k, r in enumerate(records)])
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            return (list(reader.fieldnames or []),
                    [(f"{path}:{line}", row) for line, row in enumerate(reader, start=2)])
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: not UTF-8 text (byte {exc.start} of the file)") from exc
    except csv.Error as exc:
        raise HistoryError(f"{path}: not a CSV file: {exc}") from exc


def read_history(path: Path, *, mapping: ColumnMapping = FORMATS["pge"],
                 skip_bad_rows: bool = False) -> History:
    """Read an outage history (CSV, or Parquet by its suffix) through ``mapping``; every column
    it names must be in the file."""
    header, table = _rows(path)
    missing = {f: c for f, c in mapping.columns.items() if c not in header}
    if missing:
        raise HistoryError(f"{path}: missing column(s) {', '.join(missing.values())} (field(s) "
                           f"{', '.join(missing)} of {mapping.origin})")
    skipped: list[str] = []

    def reject(where: str, exc: ValueError) -> None:
        """A bad row stops the read, or with ``skip_bad_rows`` is noted and left out."""
        message = f"{where}: {exc}"
        if not skip_bad_rows:
            raise HistoryError(message) from None
        skipped.append(message)

    rows: list[_Row] = []
    seen: dict[str, str] = {}
    for where, row in table:
        try:
            checked = _row(where, row, mapping)
            if checked.event_id in seen:
                raise ValueError(f"event {checked.event_id} already read at {seen[checked.event_id]}")
            seen[checked.event_id] = where
            rows.append(checked)
        except ValueError as exc:
            reject(where, exc)
    by_extent, overall = median_durations_s(
        (r.extent, (r.restored - r.start).total_seconds()) for r in rows
        if r.start is not None and r.start_from == StartFrom.FILE)
    placed: list[tuple[_Row, datetime]] = []
    for r in rows:
        if r.start is not None:
            placed.append((r, r.start))
            continue
        duration_s = by_extent.get(r.extent, overall)
        if duration_s is None:
            reject(r.where, ValueError("no start and no first seen, and no row of the history has a "
                                       "start to take a median duration from"))
            continue
        placed.append((r, r.restored - timedelta(seconds=duration_s)))
    if not placed:
        raise HistoryError(f"{path}: no outage events")
    epoch = min(start for _, start in placed)

    def seconds(t: datetime) -> int:
        return round((t - epoch).total_seconds())

    events = [HistoryEvent(
        event_id=r.event_id, start_s=seconds(start), restored_s=seconds(r.restored), lon=r.lon, lat=r.lat,
        extent=r.extent, customers=r.customers, circuit_id=r.circuit_id, device_id=r.device_id,
        cause=r.cause, first_seen_s=None if r.first_seen is None else seconds(r.first_seen),
        first_etr_s=None if r.first_etr is None else seconds(r.first_etr), extent_from=r.extent_from,
        start_from=r.start_from)
        for r, start in placed]
    events.sort(key=lambda e: (e.start_s, e.event_id))
    return History(epoch, tuple(events), tuple(skipped))


def _row(where: str, row: Mapping[str, str], mapping: ColumnMapping) -> _Row:
    """Check one row and infer what it leaves out (its start stays None if neither a start
    nor a first-seen time is given: placed by the history's median duration)."""
    def text(name: str) -> str:
        column = mapping.columns.get(name)
        return (row.get(column, "") or "").strip() if column else ""

    def instant(name: str, what: str) -> datetime | None:
        return _instant(text(name), what, mapping) if text(name) else None

    restored = _instant(text("restored"), "restoration", mapping)
    first_seen = instant("first_seen", "first seen")
    start, start_from = instant("start", "start"), StartFrom.FILE
    if start is None:
        start, start_from = first_seen, (StartFrom.MEDIAN_DURATION if first_seen is None
                                         else StartFrom.FIRST_SEEN)
    if start is not None and restored < start:
        raise ValueError(f"restoration {restored.isoformat()} is before the "
                         f"{'start' if start_from == StartFrom.FILE else 'first seen'} {start.isoformat()}")
    if not text("event_id"):
        raise ValueError("no event id")
    try:
        lat, lon = float(text("lat")), float(text("lon"))
    except ValueError:
        raise ValueError(f"position {text('lat')!r}, {text('lon')!r} is not a number") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"position {lat}, {lon} is off the globe")
    try:
        customers = int(text("customers"))
    except ValueError:
        raise ValueError(f"customers {text('customers')!r} is not a whole number") from None
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, got {customers}")
    circuit_id, device_id = text("circuit_id"), text("device_id")
    if text("extent"):
        extent, extent_from = mapping.extent_of(text("extent")), ExtentFrom.FILE
        if extent is None:
            names = [*EXTENTS, *mapping.extent_names]
            raise ValueError(f"extent {text('extent')!r} is not one of {', '.join(names)}")
    else:
        extent, extent_from = infer_extent(customers, circuit_id, device_id)
    return _Row(where=where, event_id=text("event_id"), start=start, start_from=start_from,
                restored=restored, lon=lon, lat=lat, extent=extent, extent_from=extent_from,
                customers=customers, circuit_id=circuit_id, device_id=device_id, cause=text("cause"),
                first_seen=first_seen, first_etr=instant("first_etr", "first ETR"))
