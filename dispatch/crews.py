"""Who works an outage: first responders and repair crews, their skills, shifts and hours of
service, and the rosters of the embedded region (storm and ordinary day) and of roster files.

First responders are the transformer-area managers (台区经理) and the service stations'
patrols: light vehicles, LV skill only. They go to every new incident at once, make it safe,
find the device, fix small faults on the spot and hand the rest to repair crews.

Roster sizes (``RosterParams``): one transformer-area manager per 2,500 customers, State Grid's
ratio under the 台区经理 system (about 180,000 managers for some 460 million customers), each
based at the centre of the customers he looks after; three patrols per service station (one a
shift). Repair crews per station by area class (urban 30, rural 22, remote 16) are a prefecture's whole storm
mobilisation, contractors included; on an ordinary day a quarter of them are on the roster.
Everyone works one of three 16-hour shifts starting eight hours apart (06:00, 14:00 and 22:00
of a storm that starts at 06:00): 8 hours of rest follow every duty period, two thirds of the
crews are on duty at any hour, and the shifts change at different times, so there is always a
crew fresh enough to start a job.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from pyproj import Transformer
from scipy.cluster.vq import kmeans2

from grid_model.network import SKILLS, AreaClass
from grid_model.region import Depot, Region, Staging

DAY = 86_400
HOUR = 3600


class CrewRole(StrEnum):
    """What a crew is on the roster for (any crew may still take a first response)."""

    FIRST_RESPONDER = "first_responder"
    REPAIR = "repair"


RELAY_S = 8 * HOUR


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file and line, or the crew."""


@dataclass(frozen=True, slots=True)
class DutyRules:
    """Hours of service: at most ``max_duty_s`` on duty in a row, then ``min_rest_s`` of rest.
    No job is started that cannot end inside the duty limit; work longer than ``relay_s`` (a
    cable fault, a feeder rebuilt) is done in relays, each crew starting it with at least that
    much duty left and handing it over at its limit."""

    max_duty_s: int = 16 * HOUR
    min_rest_s: int = 8 * HOUR
    relay_s: int = RELAY_S

    def __post_init__(self) -> None:
        if self.max_duty_s <= 0 or self.min_rest_s <= 0:
            raise RosterError("duty limit and rest period must be positive")
        if self.max_duty_s < self.min_rest_s:
            raise RosterError(f"duty limit {self.max_duty_s / HOUR:g} h is shorter than the rest period "
                              f"{self.min_rest_s / HOUR:g} h")
        if not 0 < self.relay_s <= self.max_duty_s:
            raise RosterError(f"relay work {self.relay_s / HOUR:g} h must be positive and within the "
                              f"duty limit")


@dataclass(frozen=True, slots=True)
class Crew:
    """A crew and its daily shift: on duty from ``shift_start_s`` (seconds after the storm
    clock's start) for ``shift_hours``, every day; a mutual-aid crew only from ``joins_s``."""

    crew_id: str
    depot_id: str
    x_m: float
    y_m: float
    skills: frozenset[str]
    shift_start_s: int
    shift_hours: float
    joins_s: int = 0
    role: CrewRole = CrewRole.REPAIR
    duty: DutyRules = field(default_factory=DutyRules)

    def __post_init__(self) -> None:
        if not self.skills:
            raise RosterError(f"crew {self.crew_id}: no skill (give at least one of {', '.join(SKILLS)})")
        unknown = sorted(self.skills - set(SKILLS))
        if unknown:
            raise RosterError(f"crew {self.crew_id}: unknown skill(s) {', '.join(unknown)}; "
                              f"known: {', '.join(SKILLS)}")
        if not 0 < self.shift_hours * HOUR <= self.duty.max_duty_s:
            raise RosterError(f"crew {self.crew_id}: a {self.shift_hours:g} h shift breaks the "
                              f"{self.duty.max_duty_s / HOUR:g} h duty limit")
        if DAY - self.shift_hours * HOUR < self.duty.min_rest_s:
            raise RosterError(f"crew {self.crew_id}: a {self.shift_hours:g} h daily shift leaves less "
                              f"than the {self.duty.min_rest_s / HOUR:g} h rest period")

    def shifts(self, until_s: int) -> list[tuple[int, int]]:
        """(start, end) of every shift that begins before ``until_s``."""
        out = []
        start = self.shift_start_s - DAY
        while start < until_s:
            end = start + int(self.shift_hours * HOUR)
            if end > self.joins_s:
                out.append((max(start, self.joins_s), end))
            start += DAY
        return out

    def shift_at(self, t_s: int) -> tuple[int, int] | None:
        """The shift under way at ``t_s``, else the next one within two days, else None."""
        for start, end in self.shifts(t_s + 2 * DAY):
            if end > t_s:
                return start, end
        return None


