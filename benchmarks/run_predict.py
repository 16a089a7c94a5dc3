"""Outage prediction benchmarks: accuracy against known faults, and speed.

    python -m benchmarks.run_predict --suite accuracy   # SimBench grids + generator storms
    python -m benchmarks.run_predict --suite speed      # 10,000 calls on the default region

Accuracy: faults at random protective devices (SimBench, non-nested), or a generated storm's
faults up to its peak (default region); each customer behind a fault calls with the given
probability, in random order; the predicted incidents are compared with the truth.
- device match: share of predicted incidents whose element is an element that operated; a
  lone caller's customer-side incident matches a fault at that customer or their service drop
  (one LV visit resolves both, and one call cannot tell them apart);
- customers-out F1: the customers under predicted incidents against those truly out;
- recall ceiling: the share of customers out whose outage sent at least one call (or last
  gasp). A fault nobody reports is found only when a predicted outage above it covers it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from grid_model.incidents import predict_calls
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call, StormParams, generate_storm

RESULTS = Path(__file__).resolve().parent / "results"
RATES = (0.1, 0.3, 0.5)
CALLS_OVER_S = 3600  # the calls of a case arrive over its first hour
AMI_SHARE = 0.8  # meters whose last gasp gets through a powered concentrator


def _score(region: Region, truth_ops: set[int], incidents: list[dict[str, Any]]) -> dict[str, float]:
    net = region.network
    index = net.index_of()
    dev_index = {d: i for i, d in enumerate(net.device_id) if d}
    match = total = 0
    predicted_out: set[str] = set()
    for inc in incidents:
        if inc["kind"] == "unlocated":
            continue
        total += 1
        node = dev_index.get(inc["device_id"], index.get(inc["device_id"], -1))
        ok = node in truth_ops
        if not ok and inc["kind"] == "customer_side":
            up = node
            while up >= 0 and net.kind[up] >= NodeKind.SERVICE_DROP:
                ok = ok or up in truth_ops
                up = int(net.parent[up])
        match += ok
        predicted_out.update(inc["customers_out"])
    cust = region.customers
    node_of = cust["node_idx"].to_numpy()
    out_mask = np.zeros(net.n_nodes, dtype=bool)
    for op in truth_ops:
        out_mask[net.subtree(op)] = True
    truly_out = set(cust["customer_id"].to_numpy()[out_mask[node_of]].tolist())
    tp = len(predicted_out & truly_out)
    precision = tp / max(1, len(predicted_out))
    recall = tp / max(1, len(truly_out))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return {"incidents": total, "device_match": round(match / max(1, total), 4),
            "customers_out_f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4)}


def _recall_ceiling(region: Region, ops: list[int], calls: list[Call],
                    gasps: list[tuple[str, int, int]]) -> float:
    """Share of the customers out whose outage at least one call or last gasp comes from; the
    others are found only under a predicted outage above theirs."""
    net = region.network
    cust = region.customers
    node_of = cust["node_idx"].to_numpy()
    node_by_id = dict(zip(cust["customer_id"], node_of, strict=True))
    reports = np.sort(np.asarray([node_by_id[c.customer_id] for c in calls] + [g[1] for g in gasps],
                                 dtype=np.int64))
    out = np.zeros(net.n_nodes, dtype=bool)
    seen = np.zeros(net.n_nodes, dtype=bool)
    for op in ops:
        sl = net.subtree(op)
        out[sl] = True
        if np.searchsorted(reports, sl.stop) > np.searchsorted(reports, sl.start):
            seen[sl] = True
    return round(float(seen[node_of].sum() / max(1, out[node_of].sum())), 4)


def _calls_for(region: Region, ops: list[int], rate: float, rng: np.random.Generator) -> list[Call]:
    net = region.network
    node_of = region.customers["node_idx"].to_numpy()
    ids = region.customers["customer_id"].to_numpy()
    out_mask = np.zeros(net.n_nodes, dtype=bool)
    for op in ops:
        out_mask[net.subtree(op)] = True
    affected = np.flatnonzero(out_mask[node_of])
    callers = affected[rng.random(len(affected)) < rate]
    rng.shuffle(callers)
    spread = CALLS_OVER_S / max(1, len(callers))
    return [Call(f"K{k}", int(k * spread), customer_id=str(ids[c])) for k, c in enumerate(callers)]


def _last_gasps_for(region: Region, ops: list[int], rng: np.random.Generator) -> list[tuple[str, int, int]]:
    """Last gasps of ``AMI_SHARE`` of the customers whose meter lost supply while their
    transformer kept it (the operated element is below the transformer and above the meter:
    a customer's own breaker leaves the meter powered), within the first two minutes."""
    net = region.network
    node_of = region.customers["node_idx"].to_numpy()
    mask = np.zeros(net.n_nodes, dtype=bool)
    for op in ops:
        if NodeKind.TRANSFORMER < net.kind[op] < NodeKind.CUSTOMER:
            mask[net.subtree(op)] = True
    nodes = node_of[mask[node_of]]
    nodes = nodes[rng.random(len(nodes)) < AMI_SHARE]
    return [(f"G{k}", int(n), int(t)) for k, (n, t) in
            enumerate(zip(nodes, rng.integers(0, 120, len(nodes)), strict=True))]


def _rates(region: Region, ops: list[int], rng: np.random.Generator) -> dict[str, Any]:
    """Scores at each call rate, and at 30 % with last gasps, for faults at ``ops``."""
    resolver = CallResolver(region)
    out: dict[str, Any] = {}
    for rate in RATES:
        calls = _calls_for(region, ops, rate, rng)
        pred = predict_calls(region, calls, resolver=resolver)
        out[f"rate_{rate}"] = {"calls": len(calls), **_score(region, set(ops), pred.incidents),
                               "recall_ceiling": _recall_ceiling(region, ops, calls, [])}
    calls = _calls_for(region, ops, 0.3, rng)
    gasps = _last_gasps_for(region, ops, rng)
    pred = predict_calls(region, calls, resolver=resolver, last_gasps=gasps)
    out["ami_rate_0.3"] = {"calls": len(calls), "last_gasps": len(gasps),
                           **_score(region, set(ops), pred.incidents),
                           "recall_ceiling": _recall_ceiling(region, ops, calls, gasps)}
    return out


def simbench_case(code: str, n_faults: int, seed: int) -> dict[str, Any]:
    from grid_model.pandapower_import import simbench_region

    region = simbench_region(code)
    net = region.network
    rng = np.random.default_rng(seed)
    devices = np.flatnonzero((net.device != DeviceKind.NONE) & (net.kind != NodeKind.SUBSTATION))
    ops: list[int] = []
    for d in rng.permutation(devices):
        if len(ops) == n_faults:
            break
        if not any(net.is_ancestor(o, int(d)) or net.is_ancestor(int(d), o) for o in ops):
            ops.append(int(d))
    return {"grid": f"simbench:{code}", "faults": len(ops),
            "fault_kinds": {k.name.lower(): int(sum(net.kind[o] == k for o in ops))
                            for k in NodeKind if any(net.kind[o] == k for o in ops)},
            **_rates(region, ops, rng)}


def storm_case(region: Region, storm_seed: int, seed: int) -> dict[str, Any]:
    storm = generate_storm(region, StormParams(seed=storm_seed))
    peak = int(storm.params.duration_h * 3600 / 2)
    ops = sorted({f.operates_idx for f in storm.faults if f.t_s <= peak})
    return {"grid": "default", "storm_seed": storm_seed, "snapshot_s": peak,
            "operated_elements": len(ops), **_rates(region, ops, np.random.default_rng(seed))}


def speed() -> dict[str, Any]:
    from grid_model.network import build_network
    from grid_model.predict import OutagePredictor
    from grid_model.region import load_region
    from grid_model.trace import Tracer

    region = load_region()
    net = region.network
    t0 = time.perf_counter()
    build_network(node_id=list(net.node_id), kind=net.kind, parent=net.parent, x_m=net.x_m, y_m=net.y_m,
                  device=net.device, device_id=list(net.device_id), construction=net.construction,
                  length_m=net.length_m, area=net.area)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    resolver = CallResolver(region)
    index_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    cust = region.customers
    rows = rng.choice(len(cust), 10_000, replace=False)
    calls = []
    for k, row in enumerate(rows):
        c = cust.iloc[int(row)]
        kind = k % 10
        if kind < 7:
            calls.append(Call(f"K{k}", k, customer_id=c["customer_id"]))
        elif kind < 9:
            calls.append(Call(f"K{k}", k, address=c["address"]))
        else:
            calls.append(Call(f"K{k}", k, lon=float(c["lon"]), lat=float(c["lat"])))
    t0 = time.perf_counter()
    predictor = OutagePredictor(net)
    tracer = Tracer(net)
    for call in calls:
        res = resolver.resolve(call)
        if not res.located:
            continue
        tracer.trace(res.node_idx)
        predictor.add_call(call.call_id, res.node_idx, call.t_s)
    ours_s = time.perf_counter() - t0
    g = nx.Graph()
    g.add_edges_from((int(i), int(p)) for i, p in enumerate(net.parent) if p >= 0)
    subs = [int(s) for s in np.flatnonzero(net.kind == NodeKind.SUBSTATION)]
    sample = rows[:1000]
    t0 = time.perf_counter()
    for row in sample:
        node = int(cust["node_idx"].iat[int(row)])
        for s in subs:
            if nx.has_path(g, s, node):
                nx.shortest_path(g, s, node)
                break
    naive_s = (time.perf_counter() - t0) * len(calls) / len(sample)
    return {"customers": len(cust), "nodes": net.n_nodes, "build_arrays_s": round(build_s, 3),
            "resolver_index_s": round(index_s, 3),
            "calls": len(calls), "resolve_trace_group_s": round(ours_s, 3),
            "calls_per_s": round(len(calls) / ours_s),
            "naive_networkx_trace_s_extrapolated": round(naive_s, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["accuracy", "speed"], required=True)
    args = ap.parse_args(argv)
    if args.suite == "speed":
        result: Any = speed()
    else:
        from grid_model.region import load_region

        region = load_region()
        result = [simbench_case("1-MVLV-rural-all-0-sw", 25, 1),
                  simbench_case("1-MVLV-urban-all-0-sw", 25, 2),
                  storm_case(region, 1, 3), storm_case(region, 2, 4)]
    out = RESULTS / f"predict-{args.suite}.json"
    out.write_text(json.dumps({"suite": args.suite, "results": result}, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
