"""Outage prediction: roll calls up the feeder to the device that most likely operated.

Incremental, as an OMS prediction engine works: each new call updates counters of distinct
calling units (customers, service drops, LV branches, transformers) on its path, then the
call joins the incident at the highest element whose rule holds. When a later call reveals
a larger outage, the incidents below it merge into it; merged incidents are kept.

AMI: a meter's last gasp counts as a call that cannot be the customer's own breaker (the
meter itself lost supply), so it is never grouped below the service drop. It also proves that
the concentrator at its transformer had supply, so for ``ami_alive_s`` neither that
transformer nor anything above it is predicted out. A restore message takes the meter out of
the counts; an incident whose every reporting meter is back is over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from grid_model.network import DeviceKind, Network, NodeKind

_DROP = int(NodeKind.SERVICE_DROP)
_LV_BRANCH = int(NodeKind.LV_BRANCH)
_TRANSFORMER = int(NodeKind.TRANSFORMER)


class IncidentKind(StrEnum):
    DEVICE = "device"
    CUSTOMER_SIDE = "customer_side"
    PLANNED = "planned"


_DEVICE, _CUSTOMER_SIDE = IncidentKind.DEVICE, IncidentKind.CUSTOMER_SIDE


@dataclass(frozen=True, slots=True)
class PredictionRules:
    """When an element is predicted out, from the distinct calling units below it.

    An element with ``n`` units below it (customers of a service drop, service drops of an
    LV fuse or transformer) is predicted out when at least ``min_units`` of them call and their
    share reaches the point where "out, each unit calling with ``expected_call_share``" is
    more likely than "healthy, units calling on their own faults with ``noise_share``" (a
    likelihood-ratio test). A transformer with several LV outlets needs two of them and more
    than half calling, so blown outlet fuses are not taken for the transformer. An MV device needs
    ``mv_min_transformers`` transformers predicted out below it and ``mv_min_share`` of its
    transformers. Scattered single-customer faults thus do not add up to a phantom feeder
    outage. An element a crew has just restored, and
    the MV devices below it, are known energised and are not predicted for ``restored_quiet_s``;
    a transformer whose concentrator passed on a last gasp, and everything above it, for
    ``ami_alive_s``.
    """

    expected_call_share: float = 0.3
    noise_share: float = 0.03
    min_units: int = 2
    mv_min_transformers: int = 2
    mv_min_share: float = 0.5
    restored_quiet_s: int = 3 * 3600
    ami_alive_s: int = 3600

    @property
    def unit_share(self) -> float:
        q, e = self.expected_call_share, self.noise_share
        if not 0.0 < e < q < 1.0:
            raise ValueError("need 0 < noise_share < expected_call_share < 1")
        healthy = math.log((1 - e) / (1 - q))
        return healthy / (math.log(q / e) + healthy)


@dataclass(slots=True)
class Incident:
    """One predicted outage cause and the calls it explains."""

    incident_id: str
    node_idx: int
    kind: IncidentKind
    first_report_s: int
    call_ids: list[str] = field(default_factory=list)
    caller_nodes: set[int] = field(default_factory=set)
    restored_nodes: set[int] = field(default_factory=set)
    merged_into: str = ""
    closed_s: int | None = None

    @property
    def is_open(self) -> bool:
        return not self.merged_into and self.closed_s is None


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """What one call did: joined ``incident_id``; created it; merged these into it."""

    incident_id: str
    created: bool
    merged: tuple[str, ...] = ()


@dataclass(slots=True)
class _Planned:
    incident_id: str
    device_idx: int
    start_s: int
    end_s: int


class OutagePredictor:
    """Incremental call grouping on a ``Network``; O(path length) per call."""

    def __init__(self, network: Network, rules: PredictionRules | None = None) -> None:
        self.net = network
        self.rules = rules or PredictionRules()
        n = network.n_nodes
        self._kind = network.kind.tolist()
        self._parent = network.parent.tolist()
        self._has_device = (network.device != DeviceKind.NONE).tolist()
        self._dev_anc = network.device_ancestor.tolist()
        kind = network.kind
        self._customers_under = network.count_below(
            (kind == NodeKind.CUSTOMER) | (kind == NodeKind.METER_BOX)).tolist()
        self._drops_under = network.count_below(kind == NodeKind.SERVICE_DROP).tolist()
        self._xfmrs_under = network.count_below(kind == NodeKind.TRANSFORMER).tolist()
        self._callers = [0] * n
        self._drops = [0] * n
        self._outlets = [0] * n
        outlet = (network.kind == NodeKind.LV_BRANCH) & (network.device != DeviceKind.NONE)
        outlet &= network.kind[np.maximum(network.parent, 0)] == NodeKind.TRANSFORMER
        self._is_outlet = outlet.tolist()
        self._outlets_under = network.count_below(outlet).tolist()
        self._xfmrs_out = [0] * n
        self._xfmr_is_out = [False] * n
        self._restored_s: dict[int, int] = {}
        self._concentrator_alive_s: dict[int, int] = {}
        self._share = self.rules.unit_share
        self._open_at = np.full(n, -1, dtype=np.int64)
        self._caller_incident: dict[int, int] = {}
        self.incidents: list[Incident] = []
        self._incident_idx: dict[str, int] = {}
        self._planned: list[_Planned] = []

    def add_planned(self, outage_id: str, device_idx: int, start_s: int, end_s: int) -> None:
        """Register a planned outage; calls from under it inside its window attach to it."""
        inc = Incident(outage_id, device_idx, IncidentKind.PLANNED, start_s)
        self.incidents.append(inc)
        self._planned.append(_Planned(outage_id, device_idx, start_s, end_s))
        self._incident_idx[outage_id] = len(self.incidents) - 1

    def move_planned(self, outage_id: str, start_s: int, end_s: int) -> None:
        """A planned outage's window moves (calls attach inside the new one)."""
        self._planned = [_Planned(p.incident_id, p.device_idx, start_s, end_s) if p.incident_id == outage_id
                         else p for p in self._planned]

    def cancel_planned(self, outage_id: str) -> None:
        """A planned outage is called off: no later call attaches to it."""
        self._planned = [p for p in self._planned if p.incident_id != outage_id]

    def knows(self, incident_id: str) -> bool:
        """Whether an incident or planned outage has this id."""
        return incident_id in self._incident_idx

    def incident(self, incident_id: str) -> Incident:
        return self.incidents[self._incident_idx[incident_id]]

    def add_call(self, call_id: str, node_idx: int, t_s: int) -> IncidentChange:
        """Group one located call; returns the incident it joined and any merges."""
        return self._group(call_id, node_idx, t_s, ami=False)

    def add_last_gasp(self, message_id: str, node_idx: int, t_s: int) -> IncidentChange:
        """Group one meter's last gasp: like a call, but at least at the service drop, and
        never at or above its transformer, whose concentrator passed the message on."""
        if 0 <= node_idx < self.net.n_nodes:
            lv, _ = self._paths(node_idx)
            if self._kind[lv[-1]] == _TRANSFORMER:
                self._concentrator_alive_s[lv[-1]] = t_s
        return self._group(message_id, node_idx, t_s, ami=True)

    def add_restore(self, message_id: str, node_idx: int, t_s: int) -> str | None:
        """A meter reports supply back. Returns the open incident it reported to when every
        node that reported to it is now back (the outage is over), else None."""
        k = self._caller_incident.get(node_idx)
        if k is None or not self.incidents[k].is_open:
            return None
        inc = self.incidents[k]
        del self._caller_incident[node_idx]
        self._count_caller(*self._paths(node_idx), -1)
        inc.restored_nodes.add(node_idx)
        inc.call_ids.append(message_id)
        return inc.incident_id if inc.caller_nodes <= inc.restored_nodes else None

    def _group(self, call_id: str, node_idx: int, t_s: int, *, ami: bool) -> IncidentChange:
        if not 0 <= node_idx < self.net.n_nodes:
            raise ValueError(f"call {call_id}: node {node_idx} is not in the network")
        for po in self._planned:
            if po.start_s <= t_s <= po.end_s and self.net.is_ancestor(po.device_idx, node_idx):
                inc = self.incident(po.incident_id)
                inc.call_ids.append(call_id)
                return IncidentChange(inc.incident_id, False)
        existing = self._caller_incident.get(node_idx)
        if existing is not None and self.incidents[existing].is_open:
            inc = self._surviving(self.incidents[existing])
            inc.call_ids.append(call_id)
            return IncidentChange(inc.incident_id, False)
        lv, chain = self._paths(node_idx)
        self._count_caller(lv, chain, +1)
        target = self._target(chain, t_s)
        if ami:
            target = next(a for a in chain if self._kind[a] <= _DROP) if self._kind[target] > _DROP \
                else target
        for a in reversed(chain):
            if self._open_at[a] >= 0:
                inc = self.incidents[self._open_at[a]]
                self._attach(inc, call_id, node_idx)
                return IncidentChange(inc.incident_id, False)
            if a == target:
                break
        kind = _CUSTOMER_SIDE if self._kind[target] > _DROP else _DEVICE
        inc, merged = self._open_incident(target, kind, t_s)
        self._attach(inc, call_id, node_idx)
        return IncidentChange(inc.incident_id, True, merged)

    def add_device_report(self, report_id: str, device_idx: int, t_s: int) -> IncidentChange:
        """A telemetered device (SCADA on a feeder breaker) reports that it opened: an
        incident at the device for certain, absorbing the open incidents below it; calls
        from below attach to it."""
        if not 0 <= device_idx < self.net.n_nodes or not self._has_device[device_idx]:
            raise ValueError(f"device report {report_id}: node {device_idx} is not a protective device")
        if self._open_at[device_idx] >= 0:
            return IncidentChange(self.incidents[self._open_at[device_idx]].incident_id, False)
        for a in self.net.path_up(device_idx)[1:]:
            if self._open_at[a] >= 0:
                return IncidentChange(self.incidents[self._open_at[a]].incident_id, False)
        inc, merged = self._open_incident(device_idx, IncidentKind.DEVICE, t_s)
        inc.call_ids.append(report_id)
        return IncidentChange(inc.incident_id, True, merged)

    def relocate(self, incident_id: str, node_idx: int) -> IncidentChange:
        """A crew found the incident's cause upstream at ``node_idx``: the incident moves
        there and absorbs the open incidents below it."""
        inc = self.incident(incident_id)
        if not inc.is_open or node_idx == inc.node_idx or not self.net.is_ancestor(node_idx, inc.node_idx):
            raise ValueError(f"incident {incident_id} cannot move to node {node_idx}: not open or not "
                             f"upstream of {inc.node_idx}")
        self._open_at[inc.node_idx] = -1
        inc.node_idx = node_idx
        inc.kind = IncidentKind.DEVICE
        return IncidentChange(incident_id, False, self._settle(inc))

    def merge(self, incident_id: str, into_id: str) -> None:
        """A crew found that the incident's cause is the one of ``into_id`` (open, upstream):
        it merges into that incident, its callers with it."""
        child, parent = self.incident(incident_id), self.incident(into_id)
        if not (child.is_open and parent.is_open and self.net.is_ancestor(parent.node_idx, child.node_idx)):
            raise ValueError(f"incident {incident_id} cannot merge into {into_id}: not both open, or "
                             f"{into_id} is not upstream")
        self._merge(child, parent)

    def close(self, incident_id: str, t_s: int) -> None:
        """The incident is repaired: its callers stop counting toward later predictions."""
        inc = self.incident(incident_id)
        if not inc.is_open:
            return
        inc.closed_s = t_s
        if inc.kind == IncidentKind.PLANNED:
            return
        self._open_at[inc.node_idx] = -1
        self._restored_s[inc.node_idx] = t_s
        for node in inc.caller_nodes:
            if self._caller_incident.get(node) == self._incident_idx[incident_id]:
                del self._caller_incident[node]
                self._count_caller(*self._paths(node), -1)

    def confidence(self, inc: Incident) -> float:
        """How sure the prediction is: 1 for a planned outage; for an element, how far the
        share of its units calling exceeds the share its rule needs; 0.5 for a lone caller,
        who may have lost the service drop rather than their own breaker."""
        if inc.kind == IncidentKind.PLANNED:
            return 1.0
        if inc.kind == IncidentKind.CUSTOMER_SIDE:
            return 0.5
        a = inc.node_idx
        kind = self._kind[a]
        if kind == NodeKind.SERVICE_DROP:
            share, need = self._callers[a] / max(1, self._customers_under[a]), self._share
        elif kind in (NodeKind.LV_BRANCH, NodeKind.TRANSFORMER):
            share, need = self._drops[a] / max(1, self._drops_under[a]), self._share
        else:
            share, need = self._xfmrs_out[a] / max(1, self._xfmrs_under[a]), self.rules.mv_min_share
        return round(min(0.99, 0.5 + 0.5 * min(1.0, share / (2.0 * need))), 3)

    def _paths(self, idx: int) -> tuple[list[int], list[int]]:
        """The LV part of a caller's path (up to and including its transformer) and the
        candidate chain: that LV part, then every protective device above it. Only these
        elements can be predicted, so MV nodes without a device are never visited."""
        parent, kind, dev_anc = self._parent, self._kind, self._dev_anc
        lv = []
        while idx >= 0:
            lv.append(idx)
            if kind[idx] <= _TRANSFORMER:
                break
            idx = parent[idx]
        chain = list(lv)
        p = parent[lv[-1]]
        d = dev_anc[p] if p >= 0 else -1
        while d >= 0:
            chain.append(d)
            p = parent[d]
            d = dev_anc[p] if p >= 0 else -1
        return lv, chain

    def _open_incident(self, node: int, kind: IncidentKind, t_s: int) -> tuple[Incident, tuple[str, ...]]:
        """A new incident at ``node``; the open incidents below it merge into it."""
        inc = Incident(f"I{len(self.incidents) + 1:06d}", node, kind, t_s)
        self.incidents.append(inc)
        self._incident_idx[inc.incident_id] = len(self.incidents) - 1
        return inc, self._settle(inc)

    def _settle(self, inc: Incident) -> tuple[str, ...]:
        """Place ``inc`` at its node; the open incidents below it merge into it."""
        sl = self.net.subtree(inc.node_idx)
        merged: list[str] = []
        if sl.stop - sl.start == 1:
            self._open_at[inc.node_idx] = self._incident_idx[inc.incident_id]
            return ()
        for j in np.flatnonzero(self._open_at[sl] >= 0):
            child = self.incidents[self._open_at[sl.start + j]]
            self._merge(child, inc)
            merged.append(child.incident_id)
        self._open_at[inc.node_idx] = self._incident_idx[inc.incident_id]
        return tuple(merged)

    def _surviving(self, inc: Incident) -> Incident:
        while inc.merged_into:
            inc = self.incident(inc.merged_into)
        return inc

    def _attach(self, inc: Incident, call_id: str, node_idx: int) -> None:
        inc.call_ids.append(call_id)
        inc.caller_nodes.add(node_idx)
        inc.restored_nodes.discard(node_idx)
        self._caller_incident[node_idx] = self._incident_idx[inc.incident_id]

    def _merge(self, child: Incident, parent: Incident) -> None:
        child.merged_into = parent.incident_id
        self._open_at[child.node_idx] = -1
        k = self._incident_idx[parent.incident_id]
        for node in child.caller_nodes - child.restored_nodes:
            self._caller_incident[node] = k
        parent.caller_nodes |= child.caller_nodes
        parent.restored_nodes |= child.restored_nodes
        parent.call_ids.extend(child.call_ids)
        parent.first_report_s = min(parent.first_report_s, child.first_report_s)

    def _count_caller(self, lv: list[int], chain: list[int], step: int) -> None:
        """Add or remove one calling unit, updating distinct-unit counters on the LV part of
        its path; a transformer that flips in or out updates the devices above it."""
        kind, callers, drops, outlets = self._kind, self._callers, self._drops, self._outlets
        first = 1 if step > 0 else 0
        stop = len(lv)
        path = lv
        for i in range(stop):
            a = path[i]
            callers[a] += step
            k = kind[a]
            if k == _DROP and callers[a] == first:
                for up in path[i + 1:stop]:
                    drops[up] += step
            elif k == _LV_BRANCH and self._is_outlet[a] and callers[a] == first:
                for up in path[i + 1:stop]:
                    outlets[up] += step
            elif k == _TRANSFORMER:
                out = self._transformer_out(a)
                if out != self._xfmr_is_out[a]:
                    self._xfmr_is_out[a] = out
                    for up in chain[i:]:
                        self._xfmrs_out[up] += 1 if out else -1

    def _transformer_out(self, a: int) -> bool:
        """Whether the transformer's area is dark (this is what MV devices above count). With
        two or more LV outlets, at least two calling and more than half of them (one or two
        blown outlet fuses must not look like the transformer; a dark transformer lights up
        nearly every outlet); otherwise by its service drops."""
        if self._outlets_under[a] >= 2:
            return self._outlets[a] >= 2 and 2 * self._outlets[a] > self._outlets_under[a]
        return self._units_out(self._drops[a], self._drops_under[a])

    def _units_out(self, calling: int, units: int) -> bool:
        return calling >= self.rules.min_units and calling >= self._share * units

    def _target(self, path: list[int], t_s: int) -> int:
        """Highest element on the path whose rule holds; the caller's own node otherwise."""
        r, kind = self.rules, self._kind
        quiet_from = len(path)
        if self._restored_s:
            for i, a in enumerate(path):
                if t_s - self._restored_s.get(a, -r.restored_quiet_s) < r.restored_quiet_s:
                    quiet_from = i
                    break
        if self._concentrator_alive_s:
            for i, a in enumerate(path):
                if kind[a] == _TRANSFORMER:
                    if t_s - self._concentrator_alive_s.get(a, -r.ami_alive_s) < r.ami_alive_s:
                        quiet_from = min(quiet_from, i)
                    break
        best = path[0]
        for i, a in enumerate(path):
            k = kind[a]
            if i >= quiet_from or (quiet_from < len(path) and k < _TRANSFORMER):
                continue
            if k == _DROP:
                ok = self._callers[a] >= 2 and self._units_out(self._callers[a], self._customers_under[a])
            elif k == _LV_BRANCH:
                ok = self._has_device[a] and self._units_out(self._drops[a], self._drops_under[a])
            elif k == _TRANSFORMER:
                # with a single outlet the calls cannot tell the transformer fuse from the
                # outlet fuse, and the fuse nearer the fault is the likelier to have blown
                ok = self._xfmr_is_out[a] and self._outlets_under[a] != 1
            elif self._has_device[a]:
                ok = (self._xfmrs_out[a] >= r.mv_min_transformers
                      and self._xfmrs_out[a] >= r.mv_min_share * self._xfmrs_under[a])
            else:
                ok = False
            if ok:
                best = a
        return best