@dataclass(frozen=True, slots=True)
class RosterParams:
    """How many crews of each kind the embedded region's roster holds (see the module
    docstring); ``repair_scale`` and ``responder_scale`` multiply the usual numbers."""

    customers_per_manager: int = 2500
    patrols_per_station: int = 3
    repair_scale: float = 1.0
    responder_scale: float = 1.0

    @classmethod
    def normal_day(cls) -> RosterParams:
        return cls(repair_scale=0.25)


_SKILL_MIX = {
    AreaClass.URBAN: ((("lv",), 0.40), (("lv", "mv"), 0.25), (("mv",), 0.15), (("mv", "cable"), 0.20)),
    AreaClass.RURAL: ((("lv",), 0.45), (("lv", "mv"), 0.35), (("mv",), 0.20)),
    AreaClass.REMOTE: ((("lv",), 0.45), (("lv", "mv"), 0.35), (("mv",), 0.20)),
}
_CREWS_PER_DEPOT = {AreaClass.URBAN: 30, AreaClass.RURAL: 22, AreaClass.REMOTE: 16}
# Three 16-hour shifts eight hours apart, from the storm clock's start.
_SHIFT_STARTS = (0, 8 * HOUR, 16 * HOUR)
# Transformer-area managers are named by the area class of their patch (M: mountain, remote).
_AREA_LETTER = {AreaClass.URBAN: "U", AreaClass.RURAL: "R", AreaClass.REMOTE: "M"}
SHIFT_HOURS = 16.0


def _depot_crews(depot: Depot, count: int, rng: np.random.Generator,
                 skills: frozenset[str] = frozenset()) -> list[Crew]:
    """``count`` repair crews of a depot: the given skills, else each drawn from the depot's
    area mix; in turn on the three shifts."""
    mixes, shares = zip(*_SKILL_MIX[AreaClass(depot.area)], strict=True)
    picks = rng.choice(len(mixes), count, p=np.array(shares))
    return [Crew(crew_id=f"{depot.depot_id}-C{k + 1:02d}", depot_id=depot.depot_id, x_m=depot.x_m,
                 y_m=depot.y_m, skills=skills or frozenset(mixes[picks[k]]),
                 shift_start_s=_SHIFT_STARTS[k % 3], shift_hours=SHIFT_HOURS)
            for k in range(count)]


def region_roster(region: Region, *, seed: int = 0, scale: float = 1.0) -> list[Crew]:
    """Repair crews of every depot, its usual number scaled by ``scale`` (at least two)."""
    rng = np.random.default_rng([seed, region.seed])
    crews = []
    for depot in region.depots:
        crews += _depot_crews(depot, max(2, round(_CREWS_PER_DEPOT[AreaClass(depot.area)] * scale)), rng)
    return crews


