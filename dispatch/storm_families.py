"""Storm instances (docs/formats.md) from parameterised generators, not cut from one region:
the benchmark families on which the solver's anytime phase is measured (issue 19).

A family fixes the knobs that change what a good plan looks like: the horizon (16 h: most
orders wait past it; 72 h: most are served, ~30 a route), the number of depots, the crews'
skill sets and the orders' skills, the range of repair times, the share of critical
customers and how long ago the orders were reported. ``family_instance`` draws an instance
of a family; the same (family, size, seed) always gives the same instance.

Geometry: depots spread over a square (jittered grid), orders in storm cells (gaussian
blobs) over a uniform background; an order's area class (its arrival limit: urban 45 min,
rural 90, remote 120) follows its distance from the nearest depot. Crews are shared out over
the depots. The ``grid`` family is ``dispatch.instances.storm_instance`` (orders cut from a
generated storm on the default region); the others are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CRITICAL_PRIORITY = 10
MINUTE = 60
HOUR = 3600


@dataclass(frozen=True, slots=True)
class StormFamily:
    """The knobs of a synthetic storm generator (times in hours or minutes as named)."""

    name: str
    horizon_h: float = 16.0
    depots: int = 8
    side_km: float = 80.0
    # crews' skill sets and the share of crews holding each
    crew_skills: tuple[tuple[tuple[str, ...], float], ...] = (
        (("lv",), 0.5), (("lv", "mv"), 0.35), (("lv", "mv", "cable"), 0.15))
    # orders' skills and their shares
    order_skills: tuple[tuple[str, float], ...] = (("lv", 0.75), ("mv", 0.2), ("cable", 0.05))
    repair_min: tuple[float, float] = (20.0, 900.0)
    # repair times: lognormal with this median (minutes) and sigma, clipped to ``repair_min``
    repair_median_min: float = 90.0
    repair_sigma: float = 0.9
    critical_share: float = 0.01
    reported_within_h: float = 1.0
    storm_cells: int = 6
    in_cells: float = 0.7
    # share of crews arriving late (mutual aid) and when they start
    late_crews: float = 0.0
    late_start_h: float = 0.0
    lateness_weight: int = 100

    def describe(self) -> str:
        crews = ", ".join(f"{'+'.join(s)} {share:.0%}" for s, share in self.crew_skills)
        return (f"{self.horizon_h:g} h horizon, {self.depots} depots, crews {crews}, repairs "
                f"{self.repair_min[0]:g}-{self.repair_min[1]:g} min, {self.critical_share:.0%} "
                f"critical, reported within {self.reported_within_h:g} h")


# The "other family": 12 depots, crews lv / lv+mv / lv+mv+cable in 50/35/15 %,
# repairs of 20-900 min, 1 % critical, all reported within the last hour, 72 h horizon.
OTHER_72H = StormFamily("other-72h", horizon_h=72.0, depots=12)
FAMILIES: dict[str, StormFamily | None] = {
    "grid-16h": None,  # dispatch.instances.storm_instance on the default region
    "other-72h": OTHER_72H,
    "other-16h": StormFamily("other-16h", horizon_h=16.0, depots=12),
    "compact-16h": StormFamily(
        "compact-16h", horizon_h=16.0, depots=4, side_km=40.0,
        crew_skills=((("lv", "mv"), 0.7), (("lv", "mv", "cable"), 0.3)),
        order_skills=(("lv", 0.85), ("mv", 0.12), ("cable", 0.03)),
        repair_min=(10.0, 240.0), repair_median_min=45.0, repair_sigma=0.7,
        critical_share=0.05, reported_within_h=3.0, storm_cells=3),
    "wide-72h": StormFamily(
        "wide-72h", horizon_h=72.0, depots=15, side_km=150.0,
        crew_skills=((("lv",), 0.6), (("mv",), 0.3), (("cable",), 0.1)),
        order_skills=(("lv", 0.7), ("mv", 0.25), ("cable", 0.05)),
        repair_min=(30.0, 1200.0), repair_median_min=100.0, repair_sigma=1.0,
        critical_share=0.03, reported_within_h=6.0, storm_cells=10, in_cells=0.5,
        late_crews=0.3, late_start_h=12.0),
}


def family_instance(family: str | StormFamily, *, n_orders: int, n_crews: int,
                    seed: int) -> dict[str, object]:
    """An instance of ``family`` (a name of ``FAMILIES`` or a ``StormFamily``) with
    ``n_orders`` orders and ``n_crews`` crews; deterministic for ``seed``."""
    if isinstance(family, str):
        fam = FAMILIES[family]
        if fam is None:
            from dispatch.instances import storm_instance
            from grid_model.region import load_region

            return storm_instance(load_region(), n_orders=n_orders, n_crews=n_crews, seed=seed,
                                  name=f"{family}-{n_orders}x{n_crews}-s{seed}")
        return synthetic_instance(fam, n_orders=n_orders, n_crews=n_crews, seed=seed)
    return synthetic_instance(family, n_orders=n_orders, n_crews=n_crews, seed=seed)


def _depots(f: StormFamily, rng: np.random.Generator) -> np.ndarray:
    """``f.depots`` points on a jittered grid over the square (metres)."""
    side = f.side_km * 1000.0
    cols = int(np.ceil(np.sqrt(f.depots)))
    rows = int(np.ceil(f.depots / cols))
    cells = rng.permutation(rows * cols)[: f.depots]
    cx = (cells % cols + rng.uniform(0.25, 0.75, f.depots)) * side / cols
    cy = (cells // cols + rng.uniform(0.25, 0.75, f.depots)) * side / rows
    return np.column_stack([cx, cy])


def _pick(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of the indices of ``shares`` (normalised), in proportion, shuffled."""
    p = shares / shares.sum()
    counts = np.floor(p * n).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(p * n - counts))[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(p)), counts))


