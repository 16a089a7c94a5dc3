"""Calls in, incidents out: resolve, trace and group a batch of calls, and render the
incidents as the ``predict`` command writes them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from grid_model.dark import DarkReading
from grid_model.network import AREA_NAMES, KIND_NAMES, DeviceKind, Network
from grid_model.posterior import CANDIDATE_NAMES, OutagePriors
from grid_model.predict import Incident, IncidentKind, OutagePredictor, PredictionParams
from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import Call

# How much the reports grow between two estimates in a batch's pass. Tuned (storms
# 1, 4, 5, 8-12 and SimBench seeds 1-2 of ``benchmarks/run_predict.py``): from 1.25 (the online
# default) to 3, device match on the storms at 10 % calls rose from 0.22 to 0.54 and at 30 % from
# 0.715 to 0.734, SimBench unchanged (at 4: 0.59 and 0.728). Fewer EM steps leave the estimates
# nearer their starts, which on dense storm damage read the reports better than the likelihood's
# maximum does: EM run again from the starts on all the reports, kept by likelihood, fell back
# to 0.28 at 10 %. Online, each decision needs the estimates of its time: the default stays (a
# live predictor's ``regroup`` reads its reports under estimates that started from these).
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
    """One pass of the reports, in time order, through a fresh predictor, then its regrouping
    (``OutagePredictor.regroup``: the parameters estimated again from every report, each read per
    customer) as of the last report."""
    predictor = OutagePredictor(net, params)
    g = 0
    for call, node in located:
        while g < len(gasps) and gasps[g][2] <= call.t_s:
            predictor.add_last_gasp(*gasps[g])
            g += 1
        predictor.add_call(call.call_id, node, call.t_s)
    for gasp in gasps[g:]:
        predictor.add_last_gasp(*gasp)
    last = max([call.t_s for call, _ in located[-1:]] + [t_s for _, _, t_s in gasps[-1:]], default=0)
    predictor.regroup(last)
    return predictor


def predict_calls(region: Region, calls: list[Call], params: PredictionParams | None = None,
                  resolver: CallResolver | None = None,
                  last_gasps: list[tuple[str, int, int]] | None = None) -> Prediction:
    """Group ``calls`` (in time order) into incidents; unresolvable calls become ``unlocated``.
    ``last_gasps`` are AMI messages as (message id, customer node, time), merged in by time.
    One pass, estimating the parameters online at ``BATCH_ESTIMATE_GROWTH``, then the
    predictor's regrouping, which estimates them again from every report and reads each per
    customer (``_read_per_customer``). A customer-side incident lists its ``alternatives``:
    each element on the caller's path with its posterior probability of being the cause
    (customer-side, drop, fuse, ...)."""
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
        params = replace(params, estimate_growth=BATCH_ESTIMATE_GROWTH)
    predictor = _replay(region.network, params, located, gasps)
    if params.rollup is None and predictor.reading is not None:  # no reading: no report located
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
            out[-1]["alternatives"] = [
                {"element_id": net.device_id[v] or net.node_id[v], "kind": CANDIDATE_NAMES[kind],
                 "probability": p} for v, kind, p in predictor.explanations(node, probability) if p >= 0.001]
    return Prediction(out + unlocated, len(unlocated), predictor.priors)


def _read_per_customer(predictor: OutagePredictor, located: list[tuple[Call, int]],
                       gasps: list[tuple[str, int, int]]) -> tuple[list[Incident], DarkReading]:
    """The incidents of the whole batch as the predictor's regrouping read them per customer
    (``grid_model.placement``): one at each element below which the customers are dark with a
    posterior of at least a half, every element out independently, with the reports below it.
    Returns the incidents (numbered by first report, their reports in time order) and the reading
    (per candidate on the reports' chains, its posterior probabilities of being the topmost
    outage and that its customers are dark)."""
    assert predictor.reading is not None, "the replay ends with a regrouping"
    place = predictor.placement()
    reports = sorted([(call.t_s, call.call_id, node) for call, node in located]
                     + [(t_s, message_id, node) for message_id, node, t_s in gasps])
    at: dict[int, Incident] = {}
    for t_s, report_id, node in reports:
        element = place[node]
        inc = at.get(element)
        if inc is None:
            kind = predictor.incident_kind(element)
            inc = at[element] = Incident(f"I{len(at) + 1:06d}", element, kind, t_s)
        inc.call_ids.append(report_id)
        inc.caller_nodes.add(node)
    return list(at.values()), predictor.reading
