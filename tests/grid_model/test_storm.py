"""Storm ground truth agrees with the calls; the event file round-trips and rejects bad lines; the
damage probabilities agree with the storms drawn."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from grid_model.region import Region
from grid_model.resolve import CallResolver
from grid_model.storm import HOUR, StormParams, damage_probabilities, generate_storm
from grid_model.stormfile import StormFileError, read_events, read_truth, write_storm


def test_every_caller_is_dark_at_call_time_from_the_cause_the_truth_names(small_region: Region) -> None:
    storm = generate_storm(small_region, StormParams(seed=3))
    net = small_region.network
    assert storm.faults and storm.calls
    fault_by_id = {f.fault_id: f for f in storm.faults}
    planned_by_id = {p.outage_id: p for p in storm.planned}
    node_of = small_region.customers["node_idx"].to_numpy()
    for call, cause, row in zip(storm.calls, storm.call_cause, storm.call_customer_idx, strict=True):
        node = int(node_of[row])
        if cause in planned_by_id:
            po = planned_by_id[cause]
            assert net.is_ancestor(po.device_idx, node) and call.t_s >= po.start_s
        else:
            f = fault_by_id[cause]
            assert net.is_ancestor(f.operates_idx, node), "caller is not below the operated element"
            assert call.t_s >= f.t_s, "call before the fault"
    for f in storm.faults:
        assert net.is_ancestor(f.operates_idx, f.node_idx)
        assert f.operates_idx == f.node_idx or net.device_id[f.operates_idx]


def test_storm_is_deterministic_for_a_seed(small_region: Region) -> None:
    a = generate_storm(small_region, StormParams(seed=4))
    b = generate_storm(small_region, StormParams(seed=4))
    c = generate_storm(small_region, StormParams(seed=5))
    assert a.calls == b.calls and a.faults == b.faults
    assert a.calls != c.calls


# sha256 of ``repr(storm.faults)`` on the test region, recorded at c649315, before the wind field
# was factored out of ``generate_storm`` for ``damage_probabilities``: the storms drawn must not move.
FAULTS_SHA256 = {
    ("typhoon", 1): "a2c5b0b4252717baa50f9378250ba0e8e23201f3862e52afd7219ecc67b28297",
    ("typhoon", 2): "1cf111738369d334a9f6f70083eda2007e4b46585c8acd62fd15339008ea83a3",
    ("day", 1): "fbba94f94dfe5447fee58d1d2f8cc752a182ccf92bec31ba4386c4b3c0164f0a",
    ("day", 2): "dc41e486e9beb3cf750a26c2b293f5f71c4ef1f629232ef8c116ebdab09f62c7",
}


@pytest.mark.parametrize(("kind", "seed"), sorted(FAULTS_SHA256))
def test_the_faults_of_a_seed_are_the_ones_drawn_before_the_refactor(
        small_region: Region, kind: str, seed: int) -> None:
    params = StormParams(seed=seed) if kind == "typhoon" else StormParams.normal_day(seed)
    faults = generate_storm(small_region, params).faults
    assert hashlib.sha256(repr(faults).encode()).hexdigest() == FAULTS_SHA256[(kind, seed)]


@pytest.mark.parametrize("kind", ["typhoon", "day"])
def test_damage_probabilities_match_the_elements_out_in_drawn_storms(small_region: Region, kind: str) -> None:
    """Over ten storms, at half their duration: every element out had a probability above 0, and
    per band of probability the elements out number what the probabilities expect (within four
    standard deviations)."""
    probs, outs = [], []
    for seed in range(1, 11):
        params = StormParams(seed=seed) if kind == "typhoon" else StormParams.normal_day(seed)
        until = params.duration_h * HOUR / 2
        pi = damage_probabilities(small_region, params, until)
        out = np.zeros(len(pi), dtype=bool)
        out[[f.operates_idx for f in generate_storm(small_region, params).faults if f.t_s <= until]] = True
        assert (pi[out] > 0).all()
        probs.append(pi)
        outs.append(out)
    pi, out = np.concatenate(probs), np.concatenate(outs)
    band = np.digitize(pi, [1e-12, 0.05, 0.2, 0.5, 0.8])
    assert out.sum() > 40
    for b in np.unique(band[out]):
        here = band == b
        expected, var = pi[here].sum(), (pi[here] * (1 - pi[here])).sum()
        assert abs(out[here].sum() - expected) < 4 * var ** 0.5 + 1, (b, out[here].sum(), expected)


def test_damage_probabilities_grow_with_time_from_none_to_the_storm_s_whole(small_region: Region) -> None:
    params = StormParams(seed=3)
    before, mid, after = (damage_probabilities(small_region, params, t) for t in (0, 15 * HOUR, 40 * HOUR))
    assert (before == 0).all()
    assert (mid <= after).all() and mid.sum() < after.sum()
    ever = {f.operates_idx for f in generate_storm(small_region, params).faults}
    assert (after[sorted(ever)] > 0).all()


def test_event_file_round_trips_and_every_call_resolves_to_its_caller(
        small_region: Region, tmp_path: Path) -> None:
    storm = generate_storm(small_region, StormParams(seed=3))
    ev_path, truth_path = write_storm(storm, small_region, tmp_path, "s3")
    events = read_events(ev_path, small_region)
    assert [e.call_id for e in events if hasattr(e, "call_id")] == [c.call_id for c in storm.calls]
    times = [e.t_s for e in events]
    assert times == sorted(times)
    faults, planned, calls = read_truth(truth_path)
    assert len(faults) == len(storm.faults) and len(planned) == len(storm.planned)
    resolver = CallResolver(small_region)
    net = small_region.network
    for call, row in zip(storm.calls, storm.call_customer_idx, strict=True):
        res = resolver.resolve(call)
        assert res.located, res.reason
        true_node = int(small_region.customers["node_idx"].iat[row])
        if call.lon is None:
            assert res.node_idx == true_node
        assert calls[call.call_id][0] == small_region.customers["customer_id"].iat[row]
    assert np.all(np.diff(times) >= 0)
    assert net.n_nodes > 0


def _write(path: Path, header: dict[str, object], lines: list[str]) -> Path:
    path.write_text(json.dumps(header) + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


HEADER = {"format": "outage-dispatch/storm-events", "version": 1}


@pytest.mark.parametrize(("lines", "message"), [
    (['{"t_s": 5, "type": "call", "call_id": "K1", "customer_id": "0000000000"}'],
     r":2: call K1: unknown customer '0000000000'"),
    (['{"t_s": 5, "type": "call", "call_id": "K1"', ], r":2: malformed JSON"),
    (['{"t_s": 9, "type": "call", "call_id": "K1", "address": "x"}',
      '{"t_s": 5, "type": "call", "call_id": "K2", "address": "y"}'],
     r":3: time 5 s is earlier than the previous event \(9 s\)"),
    (['{"t_s": "noon", "type": "call", "call_id": "K1", "address": "x"}'],
     r":2: field 't_s' must be int"),
    (['{"t_s": 1, "type": "hail", "call_id": "K1"}'], r":2: unknown event type 'hail'"),
    (['{"t_s": 1, "type": "call", "call_id": "K1"}'], r":2: call K1 has none of"),
    (['{"t_s": 1, "type": "planned_outage", "outage_id": "P1", "device_id": "FU-F0101-T001", "start_s": 9, '
      '"end_s": 99, "urgent": "yes"}'], r":2: planned outage: 'urgent' must be true or false"),
])
def test_bad_event_lines_stop_with_line_number_and_reason(
        small_region: Region, tmp_path: Path, lines: list[str], message: str) -> None:
    path = _write(tmp_path / "bad.events.jsonl", HEADER, lines)
    with pytest.raises(StormFileError, match=message):
        read_events(path, small_region)


def test_wrong_header_and_missing_file(small_region: Region, tmp_path: Path) -> None:
    path = _write(tmp_path / "x.jsonl", {"format": "something-else", "version": 1}, [])
    with pytest.raises(StormFileError, match=":1: header must have format"):
        read_events(path, small_region)
    with pytest.raises(StormFileError, match="cannot open"):
        read_events(tmp_path / "missing.jsonl", small_region)


TRUTH_HEADER = {"format": "outage-dispatch/storm-truth", "version": 1}
FAULT = {"t_s": 5, "type": "fault", "fault_id": "X1", "element_id": "E", "element_kind": "transformer",
         "fault_class": "transformer", "limit_class": "mv", "operates_id": "E", "repair_s": 3600}


@pytest.mark.parametrize(("change", "message"), [
    ({"limit_class": "hv"}, r":2: limit_class must be one of lv, mv, cable, got 'hv'"),
    ({"repair_s": -60}, r":2: repair_s is negative"),
])
def test_bad_truth_lines_stop_with_line_number_and_reason(tmp_path: Path, change: dict[str, object],
                                                          message: str) -> None:
    path = _write(tmp_path / "bad.truth.jsonl", TRUTH_HEADER, [json.dumps({**FAULT, **change})])
    with pytest.raises(StormFileError, match=message):
        read_truth(path)
