"""Calls in, incidents out: resolve, trace and group a batch of calls, and render the
incidents as the ``predict`` command writes them."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from grid_model.dark import DarkReading, read_dark
from grid_model.feeder_factor import applies, calls_intensity, feeder_log_odds
from grid_model.network import AREA_NAMES, KIND_NAMES, DeviceKind, Network, NodeKind
from grid_model.posterior import CANDIDATE_NAMES, CandidateKind, OutagePriors
from grid_model.predict import Incident, IncidentKind, OutagePredictor, PredictionParams
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call

# How much the reports grow between two estimates in the first pass of a batch. Tuned (storms
# 1, 4, 5, 8-12 and SimBench seeds 1-2 of ``benchmarks/run_predict.py``): from 1.25 (the online
# default) to 3, device match on the storms at 10 % calls rose from 0.22 to 0.54 and at 30 % from
# 0.715 to 0.734, SimBench unchanged (at 4: 0.59 and 0.728). Fewer EM steps leave the estimates
# nearer their starts, which on dense storm damage read the reports better than the likelihood's
# maximum does: EM run again from the starts on all the reports, kept by likelihood, fell back
# to 0.28 at 10 %. Online, each decision needs the estimates of its time: the default stays.
BATCH_ESTIMATE_GROWTH = 3.0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The incidents (located and unlocated), how many calls were unlocated, and the parameters
    the grouping read the reports with (estimated from them unless fixed)."""

    incidents: list[dict[str, object]]
    unlocated: int
    priors: OutagePriors


def _replay(net: Network, params: PredictionParams, located: list[tuple[Call, int]],
            gasps: list[tuple[str, int, int]]) -> OutagePredictor:
    """One pass of the reports, in time order, through a fresh predictor, then its review."""
    predictor = OutagePredictor(net, params)
    g = 0
    for call, node in located:
        while g < len(gasps) and gasps[g][2] <= call.t_s:
            predictor.add_last_gasp(*gasps[g])
            g += 1
        predictor.add_call(call.call_id, node, call.t_s)
    for gasp in gasps[g:]:
        predictor.add_last_gasp(*gasp)
    predictor.review()
    return predictor


def predict_calls(region: Region, calls: list[Call], params: PredictionParams | None = None,
                  resolver: CallResolver | None = None,
                  last_gasps: list[tuple[str, int, int]] | None = None) -> Prediction:
    """Group ``calls`` (in time order) into incidents; unresolvable calls become ``unlocated``.
    ``last_gasps`` are AMI messages as (message id, customer node, time), merged in by time.
    Two passes, as the whole batch is known: the first estimates the parameters online (at
    ``BATCH_ESTIMATE_GROWTH``), the second groups the same reports with them from the first
    report on (an estimate that drifts while the reports arrive otherwise leaves early incidents
    too high: incidents never move down). A customer-side incident lists its ``alternatives``:
    each element on the caller's path with its posterior probability of being the cause
    (customer-side, drop, fuse, ...). With the posterior (no roll-up rules) the incidents are
    then read again from all the reports at once, per customer (``_read_per_customer``)."""
    params = params or PredictionParams()
    resolver = resolver or CallResolver(region)
    located: list[tuple[Call, int]] = []
    unlocated: list[dict[str, object]] = []
    for call in calls:
        res = resolver.resolve(call)
        if res.located:
            located.append((call, res.node_idx))
        else:
            unlocated.append({"incident_id": f"U{len(unlocated) + 1:06d}", "kind": "unlocated",
                              "device_id": None, "customers_out": [], "call_ids": [call.call_id],
                              "confidence": 0.0, "reason": res.reason, "first_report_s": call.t_s})
    gasps = sorted(last_gasps or [], key=lambda g: g[2])
    if params.estimate and params.rollup is None:
        first = replace(params, estimate_growth=BATCH_ESTIMATE_GROWTH)
        params = replace(params, priors=_replay(region.network, first, located, gasps).priors, estimate=False)
    predictor = _replay(region.network, params, located, gasps)
    if params.rollup is None:
        incidents, reading = _read_per_customer(predictor, located, gasps)
        probability, dark = reading.top_probability, reading.dark_probability
    else:
        incidents, probability, dark = predictor.incidents, None, None
    net = region.network
    cust = region.customers
    cust_node = cust["node_idx"].to_numpy()
    cust_ids = cust["customer_id"].to_numpy()
    critical = (cust["critical"] != "").to_numpy()
    merged_from: dict[str, list[str]] = {}
    for inc in incidents:
        if inc.merged_into:
            merged_from.setdefault(inc.merged_into, []).append(inc.incident_id)
    out: list[dict[str, object]] = []
    for inc in incidents:
        if not inc.is_open or (inc.kind == IncidentKind.PLANNED and not inc.call_ids):
            continue
        sl = net.subtree(inc.node_idx)
        lo, hi = np.searchsorted(cust_node, [sl.start, sl.stop])
        node = inc.node_idx
        device = net.device_id[node] if net.device[node] != DeviceKind.NONE else net.node_id[node]
        out.append({
            "incident_id": inc.incident_id, "kind": inc.kind.value, "device_id": device,
            "element_kind": KIND_NAMES[net.kind[node]], "customers_out": cust_ids[lo:hi].tolist(),
            "critical_customers": cust_ids[lo:hi][critical[lo:hi]].tolist(),
            "call_ids": list(inc.call_ids),
            "confidence": predictor.confidence(inc) if probability is None else round(
                probability.get(node, 0.0), 3),
            "first_report_s": inc.first_report_s, "area_class": AREA_NAMES[net.area[node]],
            "merged_from": merged_from.get(inc.incident_id, []),
            "dark_probability": None if dark is None else round(dark.get(node, 0.0), 3),
        })
        if inc.kind == IncidentKind.CUSTOMER_SIDE:
            explained = (predictor.explanations(node) if probability is None else
                         [(v, CandidateKind(int(predictor.tree.kind[v])), round(probability.get(v, 0.0), 4))
                          for v in predictor.tree.chain(node)])
            out[-1]["alternatives"] = [
                {"element_id": net.device_id[v] or net.node_id[v], "kind": CANDIDATE_NAMES[kind],
                 "probability": p} for v, kind, p in explained if p >= 0.001]
    return Prediction(out + unlocated, len(unlocated), predictor.priors)