def synthetic_instance(f: StormFamily, *, n_orders: int, n_crews: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng([seed, 19])
    side = f.side_km * 1000.0
    depots = _depots(f, rng)
    # orders: storm cells over a uniform background
    centres = rng.uniform(0.1 * side, 0.9 * side, (f.storm_cells, 2))
    spread = rng.uniform(0.04, 0.12, f.storm_cells) * side
    in_cell = rng.random(n_orders) < f.in_cells
    cell = rng.integers(0, f.storm_cells, n_orders)
    xy = rng.uniform(0.0, side, (n_orders, 2))
    blob = centres[cell] + rng.normal(0.0, 1.0, (n_orders, 2)) * spread[cell, None]
    xy[in_cell] = blob[in_cell]
    xy = np.clip(xy, 0.0, side)
    near = np.min(np.hypot(xy[:, None, 0] - depots[None, :, 0], xy[:, None, 1] - depots[None, :, 1]),
                  axis=1)
    limit = np.where(near < side / 12, 45 * MINUTE, np.where(near < side / 6, 90 * MINUTE, 120 * MINUTE))
    skill_names = [s for s, _ in f.order_skills]
    skill = _pick(rng, np.array([sh for _, sh in f.order_skills]), n_orders)
    lo, hi = f.repair_min
    repair = np.clip(f.repair_median_min * rng.lognormal(0.0, f.repair_sigma, n_orders), lo, hi)
    service = np.rint(repair * MINUTE).astype(np.int64)
    # customers: LV faults a street, MV and cable faults a feeder section
    base = np.where(np.array(skill_names)[skill] == "lv", 6.0, 250.0)
    customers = np.maximum(1, np.rint(base * rng.lognormal(0.0, 1.0, n_orders))).astype(np.int64)
    critical = rng.random(n_orders) < f.critical_share
    reported = -np.rint(rng.uniform(0.0, f.reported_within_h * HOUR, n_orders)).astype(np.int64)
    orders = [{"id": f"W{j + 1:05d}", "x": round(float(xy[j, 0]), 1), "y": round(float(xy[j, 1]), 1),
               "reported": int(reported[j]), "deadline": int(reported[j] + limit[j]),
               "service": int(service[j]), "skill": skill_names[skill[j]],
               "customers": int(customers[j]),
               "priority": CRITICAL_PRIORITY if critical[j] else 1} for j in range(n_orders)]
    horizon = round(f.horizon_h * HOUR)
    sets = _pick(rng, np.array([sh for _, sh in f.crew_skills]), n_crews)
    home = rng.permutation(np.arange(n_crews) % f.depots)
    late = rng.random(n_crews) < f.late_crews
    crews = [{"id": f"C{r + 1:03d}", "x": round(float(depots[home[r], 0]), 1),
              "y": round(float(depots[home[r], 1]), 1),
              "start": int(f.late_start_h * HOUR) if late[r] else 0, "end": horizon,
              "skills": sorted(f.crew_skills[sets[r]][0])} for r in range(n_crews)]
    return {"name": f"{f.name}-{n_orders}x{n_crews}-s{seed}", "time_unit": "s", "horizon": horizon,
            "lateness_weight": f.lateness_weight,
            "travel": {"kind": "euclidean", "speed_kmh": 35.0, "detour": 1.3},
            "crews": crews, "orders": orders}