def region_responders(region: Region, *, seed: int = 0, params: RosterParams | None = None) -> list[Crew]:
    """First responders of the region: transformer-area managers, each at the centre of the
    customers of his patch (k-means over the customers of each area class), and the service
    stations' patrols; alternately on the two storm shifts."""
    p = params or RosterParams()
    rng = np.random.default_rng([seed, region.seed, 3])
    cust = region.customers
    xy = np.column_stack([cust["x_m"].to_numpy(), cust["y_m"].to_numpy()])
    area = cust["area"].to_numpy()
    depots = list(region.depots)
    out: list[Crew] = []
    for cls in AreaClass:
        members = xy[area == int(cls)]
        k = round(len(members) / p.customers_per_manager * p.responder_scale)
        if not len(members) or k < 1:
            continue
        k = min(k, len(members))
        centres, _ = kmeans2(members, members[rng.choice(len(members), k, replace=False)], iter=20,
                             minit="matrix", seed=rng)
        for c in centres:
            out.append(_responder(f"TM-{_AREA_LETTER[cls]}{len(out) + 1:03d}", _nearest_depot(depots, c),
                                  float(c[0]), float(c[1]), len(out)))
    per_station = round(p.patrols_per_station * p.responder_scale)
    for d in depots:
        for k in range(per_station):
            out.append(_responder(f"{d.depot_id}-P{k + 1}", d.depot_id, d.x_m, d.y_m, k))
    return out


def _nearest_depot(depots: Sequence[Depot], xy: np.ndarray) -> str:
    if not depots:
        return ""
    d = np.hypot([p.x_m - xy[0] for p in depots], [p.y_m - xy[1] for p in depots])
    return depots[int(np.argmin(d))].depot_id


def _responder(crew_id: str, depot_id: str, x: float, y: float, k: int) -> Crew:
    return Crew(crew_id=crew_id, depot_id=depot_id, x_m=x, y_m=y, skills=frozenset({"lv"}),
                shift_start_s=_SHIFT_STARTS[k % 3], shift_hours=SHIFT_HOURS, role=CrewRole.FIRST_RESPONDER)


def storm_roster(region: Region, *, seed: int = 0, params: RosterParams | None = None) -> list[Crew]:
    """The region's whole roster: repair crews and first responders."""
    p = params or RosterParams()
    return (region_roster(region, seed=seed, scale=p.repair_scale)
            + region_responders(region, seed=seed, params=p))


def region_staging(region: Region) -> list[Staging]:
    """The region's depots, each weighted by its usual number of crews."""
    return [Staging(d, float(_CREWS_PER_DEPOT[AreaClass(d.area)])) for d in region.depots]


def staged_roster(depots: Sequence[Staging], n: int, *, seed: int = 0) -> list[Crew]:
    """``n`` repair crews staged over ``depots`` in proportion to their shares (largest
    remainder), skills as the staging says or drawn from each depot's area mix."""
    if n < 1:
        raise ValueError(f"a roster needs at least one crew, got {n}")
    counts = _shares(depots, n)
    rng = np.random.default_rng([seed, 11])
    return [crew for staging, count in zip(depots, counts, strict=True)
            for crew in _depot_crews(staging.depot, count, rng, staging.skills)]


def staged_responders(depots: Sequence[Staging], n: int) -> list[Crew]:
    """``n`` first responders staged over ``depots`` in proportion to their shares."""
    out: list[Crew] = []
    for staging, count in zip(depots, _shares(depots, n) if n else [0] * len(depots), strict=True):
        d = staging.depot
        out += [_responder(f"{d.depot_id}-P{k + 1:02d}", d.depot_id, d.x_m, d.y_m, k) for k in range(count)]
    return out


def _shares(depots: Sequence[Staging], n: int) -> list[int]:
    """``n`` split over ``depots`` by their weights (largest remainder)."""
    weights = np.array([max(s.crews, 0.0) for s in depots], dtype=np.float64)
    if not len(weights) or weights.sum() <= 0:
        raise ValueError("no depot to stage crews at")
    share = weights / weights.sum() * n
    counts = np.floor(share).astype(np.int64)
    for k in np.argsort(-(share - counts), kind="stable")[: n - int(counts.sum())]:
        counts[k] += 1
    return [int(c) for c in counts]


