"""Inference rules for what a history leaves out: the extent from a device id that names its
circuit or from the customers affected (thresholds at their edges), and every inference
recorded on the event and counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.history import HistoryError, read_history
from grid_model.history_infer import ExtentFrom, StartFrom, extent_from_customers, extent_from_ids

HEADER = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,city,circuit_id,"
          "device_id,extent,customers,cause,crew_statuses,first_etor_utc")


def _row(event_id: str, *, start: str = "2024-02-04T01:00:00Z", first_seen: str = "",
         restored: str = "2024-02-04T03:00:00Z", circuit: str = "", device: str = "", extent: str = "",
         customers: int = 1) -> str:
    return (f"{event_id},{start},{first_seen},{restored},37.3,-121.9,San Jose,{circuit},{device},{extent},"
            f"{customers},STORM,,")


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "history.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("customers", "extent"), [
    (0, "mv_device"), (1, "service_drop"), (2, "transformer"), (30, "transformer"), (31, "mv_device"),
    (999, "mv_device"), (1_000, "feeder"), (50_000, "feeder"),
])
def test_extent_from_customers_follows_the_documented_thresholds(customers: int, extent: str) -> None:
    assert extent_from_customers(customers) == extent


@pytest.mark.parametrize(("circuit", "device", "extent"), [
    ("08343", "8343", "feeder"),                           # PG&E's SOURCE rows: device id = circuit id
    ("12101103", "012101103-2100988366", "mv_device"),     # PG&E's DEVICE rows: <circuit>-<n>
    ("12101103", "121011035", None),                       # a longer number is not the circuit's
    ("182261102", "412242848078", None),                   # a meter or transformer id: no help
    ("", "412242848078", None), ("C7", "", None),
])
def test_a_device_id_naming_its_circuit_gives_the_extent(circuit: str, device: str,
                                                         extent: str | None) -> None:
    assert extent_from_ids(circuit, device) == extent


def test_empty_extent_circuit_and_device_are_inferred_and_counted(tmp_path: Path) -> None:
    history = read_history(_csv(tmp_path, [
        _row("A", customers=1), _row("B", customers=12), _row("C", customers=0),
        _row("D", customers=200), _row("E", customers=4_000),
        _row("F", customers=0, circuit="4260", device="04260"),          # the source, by its ids
        _row("G", customers=1, extent="SERVICE TRANSFORMER", circuit="C1", device="X"),  # given: kept
    ]))
    by_id = {e.event_id: e for e in history.events}
    assert {k: (e.extent, e.extent_from) for k, e in by_id.items()} == {
        "A": ("service_drop", ExtentFrom.CUSTOMERS), "B": ("transformer", ExtentFrom.CUSTOMERS),
        "C": ("mv_device", ExtentFrom.CUSTOMERS), "D": ("mv_device", ExtentFrom.CUSTOMERS),
        "E": ("feeder", ExtentFrom.CUSTOMERS), "F": ("feeder", ExtentFrom.DEVICE_ID),
        "G": ("transformer", ExtentFrom.FILE)}
    assert history.inference_counts() == {
        "extent_inferred": 6, "extent_from_device_id": 1, "extent_from_customers": 5, "restoration_only": 0,
        "start_from_first_seen": 0, "start_from_median_duration": 0, "without_circuit_id": 5,
        "without_device_id": 5}


def test_restoration_only_rows_start_when_first_seen_or_a_median_duration_before(tmp_path: Path) -> None:
    # Recorded durations: service drops 1 h and 3 h (median 2 h), a transformer 6 h; all: 3 h.
    history = read_history(_csv(tmp_path, [
        _row("D1", start="2024-02-04T00:00:00Z", restored="2024-02-04T01:00:00Z", extent="CUSTOMER"),
        _row("D2", start="2024-02-04T00:00:00Z", restored="2024-02-04T03:00:00Z", extent="CUSTOMER"),
        _row("T1", start="2024-02-04T00:00:00Z", restored="2024-02-04T06:00:00Z",
             extent="SERVICE TRANSFORMER"),
        _row("R1", start="", first_seen="2024-02-04T04:30:00Z", restored="2024-02-04T05:00:00Z"),
        _row("R2", start="", restored="2024-02-04T10:00:00Z", extent="CUSTOMER"),
        _row("R3", start="", restored="2024-02-04T10:00:00Z", extent="DEVICE"),
    ]))
    by_id = {e.event_id: e for e in history.events}
    assert (by_id["R1"].start_s, by_id["R1"].start_from) == (int(4.5 * 3600), StartFrom.FIRST_SEEN)
    assert (by_id["R2"].start_s, by_id["R2"].start_from) == (8 * 3600, StartFrom.MEDIAN_DURATION)
    assert (by_id["R3"].start_s, by_id["R3"].start_from) == (7 * 3600, StartFrom.MEDIAN_DURATION)
    counts = history.inference_counts()
    assert (counts["restoration_only"], counts["start_from_first_seen"],
            counts["start_from_median_duration"]) == (3, 1, 2)


def test_restoration_only_rows_without_any_recorded_start_are_bad_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_row("R1", start="", first_seen="2024-02-04T00:30:00Z"), _row("R2", start="")])
    with pytest.raises(HistoryError, match=r"history.csv:3: no start and no first seen, and no row of the "
                                           r"history has a start"):
        read_history(path)
    history = read_history(path, skip_bad_rows=True)
    assert [e.event_id for e in history.events] == ["R1"] and len(history.skipped) == 1


def test_a_restoration_before_first_seen_names_first_seen(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_row("R1", start="", first_seen="2024-02-04T04:00:00Z")])
    with pytest.raises(HistoryError, match=r"history.csv:2: restoration .* is before the first seen"):
        read_history(path)
