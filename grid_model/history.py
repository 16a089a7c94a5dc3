"""A utility's own outage history as a replay source: one row per outage event, read through a
column mapping (``PGE_COLUMNS`` for PG&E's outage-map history) and checked row by row.

CSV or Parquet. Times become seconds from the earliest start. A bad row (a missing value, a time that does not
parse, a restoration before the start, a position off the globe, an unknown extent) stops the
read with the file, line and reason, or, with ``skip_bad_rows``, is counted and reported while
the others go through.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Our field -> the column of PG&E's outage-map history (../shared/data/pge-2024-02-storm.csv).
PGE_COLUMNS: dict[str, str] = {
    "event_id": "event_id", "start": "start_utc", "first_seen": "first_published_utc",
    "restored": "last_published_utc", "lat": "lat", "lon": "lon", "circuit_id": "circuit_id",
    "device_id": "device_id", "extent": "extent", "customers": "customers", "cause": "cause",
    "first_etr": "first_etor_utc",
}
FORMATS = {"pge": PGE_COLUMNS}
REQUIRED = ("event_id", "start", "restored", "lat", "lon", "extent", "customers")
# What the outage was on, as utilities' outage maps name it, and our element kind for it.
EXTENTS = {"CUSTOMER": "service_drop", "SERVICE TRANSFORMER": "transformer", "DEVICE": "mv_device",
           "SOURCE": "feeder"}


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


def _instant(text: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise ValueError(f"{what} {text!r} has no UTC offset")
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
            return v.isoformat() if isinstance(v, pd.Timestamp | datetime) else str(v)

        records = frame.to_dict(orient="records")
        return ([str(c) for c in frame.columns],
                [(f"{path} row {k + 1}", {str(c): text(v) for c, v in r.items()})
                 for k, r in enumerate(records)])
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return (list(reader.fieldnames or []),
                [(f"{path}:{line}", row) for line, row in enumerate(reader, start=2)])


def read_history(path: Path, *, columns: Mapping[str, str] = PGE_COLUMNS,
                 skip_bad_rows: bool = False) -> History:
    """Read an outage history (CSV, or Parquet by its suffix) through ``columns`` (our field ->
    its column)."""
    header, table = _rows(path)
    missing = [columns[f] for f in REQUIRED if columns.get(f, "") not in header]
    if missing:
        raise HistoryError(f"{path}: missing column(s) {', '.join(missing)}")
    rows: list[tuple[str, dict[str, str], datetime, datetime]] = []
    skipped: list[str] = []

    def reject(where: str, exc: ValueError) -> None:
        """A bad row stops the read, or with ``skip_bad_rows`` is noted and left out."""
        message = f"{where}: {exc}"
        if not skip_bad_rows:
            raise HistoryError(message) from None
        skipped.append(message)

    for where, row in table:
        try:
            start = _instant(row[columns["start"]], "start")
            restored = _instant(row[columns["restored"]], "restoration")
            if restored < start:
                raise ValueError(f"restoration {restored.isoformat()} is before the start "
                                 f"{start.isoformat()}")
            rows.append((where, row, start, restored))
        except ValueError as exc:
            reject(where, exc)
    if not rows:
        raise HistoryError(f"{path}: no outage events")
    epoch = min(start for _, _, start, _ in rows)
    events = []
    seen: dict[str, str] = {}
    for where, row, start, restored in rows:
        try:
            event = _event(row, columns, epoch, start, restored)
            if event.event_id in seen:
                raise ValueError(f"event {event.event_id} already read at {seen[event.event_id]}")
            seen[event.event_id] = where
            events.append(event)
        except ValueError as exc:
            reject(where, exc)
    events.sort(key=lambda e: (e.start_s, e.event_id))
    return History(epoch, tuple(events), tuple(skipped))


def _event(row: Mapping[str, str], columns: Mapping[str, str], epoch: datetime, start: datetime,
           restored: datetime) -> HistoryEvent:
    def text(name: str) -> str:
        return (row.get(columns.get(name, ""), "") or "").strip()

    def seconds(t: datetime) -> int:
        return round((t - epoch).total_seconds())

    if not text("event_id"):
        raise ValueError("no event id")
    try:
        lat, lon = float(text("lat")), float(text("lon"))
    except ValueError:
        raise ValueError(f"position {text('lat')!r}, {text('lon')!r} is not a number") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"position {lat}, {lon} is off the globe")
    extent = text("extent").upper()
    if extent not in EXTENTS:
        raise ValueError(f"extent {text('extent')!r} is not one of {', '.join(EXTENTS)}")
    try:
        customers = int(text("customers"))
    except ValueError:
        raise ValueError(f"customers {text('customers')!r} is not a whole number") from None
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, got {customers}")
    first_seen = _instant(text("first_seen"), "first seen") if text("first_seen") else None
    first_etr = _instant(text("first_etr"), "first ETR") if text("first_etr") else None
    return HistoryEvent(
        event_id=text("event_id"), start_s=seconds(start), restored_s=seconds(restored), lon=lon, lat=lat,
        extent=EXTENTS[extent], customers=customers, circuit_id=text("circuit_id"),
        device_id=text("device_id"), cause=text("cause"),
        first_seen_s=None if first_seen is None else seconds(first_seen),
        first_etr_s=None if first_etr is None else seconds(first_etr))
