"""Rosters: the region's first responders and shifts, and roster files checked line by line (an
unknown skill, a crew with no skill, a duty limit shorter than the rest period are refused with
the line and the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.crews import (
    DAY,
    Crew,
    CrewRole,
    DutyRules,
    RosterError,
    read_roster,
    region_responders,
    storm_roster,
)
from grid_model.region import Region

HEADER = "crew_id,role,lat,lon,skills,shift_start_h,shift_hours"


def test_the_region_has_first_responders_near_their_customers_on_three_shifts(small_region: Region) -> None:
    responders = region_responders(small_region)
    managers = [c for c in responders if c.crew_id.startswith("TM-")]
    patrols = [c for c in responders if not c.crew_id.startswith("TM-")]
    # one manager per 2,500 customers of each area class, three patrols per station
    per_class = small_region.customers["area"].value_counts()
    assert len(managers) == sum(round(n / 2500) for n in per_class) > 0
    assert len(patrols) == 3 * len(small_region.depots)
    assert all(c.role == CrewRole.FIRST_RESPONDER and c.skills == frozenset({"lv"}) for c in responders)
    roster = storm_roster(small_region)
    starts = {c.shift_start_s for c in roster}
    assert starts == {0, 8 * 3600, 16 * 3600}
    # every hour, about two thirds of the roster on duty (each station's crews split in three)
    for t in range(0, DAY, 3600):
        on = sum(1 for c in roster if any(a <= t + 1 < b for a, b in c.shifts(t + 2)))
        assert 0.6 * len(roster) <= on <= 0.72 * len(roster)


def test_a_roster_file_is_read_with_its_duty_rules(tmp_path: Path, small_region: Region) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([
        HEADER + ",depot_id,duty_limit_h,rest_h",
        "TM1,first_responder,28.95,118.87,lv,0,12,D01,12,10",
        "R1,repair,28.95,118.87,lv mv,6,16,D01,,",
    ]) + "\n", encoding="utf-8")
    tm1, r1 = read_roster(path, small_region.crs)
    assert (tm1.role, tm1.skills, tm1.duty) == (CrewRole.FIRST_RESPONDER, frozenset({"lv"}),
                                                DutyRules(12 * 3600, 10 * 3600, 8 * 3600))
    assert (r1.role, r1.skills, r1.shift_start_s, r1.duty) == (CrewRole.REPAIR, frozenset({"lv", "mv"}),
                                                               6 * 3600, DutyRules())
    assert 650_000 < tm1.x_m < 720_000  # projected to the region's UTM zone


@pytest.mark.parametrize(("row", "reason"), [
    ("R1,repair,28.95,118.87,lv hv,0,16", "roster.csv:2: crew R1: unknown skill.s. hv"),
    ("R1,repair,28.95,118.87,,0,16", "roster.csv:2: crew R1: no skill"),
    ("R1,repair,28.95,118.87,lv,0,16,,6,8", "roster.csv:2: duty limit 6 h is shorter than the rest period"),
    ("R1,repair,28.95,118.87,lv,0,20", "roster.csv:2: crew R1: a 20 h shift breaks the 16 h duty limit"),
    ("R1,lineman,28.95,118.87,lv,0,16", "roster.csv:2: role 'lineman' is not one of first_responder, repair"),
    ("R1,repair,north,118.87,lv,0,16", "roster.csv:2: lat must be a number"),
    ("R1,repair,95,118.87,lv,0,16", "roster.csv:2: position 95.0, 118.87 is out of range"),
    ("R1,repair,28.95", "roster.csv:2: the row ends before lon, skills, shift_start_h, shift_hours"),
    ("R1,repair,28.95,118.87,lv,0,16,,16,8,extra", "roster.csv:2: more fields than the header names"),
    ("R1,repair,28.95,118.87,lv,0,inf", "roster.csv:2: shift_hours must be a finite number, got 'inf'"),
    ("R1,repair,28.95,118.87,lv,0,0", "roster.csv:2: shift_hours must be more than 0 and at most 24"),
    ("R1,repair,28.95,118.87,lv,0,16,,nan,8", "roster.csv:2: duty_limit_h must be a finite number"),
    ("R1,repair,28.95,118.87,lv,0,16,,16,eight", "roster.csv:2: rest_h must be a number, got 'eight'"),
])
def test_a_bad_roster_line_is_refused_with_the_line_and_the_reason(
        tmp_path: Path, small_region: Region, row: str, reason: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(f"{HEADER},depot_id,duty_limit_h,rest_h\n{row}\n", encoding="utf-8")
    with pytest.raises(RosterError, match=reason):
        read_roster(path, small_region.crs)


def test_a_crew_listed_twice_or_a_missing_column_is_refused(tmp_path: Path, small_region: Region) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(f"{HEADER}\nR1,repair,28.95,118.87,lv,0,16\nR1,repair,28.95,118.87,mv,0,16\n",
                    encoding="utf-8")
    with pytest.raises(RosterError, match=r"roster\.csv:3: crew R1 is listed twice"):
        read_roster(path, small_region.crs)
    path.write_text("crew_id,role,lat,lon\nR1,repair,28.95,118.87\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"missing column\(s\) skills, shift_start_h, shift_hours"):
        read_roster(path, small_region.crs)


def test_a_shift_that_leaves_too_little_rest_is_refused() -> None:
    with pytest.raises(RosterError, match="leaves less than the 8 h rest period"):
        Crew("R1", "D01", 0.0, 0.0, frozenset({"lv"}), 0, 16.5, duty=DutyRules(17 * 3600, 8 * 3600))
