"""The accuracy suite's scores of a prediction against the faults it was drawn from."""

from __future__ import annotations

import numpy as np

from benchmarks.run_predict import _lone_drops_at_the_drop, _reports_per_outage
from tests.grid_model.feeders import feeders_of_buildings


def test_lone_drop_outages_count_those_predicted_at_the_drop() -> None:
    """Three drops of two customers down on one feeder, a transformer on the other: one report
    each from two drops (one read at its drop, one as its caller's own fault), two from the third,
    one from the transformer. Only the two drops with one report count, one of them right."""
    net = feeders_of_buildings(2, transformers=1, outlets=1, drops=3, customers=2)
    idx = net.index_of()
    drops = [idx[f"SD0.0.0.{k}"] for k in range(3)]
    transformer = idx["T1.0"]
    top = np.full(net.n_nodes, -1, dtype=np.int64)
    for op in [*drops, transformer]:
        top[net.subtree(op)] = op
    where = {"K1": idx["C0.0.0.0.0"], "K2": idx["C0.0.0.1.1"], "K3": idx["C0.0.0.2.0"],
             "K4": idx["C0.0.0.2.1"], "K5": idx["C1.0.0.0.0"]}
    incident_of = {"K1": (drops[0], "device"), "K2": (idx["C0.0.0.1.1"], "customer_side"),
                   "K3": (drops[2], "device"), "K4": (drops[2], "device"), "K5": (transformer, "device")}
    reports_of = _reports_per_outage(top, where)
    assert reports_of == {drops[0]: 1, drops[1]: 1, drops[2]: 2, transformer: 1}
    assert _lone_drops_at_the_drop(net.kind, top, reports_of, where, incident_of) == (2, 1)
    incident_of["K2"] = (drops[1], "device")
    assert _lone_drops_at_the_drop(net.kind, top, reports_of, where, incident_of) == (2, 2)
    assert _lone_drops_at_the_drop(net.kind, top, reports_of, where, {}) == (2, 0)
