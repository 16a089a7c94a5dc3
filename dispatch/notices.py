"""Customer notices: what each calling customer (or each transformer area's group) is told, as
the engine's events and decisions unfold.

- ``acknowledged``: the call is tied to an outage, with its first ETR (sent at the first quote;
  a call settled before any quote is acknowledged without one);
- ``etr_changed``: the ETR of an acknowledged caller moved from the one they were told by
  ``etr_margin_s`` or a quarter of the wait they were told, whichever is more; looked at once
  the order's quote has not moved for ``etr_hold_s`` (a quote that flaps back within minutes,
  as re-plans make them, never reaches the customer), or at the latest ``ETR_LONGEST_WAIT_S``
  after it first moved (a quote re-made every few minutes is told, not never); and a caller
  hears one at most every ``ETR_MIN_GAP_S`` unless the ETR they were told is due within the
  hour (a promise about to break is always corrected);
- ``restored``: supply is back (the caller's callback fell due, or switching brought the caller's
  section back before the repair: told once, and a caller whose section a step that did not
  hold left dark again is acknowledged anew), or ``customer_side``: the fault is the customer's
  own (found on the phone or by the first responder);
- ``callback_due``: the call-taker owes the customer a callback;
- ``planned_outage``, ``planned_outage_changed``, ``planned_outage_cancelled``: to every
  customer below the device opened.

The book is a pure function of the engine's history: fed every applied event with its
decisions, in log order, it says the same notices on a rebuild as live. With the
``transformer`` channel (the WeChat-group model) the customers' notices fold into one per
transformer area (one acknowledgement and restoration per order and area; one ETR change or
planned-outage notice per area and event); customer-side advice, callbacks, and customers
supplied straight from MV stay per customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from dispatch.events import (
    CallbackDue,
    CallSettled,
    Decision,
    EtrUpdate,
    Event,
    Operate,
    OrderCancelled,
    PlannedOutageAnnounced,
    PlannedOutageCancelled,
    PlannedOutageChanged,
    SwitchRefused,
)
from dispatch.orders import OPEN

if TYPE_CHECKING:
    from dispatch.engine import DispatchEngine

ETR_NOTICE_MARGIN_S = 60 * 60  # an acknowledged caller hears of an ETR that moves at least this much
ETR_HOLD_S = 15 * 60  # ... and that has held this long (re-plans make quotes flap within minutes)
ETR_LONGEST_WAIT_S = 60 * 60  # ... or, for a quote that keeps moving, this long after it first moved
ETR_RELATIVE_MARGIN = 0.25  # ... and moves by this share of the wait the caller was told, if more
ETR_MIN_GAP_S = 3 * 3600  # a caller hears of a new ETR at most this often ...
ETR_PROMISE_DUE_S = 60 * 60  # ... unless the ETR they were told is this close (or past)


class NoticeKind(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ETR_CHANGED = "etr_changed"
    RESTORED = "restored"
    CUSTOMER_SIDE = "customer_side"
    CALLBACK_DUE = "callback_due"
    PLANNED_OUTAGE = "planned_outage"
    PLANNED_CHANGED = "planned_outage_changed"
    PLANNED_CANCELLED = "planned_outage_cancelled"


class Channel(StrEnum):
    CUSTOMER = "customer"
    TRANSFORMER = "transformer"


# told once per order and transformer area on the group channel (the others once per event)
_ONCE_PER_AREA = (NoticeKind.ACKNOWLEDGED, NoticeKind.RESTORED)
# about one customer's own premises or callback: never to the group
_PERSONAL = (NoticeKind.CUSTOMER_SIDE, NoticeKind.CALLBACK_DUE)

_PLANNED_KIND = {PlannedOutageAnnounced: NoticeKind.PLANNED_OUTAGE,
                 PlannedOutageChanged: NoticeKind.PLANNED_CHANGED,
                 PlannedOutageCancelled: NoticeKind.PLANNED_CANCELLED}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message: to ``customer_ids``, or to the group of ``transformer_id``'s area. ``etr_s``
    is the ETR (a planned outage's end); ``start_s`` a planned outage's start."""

    kind: NoticeKind
    t_s: int
    order_id: str
    customer_ids: tuple[str, ...] = ()
    transformer_id: str = ""
    etr_s: int | None = None
    start_s: int | None = None
    callback_id: str = ""


