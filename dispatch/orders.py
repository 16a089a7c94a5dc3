"""Work orders (95598 orders) and their lifecycle, as the customer sees it; every transition is
checked and time-stamped. Crews work an order through its jobs (``dispatch.jobs``).

new -> assigned -> en route -> on site -> repaired -> callback done -> closed. ``on site``
means reached: the first crew of any job has arrived (the arrival promise is kept or broken
then); the order stays on site through diagnosis and repair, and is repaired when its
customers' supply is back (or a customer-side fault was confirmed and the customer advised).
An order not yet repaired may be merged into a larger outage; one not yet reached may be
cancelled, and a crew on its way may be recalled (the order is new again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    REPAIRED = "repaired"
    CALLBACK_DONE = "callback_done"
    CLOSED = "closed"
    MERGED = "merged"
    CANCELLED = "cancelled"


class OrderOrigin(StrEnum):
    """What opened the order: a 95598 call, SCADA, a smart meter's last gasp, an outage report
    from a history, or a callback that found the customer still dark."""

    CALL = "call"
    SCADA = "scada"
    AMI = "ami"
    REPORT = "report"
    CALLBACK = "callback"


# Not reached yet; open also counts orders reached and being worked; folded orders never get
# a crew of their own (merged into a larger outage, or cancelled).
WAITING = (OrderStatus.NEW, OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE)
OPEN = (*WAITING, OrderStatus.ON_SITE)
FOLDED = (OrderStatus.MERGED, OrderStatus.CANCELLED)

# An order can be reached from new: a crew on a job that came with an order merged into it.
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ASSIGNED, OrderStatus.ON_SITE, OrderStatus.MERGED,
                                OrderStatus.CANCELLED}),
    OrderStatus.ASSIGNED: frozenset({OrderStatus.EN_ROUTE, OrderStatus.NEW, OrderStatus.ON_SITE,
                                     OrderStatus.MERGED, OrderStatus.CANCELLED}),
    OrderStatus.EN_ROUTE: frozenset({OrderStatus.ON_SITE, OrderStatus.NEW, OrderStatus.MERGED,
                                     OrderStatus.CANCELLED}),
    OrderStatus.ON_SITE: frozenset({OrderStatus.REPAIRED, OrderStatus.MERGED}),
    OrderStatus.REPAIRED: frozenset({OrderStatus.CALLBACK_DONE}),
    OrderStatus.CALLBACK_DONE: frozenset({OrderStatus.CLOSED}),
    OrderStatus.CLOSED: frozenset(),
    OrderStatus.MERGED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class TransitionError(ValueError):
    """A lifecycle step that is not allowed from the order's current status."""


@dataclass(slots=True)
class WorkOrder:
    """One 95598 order: where, for how many customers, and the promise made when it was
    opened: a crew within ``deadline_s`` (its own report plus the arrival limit of its area).
    ``node_idx`` is the site of its incident (moved when the cause is found upstream);
    ``skill`` and ``limit_class`` the repair it is expected to need. ``jobs`` are the crews'
    tasks for it; ``absorbed`` the orders merged into it, reached when it is."""

    order_id: str
    incident_id: str
    node_idx: int
    element_id: str
    x_m: float
    y_m: float
    area: str
    skill: str
    limit_class: str
    first_report_s: int
    deadline_s: int
    customers: int
    critical: int
    origin: OrderOrigin = OrderOrigin.CALL
    status: OrderStatus = OrderStatus.NEW
    merged_into: str = ""
    history: list[tuple[int, OrderStatus]] = field(default_factory=list)
    reached_s: int | None = None
    reached_by: str = ""
    site_reached_s: int | None = None  # a crew at the order's current site (reset when it moves)
    repaired_s: int | None = None
    customer_side: bool = False
    diagnosed: bool = False
    jobs: list[str] = field(default_factory=list)
    absorbed: list[str] = field(default_factory=list)

    def move(self, to: OrderStatus, t_s: int) -> None:
        """Step the lifecycle; raises ``TransitionError`` for a step it does not allow."""
        if to not in ALLOWED[self.status]:
            raise TransitionError(f"work order {self.order_id}: cannot go from "
                                  f"{self.status.value} to {to.value}")
        self.status = to
        self.history.append((t_s, to))
        if to == OrderStatus.REPAIRED:
            self.repaired_s = t_s

    def reach(self, t_s: int, role: str) -> bool:
        """The first crew is there (at ``t_s``, never before the order's own report); returns
        False when it had been reached already."""
        if self.reached_s is not None:
            return False
        self.reached_s = max(t_s, self.first_report_s)
        self.reached_by = role
        return True

    @property
    def urgency(self) -> tuple[int, int, int]:
        """Sort key, most urgent first: critical customers, then the earliest deadline."""
        return (0 if self.critical else 1, self.deadline_s, self.first_report_s)


def surviving(order: WorkOrder, orders: Mapping[str, WorkOrder]) -> WorkOrder:
    """The order that carries ``order``'s work: itself, or the order it was merged into (at the
    end of the chain)."""
    while order.merged_into:
        order = orders[order.merged_into]
    return order
