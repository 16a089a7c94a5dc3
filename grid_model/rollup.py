"""Roll-up rules: where a report goes by counting distinct calling units on its path, the
grouping the dispatch engine uses (``PredictionParams.rollup``).

Each new report updates counters of distinct calling units (customers, service drops, LV
outlets, transformers) on its path, and joins the highest element whose rule holds. The rules
roll up sooner than the posterior (``grid_model.posterior``) and so group more faults into one
incident: in the engine one first response then covers a whole transformer area or feeder,
which the dispatch KPIs reward (benchmarks/README.md, "Outage prediction", dispatch); the
posterior places outages far better (``benchmarks/run_predict.py``).

AMI: a meter's last gasp counts as a call that cannot be the customer's own breaker, so it is
never grouped below the service drop. It also proves that the concentrator at its transformer
had supply, so for ``ami_alive_s`` neither that transformer nor anything above it is predicted
out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grid_model.network import DeviceKind, Network, NodeKind

_DROP = int(NodeKind.SERVICE_DROP)
_LV_BRANCH = int(NodeKind.LV_BRANCH)
_TRANSFORMER = int(NodeKind.TRANSFORMER)


@dataclass(frozen=True, slots=True)
class RollupParams:
    """When an element is predicted out, from the distinct calling units below it.

    An element with ``n`` units below it (customers of a service drop, service drops of an
    LV fuse or transformer) is predicted out when at least ``min_units`` of them call and their
    share reaches the point where "out, each unit calling with ``expected_call_share``" is
    more likely than "healthy, units calling on their own faults with ``noise_share``" (a
    likelihood-ratio test). A transformer with several LV outlets needs two of them and more
    than half calling, so blown outlet fuses are not taken for the transformer. An MV device needs
    ``mv_min_transformers`` transformers predicted out below it and ``mv_min_share`` of its
    transformers. Scattered single-customer faults thus do not add up to a phantom feeder
    outage. An element a crew has just restored, and the MV devices below it, are known
    energised and are not predicted for ``restored_quiet_s``; a transformer whose concentrator
    passed on a last gasp, and everything above it, for ``ami_alive_s``.
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


class RollupRules:
    """Counters of distinct calling units on each path; O(path length) per report."""

    def __init__(self, network: Network, params: RollupParams) -> None:
        self.rules = params
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
        outlet &= network.kind[network.parent.clip(0)] == NodeKind.TRANSFORMER
        self._is_outlet = outlet.tolist()
        self._outlets_under = network.count_below(outlet).tolist()
        self._xfmrs_out = [0] * n
        self._xfmr_is_out = [False] * n
        self._restored_s: dict[int, int] = {}
        self._concentrator_alive_s: dict[int, int] = {}
        self._share = params.unit_share
        self._counted: set[int] = set()

    def alive(self, node_idx: int, t_s: int) -> None:
        """A last gasp from ``node_idx``: the concentrator at its transformer had supply."""
        lv, _ = self._paths(node_idx)
        if self._kind[lv[-1]] == _TRANSFORMER:
            self._concentrator_alive_s[lv[-1]] = t_s

    def add(self, node_idx: int, t_s: int, *, gasp: bool) -> tuple[list[int], int]:
        """Count a new reporting unit; its candidate chain and the element it goes to."""
        lv, chain = self._paths(node_idx)
        if node_idx not in self._counted:
            self._counted.add(node_idx)
            self._count_caller(lv, chain, +1)
        target = self._target(chain, t_s)
        if gasp and self._kind[target] > _DROP:
            target = next(a for a in chain if self._kind[a] <= _DROP)
        return chain, target

    def remove(self, node_idx: int) -> None:
        """A unit's supply is back (restore, repair): it stops counting."""
        if node_idx in self._counted:
            self._counted.discard(node_idx)
            self._count_caller(*self._paths(node_idx), -1)

    def restored(self, node_idx: int, t_s: int) -> None:
        self._restored_s[node_idx] = t_s

    def confidence(self, node_idx: int) -> float:
        """How far the share of the element's units calling exceeds the share its rule needs;
        0.5 for a lone caller, who may have lost the service drop rather than their own breaker."""
        a = node_idx
        kind = self._kind[a]
        if kind > _DROP:
            return 0.5
        if kind == _DROP:
            share, need = self._callers[a] / max(1, self._customers_under[a]), self._share
        elif kind in (_LV_BRANCH, _TRANSFORMER):
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