class NoticeBook:
    """Follows the engine and says the notices each applied event causes (``after``)."""

    def __init__(self, engine: DispatchEngine, *, channel: Channel = Channel.CUSTOMER,
                 etr_margin_s: int = ETR_NOTICE_MARGIN_S, etr_hold_s: int = ETR_HOLD_S) -> None:
        self.engine = engine
        self.channel = Channel(channel)
        self.etr_margin_s = etr_margin_s
        self.etr_hold_s = etr_hold_s
        self._seen = 0  # calls filed so far (``CallbackBook.filed``) already looked at
        self._pending: set[str] = set()  # callbacks whose caller awaits an acknowledgement
        self._told_etr: dict[str, int | None] = {}  # acknowledged, not yet restored: the ETR told
        self._told_area: set[tuple[NoticeKind, str, str]] = set()
        # orders re-quoted since their callers were last looked at: (last move, first move)
        self._moved: dict[str, tuple[int, int]] = {}
        self._called_off: set[str] = set()  # orders a dispatcher cancelled (a hoax, a duplicate)
        self._told_at: dict[str, int] = {}  # when each caller last heard an ETR change
        self._recheck: dict[str, int] = {}  # orders with callers held back by the gap: look again then
        self._back: set[str] = set()  # callbacks whose caller switching brought back before the repair

    def after(self, t_s: int, decisions: Sequence[Decision], event: Event | None = None) -> list[Notice]:
        """The notices of the decisions made at ``t_s`` and of the ``event`` the engine applied
        with them (None: it refused the event, or there was none)."""
        out: list[Notice] = []
        if isinstance(event, OrderCancelled):
            self._called_off.add(event.order_id)
        if isinstance(event, PlannedOutageAnnounced | PlannedOutageChanged | PlannedOutageCancelled):
            out += self._planned(event)
        out += self._new_callers(t_s)
        for d in decisions:
            if isinstance(d, EtrUpdate):
                out += self._etr(d)
            elif isinstance(d, CallbackDue):
                out += self._due(d)
            elif isinstance(d, CallSettled):
                out += [Notice(NoticeKind.ACKNOWLEDGED, d.t_s, "", (d.customer_id,)),
                        Notice(NoticeKind.CUSTOMER_SIDE, d.t_s, "", (d.customer_id,))]
        if isinstance(event, SwitchRefused) or any(isinstance(d, Operate) for d in decisions):
            out += self._switched(t_s)
        out += self._changes(t_s)
        return out if self.channel == Channel.CUSTOMER else self._to_areas(out)

    def _switched(self, t_s: int) -> list[Notice]:
        """Switching moved supply: an acknowledged caller whose section is back hears so; one
        brought back whose section is dark again (a step that did not hold) is acknowledged
        anew with its order's ETR."""
        book = self.engine.callbacks
        out = []
        for callback_id in [*self._told_etr, *sorted(self._back)]:
            cb = book.callbacks[callback_id]
            node = self.engine.resolver.customer_node(cb.customer_id)
            order = self.engine.orders.get(cb.order_id)
            if node is None or order is None or order.status not in OPEN:
                continue
            dark = self.engine.dark_holder(node) is not None
            if not dark and callback_id in self._told_etr:
                del self._told_etr[callback_id]
                self._back.add(callback_id)
                out.append(Notice(NoticeKind.RESTORED, t_s, cb.order_id, (cb.customer_id,)))
            elif dark and callback_id in self._back:
                self._back.discard(callback_id)
                etr = self.engine.etr.get(cb.order_id)
                self._told_etr[callback_id] = etr
                out.append(Notice(NoticeKind.ACKNOWLEDGED, t_s, cb.order_id, (cb.customer_id,), etr_s=etr))
        return out

    def _new_callers(self, t_s: int) -> list[Notice]:
        """Callers whose call filed a callback since the last event (a new one, or theirs taken
        along to another order): acknowledged at once when their outage has an ETR (a planned
        outage's end), else at its first quote."""
        book = self.engine.callbacks
        fresh = book.filed[self._seen:]
        self._seen = len(book.filed)
        out = []
        for callback_id in fresh:
            cb = book.callbacks[callback_id]
            planned = self.engine.planned.outages.get(cb.order_id)
            etr = planned.end_s if planned is not None else self.engine.etr.get(cb.order_id)
            if etr is None:
                self._pending.add(callback_id)
                continue
            self._told_etr[callback_id] = etr
            out.append(Notice(NoticeKind.ACKNOWLEDGED, t_s, cb.order_id, (cb.customer_id,), etr_s=etr))
        return out

    def _etr(self, d: EtrUpdate) -> list[Notice]:
        """A new quote: callers still waiting are acknowledged with it; for the others the
        order's ETR is looked at again once the quote has held (see the module docstring)."""
        book = self.engine.callbacks
        out = []
        told_before = False
        for callback_id in book.of_order.get(d.order_id, ()):
            if callback_id in self._pending:
                self._pending.discard(callback_id)
                self._told_etr[callback_id] = d.etr_s
                out.append(Notice(NoticeKind.ACKNOWLEDGED, d.t_s, d.order_id,
                                  (book.callbacks[callback_id].customer_id,), etr_s=d.etr_s))
            else:
                told_before = told_before or callback_id in self._told_etr
        if told_before:
            first = self._moved.get(d.order_id, (d.t_s, d.t_s))[1]
            self._moved[d.order_id] = (d.t_s, first)
        return out

    def _changes(self, t_s: int) -> list[Notice]:
        """Orders whose quote has held (or waited its longest), or whose callers held back by
        the gap may hear now: their acknowledged callers whose ETR differs enough from the one
        they were told are told (see the module docstring)."""
        ripe = [o for o, (last, first) in self._moved.items()
                if t_s - last >= self.etr_hold_s or t_s - first >= ETR_LONGEST_WAIT_S]
        ripe += [o for o, at in self._recheck.items() if at <= t_s and o not in self._moved]
        book = self.engine.callbacks
        out = []
        for order_id in ripe:
            self._moved.pop(order_id, None)
            self._recheck.pop(order_id, None)
            etr = self.engine.etr.get(order_id)
            if etr is None:
                continue
            for callback_id in book.of_order.get(order_id, ()):
                told = self._told_etr.get(callback_id)
                margin = max(self.etr_margin_s, ETR_RELATIVE_MARGIN * (told - t_s)) if told is not None else 0
                if told is None or abs(etr - told) < margin:
                    continue
                free_at = self._told_at.get(callback_id, t_s - ETR_MIN_GAP_S) + ETR_MIN_GAP_S
                if t_s < free_at and told - t_s > ETR_PROMISE_DUE_S:
                    self._recheck[order_id] = min(self._recheck.get(order_id, free_at), free_at)
                    continue
                self._told_etr[callback_id] = etr
                self._told_at[callback_id] = t_s
                customer_id = book.callbacks[callback_id].customer_id
                out.append(Notice(NoticeKind.ETR_CHANGED, t_s, order_id, (customer_id,), etr_s=etr))
        return out

    def _due(self, d: CallbackDue) -> list[Notice]:
        """Supply back (or the fault is the customer's own): told, and the callback is due. The
        callers of an order a dispatcher cancelled are told nothing: the call-taker calls them."""
        self._told_etr.pop(d.callback_id, None)
        due = Notice(NoticeKind.CALLBACK_DUE, d.t_s, d.order_id, (d.customer_id,), callback_id=d.callback_id)
        if d.order_id in self._called_off:
            self._pending.discard(d.callback_id)
            return [due]
        out = []
        if d.callback_id in self._pending:
            self._pending.discard(d.callback_id)
            out.append(Notice(NoticeKind.ACKNOWLEDGED, d.t_s, d.order_id, (d.customer_id,)))
        if d.callback_id in self._back:  # told when switching brought it back
            self._back.discard(d.callback_id)
            return [*out, due]
        order = self.engine.orders.get(d.order_id)
        kind = NoticeKind.CUSTOMER_SIDE if order is not None and order.customer_side else NoticeKind.RESTORED
        return [*out, Notice(kind, d.t_s, d.order_id, (d.customer_id,)), due]

    def _planned(self, event: PlannedOutageAnnounced | PlannedOutageChanged | PlannedOutageCancelled
                 ) -> list[Notice]:
        outage = self.engine.planned.outages[event.outage_id]
        kind = _PLANNED_KIND[type(event)]
        off = outage.cancelled
        return [Notice(kind, event.t_s, outage.outage_id, (customer_id,), etr_s=None if off else outage.end_s,
                       start_s=None if off else outage.start_s)
                for _, customer_id in self.engine.customers_below(outage.device_idx)]

    def _to_areas(self, notices: Iterable[Notice]) -> list[Notice]:
        """Fold customers' notices into one per transformer area (see the module docstring)."""
        out = []
        this_event: set[tuple[NoticeKind, str, str]] = set()
        for n in notices:
            if n.kind in _PERSONAL or not n.order_id:
                out.append(n)
                continue
            node = self.engine.resolver.customer_node(n.customer_ids[0])
            area = self.engine.transformer_area(node) if node is not None else None
            if area is None:
                out.append(n)
                continue
            if n.kind == NoticeKind.RESTORED and self.engine.dark_holder(area) is not None:
                continue  # the area is still dark from an order upstream: its restoration tells it
            transformer_id = self.engine.net.node_id[area]
            key = (n.kind, n.order_id, transformer_id)
            told = self._told_area if n.kind in _ONCE_PER_AREA else this_event
            if key in told:
                continue
            told.add(key)
            out.append(Notice(n.kind, n.t_s, n.order_id, transformer_id=transformer_id, etr_s=n.etr_s,
                              start_s=n.start_s))
        return out
