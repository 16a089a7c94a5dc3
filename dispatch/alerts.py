"""Alerts before a promise is broken: an order still waiting for a crew shortly before its
arrival limit, or still open shortly before its repair limit. Each is raised once."""

from __future__ import annotations

import heapq

from dispatch.events import Alert
from dispatch.limits import ServiceLimits
from dispatch.orders import OPEN, WAITING, WorkOrder


class LimitAlerts:
    """A heap of (alert time, order, kind, limit); ``watch`` again when a limit moves."""

    def __init__(self, limits: ServiceLimits) -> None:
        self.limits = limits
        self._heap: list[tuple[int, str, str, int]] = []
        self._sent: set[tuple[str, str]] = set()
        self.raised = 0

    def watch(self, order: WorkOrder) -> None:
        """Alert before the order's arrival limit and, if its fault class has one, its repair limit."""
        lead = self.limits.alert_before_s
        heapq.heappush(self._heap, (order.deadline_s - lead["arrival"], order.order_id, "arrival_limit",
                                    order.deadline_s))
        repair_limit = self.limits.repair_limit(order.limit_class)
        if repair_limit is not None:
            due = order.first_report_s + repair_limit
            heapq.heappush(self._heap, (due - lead["repair"], order.order_id, "repair_limit", due))

    def due(self, t_s: int, orders: dict[str, WorkOrder]) -> list[Alert]:
        """Alerts falling due by ``t_s`` for orders still short of the limit."""
        out = []
        while self._heap and self._heap[0][0] <= t_s:
            _, order_id, kind, limit = heapq.heappop(self._heap)
            order = orders[order_id]
            pending = order.status in WAITING if kind == "arrival_limit" else order.status in OPEN
            if pending and (order_id, kind) not in self._sent:
                self._sent.add((order_id, kind))
                self.raised += 1
                out.append(Alert(t_s, order_id, kind, limit))
        return out
