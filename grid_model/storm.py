"""Seeded storm generator: a wind field moving along a track damages assets by their
fragility, the nearest protective device operates, and some of the customers left dark call.
The same generator draws an ordinary day (``StormParams.normal_day``): no wind, every asset
failing at its everyday rate at any hour.

A share of the faults of each class is minor: a fuse blown by a branch brushing the line, a
loose connection, a tripped breaker; the element itself is sound, and re-fusing or resetting
takes minutes (``MINOR_REPAIR_MEDIAN_S``). A first responder with the skill fixes these on the
spot; the rest need a repair crew.

Output is a time-ordered list of events (what the utility sees) and the ground truth (what
really failed), kept apart; ``grid_model.stormfile`` writes and reads both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from grid_model.network import Construction, DeviceKind, NodeKind
from grid_model.region import Region

HOUR = 3600
WEEK = 7 * 24 * HOUR


@dataclass(frozen=True, slots=True)
class StormParams:
    """A storm's track, strength and duration, and how customers report it."""

    seed: int = 1
    kind: str = "typhoon"
    start: str = "2026-08-12T06:00:00+08:00"
    duration_h: float = 30.0
    max_wind_ms: float = 44.0
    radius_km: float = 40.0
    intensity: float = 1.3
    heading_deg: float | None = None
    planned_outages: int = 3
    duplicate_share: float = 0.12
    address_only_share: float = 0.15
    meter_id_share: float = 0.05
    coordinates_only_share: float = 0.04
    # an ordinary day: every asset fails at its full-wind fragility times this, at any hour
    day_hazard: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in SCENARIOS:
            raise ValueError(f"unknown storm kind {self.kind!r}; choose from {', '.join(SCENARIOS)}")

    @classmethod
    def normal_day(cls, seed: int = 1) -> StormParams:
        """An ordinary day's faults over the region (a few hundred calls), from midnight."""
        return cls(seed=seed, kind="day", start="2026-05-12T00:00:00+08:00", duration_h=24.0,
                   planned_outages=2)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


SCENARIOS = ("typhoon", "day")


@dataclass(frozen=True, slots=True)
class FaultClass:
    """Fragility at full wind (probability, or per km for lines), the repair it needs, and the
    share of its faults that are minor (re-fusing or a reset, no damaged part)."""

    name: str
    limit_class: str
    p_overhead: float
    p_cable: float
    per_km: bool
    repair_median_s: float
    minor_share: float


# Minor shares: a storm's line faults are mostly real damage (trees down, broken poles); fuses
# blown by brushing branches and loose connections are the rest. A customer-side fault is the
# customer's own installation and is never a utility repair.
FAULT_CLASSES: dict[int, FaultClass] = {
    NodeKind.FEEDER_HEAD: FaultClass("mv_section", "mv", 0.02, 0.005, False, 5 * HOUR, 0.0),
    NodeKind.MV_NODE: FaultClass("mv_section", "mv", 0.10, 0.008, True, 5 * HOUR, 0.1),
    NodeKind.TRANSFORMER: FaultClass("transformer", "mv", 0.07, 0.012, False, 4 * HOUR, 0.25),
    NodeKind.LV_BRANCH: FaultClass("lv_branch", "lv", 0.12, 0.03, False, 2.5 * HOUR, 0.35),
    NodeKind.SERVICE_DROP: FaultClass("service_drop", "lv", 0.40, 0.16, False, 1.25 * HOUR, 0.25),
    NodeKind.CUSTOMER: FaultClass("customer_side", "lv", 0.035, 0.035, False, 0.5 * HOUR, 0.0),
}
CABLE_REPAIR_FACTOR = 2.0
_OWN_ELEMENT = ("service_drop", "customer_side")  # fault classes that open their own node
MINOR_REPAIR_MEDIAN_S = 20 * 60


@dataclass(frozen=True, slots=True)
class Fault:
    """One damaged element and the element that de-energises for it."""

    fault_id: str
    t_s: int
    node_idx: int
    operates_idx: int
    fault_class: str
    limit_class: str
    repair_s: int