def mutual_aid(region: Region, n: int, *, joins_s: int, seed: int = 0) -> list[Crew]:
    """``n`` visiting repair crews (lv and mv skills) arriving at ``joins_s``, spread over the
    depots round-robin, working a 16-hour shift from then on, every day."""
    rng = np.random.default_rng([seed, region.seed, 7])
    depots = list(region.depots)
    if n and not depots:
        raise ValueError("mutual-aid crews need a depot to join at")
    order = rng.permutation(len(depots))
    crews = []
    for k in range(n):
        depot = depots[order[k % len(depots)]]
        crews.append(Crew(
            crew_id=f"MA-C{k + 1:03d}", depot_id=depot.depot_id, x_m=depot.x_m, y_m=depot.y_m,
            skills=frozenset({"lv", "mv"}), shift_start_s=joins_s % DAY, shift_hours=SHIFT_HOURS,
            joins_s=joins_s))
    return crews


_ROSTER_COLUMNS = ("crew_id", "role", "lat", "lon", "skills", "shift_start_h", "shift_hours")


def read_roster(path: Path, crs: str) -> list[Crew]:
    """A planner's roster: CSV ``crew_id,role,lat,lon,skills,shift_start_h,shift_hours`` and
    optionally ``depot_id``, ``duty_limit_h``, ``rest_h``. ``role`` is ``first_responder`` or
    ``repair``, ``skills`` space-separated (lv mv cable), ``shift_start_h`` hours after the
    storm clock's start. A bad line stops the read with the file, line and reason."""
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    out: list[Crew] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _ROSTER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                out.append(_roster_row(row, to_utm))
            except (RosterError, ValueError) as exc:
                raise RosterError(f"{path}:{line}: {exc}") from None
            if out[-1].crew_id in seen:
                raise RosterError(f"{path}:{line}: crew {out[-1].crew_id} is listed twice")
            seen.add(out[-1].crew_id)
    if not out:
        raise RosterError(f"{path}: no crew")
    return out


def _number(row: dict[str, str | None], key: str, default: float | None = None) -> float:
    """A finite number from the row's ``key`` (``default`` when empty and one is given)."""
    text = (row.get(key) or "").strip()
    if not text and default is not None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise RosterError(f"{key} must be a number, got {row.get(key)!r}") from None
    if not math.isfinite(value):
        raise RosterError(f"{key} must be a finite number, got {row.get(key)!r}")
    return value


def _roster_row(row: dict[str, str | None], to_utm: Transformer) -> Crew:
    if None in row:
        raise RosterError("more fields than the header names")
    short = [k for k in _ROSTER_COLUMNS if row.get(k) is None]
    if short:
        raise RosterError(f"the row ends before {', '.join(short)}")
    crew_id = (row["crew_id"] or "").strip()
    if not crew_id:
        raise RosterError("crew_id is empty")
    try:
        role = CrewRole((row["role"] or "").strip())
    except ValueError:
        raise RosterError(f"role {row['role']!r} is not one of "
                          f"{', '.join(r.value for r in CrewRole)}") from None
    numbers = {key: _number(row, key) for key in ("lat", "lon", "shift_start_h", "shift_hours")}
    if not (-90 <= numbers["lat"] <= 90 and -180 <= numbers["lon"] <= 180):
        raise RosterError(f"position {numbers['lat']}, {numbers['lon']} is out of range")
    if not 0 < numbers["shift_hours"] <= 24:
        raise RosterError(f"shift_hours must be more than 0 and at most 24, got {numbers['shift_hours']}")
    limit, rest = (round(_number(row, key, default) * HOUR) for key, default in (("duty_limit_h", 16),
                                                                               ("rest_h", 8)))
    duty = DutyRules(limit, rest, min(limit, RELAY_S))
    x, y = to_utm.transform(numbers["lon"], numbers["lat"])
    return Crew(crew_id=crew_id, depot_id=(row.get("depot_id") or "").strip(), x_m=float(x), y_m=float(y),
                skills=frozenset((row["skills"] or "").split()),
                shift_start_s=round(numbers["shift_start_h"] * HOUR) % DAY,
                shift_hours=numbers["shift_hours"], role=role, duty=duty)
