"""Estimated restoration times: quoted for each open order, re-quoted when the plan changes,
and every quote kept so planners can judge their accuracy afterwards."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dispatch.events import EtrUpdate
from dispatch.orders import OPEN, WorkOrder

# An ETR that moves by less than this is not re-announced.
ETR_STEP_S = 10 * 60


class EtrBook:
    """The current ETR of each open order, the orders due a new quote, and every quote made."""

    def __init__(self, step_s: int = ETR_STEP_S) -> None:
        self.step_s = step_s
        self.current: dict[str, int] = {}
        self.history: list[tuple[int, str, int]] = []
        self._due: set[str] = set()
        self._plan_version = -1

    def touch(self, *order_ids: str) -> None:
        """These orders' ETRs may have moved: quote them at the next refresh."""
        self._due.update(order_ids)

    def forget(self, order_id: str) -> None:
        """The order is no longer open: it has no ETR."""
        self.current.pop(order_id, None)

    def refresh(self, t_s: int, plan_version: int, open_orders: Callable[[], list[WorkOrder]],
                orders: Mapping[str, WorkOrder], quote: Callable[[WorkOrder], int]) -> list[EtrUpdate]:
        """Re-quote the touched orders, or every open one after a re-plan; announce the quotes
        that are new or moved by ``step_s`` or more."""
        if plan_version == self._plan_version and not self._due:
            return []
        todo = open_orders() if plan_version != self._plan_version else \
            [orders[o] for o in sorted(self._due) if orders[o].status in OPEN]
        self._plan_version = plan_version
        self._due.clear()
        out = []
        for order in todo:
            etr = quote(order)
            old = self.current.get(order.order_id)
            if old is None or abs(etr - old) >= self.step_s:
                self.current[order.order_id] = etr
                self.history.append((t_s, order.order_id, etr))
                out.append(EtrUpdate(t_s, order.order_id, etr))
        return out
