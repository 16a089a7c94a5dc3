"""Column mappings: a history with other column names, local times in another format and its
own extent names reads to the same events as PG&E's columns; bad mapping files and columns a
mapping names but the file lacks are refused with the file and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.history import HistoryError, read_history
from grid_model.history_columns import FORMATS, ColumnMappingError, read_column_mapping

PGE = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,city,circuit_id,device_id,extent,"
       "customers,cause,crew_statuses,first_etor_utc\n"
       "E1,2024-02-04T09:30:00Z,,2024-02-04T11:00:00Z,36.6,-121.6,Salinas,C9,D2,CUSTOMER,1,WIND,,\n"
       "E2,2024-02-04T10:00:00Z,,2024-02-04T14:15:00Z,37.3,-121.9,San Jose,C7,D1,SERVICE TRANSFORMER,12,"
       "TREE,,2024-02-04T13:00:00Z\n")
# The same two outages as another utility exports them: its own names, Pacific local times.
OTHER = ("OUTAGE_ID,OUTAGE_TIME,RESTORE_TIME,LATITUDE,LONGITUDE,FEEDER,NUM_CUST_OUT,DEVICE_TYPE,ETR\n"
         "E1,02/04/2024 01:30,02/04/2024 03:00,36.6,-121.6,C9,1,SVC,\n"
         "E2,02/04/2024 02:00,02/04/2024 06:15,37.3,-121.9,C7,12,XFMR,02/04/2024 05:00\n")
MAPPING = """
[columns]
event_id = "OUTAGE_ID"
start = "OUTAGE_TIME"
restored = "RESTORE_TIME"
lat = "LATITUDE"
lon = "LONGITUDE"
circuit_id = "FEEDER"
customers = "NUM_CUST_OUT"
extent = "DEVICE_TYPE"
first_etr = "ETR"

[times]
format = "%m/%d/%Y %H:%M"
timezone = "America/Los_Angeles"

[extents]
svc = "customer"
XFMR = "SERVICE TRANSFORMER"
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_renamed_columns_read_to_the_same_events_as_pge_columns(tmp_path: Path) -> None:
    mapping = read_column_mapping(_write(tmp_path / "other.toml", MAPPING))
    other = read_history(_write(tmp_path / "other.csv", OTHER), mapping=mapping)
    pge = read_history(_write(tmp_path / "pge.csv", PGE), mapping=FORMATS["pge"])
    strip = [(e.event_id, e.start_s, e.restored_s, e.lat, e.lon, e.extent, e.customers, e.circuit_id,
              e.first_etr_s) for e in pge.events]
    assert [(e.event_id, e.start_s, e.restored_s, e.lat, e.lon, e.extent, e.customers, e.circuit_id,
             e.first_etr_s) for e in other.events] == strip
    assert other.epoch == pge.epoch and other.epoch.isoformat() == "2024-02-04T09:30:00+00:00"
    assert other.inference_counts()["extent_inferred"] == 0
    assert other.inference_counts()["without_device_id"] == 2


@pytest.mark.parametrize(("text", "reason"), [
    (MAPPING.replace('customers = "NUM_CUST_OUT"', 'clients = "NUM_CUST_OUT"'),
     r"unknown field\(s\) clients in \[columns\]; known: event_id, start"),
    (MAPPING.replace('restored = "RESTORE_TIME"\n', ""), r"\[columns\] must map restored"),
    (MAPPING.replace('start = "OUTAGE_TIME"\n', ""), r"\[columns\] must map start or first_seen"),
    (MAPPING.replace('"FEEDER"', '"OUTAGE_ID"'),
     "fields event_id and circuit_id both read column 'OUTAGE_ID'"),
    (MAPPING.replace("America/Los_Angeles", "Pacific Standard"),
     "times.timezone 'Pacific Standard' is not an IANA time zone"),
    (MAPPING.replace('"SERVICE TRANSFORMER"', '"POLE"'), "extents.XFMR = 'POLE' is not one of CUSTOMER"),
    (MAPPING.replace('format = "%m/%d/%Y %H:%M"', "format = 3"), "times.format must be a non-empty string"),
    (MAPPING.replace('format = "%m/%d/%Y %H:%M"', 'format = "%m/%d/%Y %Q"'),
     "times.format '%m/%d/%Y %Q' cannot read the times it writes: 'Q' is a bad directive"),
    (MAPPING + "\n[units]\nx = 1\n", r"unknown table\(s\) units"),
    ("[columns\n", "not valid TOML"),
])
def test_bad_mapping_files_are_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ColumnMappingError, match=f"other.toml: {reason}"):
        read_column_mapping(_write(tmp_path / "other.toml", text))


def test_a_mapped_column_not_in_the_history_is_refused_with_both_files(tmp_path: Path) -> None:
    mapping = read_column_mapping(_write(tmp_path / "other.toml", MAPPING.replace('"ETR"', '"FIRST_ETR"')))
    with pytest.raises(HistoryError, match=r"other.csv: missing column\(s\) FIRST_ETR \(field\(s\) first_etr "
                                           r"of .*other.toml\)"):
        read_history(_write(tmp_path / "other.csv", OTHER), mapping=mapping)


def test_times_in_the_wrong_format_or_without_a_zone_stop_the_read_with_the_line(tmp_path: Path) -> None:
    history = _write(tmp_path / "other.csv", OTHER.replace("02/04/2024 06:15", "4 Feb 2024 6:15"))
    mapping = read_column_mapping(_write(tmp_path / "other.toml", MAPPING))
    with pytest.raises(HistoryError, match=r"other.csv:3: restoration '4 Feb 2024 6:15' is neither ISO 8601 "
                                           r"nor '%m/%d/%Y %H:%M'"):
        read_history(history, mapping=mapping)
    no_zone = read_column_mapping(_write(tmp_path / "other.toml", MAPPING.replace(
        'timezone = "America/Los_Angeles"', "")))
    with pytest.raises(HistoryError, match=r"other.csv:2: restoration '02/04/2024 03:00' has no UTC offset"):
        read_history(_write(tmp_path / "other.csv", OTHER), mapping=no_zone)
