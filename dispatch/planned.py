"""Planned outages: announced at least ``PLANNED_NOTICE_S`` ahead (customers are owed a week's
notice), unless the dispatcher marks one urgent and says why; moved (a window that grows or
moves inside the notice period is short notice too) or called off before it starts; the
callers from under one are called back when it ends. Outages logged before the rule existed
(``owes_notice`` false) are taken as they were.

The book checks each announcement, change and cancellation against the clock of its event, so
a rebuild of the engine from the log refuses exactly what was refused live.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from dispatch.events import EventError

PLANNED_NOTICE_S = 7 * 86_400
REASON_MAX = 500


@dataclass(slots=True)
class PlannedOutage:
    """A planned outage: the device opened, its window, when it was announced and how."""

    outage_id: str
    device_id: str
    device_idx: int
    start_s: int
    end_s: int
    announced_s: int
    urgent: bool = False  # went ahead at short notice (marked urgent, with the reason)
    reason: str = ""
    cancelled: bool = False
    cancel_reason: str = ""
    over: bool = False
    changes: int = 0

    @property
    def notice_s(self) -> int:
        """How long ahead of its start it was announced."""
        return self.start_s - self.announced_s


class PlannedBook:
    """The planned outages by id, the urgent ones counted, and the ends still to come."""

    def __init__(self, notice_s: int = PLANNED_NOTICE_S) -> None:
        self.notice_s = notice_s
        self.outages: dict[str, PlannedOutage] = {}
        self.urgent = 0
        self._ends: list[tuple[int, str]] = []

    def check_window(self, outage_id: str, t_s: int, start_s: int, end_s: int, *, urgent: bool,
                     reason: str, short: bool) -> bool:
        """Refuse a window that ends before it starts or starts in the past, a reason too long,
        an urgent outage without a reason, and a ``short``-notice one not urgent. Returns
        whether it goes ahead at short notice (urgent)."""
        if end_s <= start_s:
            raise EventError(f"planned outage {outage_id}: ends at {end_s} s, not after its start "
                             f"{start_s} s")
        if start_s < t_s:
            raise EventError(f"planned outage {outage_id}: starts at {start_s} s, in the past (now {t_s} s)")
        if len(reason) > REASON_MAX:
            raise EventError(f"planned outage {outage_id}: the reason is over {REASON_MAX} characters")
        if urgent and not reason.strip():
            raise EventError(f"planned outage {outage_id}: an urgent outage needs a reason")
        if short and not urgent:
            days = (start_s - t_s) / 86_400
            raise EventError(f"planned outage {outage_id}: starts {days:.1f} days from now, under the "
                             f"{self.notice_s / 86_400:g} days' notice customers are owed; mark it urgent "
                             f"with a reason")
        return short

    def add(self, outage: PlannedOutage) -> None:
        self.outages[outage.outage_id] = outage
        self.urgent += outage.urgent
        heapq.heappush(self._ends, (outage.end_s, outage.outage_id))

    def live(self, outage_id: str, t_s: int) -> PlannedOutage:
        """The outage, refused when unknown, called off or over."""
        outage = self.outages.get(outage_id)
        if outage is None:
            raise EventError(f"unknown planned outage {outage_id!r}")
        if outage.cancelled:
            raise EventError(f"planned outage {outage_id} was called off")
        if outage.end_s <= t_s:
            raise EventError(f"planned outage {outage_id} is over (ended at {outage.end_s} s)")
        return outage

    def move(self, outage: PlannedOutage, t_s: int, start_s: int, end_s: int, *, urgent: bool,
             reason: str) -> None:
        """Move a window. One under way keeps its start. A window that grows or moves (starts
        earlier or ends later) inside the notice period is short notice: urgent, with a reason;
        one that only shrinks is always fine."""
        under_way = outage.start_s <= t_s
        if under_way and start_s != outage.start_s:
            raise EventError(f"planned outage {outage.outage_id} is under way since {outage.start_s} s: "
                             f"only its end can move")
        grows = start_s < outage.start_s or end_s > outage.end_s
        short = grows and min(start_s, outage.start_s) < t_s + self.notice_s
        if under_way:
            if end_s <= t_s:
                raise EventError(f"planned outage {outage.outage_id}: the new end {end_s} s is in the past "
                                 f"(now {t_s} s)")
            if short and not (urgent and reason.strip()):
                raise EventError(f"planned outage {outage.outage_id} is under way: ending it later is "
                                 f"short notice; mark it urgent with a reason")
        else:
            self.check_window(outage.outage_id, t_s, start_s, end_s, urgent=urgent, reason=reason,
                              short=short)
        if short and not outage.urgent:
            self.urgent += 1
            outage.urgent = True
        outage.start_s, outage.end_s, outage.changes = start_s, end_s, outage.changes + 1
        outage.reason = reason or outage.reason
        heapq.heappush(self._ends, (end_s, outage.outage_id))

    def cancel(self, outage: PlannedOutage, t_s: int, reason: str) -> None:
        if outage.start_s <= t_s:
            raise EventError(f"planned outage {outage.outage_id} is under way since {outage.start_s} s: "
                             f"move its end instead")
        if len(reason) > REASON_MAX:
            raise EventError(f"planned outage {outage.outage_id}: the reason is over {REASON_MAX} characters")
        outage.cancelled, outage.cancel_reason = True, reason

    def ended(self, t_s: int) -> list[str]:
        """Outages whose (current) end has come since the last call, in order of their ends."""
        out = []
        while self._ends and self._ends[0][0] <= t_s:
            end_s, outage_id = heapq.heappop(self._ends)
            outage = self.outages[outage_id]
            if outage.end_s == end_s and not (outage.cancelled or outage.over):
                outage.over = True
                out.append(outage_id)
        return out
