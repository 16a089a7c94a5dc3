"""Outage history (PG&E's columns): times from the earliest start, element kinds from the
extent, the utility's own customer-minutes; bad rows stop the read with the line, or are
skipped and reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.history import HistoryError, read_history

HEADER = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,city,circuit_id,"
          "device_id,extent,customers,cause,crew_statuses,first_etor_utc")
GOOD = [
    "E2,2024-02-04T01:00:00Z,2024-02-04T01:20:00Z,2024-02-04T03:00:00Z,37.3,-121.9,San Jose,C7,D1,"
    "SERVICE TRANSFORMER,12,TREE CONTACT,Awaiting T-Man,2024-02-04T02:30:00Z",
    "E1,2024-02-04T00:30:00Z,2024-02-04T00:40:00Z,2024-02-04T01:30:00Z,36.6,-121.6,Salinas,C9,D2,"
    "CUSTOMER,1,REPLCE SRVC,Awaiting T-Man,",
]


def _csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "history.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_events_count_from_the_earliest_start_and_carry_their_element_kind(tmp_path: Path) -> None:
    history = read_history(_csv(tmp_path, GOOD))
    assert history.epoch.isoformat() == "2024-02-04T00:30:00+00:00"
    first, second = history.events
    assert (first.event_id, first.start_s, first.restored_s, first.extent, first.customers) == \
        ("E1", 0, 3600, "service_drop", 1)
    assert (second.event_id, second.start_s, second.restored_s, second.extent) == \
        ("E2", 1800, 9000, "transformer")
    assert second.first_seen_s == 3000 and second.first_etr_s == 7200 and first.first_etr_s is None
    assert (second.lat, second.lon, second.circuit_id, second.cause) == (37.3, -121.9, "C7", "TREE CONTACT")
    assert history.customer_minutes() == 1 * 60 + 12 * 120


@pytest.mark.parametrize(("row", "reason"), [
    (GOOD[1].replace("2024-02-04T00:30:00Z", "yesterday", 1), "start 'yesterday' is not an ISO 8601 time"),
    (GOOD[1].replace("2024-02-04T01:30:00Z", "2024-02-04T00:10:00Z"), "restoration .* is before the start"),
    (GOOD[1].replace("36.6", "136.6"), "position 136.6, -121.6 is off the globe"),
    (GOOD[1].replace("CUSTOMER", "FEEDER"), "extent 'FEEDER' is not one of"),
    (GOOD[1].replace(",1,REPLCE", ",-2,REPLCE"), "customers must be 0 or more, got -2"),
    (GOOD[1].replace("E1,", "E2,", 1), "event E2 already read at .*history.csv:2"),
])
def test_a_bad_row_stops_the_read_with_its_line_or_is_skipped(tmp_path: Path, row: str, reason: str) -> None:
    path = _csv(tmp_path, [GOOD[0], row])
    with pytest.raises(HistoryError, match=f"history.csv:3: {reason}"):
        read_history(path)
    history = read_history(path, skip_bad_rows=True)
    assert [e.event_id for e in history.events] == ["E2"]
    assert len(history.skipped) == 1 and "history.csv:3:" in history.skipped[0]


def test_missing_columns_and_an_empty_file_are_named(tmp_path: Path) -> None:
    header = HEADER.replace("last_published_utc", "ended").replace(",customers,", ",n,")
    with pytest.raises(HistoryError, match=r"missing column\(s\) last_published_utc, customers"):
        read_history(_csv(tmp_path, GOOD, header=header))
    with pytest.raises(HistoryError, match="no outage events"):
        read_history(_csv(tmp_path, []))


def test_a_file_that_is_not_there_or_not_text_is_named(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"gone.csv: cannot read: No such file or directory"):
        read_history(tmp_path / "gone.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\n" + GOOD[0].replace("San Jose", "San José") + "\n").encode("latin-1"))
    with pytest.raises(HistoryError, match=r"latin.csv: not UTF-8 text \(byte \d+ of the file\)"):
        read_history(latin)


def test_a_parquet_history_reads_like_the_csv(tmp_path: Path) -> None:
    import pandas as pd

    csv_path = _csv(tmp_path, GOOD)
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    frame["start_utc"] = pd.to_datetime(frame["start_utc"])  # a real timestamp column
    frame["customers"] = frame["customers"].astype(int)
    parquet = tmp_path / "history.parquet"
    frame.to_parquet(parquet)
    from_csv, from_parquet = read_history(csv_path), read_history(parquet)
    assert from_parquet.events == from_csv.events and from_parquet.epoch == from_csv.epoch
    frame["customers"] = frame["customers"].astype(float)  # an integer column with a gap reads as floats
    frame.to_parquet(parquet)
    assert read_history(parquet).events == from_csv.events
    frame.loc[1, "lat"] = "north"
    frame.to_parquet(parquet)
    with pytest.raises(HistoryError, match=r"history.parquet row 2: position 'north'"):
        read_history(parquet)
