"""Durations the engine plans with before a crew reports: a first responder's visit, and one
repair median per element class (cable work takes longer), as a utility would take them from
its own history. They set the service time of each job in the plan and feed every ETR."""

from __future__ import annotations

from dataclasses import dataclass, field

from grid_model.network import Construction, Network, NodeKind

HOUR = 3600


@dataclass(frozen=True, slots=True)
class RepairEstimates:
    by_kind: dict[NodeKind, int] = field(default_factory=lambda: {
        NodeKind.SUBSTATION: 5 * HOUR, NodeKind.FEEDER_HEAD: 5 * HOUR, NodeKind.MV_NODE: 5 * HOUR,
        NodeKind.TRANSFORMER: 4 * HOUR, NodeKind.LV_BRANCH: int(2.5 * HOUR),
        NodeKind.SERVICE_DROP: int(1.25 * HOUR), NodeKind.METER_BOX: int(1.25 * HOUR),
        NodeKind.CUSTOMER: HOUR // 2})
    cable_factor: float = 2.0
    # A first responder on site: make safe, find the device, tell the customer.
    first_response_s: int = 20 * 60

    def repair_s(self, net: Network, node: int) -> int:
        """Expected seconds on site for a fault at ``node``."""
        base = self.by_kind[NodeKind(net.kind[node])]
        cable = net.construction[node] == Construction.CABLE
        return int(base * self.cable_factor) if cable else base