@dataclass(frozen=True, slots=True)
class PlannedOutage:
    outage_id: str
    device_idx: int
    announced_s: int
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class Call:
    """A trouble call as the call-taker records it; exactly one way of locating is filled."""

    call_id: str
    t_s: int
    customer_id: str = ""
    meter_id: str = ""
    address: str = ""
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class Storm:
    params: StormParams
    track_m: tuple[tuple[float, float], tuple[float, float]]
    faults: tuple[Fault, ...]
    planned: tuple[PlannedOutage, ...]
    calls: tuple[Call, ...]
    call_cause: tuple[str, ...]
    call_customer_idx: tuple[int, ...]


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _track(rng: np.random.Generator, region: Region, heading: float | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit points of the storm centre, crossing near the region centre."""
    ang = np.deg2rad(heading if heading is not None else rng.uniform(0, 360))
    ox, oy = region.origin_m
    off = rng.normal(0, 8000.0, 2)
    centre = np.array([ox + off[0], oy + off[1]])
    half = 70_000.0 * np.array([np.cos(ang), np.sin(ang)])
    return centre - half, centre + half


def _exposure(net_x: np.ndarray, net_y: np.ndarray, p0: np.ndarray, p1: np.ndarray,
              duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Closest-approach distance and time of the storm centre for each point."""
    d = p1 - p0
    pts = np.column_stack([net_x, net_y]) - p0
    frac = np.clip(pts @ d / (d @ d), 0.0, 1.0)
    closest = np.outer(frac, d)
    return np.linalg.norm(pts - closest, axis=1), frac * duration_s


@dataclass(frozen=True, slots=True)
class _WindField:
    """A storm's track, and per node its hazard (fragility multiplier), its peak time and the
    spread of its fault times around that peak."""

    p0: np.ndarray
    p1: np.ndarray
    hazard: np.ndarray
    t_peak: np.ndarray
    spread_s: float


def _wind_field(rng: np.random.Generator, region: Region, p: StormParams, duration_s: float) -> _WindField:
    """The wind field's hazard and timing per node: the first draws of a storm's stream, so
    ``generate_storm`` and ``damage_probabilities`` read the same field off the same seed."""
    net = region.network
    if p.kind == "day":
        ox, oy = region.origin_m
        origin = np.array([ox, oy])
        return _WindField(origin, origin, np.full(net.n_nodes, p.day_hazard),
                         rng.uniform(0.0, duration_s, net.n_nodes), 0.0)
    p0, p1 = _track(rng, region, p.heading_deg)
    dist, t_peak = _exposure(net.x_m, net.y_m, p0, p1, duration_s)
    wind = p.max_wind_ms * np.exp(-((dist / (p.radius_km * 1000.0)) ** 2))
    wind *= rng.lognormal(0.0, 0.15, len(wind))
    hazard = p.intensity * np.clip(wind / p.max_wind_ms, 0.0, 1.3) ** 3
    return _WindField(p0, p1, hazard, t_peak, 1.5 * HOUR)


def generate_storm(region: Region, params: StormParams | None = None) -> Storm:
    """A storm over ``region``; deterministic for ``params.seed`` and the region."""
    p = params or StormParams()
    rng = np.random.default_rng([p.seed, region.seed])
    duration_s = p.duration_h * HOUR
    field = _wind_field(rng, region, p, duration_s)
    faults = _damage(rng, np.random.default_rng([p.seed, region.seed, 31]), region, field.hazard,
                     field.t_peak, field.spread_s, duration_s)
    planned = _planned_outages(rng, region, p, duration_s)
    calls, cause, cust_idx = _calls(rng, region, p, faults, planned)
    return Storm(p, (tuple(field.p0.tolist()), tuple(field.p1.tolist())), faults, planned,
                 calls, cause, cust_idx)


def damage_probabilities(region: Region, params: StormParams, until_s: float) -> np.ndarray:
    """Per node, the probability that the storm of ``params`` has it operated (out) by ``until_s``
    (a fault recorded at a second ``t_s <= until_s``): 0 for a node no fault opens. A fault at a
    node opens the node itself for a service drop or a customer's own installation, else the
    nearest device above it; the nodes' faults are independent, so per element
    ``1 - prod(1 - p_fault * p_by_then)`` over the nodes whose faults open it. The hazard and
    peak times are the storm's own (replayed from its seed): what a perfect wind-field damage
    forecast would give, not a draw."""
    rng = np.random.default_rng([params.seed, region.seed])
    duration_s = params.duration_h * HOUR
    field = _wind_field(rng, region, params, duration_s)
    net = region.network
    log_stay = np.zeros(net.n_nodes)
    by_then = _fault_by(field.t_peak, field.spread_s, duration_s, until_s)
    for kind, fc in FAULT_CLASSES.items():
        nodes = np.flatnonzero(net.kind == kind)
        hit = _fault_probability(region, fc, nodes, field.hazard) * by_then[nodes]
        operates = nodes if fc.name in _OWN_ELEMENT else net.device_ancestor[nodes]
        log_stay += np.bincount(operates, weights=np.log1p(-hit), minlength=net.n_nodes)
    return -np.expm1(log_stay)


def _fault_by(t_peak: np.ndarray, spread_s: float, duration_s: float, until_s: float) -> np.ndarray:
    """Per node, the probability that its fault time, ``clip(t_peak + N(0, spread_s), 60,
    duration_s)`` truncated to the second, is at most ``until_s``."""
    bound = math.floor(until_s) + 1  # t_s <= until_s: the time before the truncation is below this
    if bound <= 60:
        return np.zeros(len(t_peak))
    if bound > duration_s:
        return np.ones(len(t_peak))
    if spread_s == 0:
        return (t_peak < bound).astype(float)
    return ndtr((bound - t_peak) / spread_s)


def _fault_probability(region: Region, fc: FaultClass, nodes: np.ndarray, hazard: np.ndarray) -> np.ndarray:
    """Per node of ``nodes``, the probability of a fault of class ``fc`` at its ``hazard``: the
    fragility by construction, per km of the section's line for MV sections."""
    net = region.network
    cable = net.construction[nodes] == Construction.CABLE
    base = np.where(cable, fc.p_cable, fc.p_overhead)
    if fc.per_km:
        return 1.0 - np.exp(-base * net.length_m[nodes] / 1000.0 * hazard[nodes])
    return np.clip(base * hazard[nodes], 0.0, 0.95)


def _damage(rng: np.random.Generator, minor_rng: np.random.Generator, region: Region,
            hazard: np.ndarray, t_peak: np.ndarray, spread_s: float, duration_s: float) -> tuple[Fault, ...]:
    """Faults of every class around each asset's peak time; which are minor is drawn from
    ``minor_rng``, so the faults themselves do not depend on the minor shares."""
    net = region.network
    out: list[tuple[int, int, int, FaultClass]] = []
    for kind, fc in FAULT_CLASSES.items():
        nodes = np.flatnonzero(net.kind == kind)
        prob = _fault_probability(region, fc, nodes, hazard)
        hit = nodes[rng.random(len(nodes)) < prob]
        t = np.clip(t_peak[hit] + rng.normal(0, spread_s, len(hit)), 60, duration_s)
        median = fc.repair_median_s * np.where(net.construction[hit] == Construction.CABLE,
                                               CABLE_REPAIR_FACTOR, 1.0)
        repair = median * rng.lognormal(0.0, 0.35, len(hit))
        minor = minor_rng.random(len(hit)) < fc.minor_share
        repair = np.where(minor, MINOR_REPAIR_MEDIAN_S * minor_rng.lognormal(0.0, 0.3, len(hit)), repair)
        out.extend((int(ti), int(n), int(r), fc) for ti, n, r in zip(t, hit, repair, strict=True))
    out.sort(key=lambda f: (f[0], f[1]))
    faults = []
    for k, (t_s, node, repair_s, fc) in enumerate(out):
        operates = node if fc.name in _OWN_ELEMENT else int(net.device_ancestor[node])
        cable = net.construction[node] == Construction.CABLE
        limit_class = "cable" if cable and fc.name == "mv_section" else fc.limit_class
        faults.append(Fault(f"X{k + 1:05d}", t_s, node, operates, fc.name, limit_class, repair_s))
    return tuple(faults)


def _planned_outages(rng: np.random.Generator, region: Region, p: StormParams,
                     duration_s: float) -> tuple[PlannedOutage, ...]:
    net = region.network
    laterals = np.flatnonzero((net.kind == NodeKind.MV_NODE) & (net.device == DeviceKind.FUSE)
                              & (net.construction == Construction.OVERHEAD))
    chosen = rng.choice(laterals, min(p.planned_outages, len(laterals)), replace=False)
    out = []
    for k, dev in enumerate(sorted(chosen.tolist())):
        start = int(rng.uniform(2, max(3, duration_s / HOUR - 8)) * HOUR)
        end = start + int(rng.uniform(4, 8) * HOUR)
        out.append(PlannedOutage(f"PO{k + 1:03d}", int(dev), start - WEEK, start, end))
    return tuple(out)


def _call_probability(n_out: int) -> float:
    """Share of a dark group that calls: most of a lone household, far fewer of a town."""
    return 0.15 + 0.6 / (1.0 + n_out / 40.0)


def _calls(rng: np.random.Generator, region: Region, p: StormParams, faults: tuple[Fault, ...],
           planned: tuple[PlannedOutage, ...]
           ) -> tuple[tuple[Call, ...], tuple[str, ...], tuple[int, ...]]:
    """Calls of customers at the start of their first outage, plus duplicates and late reports."""
    net = region.network
    n = net.n_nodes
    first_t = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    first_cause = np.full(n, -1, dtype=np.int64)
    by_op: dict[int, tuple[int, int]] = {}
    for k, f in enumerate(faults):
        by_op.setdefault(f.operates_idx, (f.t_s, k))
    for op, (t, k) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        sl = net.subtree(op)
        first_t[sl] = t
        first_cause[sl] = k
    cust = region.customers
    cust_node = cust["node_idx"].to_numpy()
    cause_of = first_cause[cust_node]
    by_cause = np.argsort(cause_of, kind="stable")  # customers grouped by cause, rows ascending
    causes_sorted = cause_of[by_cause]
    ks = [k for _t, k in by_op.values()]
    lows = np.searchsorted(causes_sorted, ks, side="left")
    highs = np.searchsorted(causes_sorted, ks, side="right")
    raw: list[tuple[int, int, str]] = []
    for k, lo, hi in zip(ks, lows, highs, strict=True):
        members = by_cause[lo:hi]
        if len(members) == 0:
            continue
        share = 0.9 if faults[k].fault_class == "customer_side" else _call_probability(len(members))
        callers = members[rng.random(len(members)) < share]
        delay = np.minimum(rng.lognormal(np.log(12 * 60), 1.0, len(callers)), 6 * HOUR)
        if len(callers) == 0:
            callers = rng.choice(members, 1)
            delay = rng.uniform(2 * HOUR, 6 * HOUR, 1)
        t0 = first_t[cust_node[callers]]
        raw.extend((int(t0[i] + delay[i]), int(c), faults[k].fault_id) for i, c in enumerate(callers))
    for po in planned:
        members = np.flatnonzero((cust_node >= po.device_idx)
                                 & (cust_node < po.device_idx + net.size[po.device_idx]))
        callers = members[rng.random(len(members)) < 0.15]
        delay = rng.uniform(5 * 60, 3 * HOUR, len(callers))
        raw.extend((int(po.start_s + d), int(c), po.outage_id) for c, d in zip(callers, delay, strict=True))
    dups = [(t + int(rng.uniform(10, 90) * 60), c, cause) for t, c, cause in raw
            if rng.random() < p.duplicate_share]
    raw.extend(dups)
    raw.sort()
    cards = _caller_cards(cust)
    calls, causes, idxs = [], [], []
    for k, (t, c, cause) in enumerate(raw):
        calls.append(_render_call(rng, p, f"K{k + 1:06d}", t, cards, c))
        causes.append(cause)
        idxs.append(c)
    return tuple(calls), tuple(causes), tuple(idxs)


_CARD_COLUMNS = ("customer_id", "meter_id", "address", "address_en", "district", "lon", "lat")


def _caller_cards(cust: pd.DataFrame) -> dict[str, list[Any]]:
    """What a caller may say about themselves, as plain per-column lists indexed by row."""
    return {col: cust[col].tolist() for col in _CARD_COLUMNS}


def _render_call(rng: np.random.Generator, p: StormParams, call_id: str, t: int,
                 cards: dict[str, list[Any]], row: int) -> Call:
    """How the caller identifies themselves: customer number, meter, address or a GPS fix."""
    u = rng.random()
    if u < p.address_only_share:
        text = str(cards["address"][row])
        v = rng.random()
        if v < 0.3:
            text = text.replace(str(cards["district"][row]) + " ", "")
        elif v < 0.5:
            text = text.translate(_FULLWIDTH).replace(" ", "")
        elif v < 0.65:
            text = str(cards["address_en"][row])
        return Call(call_id, t, address=text)
    u -= p.address_only_share
    if u < p.meter_id_share:
        return Call(call_id, t, meter_id=str(cards["meter_id"][row]))
    u -= p.meter_id_share
    if u < p.coordinates_only_share:
        jitter = rng.normal(0, 0.00008, 2)
        return Call(call_id, t, lon=round(float(cards["lon"][row]) + float(jitter[0]), 6),
                    lat=round(float(cards["lat"][row]) + float(jitter[1]), 6))
    return Call(call_id, t, customer_id=str(cards["customer_id"][row]))
