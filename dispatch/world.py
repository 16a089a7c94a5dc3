"""The simulated world of demo and replay: the storm's ground truth, energisation and
repair work. The engine never looks in here; it learns only what crews report.

Faults open their operating element (a device, a service drop, a customer's own breaker);
a customer is dark while any open element lies on its path. A crew on site repairs the open
elements that darken its site. At a transformer or below, it then works through every fault
under the site (the callers' drops and their own breakers). At an MV site that is not dark
(the prediction was too high) it patrols downstream and repairs the topmost operated
devices; faults further down are left to their own orders.

A mobile generator connected at a customer supplies it until it is disconnected: the customer
is not out meanwhile, whatever fails or is repaired upstream.

Crews joining a repair (a team on a feeder lockout) share its work: each fault is worked by
one crew at a time, so the job ends when the work left, spread over the crews on site, is
done, and never before the longest fault left is. A crew that would not end it sooner is
sent away at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grid_model.network import DeviceKind, Network, NodeKind
from grid_model.stormfile import TruthFault

CHECK_ONLY_S = 15 * 60


@dataclass(frozen=True, slots=True)
class WorldFault:
    t_s: int
    node_idx: int
    operates_idx: int
    repair_s: int


@dataclass(slots=True)
class _Repair:
    """Work left on one site (crew-seconds), its longest single fault, and the crews on it."""

    left_s: float
    longest_s: float
    crews: int
    since_s: int

    def advance(self, t_s: int) -> None:
        dt = t_s - self.since_s
        self.left_s = max(0.0, self.left_s - self.crews * dt)
        self.longest_s = max(0.0, self.longest_s - dt)
        self.since_s = t_s

    def finish_s(self) -> int:
        return self.since_s + math.ceil(max(self.left_s / self.crews, self.longest_s))


class World:
    """Energisation state and customer outage records, updated as faults occur and clear."""

    def __init__(self, network: Network, customer_nodes: np.ndarray, faults: list[WorldFault], *,
                 telemetered: np.ndarray | None = None) -> None:
        self.net = network
        # Devices whose opening SCADA reports at once: by default every feeder breaker.
        self.telemetered = telemetered if telemetered is not None else (
            (network.kind == NodeKind.FEEDER_HEAD) & (network.device == DeviceKind.BREAKER))
        self.faults = sorted(faults, key=lambda f: (f.t_s, f.node_idx))
        n = network.n_nodes
        self._dark = np.zeros(n, dtype=np.int32)
        self._is_customer = np.zeros(n, dtype=bool)
        self._is_customer[customer_nodes] = True
        self._out_since = np.zeros(n, dtype=np.int64)
        self._backed = np.zeros(n, dtype=bool)
        # customers the last fault darkened and the last repair brought back (for AMI)
        self.newly_dark = np.zeros(0, dtype=np.int64)
        self.newly_back = np.zeros(0, dtype=np.int64)
        self.outage_s = np.zeros(n, dtype=np.int64)
        self.interruptions = np.zeros(n, dtype=np.int64)
        # (t_s, change in customers out): the customers-out curve of a run's report
        self.out_changes: list[tuple[int, int]] = []
        self._open: dict[int, list[WorldFault]] = {}
        self._claimed_by: dict[int, str] = {}
        self._claims: dict[str, list[int]] = {}
        self._repairs: dict[str, _Repair] = {}

    @classmethod
    def from_truth(cls, network: Network, customer_nodes: np.ndarray,
                   truth: list[TruthFault]) -> World:
        index = network.index_of()
        device_index = {d: i for i, d in enumerate(network.device_id) if d}
        faults = [WorldFault(f.t_s, index[f.element_id],
                             device_index.get(f.operates_id, index.get(f.operates_id, -1)),
                             f.repair_s) for f in truth]
        return cls(network, customer_nodes, faults)

    def apply_fault(self, fault: WorldFault) -> bool:
        """The fault's element fails; its operating element opens if it was closed (then
        True is returned)."""
        op = fault.operates_idx
        self.newly_dark = np.zeros(0, dtype=np.int64)
        if op in self._open:
            self._open[op].append(fault)
            return False
        self._open[op] = [fault]
        sl = self.net.subtree(op)
        newly = (self._dark[sl] == 0) & self._is_customer[sl] & ~self._backed[sl]
        self.newly_dark = np.flatnonzero(newly) + sl.start
        self._out_since[sl][newly] = fault.t_s
        self.interruptions[sl][newly] += 1
        self._dark[sl] += 1
        self.out_changes.append((fault.t_s, len(self.newly_dark)))
        return True

    def customer_id_at(self, node: int) -> str:
        """The customer number a caller at ``node`` gives (the first meter of a meter box)."""
        while not self._is_customer[node]:
            node += 1
        return self.net.node_id[node]

    def dark_customers_below(self, nodes: tuple[int, ...]) -> set[int]:
        """Customers under any of ``nodes`` who are still dark."""
        out: set[int] = set()
        for node in nodes:
            sl = self.net.subtree(node)
            hit = np.flatnonzero((self._dark[sl] > 0) & self._is_customer[sl])
            out.update((hit + sl.start).tolist())
        return out

    def is_dark(self, node: int) -> bool:
        return bool(self._dark[node] > 0)

    def start_repair(self, order_id: str, site: int, t_s: int) -> int:
        """The first crew at ``site`` claims the open elements it can see; returns when the
        repair will be done."""
        net = self.net
        claimed = [op for op in net.path_up(site) if op in self._open and op not in self._claimed_by]
        end = site + int(net.size[site])
        below = sorted(op for op in self._open if site < op < end and op not in self._claimed_by)
        if net.kind[site] >= NodeKind.TRANSFORMER:
            claimed += below
        elif not claimed:
            for op in below:
                if net.device[op] != DeviceKind.NONE and not any(
                        net.is_ancestor(top, op) for top in claimed):
                    claimed.append(op)
        for op in claimed:
            self._claimed_by[op] = order_id
        self._claims[order_id] = claimed
        faults = [f.repair_s for op in claimed for f in self._open[op]] or [CHECK_ONLY_S]
        job = _Repair(float(sum(faults)), float(max(faults)), 1, t_s)
        self._repairs[order_id] = job
        return job.finish_s()

    def found_above(self, order_id: str, site: int) -> int | None:
        """The highest element above ``site`` the crew found open and took on, if any: what
        it reports when the outage is bigger than its order said."""
        above = [op for op in self._claims.get(order_id, []) if op != site and self.net.is_ancestor(op, site)]
        return min(above) if above else None

    def is_repairing(self, order_id: str) -> bool:
        return order_id in self._repairs

    def join_repair(self, order_id: str, t_s: int) -> int | None:
        """Another crew joins the repair under way; returns its new finish time, or None
        when one more crew would not end it sooner (the crew is not needed and leaves)."""
        job = self._repairs[order_id]
        job.advance(t_s)
        if job.longest_s * job.crews >= job.left_s:
            return None
        job.crews += 1
        return job.finish_s()

    def finish_repair(self, order_id: str, t_s: int) -> tuple[int, ...]:
        """Close every element the crew claimed; returns them (they are re-energised)."""
        done = self._claims.pop(order_id, [])
        self._repairs.pop(order_id, None)
        back_nodes = []
        for op in done:
            del self._claimed_by[op]
            del self._open[op]
            sl = self.net.subtree(op)
            self._dark[sl] -= 1
            back = (self._dark[sl] == 0) & self._is_customer[sl] & ~self._backed[sl]
            self.outage_s[sl][back] += t_s - self._out_since[sl][back]
            back_nodes.append(np.flatnonzero(back) + sl.start)
        self.newly_back = np.concatenate(back_nodes) if back_nodes else np.zeros(0, dtype=np.int64)
        self.out_changes.append((t_s, -len(self.newly_back)))
        return tuple(done)

    def sends_last_gasps(self, node: int) -> bool:
        """Whether meters below an element that just opened send last gasps that get
        through: their meter must lose supply (not so for a customer's own breaker) while the
        AMI concentrator at their transformer keeps it (not so at the transformer or above)."""
        if not NodeKind.TRANSFORMER < self.net.kind[node] < NodeKind.CUSTOMER:
            return False
        while self.net.kind[node] != NodeKind.TRANSFORMER:
            node = int(self.net.parent[node])
        return bool(self._dark[node] == 0)

    def connect_generator(self, node: int, t_s: int) -> None:
        """A generator truck supplies the customer at ``node`` from ``t_s``."""
        if self._is_customer[node] and self._dark[node] > 0 and not self._backed[node]:
            self.outage_s[node] += t_s - self._out_since[node]
            self.out_changes.append((t_s, -1))
        self._backed[node] = True

    def disconnect_generator(self, node: int, t_s: int) -> None:
        """The truck leaves; a customer still cut off is out again from ``t_s``."""
        self._backed[node] = False
        if self._dark[node] > 0:
            self._out_since[node] = t_s
            if self._is_customer[node]:
                self.out_changes.append((t_s, 1))

    def finalize(self, t_s: int) -> None:
        """Charge customers still dark at the end of the run up to ``t_s``."""
        dark = (self._dark > 0) & self._is_customer & ~self._backed
        self.outage_s[dark] += t_s - self._out_since[dark]
        self._out_since[dark] = t_s
