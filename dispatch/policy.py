"""The dispatch policy protocol, and the baseline every other policy is measured against."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dispatch.orders import OrderStatus, WorkOrder

if TYPE_CHECKING:
    from dispatch.engine import DispatchEngine


class DispatchPolicy(Protocol):
    """Told of new orders, orders changed by others (merged, cancelled, handed over), freed
    crews and other crew changes, and a dispatcher overriding it; asked for (order_id,
    crew_id) assignments. Sending an en-route crew to another order diverts it. A policy that
    plans says when each order should be done and bumps ``plan_version`` when it re-plans (the
    engine then re-quotes every ETR); ``horizon_s`` is how far ahead an order left out of its
    plan is quoted."""

    name: str
    plan_version: int
    horizon_s: int

    def on_order(self, order: WorkOrder) -> None: ...

    def on_order_change(self, order: WorkOrder) -> None: ...

    def on_crew_free(self, crew_id: str) -> None: ...

    def on_crew_change(self, crew_id: str) -> None: ...

    def on_override(self) -> None: ...

    def decide(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]: ...

    def planned_finish(self, order_id: str) -> int | None: ...


class NearestAvailableCrew:
    """Baseline: the most urgent order first (critical customers, then earliest deadline)
    goes to the nearest idle crew on duty with the skill; a freed crew takes the most urgent
    waiting order it can work. Keep it unchanged: it is the yardstick."""

    name = "baseline"
    plan_version = 0
    horizon_s = 24 * 3600

    def __init__(self) -> None:
        self._new: list[WorkOrder] = []
        self._freed: list[str] = []
        self._backlog: dict[str, list[tuple[tuple[int, int, int], int, WorkOrder]]] = {}
        self._seq = 0

    def on_order(self, order: WorkOrder) -> None:
        self._new.append(order)

    def on_crew_free(self, crew_id: str) -> None:
        self._freed.append(crew_id)

    def on_order_change(self, order: WorkOrder) -> None:
        """An order waiting again (its crew sent elsewhere by a dispatcher) goes back in the
        backlog; others are checked for status when they come up."""
        if order.status == OrderStatus.NEW:
            self._new.append(order)

    def on_override(self) -> None:
        """Nothing to re-plan: the next free crew takes the most urgent waiting order."""

    def on_crew_change(self, crew_id: str) -> None:
        """Nothing to do: only idle crews are ever sent."""

    def planned_finish(self, order_id: str) -> int | None:
        """No plan beyond the next job: the engine quotes assigned orders itself."""
        return None

    def decide(self, engine: DispatchEngine, t_s: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        taken: set[str] = set()
        for order in sorted(self._new, key=lambda o: o.urgency):
            if order.status != OrderStatus.NEW:
                continue
            idle = [c for c in engine.idle_crews(order.skill) if c not in taken]
            if idle:
                travel = engine.travel_from_crews(idle, order)
                crew = idle[int(np.argmin(travel))]
                taken.add(crew)
                out.append((order.order_id, crew))
            else:
                self._seq += 1
                heapq.heappush(self._backlog.setdefault(order.skill, []),
                               (order.urgency, self._seq, order))
        self._new.clear()
        for crew_id in self._freed:
            if crew_id in taken or not engine.is_idle(crew_id):
                continue
            waiting = self._pop_most_urgent(engine.crew_skills(crew_id))
            if waiting is not None:
                taken.add(crew_id)
                out.append((waiting.order_id, crew_id))
        self._freed.clear()
        return out

    def _pop_most_urgent(self, skills: frozenset[str]) -> WorkOrder | None:
        best_skill = None
        for skill in skills:
            heap = self._backlog.get(skill, [])
            while heap and heap[0][2].status != OrderStatus.NEW:
                heapq.heappop(heap)
            if heap and (best_skill is None or heap[0] < self._backlog[best_skill][0]):
                best_skill = skill
        if best_skill is None:
            return None
        return heapq.heappop(self._backlog[best_skill])[2]
