"""Trouble calls from a CSV file: ``call_id,time,customer_id`` with optional ``address``,
``lon``, ``lat``. ``time`` is ISO 8601 or seconds; it becomes seconds from the earliest call.
A bad row is reported with its line and reason; good rows still go through."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grid_model.storm import Call

REQUIRED = ("call_id", "time", "customer_id")


class CallFileError(ValueError):
    """The file itself cannot be read (missing, not CSV, a required column absent)."""


@dataclass(frozen=True, slots=True)
class CallRows:
    calls: list[Call]
    rejected: list[str]
    epoch: str


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_calls_csv(path: Path) -> CallRows:
    """Calls in time order; rows without a usable time or identification are rejected."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CallFileError(f"{path}: cannot open: {exc.strerror}") from exc
    rows: list[tuple[float, int, dict[str, str]]] = []
    rejected: list[str] = []
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CallFileError(f"{path}:1: missing column(s) {', '.join(missing)}; "
                                f"expected {','.join(REQUIRED)}[,address,lon,lat]")
        seen: set[str] = set()
        for lineno, row in enumerate(reader, start=2):
            call_id = (row.get("call_id") or "").strip()
            if not call_id:
                rejected.append(f"{path}:{lineno}: empty call_id")
                continue
            if call_id in seen:
                rejected.append(f"{path}:{lineno}: call {call_id} appears twice")
                continue
            try:
                t = _time((row.get("time") or "").strip())
                if not math.isfinite(t):
                    raise ValueError
            except ValueError:
                rejected.append(f"{path}:{lineno}: call {call_id}: bad time {row.get('time')!r}")
                continue
            if not any((row.get(k) or "").strip() for k in ("customer_id", "address", "lon")):
                rejected.append(f"{path}:{lineno}: call {call_id}: no customer_id, address or lon/lat")
                continue
            seen.add(call_id)
            rows.append((t, lineno, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    t0 = rows[0][0] if rows else 0.0
    calls = []
    for t, lineno, row in rows:
        lon, lat = (row.get("lon") or "").strip(), (row.get("lat") or "").strip()
        try:
            point = (float(lon), float(lat)) if lon and lat else (None, None)
        except ValueError:
            rejected.append(f"{path}:{lineno}: call {row['call_id']}: bad lon/lat {lon!r}, {lat!r}")
            continue
        calls.append(Call(row["call_id"].strip(), round(t - t0),
                          customer_id=(row.get("customer_id") or "").strip(),
                          address=(row.get("address") or "").strip(), lon=point[0], lat=point[1]))
    return CallRows(calls, rejected, datetime.fromtimestamp(t0).isoformat() if rows else "")
