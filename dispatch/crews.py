"""Repair crews: who they are (depot, skills, shift) and the roster of the embedded region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grid_model.network import AreaClass
from grid_model.region import Depot, Region, Staging

DAY = 86_400
SKILLS = ("lv", "mv", "cable")


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

    def shifts(self, until_s: int) -> list[tuple[int, int]]:
        """(start, end) of every shift that begins before ``until_s``."""
        out = []
        start = self.shift_start_s - DAY
        while start < until_s:
            end = start + int(self.shift_hours * 3600)
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


_SKILL_MIX = {
    AreaClass.URBAN: ((("lv",), 0.40), (("lv", "mv"), 0.25), (("mv",), 0.15), (("mv", "cable"), 0.20)),
    AreaClass.RURAL: ((("lv",), 0.45), (("lv", "mv"), 0.35), (("mv",), 0.20)),
    AreaClass.REMOTE: ((("lv",), 0.45), (("lv", "mv"), 0.35), (("mv",), 0.20)),
}
_CREWS_PER_DEPOT = {AreaClass.URBAN: 30, AreaClass.RURAL: 22, AreaClass.REMOTE: 16}


def _depot_crews(depot: Depot, count: int, rng: np.random.Generator,
                 skills: frozenset[str] = frozenset()) -> list[Crew]:
    """``count`` crews of a depot: the given skills, else each drawn from the depot's area mix;
    two overlapping 16-hour storm shifts (06:00-22:00 and 14:00-06:00 from a 06:00 start)."""
    mixes, shares = zip(*_SKILL_MIX[AreaClass(depot.area)], strict=True)
    picks = rng.choice(len(mixes), count, p=np.array(shares))
    return [Crew(crew_id=f"{depot.depot_id}-C{k + 1:02d}", depot_id=depot.depot_id, x_m=depot.x_m,
                 y_m=depot.y_m, skills=skills or frozenset(mixes[picks[k]]),
                 shift_start_s=0 if k % 2 == 0 else 8 * 3600, shift_hours=16.0)
            for k in range(count)]


def region_roster(region: Region, *, seed: int = 0, scale: float = 1.0) -> list[Crew]:
    """Crews of every depot, its usual number scaled by ``scale`` (at least two)."""
    rng = np.random.default_rng([seed, region.seed])
    crews = []
    for depot in region.depots:
        crews += _depot_crews(depot, max(2, round(_CREWS_PER_DEPOT[AreaClass(depot.area)] * scale)), rng)
    return crews


def region_staging(region: Region) -> list[Staging]:
    """The region's depots, each weighted by its usual number of crews."""
    return [Staging(d, float(_CREWS_PER_DEPOT[AreaClass(d.area)])) for d in region.depots]


def staged_roster(depots: Sequence[Staging], n: int, *, seed: int = 0) -> list[Crew]:
    """``n`` crews staged over ``depots`` in proportion to their shares (largest remainder),
    skills as the staging says or drawn from each depot's area mix."""
    if n < 1:
        raise ValueError(f"a roster needs at least one crew, got {n}")
    weights = np.array([max(s.crews, 0.0) for s in depots], dtype=np.float64)
    if not len(weights) or weights.sum() <= 0:
        raise ValueError("no depot to stage crews at")
    share = weights / weights.sum() * n
    counts = np.floor(share).astype(np.int64)
    for k in np.argsort(-(share - counts), kind="stable")[: n - int(counts.sum())]:
        counts[k] += 1
    rng = np.random.default_rng([seed, 11])
    return [crew for staging, count in zip(depots, counts.tolist(), strict=True)
            for crew in _depot_crews(staging.depot, count, rng, staging.skills)]


def mutual_aid(region: Region, n: int, *, joins_s: int, seed: int = 0) -> list[Crew]:
    """``n`` visiting crews (lv and mv skills) arriving at ``joins_s``, spread over the depots
    round-robin, working the storm's day shift pattern from then on."""
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
            skills=frozenset({"lv", "mv"}), shift_start_s=joins_s % DAY, shift_hours=16.0,
            joins_s=joins_s))
    return crews

