"""Alerts before a promise is broken: an order no crew has reached shortly before its arrival
limit, or still open shortly before its repair limit. Each limit is alerted once.

Orders are alerted as the KPIs judge them: orders merged into another each by its own arrival
limit, and by the repair limit its head's fault class sets (the order it was merged into), for
its own report time; none for work the utility's own callback reopened (no 95598 report, no
promise), nor a repair limit once the head's fault is the customer's own. A limit that moves (a
merge, a relocation to another class) is watched again; an alert queued for a limit the order
no longer has is dropped."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from dispatch.events import Alert
from dispatch.limits import ServiceLimits
from dispatch.orders import OPEN, OrderOrigin, WorkOrder, surviving


class LimitAlerts:
    """A heap of (alert time, order, kind, limit); ``watch`` again when a limit moves."""

    def __init__(self, limits: ServiceLimits) -> None:
        self.limits = limits
        self._heap: list[tuple[int, str, str, int]] = []
        self._sent: set[tuple[str, str, int]] = set()
        self.raised = 0

    def watch(self, order: WorkOrder, orders: Mapping[str, WorkOrder]) -> None:
        """Alert before the order's arrival limit and, if its head's fault class has one, its
        repair limit."""
        if order.origin == OrderOrigin.CALLBACK:
            return
        lead = self.limits.alert_before_s
        heapq.heappush(self._heap, (order.deadline_s - lead["arrival"], order.order_id, "arrival_limit",
                                    order.deadline_s))
        due = self._repair_due(order, surviving(order, orders))
        if due is not None:
            heapq.heappush(self._heap, (due - lead["repair"], order.order_id, "repair_limit", due))

    def due(self, t_s: int, orders: Mapping[str, WorkOrder]) -> list[Alert]:
        """Alerts falling due by ``t_s`` for orders still short of the limit."""
        out = []
        while self._heap and self._heap[0][0] <= t_s:
            _, order_id, kind, limit = heapq.heappop(self._heap)
            order = orders[order_id]
            head = surviving(order, orders)
            if kind == "arrival_limit":
                current = limit == order.deadline_s
                pending = order.reached_s is None
            else:
                current = limit == self._repair_due(order, head)
                pending = not head.customer_side
            pending = pending and head.status in OPEN
            if current and pending and (order_id, kind, limit) not in self._sent:
                self._sent.add((order_id, kind, limit))
                self.raised += 1
                out.append(Alert(t_s, order_id, kind, limit))
        return out

    def _repair_due(self, order: WorkOrder, head: WorkOrder) -> int | None:
        """The order's repair limit: its head's fault class's, from its own report."""
        repair_limit = self.limits.repair_limit(head.limit_class)
        return None if repair_limit is None else order.first_report_s + repair_limit