def _by_feeder(predictor: OutagePredictor, nodes: list[int]) -> npt.NDArray[np.float64] | None:
    """Per node, the log-odds of its kind's prior times its feeder's calls intensity
    (``grid_model.feeder_factor``); None where the estimated call rate is too low for it, or
    the grid has no feeders. ``nodes``: the calling nodes, each counted once as the evidence is."""
    if not applies(predictor.state.priors.call_rate) or not nodes or predictor.net.feeder_idx.max() < 0:
        return None
    net = predictor.net
    feeder = net.feeder_idx.astype(np.int64)
    intensity = calls_intensity(feeder, np.flatnonzero(net.kind == NodeKind.CUSTOMER), nodes)
    return feeder_log_odds(predictor.tree, predictor.state.priors.prior, feeder, intensity)


def _lone_causes(predictor: OutagePredictor, place: dict[int, int]) -> dict[int, int]:
    """Where the lone reporters go (each the only reporting node at the element the reading put it
    at, ``place``): to the MAP's cause (customer-side, often, where the reading names the drop whose
    customer is likelier dark than not), when that lies at or below the element, or above it when
    every reporting node below that cause is a lone one with the same cause (a few lone callers
    the MAP puts under one fuse), so that no incident holds another's customers."""
    state, size = predictor.state, predictor.net.size
    units = Counter(place.values())
    causes: dict[int, int] = {}
    above: dict[int, list[int]] = {}
    for node, element in place.items():
        if units[element] == 1:
            chain = state.chain(node)
            top = state.top(chain)
            if chain.index(top) <= chain.index(element):
                causes[node] = top
            else:
                above.setdefault(top, []).append(node)
    reporting = sorted(place)
    for top, nodes in above.items():
        lo, hi = bisect_left(reporting, top), bisect_left(reporting, top + int(size[top]))
        if hi - lo == len(nodes):  # every reporting node below ``top`` is one of these
            causes.update(dict.fromkeys(nodes, top))
    return causes


def _read_per_customer(predictor: OutagePredictor, located: list[tuple[Call, int]],
                       gasps: list[tuple[str, int, int]]) -> tuple[list[Incident], DarkReading]:
    """The incidents of the whole batch read per customer (``grid_model.dark``): one at each
    element below which the customers are dark with a posterior of at least a half, every
    element out independently, with the reports below it (each at the highest such element on
    its chain; the chain's lowest element when none is; a lone reporter where ``_lone_causes``
    puts it). The replay's grouping decided report by report and could only move an incident up;
    with every report known, the reading places each at once. Returns the incidents (numbered by
    first report) and the reading (per candidate on the reports' chains, its posterior
    probabilities of being the topmost outage and that its customers are dark)."""
    tree = predictor.tree
    reading = read_dark(predictor.state, _by_feeder(predictor, sorted({node for _, node in located})))
    reports = sorted([(call.t_s, call.call_id, node) for call, node in located]
                     + [(t_s, message_id, node) for message_id, node, t_s in gasps])
    place: dict[int, int] = {}
    for _, _, node in reports:
        if node not in place:
            chain = tree.chain(node)
            place[node] = next((v for v in reversed(chain) if v in reading.named), chain[0])
    for node, cause in _lone_causes(predictor, place).items():
        place[node] = cause
    at: dict[int, Incident] = {}
    for t_s, report_id, node in reports:
        element = place[node]
        inc = at.get(element)
        if inc is None:
            kind = predictor.incident_kind(element)
            inc = at[element] = Incident(f"I{len(at) + 1:06d}", element, kind, t_s)
        inc.call_ids.append(report_id)
        inc.caller_nodes.add(node)
    return list(at.values()), reading
