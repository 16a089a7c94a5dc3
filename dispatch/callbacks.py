"""Callbacks: every customer who called is called back once their supply is back (or after
customer-side advice). A callback falls due when the order that explained the call is repaired
and no other open order upstream still holds the caller dark; one still held waits for that
order. A callback that finds the customer still dark reopens work (the engine does that).

A customer has at most one callback not yet due, with the order that explains their latest call:
repeat calls about it add none, and a call about another order takes it along (their supply came
back and went again, or the grouping changed) rather than owing a second. A customer who does
not answer is tried again, up to ``CALLBACK_ATTEMPTS`` calls; then the callback is closed
unanswered (counted apart from those that reached the customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from dispatch.events import CallbackDue

# Calls the call-taker makes before closing a callback unanswered.
CALLBACK_ATTEMPTS = 5


class CallbackOutcome(StrEnum):
    RESTORED = "restored"
    STILL_DARK = "still_dark"
    NO_ANSWER = "no_answer"


@dataclass(slots=True)
class Callback:
    """A callback owed to the customer at ``node_idx`` (``customer_id``) about ``order_id``."""

    callback_id: str
    order_id: str
    customer_id: str
    node_idx: int
    called_s: int
    due_s: int | None = None
    attempts: int = 0
    outcome: CallbackOutcome | None = None
    done_s: int | None = None


class CallbackBook:
    """Callbacks owed, by order; which are due; which wait for an order upstream."""

    def __init__(self, attempts: int = CALLBACK_ATTEMPTS) -> None:
        self.attempts = attempts
        self.callbacks: dict[str, Callback] = {}
        # a callback id each time a call files it (owed anew, or taken along to the order of
        # another call): the callers to acknowledge, in order
        self.filed: list[str] = []
        self.of_order: dict[str, list[str]] = {}
        self._waiting: dict[str, str] = {}  # customer -> their callback not yet due (orders only)
        self._waiting_on: dict[str, list[str]] = {}
        self._planned: dict[str, list[str]] = {}
        self.done = 0
        self.unanswered = 0

    def owe(self, order_id: str, customer_id: str, node_idx: int, t_s: int) -> str | None:
        """A customer called about ``order_id``: owe a callback, unless theirs not yet due is
        with that order (a repeat call); one with another order comes here instead (this order
        explains their darkness now). Returns the order it came from, if it moved."""
        waiting = self._waiting.get(customer_id)
        if waiting is not None:
            came_from = self.callbacks[waiting].order_id
            if came_from == order_id:
                return None
            self._move_callback(waiting, order_id)
            self.filed.append(waiting)
            return came_from
        callback_id = f"{order_id}:{customer_id}"
        n = 1
        while callback_id in self.callbacks:  # called back before about this order, dark again
            n += 1
            callback_id = f"{order_id}:{customer_id}:{n}"
        self._add(callback_id, order_id, customer_id, node_idx, t_s)
        self._waiting[customer_id] = callback_id
        return None

    def owe_after_planned(self, outage_id: str, customer_id: str, node_idx: int, t_s: int) -> None:
        """A caller from inside a planned outage: called back when it ends (once however often
        they call)."""
        callback_id = f"{outage_id}:{customer_id}"
        if callback_id in self.callbacks:
            return
        self._add(callback_id, outage_id, customer_id, node_idx, t_s)
        self._planned.setdefault(outage_id, []).append(callback_id)

    def _add(self, callback_id: str, order_id: str, customer_id: str, node_idx: int, t_s: int) -> None:
        self.callbacks[callback_id] = Callback(callback_id, order_id, customer_id, node_idx, t_s)
        self.filed.append(callback_id)
        self.of_order.setdefault(order_id, []).append(callback_id)

    def move(self, from_order: str, to_order: str) -> None:
        """An order merged into another: its callbacks are now owed with that order, and the
        callbacks that waited for it wait for that order."""
        for callback_id in list(self.of_order.get(from_order, [])):
            self._move_callback(callback_id, to_order)
        self.of_order.pop(from_order, None)
        waiting = self._waiting_on.pop(from_order, [])
        if waiting:
            self._waiting_on.setdefault(to_order, []).extend(waiting)

    def move_caller(self, from_order: str, to_order: str, customer_id: str) -> None:
        """The grouping moved a caller's report to another order: their callback goes with it."""
        for callback_id in [c for c in self.of_order.get(from_order, [])
                            if self.callbacks[c].customer_id == customer_id]:
            self._move_callback(callback_id, to_order)

    def _move_callback(self, callback_id: str, to_order: str) -> None:
        """The callback is owed with ``to_order`` from now on."""
        cb = self.callbacks[callback_id]
        self.of_order[cb.order_id].remove(callback_id)
        cb.order_id = to_order
        self.of_order.setdefault(to_order, []).append(callback_id)

    def release_uncovered(self, order_id: str, covers: Callable[[int], bool], t_s: int,
                          held_by: Callable[[int], str | None]) -> list[CallbackDue]:
        """The order moved: its callers it no longer ``covers`` (their supply came back while
        it was elsewhere) go with the open order that holds them dark now, or are due; the
        callers that waited on it and are no longer behind it wait on their holder, or are due."""
        due = []
        for callback_id in [c for c in self.of_order.get(order_id, [])
                            if self.callbacks[c].due_s is None and not covers(self.callbacks[c].node_idx)]:
            holder = held_by(self.callbacks[callback_id].node_idx)
            if holder is None:
                due.append(callback_id)
            else:
                self._move_callback(callback_id, holder)
        waiting = self._waiting_on.get(order_id, [])
        gone = [c for c in waiting if not covers(self.callbacks[c].node_idx)]
        if gone:
            self._waiting_on[order_id] = [c for c in waiting if covers(self.callbacks[c].node_idx)]
        return self._due_or_wait(due + gone, t_s, held_by)

    def release(self, order_id: str, t_s: int, held_by: Callable[[int], str | None]) -> list[CallbackDue]:
        """``order_id`` is repaired (or cancelled): its callers are due, unless ``held_by``
        names another open order that still holds the caller dark; callers that waited on
        this order are checked again."""
        ids = [c for c in self.of_order.get(order_id, []) if self.callbacks[c].due_s is None]
        ids += self._waiting_on.pop(order_id, [])
        return self._due_or_wait(ids, t_s, held_by)

    def planned_ended(self, outage_id: str, t_s: int,
                      held_by: Callable[[int], str | None]) -> list[CallbackDue]:
        return self._due_or_wait(self._planned.pop(outage_id, []), t_s, held_by)

    def _due_or_wait(self, ids: Iterable[str], t_s: int,
                     held_by: Callable[[int], str | None]) -> list[CallbackDue]:
        out = []
        for callback_id in ids:
            cb = self.callbacks[callback_id]
            if cb.due_s is not None:
                continue
            holder = held_by(cb.node_idx)
            if holder is not None:
                if holder != cb.order_id:  # its own order, still open, releases it in turn
                    self._waiting_on.setdefault(holder, []).append(callback_id)
                continue
            cb.due_s = t_s
            if self._waiting.get(cb.customer_id) == callback_id:
                del self._waiting[cb.customer_id]
            out.append(CallbackDue(t_s, cb.callback_id, cb.order_id, cb.customer_id, cb.node_idx))
        return out

    def record(self, callback_id: str, outcome: CallbackOutcome, t_s: int) -> Callback:
        """The call-taker's outcome; no answer at the last attempt closes the callback
        unanswered. A callback not due (or done) raises ``KeyError``/``ValueError``."""
        cb = self.callbacks[callback_id]
        if cb.due_s is None or cb.outcome is not None:
            raise ValueError(f"callback {callback_id} is {'done' if cb.outcome else 'not due'}")
        cb.attempts += 1
        if outcome != CallbackOutcome.NO_ANSWER or cb.attempts >= self.attempts:
            cb.outcome = outcome
            cb.done_s = t_s
            self.done += 1
            self.unanswered += outcome == CallbackOutcome.NO_ANSWER
        return cb

    def due_of(self, order_id: str) -> list[Callback]:
        """Callbacks of the order that are due and not yet done."""
        return [cb for c in self.of_order.get(order_id, []) if (cb := self.callbacks[c]).due_s is not None
                and cb.outcome is None]

    def all_done(self, order_id: str) -> bool:
        return all(self.callbacks[c].outcome is not None for c in self.of_order.get(order_id, []))
