"""Outage prediction benchmarks: accuracy against known faults, and speed.

    python -m benchmarks.run_predict --suite accuracy   # SimBench grids + generator storms
    python -m benchmarks.run_predict --suite speed      # 10,000 calls on the default region
    python -m benchmarks.run_predict --suite ceiling    # storms read with true priors: MAP, per customer

Accuracy: faults at random protective devices (SimBench: 25 non-nested devices, and 20 customers
whose own installation failed, calling from energised places), or a generated storm's faults
up to its peak (default region). Each customer left dark by a utility fault calls with the
call rate (5, 10, 20, 30 %), in random order over the first hour; a customer-side fault's
customer always calls. "+ AMI": the same, plus last gasps from 80 % of the meters that lost
supply below a transformer that kept it, within two minutes. The predictor starts from its
default parameters and estimates them online; nothing of the generator reaches it.
- device match: over true outages with at least two reports (calls and last gasps from the
  customers it darkened, an outage nested in another counting as the outer one), the share with
  a predicted incident at exactly its element (one report cannot locate a device);
- device match, identifiable: the same over the located outages that the reports can tell from
  an outage of the nearest candidate above them (some customer below that candidate kept
  supply). When every customer below it is dark (on dense storm damage, every drop of an LV
  outlet torn down), who lost supply is the same as if that candidate had operated: no report
  can say which, only the priors (and one outage there is the likelier reading);
- lone callers: over customer-side faults from energised places, the share predicted
  customer-side at their own node; and the other side, over service-drop outages with one
  report, the share predicted at the drop (``lone_drop_at_drop``);
- customers-out F1: predicted = customers under predicted device incidents; precision against
  every customer truly dark, recall over the customers of outages that sent at least one report
  (what sent nothing cannot be predicted); the recall ceiling is that share of all dark customers;
- time: the wall time of ``predict_calls`` for the case (informational: the machine is shared).

Speed: 10,000 calls resolved, traced and grouped by a fresh predictor in the default (posterior)
mode, its construction included; the best of ``SPEED_RUNS`` runs, each run's time listed, and
beside it two fixed workloads timed in the same process: numpy's (``reference_workload_s``, five
sorts of two million floats) and the interpreter's (``python_reference_s``: dicts, small
objects and calls, as most of the per-call path is Python). The machine's speed varies from day
to day by up to half, so compare the ratios to them across days. The numba kernels are loaded
first and their load time reported apart (``kernel_warm_up_s``: once per process).

Seeds: the default parameters were tuned on the ``TUNED`` seeds; the ``HELD_OUT`` seeds were run
only to report; the results JSON lists both and the summary gives the held-out means.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from grid_model._kernels_posterior import TIE
from grid_model.dark import (
    chain_scores,
    dark_topmost,
    evidence_of_calls,
    kind_log_odds,
    topmost_probabilities,
)
from grid_model.feeder_factor import PRIOR_HIGH, PRIOR_LOW, calls_intensity, feeder_log_odds
from grid_model.incidents import predict_calls
from grid_model.network import DeviceKind, Network, NodeKind
from grid_model.posterior import (
    CandidateKind,
    OutagePriors,
    Posterior,
    Reports,
    SupplyTree,
    map_outages,
    supply_tree_from_network,
    topmost,
)
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call, StormParams, damage_probabilities, generate_storm

RESULTS = Path(__file__).resolve().parent / "results"
RATES = (0.05, 0.1, 0.2, 0.3)
CALLS_OVER_S = 3600  # the calls of a case arrive over its first hour
AMI_SHARE = 0.8  # meters whose last gasp gets through a powered concentrator
GRIDS = ("1-MVLV-rural-all-0-sw", "1-MVLV-urban-all-0-sw", "1-MVLV-semiurb-all-0-sw", "1-MVLV-comm-all-0-sw")
SIMBENCH_FAULTS, SIMBENCH_CUSTOMER_SIDE = 25, 20
CEILING_SHRINK = 5.0  # elements: the ceiling's true shares per feeder lean this much on the grid's
# the ceiling's per-element priors, clipped from 1e-9 up to: just under a half (the range of
# ``OutagePriors``), or just under 1 (the storm's own, log-odds kept finite)
ELEMENT_CAPS = {"true_priors_per_element": 0.5 - 1e-9, "true_priors_per_element_uncapped": 1 - 1e-9}
TUNED = {"simbench": (1, 2), "storm": (1, 4, 5, 8, 9, 10, 11, 12)}
HELD_OUT = {"simbench": (3, 4, 5), "storm": (2, 3, 6, 7)}
SPEED_RUNS = 3


def _top_op(region: Region, ops: list[int]) -> np.ndarray:
    """Per node, the outermost operated element above it (-1: energised)."""
    net = region.network
    top = np.full(net.n_nodes, -1, dtype=np.int64)
    for op in sorted(ops):  # preorder: an outer element before the ones nested in it
        sl = net.subtree(op)
        free = top[sl] < 0
        top[sl][free] = op
    return top


def _reports(region: Region, ops: list[int], customer_side: list[int], rate: float, ami: bool,
             rng: np.random.Generator) -> tuple[list[Call], list[tuple[str, int, int]], dict[str, int]]:
    """Calls (utility outages at ``rate``, customer-side faults always), last gasps with AMI,
    and the node of every report."""
    net = region.network
    cust = region.customers
    node_of = cust["node_idx"].to_numpy()
    ids = cust["customer_id"].to_numpy()
    top = _top_op(region, ops)
    dark = np.flatnonzero(top[node_of] >= 0)
    callers = dark[rng.random(len(dark)) < rate]
    own = np.flatnonzero(np.isin(node_of, customer_side) & (top[node_of] < 0))
    callers = np.concatenate([callers, own])
    rng.shuffle(callers)
    spread = CALLS_OVER_S / max(1, len(callers))
    calls = [Call(f"K{k}", int(k * spread), customer_id=str(ids[c])) for k, c in enumerate(callers)]
    where = {f"K{k}": int(node_of[c]) for k, c in enumerate(callers)}
    gasps: list[tuple[str, int, int]] = []
    if ami:
        t_op = top[node_of]
        lv = (t_op >= 0) & (net.kind[np.maximum(t_op, 0)] > NodeKind.TRANSFORMER) \
            & (net.kind[np.maximum(t_op, 0)] < NodeKind.CUSTOMER)
        nodes = node_of[lv]
        nodes = nodes[rng.random(len(nodes)) < AMI_SHARE]
        gasps = [(f"G{k}", int(n), int(t)) for k, (n, t) in
                 enumerate(zip(nodes, rng.integers(0, 120, len(nodes)), strict=True))]
        where.update({g[0]: g[1] for g in gasps})
    return calls, gasps, where


def _reports_per_outage(top: np.ndarray, where: dict[str, int]) -> dict[int, int]:
    """Per true outage (the topmost operated element over a reporting node, ``_top_op``), the
    reports from below it."""
    reports: dict[int, int] = {}
    for node in where.values():
        if top[node] >= 0:
            reports[int(top[node])] = reports.get(int(top[node]), 0) + 1
    return reports


def _identifiable(region: Region, top: np.ndarray, located: list[int]) -> list[int]:
    """The outages of ``located`` that reports can tell from an outage of the nearest candidate
    above them: some customer below that candidate kept supply (``top`` < 0)."""
    net = region.network
    parent = supply_tree_from_network(net).parent
    node_of = region.customers["node_idx"].to_numpy()  # sorted: the network's preorder
    lit = np.concatenate([[0], np.cumsum(top[node_of] < 0)])
    out = []
    for op in located:
        above = int(parent[op])
        if above < 0:
            out.append(op)
            continue
        sl = net.subtree(above)
        lo, hi = np.searchsorted(node_of, [sl.start, sl.stop])
        if lit[hi] > lit[lo]:
            out.append(op)
    return out


def _score(region: Region, ops: list[int], customer_side: list[int], incidents: list[dict[str, Any]],
           where: dict[str, int]) -> dict[str, Any]:
    net = region.network
    index = net.index_of()
    dev_index = {d: i for i, d in enumerate(net.device_id) if d}
    top = _top_op(region, ops)
    reports_of = _reports_per_outage(top, where)
    predicted: dict[int, str] = {}
    incident_of: dict[str, tuple[int, str]] = {}
    for inc in incidents:
        if inc["kind"] == "unlocated":
            continue
        node = dev_index.get(inc["device_id"], index.get(inc["device_id"], -1))
        predicted[node] = inc["kind"]
        for c in inc["call_ids"]:
            incident_of[c] = (node, inc["kind"])
    located = [op for op, n in reports_of.items() if n >= 2]
    match = sum(1 for op in located if predicted.get(op) == "device")
    identifiable = _identifiable(region, top, located)
    match_identifiable = sum(1 for op in identifiable if predicted.get(op) == "device")
    lone = [c for c, n in where.items() if n in set(customer_side) and top[n] < 0 and c.startswith("K")]
    lone_ok = sum(1 for c in lone if incident_of.get(c) == (where[c], "customer_side"))
    lone_drops, lone_drops_ok = _lone_drops_at_the_drop(net.kind, top, reports_of, where, incident_of)
    named = [node for node, kind in predicted.items() if kind == "device" and node >= 0]
    customers = region.customers["node_idx"].to_numpy()
    precision, recall, f1, ceiling = _customers_out(net, customers, ops, reports_of, named)
    return {"incidents": len(predicted), "outages_located": len(located),
            "device_match": round(match / max(1, len(located)), 4),
            "outages_identifiable": len(identifiable),
            "device_match_identifiable": round(match_identifiable / max(1, len(identifiable)), 4),
            "lone_callers": len(lone), "lone_customer_side": round(lone_ok / max(1, len(lone)), 4),
            "lone_drop_outages": lone_drops,
            "lone_drop_at_drop": round(lone_drops_ok / max(1, lone_drops), 4),
            "customers_out_f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
            "recall_ceiling": round(ceiling, 4)}


def _lone_drops_at_the_drop(kind: np.ndarray, top: np.ndarray, reports_of: dict[int, int],
                            where: dict[str, int], incident_of: dict[str, tuple[int, str]]
                            ) -> tuple[int, int]:
    """The other side of the lone callers: the service-drop outages with one report (a lone
    caller whose own drop is down, which reads like the customer's own fault), and how many of
    them the prediction put at the drop."""
    drops = {op for op, n in reports_of.items() if n == 1 and kind[op] == NodeKind.SERVICE_DROP}
    at_drop = sum(1 for report, node in where.items()
                  if top[node] in drops and incident_of.get(report) == (int(top[node]), "device"))
    return len(drops), at_drop


def _customers_out(net: Network, node_of: np.ndarray, ops: list[int], reported: Iterable[int],
                   named: Iterable[int]) -> tuple[float, float, float, float]:
    """Customers (at ``node_of``) out as the elements ``named`` say: precision against every
    customer truly dark (below ``ops``), recall over the customers of the outages that sent at
    least one report (``reported``), F1, and the recall ceiling (those customers' share of all
    dark ones)."""
    masks = np.zeros((3, net.n_nodes), dtype=bool)
    for row, elements in enumerate((ops, reported, named)):
        for v in elements:
            masks[row, net.subtree(v)] = True
    dark, seen, pred = masks[:, node_of]
    precision = float((pred & dark).sum() / max(1, pred.sum()))
    recall = float((pred & seen).sum() / max(1, seen.sum()))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return precision, recall, f1, float(seen.sum() / max(1, dark.sum()))


def _rates(region: Region, ops: list[int], customer_side: list[int], seed: int,
           resolver: CallResolver) -> dict[str, Any]:
    """Scores at each call rate, without and with last gasps."""
    out: dict[str, Any] = {}
    for ami in (False, True):
        for rate in RATES:
            rng = np.random.default_rng([seed, int(rate * 1000), ami])
            calls, gasps, where = _reports(region, ops, customer_side, rate, ami, rng)
            t0 = time.perf_counter()
            pred = predict_calls(region, calls, resolver=resolver, last_gasps=gasps)
            took = time.perf_counter() - t0
            out[f"{'ami_' if ami else ''}rate_{rate}"] = {
                "calls": len(calls), "last_gasps": len(gasps),
                **_score(region, ops, customer_side, pred.incidents, where), "time_s": round(took, 3)}
    return out


def simbench_case(region: Region, seed: int) -> dict[str, Any]:
    net = region.network
    rng = np.random.default_rng(seed)
    devices = np.flatnonzero((net.device != DeviceKind.NONE) & (net.kind != NodeKind.SUBSTATION))
    ops: list[int] = []
    for d in rng.permutation(devices):
        if len(ops) == SIMBENCH_FAULTS:
            break
        if not any(net.is_ancestor(o, int(d)) or net.is_ancestor(int(d), o) for o in ops):
            ops.append(int(d))
    top = _top_op(region, ops)
    node_of = region.customers["node_idx"].to_numpy()
    lit = node_of[top[node_of] < 0]
    customer_side = sorted(int(c) for c in rng.choice(lit, SIMBENCH_CUSTOMER_SIDE, replace=False))
    return {"grid": region.name, "seed": seed, "faults": len(ops),
            "fault_kinds": {k.name.lower(): int(sum(net.kind[o] == k for o in ops))
                            for k in NodeKind if any(net.kind[o] == k for o in ops)},
            "customer_side_faults": len(customer_side),
            **_rates(region, ops, customer_side, seed, CallResolver(region))}


def _storm_truth(region: Region, storm_seed: int) -> tuple[list[int], list[int], int]:
    """A generated storm's operated elements and customer-side faults up to its peak, and when
    that is."""
    storm = generate_storm(region, StormParams(seed=storm_seed))
    peak = int(storm.params.duration_h * 3600 / 2)
    up_to_peak = [f for f in storm.faults if f.t_s <= peak]
    customer_side = sorted({f.operates_idx for f in up_to_peak if f.fault_class == "customer_side"})
    ops = sorted({f.operates_idx for f in up_to_peak if f.fault_class != "customer_side"})
    return ops, customer_side, peak


def storm_case(region: Region, storm_seed: int, resolver: CallResolver) -> dict[str, Any]:
    ops, customer_side, peak = _storm_truth(region, storm_seed)
    return {"grid": "default", "seed": storm_seed, "snapshot_s": peak, "operated_elements": len(ops),
            "customer_side_faults": len(customer_side),
            **_rates(region, ops, customer_side, storm_seed, resolver)}


def _summary(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out means per grid and configuration."""
    out: dict[str, Any] = {}
    keys = [k for k in cases[0] if "rate_" in k]
    for grid in dict.fromkeys(c["grid"] for c in cases):
        family = "storm" if grid == "default" else "simbench"
        held = [c for c in cases if c["grid"] == grid and c["seed"] in HELD_OUT[family]]
        out[grid] = {k: {m: round(float(np.mean([c[k][m] for c in held])), 4)
                         for m in ("device_match", "device_match_identifiable", "customers_out_f1",
                                   "lone_customer_side", "lone_drop_at_drop", "recall_ceiling", "time_s")}
                     for k in keys}
    return out


def warm_up(region: Region) -> float:
    """Load the posterior's numba kernels (the first call in a process loads them from the disk
    cache, or compiles them) by grouping a few calls; returns the seconds it took."""
    from grid_model.predict import OutagePredictor

    t0 = time.perf_counter()
    predictor = OutagePredictor(region.network)
    for k, node in enumerate(region.customers["node_idx"].to_numpy()[:40].tolist()):
        predictor.add_call(f"W{k}", node, k)
    predictor.review()
    return time.perf_counter() - t0


def reference_workload() -> float:
    """A fixed numpy workload (five sorts of two million floats) timed in the same run."""
    rng = np.random.default_rng(0)
    data = rng.random(2_000_000)
    t0 = time.perf_counter()
    for _ in range(5):
        np.sort(data)
    return time.perf_counter() - t0


def python_reference() -> float:
    """A fixed pure-Python workload (dict inserts and look-ups, tuples, method calls) timed in
    the same run: the prediction's per-call path is mostly the interpreter's work."""
    t0 = time.perf_counter()
    seen: dict[int, tuple[int, int]] = {}
    for i in range(300_000):
        seen[i * 7 % 100_003] = (i, i % 13)
    total = 0
    for i in range(300_000):
        total += seen.get(i, (0, 0))[1]
    return time.perf_counter() - t0


def speed() -> dict[str, Any]:
    from grid_model.network import build_network
    from grid_model.predict import OutagePredictor
    from grid_model.region import load_region
    from grid_model.trace import Tracer

    region = load_region()
    net = region.network
    warm_up_s = warm_up(region)
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
    runs = []
    for _ in range(SPEED_RUNS):
        t0 = time.perf_counter()
        predictor = OutagePredictor(net)
        tracer = Tracer(net)
        for call in calls:
            res = resolver.resolve(call)
            if not res.located:
                continue
            tracer.trace(res.node_idx)
            predictor.add_call(call.call_id, res.node_idx, call.t_s)
        runs.append(time.perf_counter() - t0)
    ours_s = min(runs)
    reference_s = min(reference_workload() for _ in range(SPEED_RUNS))
    python_s = min(python_reference() for _ in range(SPEED_RUNS))
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
            "kernel_warm_up_s": round(warm_up_s, 3),
            "resolver_index_s": round(index_s, 3),
            "calls": len(calls), "resolve_trace_group_s": round(ours_s, 3),
            "resolve_trace_group_runs_s": [round(r, 3) for r in runs],
            "reference_workload_s": round(reference_s, 3),
            "ratio_to_reference": round(ours_s / reference_s, 3),
            "python_reference_s": round(python_s, 3),
            "ratio_to_python_reference": round(ours_s / python_s, 3),
            "calls_per_s": round(len(calls) / ours_s),
            "naive_networkx_trace_s_extrapolated": round(naive_s, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def accuracy(grids: tuple[str, ...] = GRIDS,
             seeds: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
    from grid_model.pandapower_import import simbench_region
    from grid_model.region import load_region

    seeds = seeds or {k: TUNED[k] + HELD_OUT[k] for k in TUNED}
    cases = []
    for code in grids:
        region = simbench_region(code)
        for seed in seeds["simbench"]:
            cases.append(simbench_case(region, seed))
            print(json.dumps({k: v for k, v in cases[-1].items() if not k.startswith(("rate", "ami"))}),
                  file=sys.stderr)
    if seeds["storm"]:
        region = load_region()
        resolver = CallResolver(region)
        for seed in seeds["storm"]:
            cases.append(storm_case(region, seed, resolver))
    return {"tuned_seeds": TUNED, "held_out_seeds": HELD_OUT, "held_out_mean": _summary(cases),
            "cases": cases}


def _true_priors(tree: SupplyTree, ops: list[int], customer_side: list[int], group: np.ndarray | None,
                 call_rate: float) -> dict[int, OutagePriors]:
    """Per group of nodes (one group: the whole grid), the share of each kind's elements the storm
    put out, shrunk towards the grid's share by ``CEILING_SHRINK`` elements."""
    group = np.zeros(tree.n_nodes, dtype=np.int64) if group is None else group
    cand = np.flatnonzero(tree.kind >= 0)
    kinds = len(CandidateKind)
    out_nodes = np.asarray(ops + customer_side, dtype=np.int64)
    grid_share = (np.bincount(tree.kind[out_nodes], minlength=kinds)
                  / np.maximum(1, np.bincount(tree.kind[cand], minlength=kinds)))
    priors = {}
    for g in np.unique(group[cand]).tolist():
        in_g = cand[group[cand] == g]
        elements = np.bincount(tree.kind[in_g], minlength=kinds)
        out = np.bincount(tree.kind[out_nodes[group[out_nodes] == g]], minlength=kinds)
        share = (out + CEILING_SHRINK * grid_share) / (elements + CEILING_SHRINK)
        priors[g] = OutagePriors(tuple(float(x) for x in np.clip(share, PRIOR_LOW, PRIOR_HIGH)), call_rate)
    return priors


def _by_group(nodes: list[int], group: np.ndarray | None) -> dict[int, list[int]]:
    """The reporting ``nodes`` by their group (one group, 0: the whole grid)."""
    by_group: dict[int, list[int]] = {}
    for u in nodes:
        by_group.setdefault(0 if group is None else int(group[u]), []).append(u)
    return by_group


def _posteriors(tree: SupplyTree, nodes: list[int], priors: dict[int, OutagePriors],
                group: np.ndarray | None) -> list[Posterior]:
    """The tool's batch posterior (``map_outages``) of each group of reports, with its group's
    priors: what its MAP (``_map_named``) and its reading per customer (``_dark_named``) read."""
    return [map_outages(tree, Reports.of(calls=units), priors[g])
            for g, units in _by_group(nodes, group).items()]


def _map_named(posteriors: list[Posterior]) -> set[int]:
    """The utility elements of the posteriors' MAP."""
    return {o.node_idx for post in posteriors for o in post.outages if o.kind != CandidateKind.CUSTOMER_SIDE}


def _map_devices(tree: SupplyTree, nodes: list[int], priors: dict[int, OutagePriors],
                 group: np.ndarray | None) -> set[int]:
    """The utility elements of the batch MAP, each group of reports with its group's priors."""
    return _map_named(_posteriors(tree, nodes, priors, group))


def _element_log_odds(pi: np.ndarray, cap: float) -> np.ndarray:
    """Per node, the log-odds of its probability ``pi`` of being out, clipped into [1e-9, ``cap``]:
    a cap just under 0.5 keeps the priors in the range ``OutagePriors`` allows a kind's prior."""
    q = np.clip(pi, 1e-9, cap)
    return np.log(q) - np.log1p(-q)


def _utility_topmost(tree: SupplyTree, chains: list[int], pick: Callable[[int], bool]) -> set[int]:
    """The utility elements ``pick`` takes going down the chains, none below one taken
    (``topmost``, customers' own faults left out)."""
    return {v for v in topmost(tree.parent, chains, pick) if tree.kind[v] != CandidateKind.CUSTOMER_SIDE}


def _map_per_element(tree: SupplyTree, nodes: list[int], log_odds: np.ndarray, call_rate: float) -> set[int]:
    """The utility elements of the batch MAP (calls only) when every candidate has a prior of
    its own: ``map_outages``'s choice with the prior read per node."""
    s = chain_scores(tree, evidence_of_calls(tree, nodes), log_odds, call_rate, np.maximum)
    return _utility_topmost(tree, s.chains.tolist(), lambda v: s.out[v] > s.inner[v] + TIE)


def _expected_match_per_element(tree: SupplyTree, nodes: list[int], log_odds: np.ndarray,
                                call_rate: float) -> set[int]:
    """The utility elements, none nested in another, with the most expected device matches: the
    sum of their posterior probabilities of being the topmost outage, counting those with at
    least two calls below (the ones the match counts). Not a reading of the calls as a whole:
    it may name elements that are less likely out than not, which the match does not charge."""
    ev = evidence_of_calls(tree, nodes)
    s = chain_scores(tree, ev, log_odds, call_rate, np.logaddexp)
    return _expected_match(tree, s.chains.tolist(), ev.calls, topmost_probabilities(tree, s))


def _expected_match(tree: SupplyTree, chains: list[int], calls: np.ndarray,
                    top_p: dict[int, float]) -> set[int]:
    """``_expected_match_per_element`` from the candidates on the ``chains`` (preorder), the calls
    below each (per node) and their probabilities ``top_p`` of being the topmost outage."""
    gain = {v: top_p[v] if calls[v] >= 2 and tree.kind[v] != CandidateKind.CUSTOMER_SIDE else 0.0
            for v in chains}
    below = dict.fromkeys(chains, 0.0)
    for v in reversed(chains):  # children before parents
        if tree.parent[v] >= 0:
            below[int(tree.parent[v])] += max(gain[v], below[v])
    return _utility_topmost(tree, chains, lambda v: gain[v] > 0 and gain[v] >= below[v])


def _dark_utility(tree: SupplyTree, chains: list[int], top_p: dict[int, float]) -> set[int]:
    """The utility elements of ``grid_model.dark.dark_topmost``: on ``chains``, none nested in
    another, below which the customers are dark with a posterior of at least a half."""
    return {v for v in dark_topmost(tree, chains, top_p) if tree.kind[v] != CandidateKind.CUSTOMER_SIDE}


def _dark_at_least_half(tree: SupplyTree, nodes: list[int], log_odds: np.ndarray,
                        call_rate: float) -> set[int]:
    """``_dark_utility`` with a prior per element (every element out independently): each element
    on the calls' chains decided on its customers' own posterior, where the MAP takes the
    likeliest explanation of all the calls at once."""
    s = chain_scores(tree, evidence_of_calls(tree, nodes), log_odds, call_rate, np.logaddexp)
    return _dark_utility(tree, s.chains.tolist(), topmost_probabilities(tree, s))


def _node_log_odds(tree: SupplyTree, priors: dict[int, OutagePriors],
                   group: np.ndarray | None) -> np.ndarray:
    """Per candidate, the log-odds of its kind's prior in its group (one group, 0: the whole
    grid), for the readings with a prior per element; every candidate's group must have priors."""
    cand = np.flatnonzero(tree.kind >= 0)
    of = np.zeros(len(cand), dtype=np.int64) if group is None else group[cand]
    missing = set(np.unique(of).tolist()) - set(priors)
    if missing:
        raise ValueError(f"no priors for groups {sorted(missing)}")
    table = np.full((max(priors) + 1, len(CandidateKind)), np.nan)
    for g, p in priors.items():
        table[g] = p.prior
    pi = np.full(tree.n_nodes, np.nan)
    pi[cand] = table[of, tree.kind[cand]]
    return np.log(pi) - np.log1p(-pi)


def _dark_named(tree: SupplyTree, posteriors: list[Posterior]) -> set[int]:
    """``_dark_utility`` with the tool's posteriors (``_posteriors``: a prior over sets of topmost
    outages, per kind)."""
    return {v for post in posteriors
            for v in _dark_utility(tree, sorted(post.top_probability), post.top_probability)}


def ceiling(seeds: tuple[int, ...] = TUNED["storm"] + HELD_OUT["storm"],
            rates: tuple[float, ...] = (0.1, 0.3)) -> dict[str, Any]:
    """How far the model can go on the generated storms: the device match of the batch MAP (calls
    only) when the priors are not estimated but read off the storm itself, with the true call
    rate (``_ceiling_readings``); beside them, the tool's own (its estimates, the accuracy
    suite's cases), and per reading the share of the elements it names with two calls or more
    below that are outages located (``precision_*``: the match does not charge the others) and
    its customers-out F1 (``f1_*``: what naming more small outages costs the big ones). The
    model's priors are per kind; a storm's damage is dense along its track, which priors per kind
    cannot say: the ``BY_CALLS_READINGS`` give each feeder its own priors from the calls alone."""
    from grid_model.region import load_region

    region = load_region()
    net = region.network
    tree = supply_tree_from_network(net)
    resolver = CallResolver(region)
    feeder = net.feeder_idx.astype(np.int64)
    cust_nodes = region.customers["node_idx"].to_numpy()
    cases = []
    for seed in seeds:
        ops, customer_side, peak = _storm_truth(region, seed)
        top = _top_op(region, ops)
        damage = damage_probabilities(region, StormParams(seed=seed), peak)
        for rate in rates:
            rng = np.random.default_rng([seed, int(rate * 1000), False])
            calls, _, where = _reports(region, ops, customer_side, rate, False, rng)
            reported = _reports_per_outage(top, where)
            located = [op for op, n in reported.items() if n >= 2]
            nodes = [where[c.call_id] for c in calls]
            readings = _ceiling_readings(region, tree, nodes, ops, customer_side, damage, rate)
            row: dict[str, Any] = {"seed": seed, "call_rate": rate, "outages_located": len(located)}
            row.update({name: _match(chosen, located) for name, chosen in readings.items()})
            pred = predict_calls(region, calls, resolver=resolver)
            tool = _score(region, ops, customer_side, pred.incidents, where)
            row["estimated"], row["f1_estimated"] = tool["device_match"], tool["customers_out_f1"]
            readings.update(_by_calls_readings(tree, feeder, cust_nodes, nodes, ops, customer_side, rate,
                                               pred.priors))
            row.update({name: _match(readings[name], located) for name in BY_CALLS_READINGS})
            for name, chosen in readings.items():
                _, _, f1, _ = _customers_out(net, cust_nodes, ops, reported, chosen)
                row[f"f1_{name}"] = round(f1, 4)
            below = evidence_of_calls(tree, nodes).calls
            row.update({f"precision_{name.removeprefix('true_priors_')}": _precision(chosen, below, located)
                        for name, chosen in readings.items()})
            cases.append(row)
            print(json.dumps(row), file=sys.stderr)
    held = [c for c in cases if c["seed"] in HELD_OUT["storm"]]
    return {"seeds": list(seeds), "tuned_seeds": list(TUNED["storm"]),
            "held_out_seeds": list(HELD_OUT["storm"]), "mean": _rate_means(cases, rates),
            "held_out_mean": _rate_means(held, rates), "cases": cases}


def _ceiling_readings(region: Region, tree: SupplyTree, nodes: list[int], ops: list[int],
                      customer_side: list[int], damage: np.ndarray, rate: float) -> dict[str, set[int]]:
    """The utility elements each reading of the calls from ``nodes`` names, at the true call
    rate: the batch MAP with the share of each kind's elements out, over the whole grid or per
    feeder; with each element's own probability of being out (``damage``), kept under a half as
    ``OutagePriors`` keeps a kind's prior, or not (``ELEMENT_CAPS``); and with the latter, the
    elements with the most expected device matches (``_expected_match_per_element``). Each
    ``*_dark`` reading takes the same priors but names the elements below which the customers
    are dark with a posterior of at least a half instead of the MAP's, every element out
    independently (``_dark_at_least_half``, as the storms draw them) or, for the priors per kind,
    under the tool's posterior over sets of topmost outages (``*_dark_sets``, ``_dark_named``)."""
    feeder = region.network.feeder_idx.astype(np.int64)
    out = {}
    for name, group in (("grid", None), ("feeder", feeder)):
        priors = _true_priors(tree, ops, customer_side, group, rate)
        posteriors = _posteriors(tree, nodes, priors, group)
        out[f"true_priors_per_{name}"] = _map_named(posteriors)
        log_odds = _node_log_odds(tree, priors, group)
        out[f"true_priors_per_{name}_dark"] = _dark_at_least_half(tree, nodes, log_odds, rate)
        out[f"true_priors_per_{name}_dark_sets"] = _dark_named(tree, posteriors)
    for name, cap in ELEMENT_CAPS.items():
        out[name] = _map_per_element(tree, nodes, _element_log_odds(damage, cap), rate)
    own = _element_log_odds(damage, ELEMENT_CAPS["true_priors_per_element_uncapped"])
    ev = evidence_of_calls(tree, nodes)
    s = chain_scores(tree, ev, own, rate, np.logaddexp)
    top_p = topmost_probabilities(tree, s)
    chains = s.chains.tolist()
    out["true_priors_per_element_expected_match"] = _expected_match(tree, chains, ev.calls, top_p)
    out["true_priors_per_element_dark"] = _dark_utility(tree, chains, top_p)
    return out


BY_CALLS_READINGS = ("estimated_batch_map", "estimated_by_calls", "true_priors_per_grid_by_calls",
                     "estimated_dark", "estimated_by_calls_dark", "estimated_dark_sets",
                     "estimated_by_calls_dark_sets")


def _by_feeder(priors: OutagePriors, intensity: np.ndarray) -> dict[int, OutagePriors]:
    """Per feeder, ``priors`` with every kind's prior times the feeder's ``intensity`` (kept
    between ``PRIOR_LOW`` and ``PRIOR_HIGH``, as ``_true_priors`` keeps a share)."""
    return {f: replace(priors, prior=tuple(float(x) for x in np.clip(np.multiply(priors.prior, m),
                                                                      PRIOR_LOW, PRIOR_HIGH)))
            for f, m in enumerate(intensity.tolist())}


def _by_calls_readings(tree: SupplyTree, feeder: np.ndarray, customer_nodes: np.ndarray, nodes: list[int],
                       ops: list[int], customer_side: list[int], rate: float, estimated: OutagePriors
                       ) -> dict[str, set[int]]:
    """Priors that vary by feeder with nothing but the calls: the batch MAP with the tool's own
    estimates (what its predictor reads the calls with), with them per feeder times the feeder's
    ``calls_intensity``, and with the true shares over the grid times the same; the first two
    also naming the elements whose customers are dark with a posterior of at least a half, the
    elements out independently (``*_dark``) or under the tool's posterior (``*_dark_sets``)."""
    intensity = calls_intensity(feeder, customer_nodes, nodes)
    grid = _true_priors(tree, ops, customer_side, None, rate)[0]
    per_feeder = _by_feeder(estimated, intensity)
    batch = _posteriors(tree, nodes, {0: estimated}, None)
    by_calls = _posteriors(tree, nodes, per_feeder, feeder)
    return {"estimated_batch_map": _map_named(batch),
            "estimated_by_calls": _map_named(by_calls),
            "true_priors_per_grid_by_calls": _map_devices(tree, nodes, _by_feeder(grid, intensity), feeder),
            "estimated_dark": _dark_at_least_half(
                tree, nodes, kind_log_odds(tree, estimated.prior), estimated.call_rate),
            "estimated_by_calls_dark": _dark_at_least_half(
                tree, nodes, feeder_log_odds(tree, estimated.prior, feeder, intensity), estimated.call_rate),
            "estimated_dark_sets": _dark_named(tree, batch),
            "estimated_by_calls_dark_sets": _dark_named(tree, by_calls)}


def _match(chosen: set[int], located: list[int]) -> float:
    """The share of the located outages whose element the reading named."""
    return round(sum(op in chosen for op in located) / max(1, len(located)), 4)


def _precision(chosen: set[int], below: np.ndarray, located: list[int]) -> float:
    """The share of the elements named with two calls or more below them (``below``, per node)
    that are located outages."""
    named = [v for v in chosen if below[v] >= 2]
    return round(len(set(named) & set(located)) / max(1, len(named)), 4)


def _rate_means(cases: list[dict[str, Any]], rates: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """Per call rate, the mean over ``cases`` of each ceiling column, its precision and
    customers-out F1, and the estimates' match."""
    if not cases:
        return {}
    keys = [k for k in cases[0] if k.startswith(("true_", "precision_", "f1_", "estimated"))]
    return {f"rate_{r}": {k: round(float(np.mean([c[k] for c in cases if c["call_rate"] == r])), 4)
                          for k in keys} for r in rates}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["accuracy", "speed", "ceiling"], required=True)
    ap.add_argument("--grids", nargs="*", default=list(GRIDS), help="SimBench codes (accuracy)")
    ap.add_argument("--simbench-seeds", type=int, nargs="*", help="default: tuned and held-out seeds")
    ap.add_argument("--storm-seeds", type=int, nargs="*", help="default: tuned and held-out seeds")
    ap.add_argument("--out", help="results file (default results/predict-<suite>.json)")
    args = ap.parse_args(argv)
    if args.suite == "speed":
        result: Any = speed()
    elif args.suite == "ceiling":
        result = ceiling(tuple(args.storm_seeds) if args.storm_seeds else TUNED["storm"] + HELD_OUT["storm"])
    else:
        seeds = {"simbench": tuple(args.simbench_seeds if args.simbench_seeds is not None
                                   else TUNED["simbench"] + HELD_OUT["simbench"]),
                 "storm": tuple(args.storm_seeds if args.storm_seeds is not None
                                else TUNED["storm"] + HELD_OUT["storm"])}
        result = accuracy(tuple(args.grids), seeds)
    out = Path(args.out) if args.out else RESULTS / f"predict-{args.suite}.json"
    out.write_text(json.dumps({"suite": args.suite, "results": result}, indent=1))
    print(json.dumps(result.get("held_out_mean", result) if isinstance(result, dict) else result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
