"""Dispatch instances (docs/formats.md) cut from a generated storm: the benchmark workloads.

Each order is one operated element of the storm at its position, with its customers, the
arrival limit of its area, the repair time of its faults, the skill it needs, and priority 10
when critical customers are behind it. Crews start at their service stations.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from dispatch.crews import region_roster
from dispatch.limits import ServiceLimits
from grid_model.network import AREA_NAMES, Construction, NodeKind
from grid_model.region import Region
from grid_model.storm import StormParams, generate_storm

CRITICAL_PRIORITY = 10


def storm_instance(region: Region, *, n_orders: int, n_crews: int, seed: int,
                   horizon_s: int = 16 * 3600, lateness_weight: int = 100,
                   name: str | None = None) -> dict[str, object]:
    """A snapshot of ``n_orders`` open orders and ``n_crews`` crews at the storm's peak."""
    rng = np.random.default_rng(seed)
    intensity = 1.3
    faults_by_op: dict[int, list[int]] = defaultdict(list)
    storm_seed = seed
    while len(faults_by_op) < n_orders:
        storm = generate_storm(region, StormParams(seed=storm_seed, intensity=intensity))
        for f in storm.faults:
            faults_by_op[f.operates_idx].append(f.repair_s)
        intensity += 0.4
        storm_seed += 1000
    net = region.network
    customers_below = net.count_below(net.kind == NodeKind.CUSTOMER)
    critical_below = net.count_below(region.critical_node_mask())
    ops = sorted(faults_by_op)
    chosen = sorted(rng.choice(len(ops), n_orders, replace=False).tolist())
    limits = ServiceLimits()
    orders = []
    for k, i in enumerate(chosen):
        op = ops[i]
        customers = int(customers_below[op])
        critical = bool(critical_below[op])
        area = AREA_NAMES[net.area[op]]
        if net.kind[op] >= NodeKind.LV_BRANCH:
            skill = "lv"
        elif net.kind[op] == NodeKind.TRANSFORMER:
            skill = "mv"
        else:
            skill = "cable" if net.construction[op] == Construction.CABLE else "mv"
        reported = -int(rng.uniform(0, 3 * 3600))
        orders.append({"id": f"W{k + 1:05d}", "x": round(float(net.x_m[op]) - region.origin_m[0], 1),
                       "y": round(float(net.y_m[op]) - region.origin_m[1], 1), "reported": reported,
                       "deadline": reported + limits.arrival_limit(area),
                       "service": int(sum(faults_by_op[op])), "skill": skill,
                       "customers": max(1, customers),
                       "priority": CRITICAL_PRIORITY if critical else 1})
    roster = region_roster(region, seed=seed)
    picks = sorted(rng.choice(len(roster), min(n_crews, len(roster)), replace=False).tolist())
    crews = [{"id": roster[i].crew_id, "x": round(roster[i].x_m - region.origin_m[0], 1),
              "y": round(roster[i].y_m - region.origin_m[1], 1), "start": 0, "end": horizon_s,
              "skills": sorted(roster[i].skills)} for i in picks]
    return {"name": name or f"storm-{n_orders}x{n_crews}-s{seed}", "time_unit": "s",
            "horizon": horizon_s, "lateness_weight": lateness_weight,
            "travel": {"kind": "euclidean", "speed_kmh": 35.0, "detour": 1.3},
            "crews": crews, "orders": orders}
