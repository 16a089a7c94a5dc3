"""Work orders and their lifecycle; every transition is checked and time-stamped.

new -> assigned -> en route -> on site -> repaired -> callback done -> closed; an order
waiting or on its way may instead be merged into a larger outage or cancelled, and a crew on
its way may be recalled or diverted (the order is new again)."""

from __future__ import annotations

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


# Waiting for a crew or on its way; open also counts orders being worked; folded orders never
# get a crew of their own (merged into a larger outage, or cancelled).
WAITING = (OrderStatus.NEW, OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE)
OPEN = (*WAITING, OrderStatus.ON_SITE)
FOLDED = (OrderStatus.MERGED, OrderStatus.CANCELLED)

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ASSIGNED, OrderStatus.MERGED, OrderStatus.CANCELLED}),
    OrderStatus.ASSIGNED: frozenset({OrderStatus.EN_ROUTE, OrderStatus.NEW, OrderStatus.MERGED,
                                     OrderStatus.CANCELLED}),
    OrderStatus.EN_ROUTE: frozenset({OrderStatus.ON_SITE, OrderStatus.NEW, OrderStatus.MERGED,
                                     OrderStatus.CANCELLED}),
    OrderStatus.ON_SITE: frozenset({OrderStatus.REPAIRED}),
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
    """A repair job for one incident: where, what skill, by when, for how many customers.
    ``crew_id`` leads the work; ``assists`` are crews sent to help on a large outage."""

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
    status: OrderStatus = OrderStatus.NEW
    crew_id: str = ""
    assists: list[str] = field(default_factory=list)
    merged_into: str = ""
    history: list[tuple[int, OrderStatus]] = field(default_factory=list)
    arrived_s: int | None = None
    repaired_s: int | None = None

    def move(self, to: OrderStatus, t_s: int) -> None:
        """Step the lifecycle; raises ``TransitionError`` for a step it does not allow."""
        if to not in ALLOWED[self.status]:
            raise TransitionError(f"work order {self.order_id}: cannot go from "
                                  f"{self.status.value} to {to.value}")
        self.status = to
        self.history.append((t_s, to))
        if to == OrderStatus.ON_SITE:
            self.arrived_s = t_s
        elif to == OrderStatus.REPAIRED:
            self.repaired_s = t_s

    @property
    def team(self) -> list[str]:
        return [self.crew_id, *self.assists] if self.crew_id else list(self.assists)

    @property
    def urgency(self) -> tuple[int, int, int]:
        """Sort key, most urgent first: critical customers, then the earliest deadline."""
        return (0 if self.critical else 1, self.deadline_s, self.first_report_s)
