"""Limit alerts: raised once, shortly before the limit, only for orders still short of it; a
limit that moves is watched again and the old one dropped; orders merged into another are
alerted as the KPIs judge them (own arrival limit, their head's repair limit)."""

from __future__ import annotations

from dispatch.alerts import LimitAlerts
from dispatch.events import Alert
from dispatch.limits import HOUR, ServiceLimits
from dispatch.orders import OrderOrigin, OrderStatus, WorkOrder


def _order(oid: str, limit_class: str = "lv", reported_s: int = 100, deadline_s: int = 2800) -> WorkOrder:
    return WorkOrder(oid, "I1", 0, "FU-T1", 0.0, 0.0, "urban", limit_class, limit_class, reported_s,
                     deadline_s, 30, 0)


def _merge(child: WorkOrder, into: WorkOrder, t_s: int) -> None:
    child.merged_into = into.order_id
    child.move(OrderStatus.MERGED, t_s)
    into.absorbed.append(child.order_id)


def test_alerts_fall_due_once_and_only_for_orders_short_of_the_limit() -> None:
    alerts = LimitAlerts(ServiceLimits())
    waiting, reached = _order("W1"), _order("W2")
    orders = {"W1": waiting, "W2": reached}
    for o in (waiting, reached):
        alerts.watch(o, orders)
    assert alerts.due(2800 - 601, orders) == []
    for s in (OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE):
        reached.move(s, 2000)
    reached.reach(2000, "first_responder")
    assert alerts.due(2800 - 600, orders) == [Alert(2200, "W1", "arrival_limit", 2800)]
    repair_due = 100 + 8 * HOUR
    at = repair_due - HOUR
    assert alerts.due(at, orders) == [Alert(at, "W1", "repair_limit", repair_due),
                                      Alert(at, "W2", "repair_limit", repair_due)]
    assert alerts.due(10**6, orders) == [] and alerts.raised == 3


def test_a_crew_at_a_switch_does_not_silence_the_arrival_alert() -> None:
    """A switching crew on site puts the order on site, but nobody is at the incident: the
    KPIs count no arrival, so the dispatcher is still warned."""
    alerts = LimitAlerts(ServiceLimits())
    order = _order("W1")
    alerts.watch(order, {"W1": order})
    order.move(OrderStatus.ON_SITE, 1000)
    assert alerts.due(2200, {"W1": order}) == [Alert(2200, "W1", "arrival_limit", 2800)]


def test_a_limit_moved_earlier_is_watched_again_and_still_raised_once() -> None:
    alerts = LimitAlerts(ServiceLimits())
    order = _order("W1", limit_class="cable")  # cable work carries no repair limit
    orders = {"W1": order}
    alerts.watch(order, orders)
    order.deadline_s = 1500  # merged with an order reported earlier
    alerts.watch(order, orders)
    assert alerts.due(900, orders) == [Alert(900, "W1", "arrival_limit", 1500)]
    assert alerts.due(10**6, orders) == []


def test_a_relocated_order_is_alerted_by_its_new_class_only() -> None:
    """An LV order whose cause is found on the MV line: the 8 h LV alert is dropped, the 16 h
    MV one raised (before, the stale LV alert fired and the MV one was suppressed)."""
    alerts = LimitAlerts(ServiceLimits())
    order = _order("W1")
    orders = {"W1": order}
    alerts.watch(order, orders)
    order.limit_class = "mv"
    alerts.watch(order, orders)
    assert [a for a in alerts.due(100 + 8 * HOUR, orders) if a.kind == "repair_limit"] == []
    at = 100 + 15 * HOUR
    assert alerts.due(at, orders) == [Alert(at, "W1", "repair_limit", at + HOUR)]
    assert alerts.due(10**6, orders) == []


def test_a_merged_order_is_alerted_by_its_own_arrival_limit_and_its_heads_repair_limit() -> None:
    """An order merged into a later, MV one: its own (earlier) arrival limit and the MV repair
    limit counted from its own report are alerted while the head is open and nobody reached it."""
    alerts = LimitAlerts(ServiceLimits())
    child = _order("W1", reported_s=100, deadline_s=2800)
    head = _order("W2", limit_class="mv", reported_s=600, deadline_s=3300)
    orders = {"W1": child, "W2": head}
    for o in (child, head):
        alerts.watch(o, orders)
    _merge(child, head, 500)
    alerts.watch(child, orders)
    assert alerts.due(2200, orders) == [Alert(2200, "W1", "arrival_limit", 2800)]
    assert alerts.due(2700, orders) == [Alert(2700, "W2", "arrival_limit", 3300)]
    assert alerts.due(100 + 8 * HOUR, orders) == []  # the LV limit no longer applies
    due = 100 + 16 * HOUR
    assert alerts.due(due - HOUR, orders) == [Alert(due - HOUR, "W1", "repair_limit", due)]
    for s in (OrderStatus.ON_SITE, OrderStatus.REPAIRED):
        head.move(s, due)
    assert alerts.due(10**6, orders) == [] and alerts.raised == 3


def test_a_merged_order_reached_with_its_head_is_not_alerted() -> None:
    alerts = LimitAlerts(ServiceLimits())
    child, head = _order("W1"), _order("W2", deadline_s=2900)
    orders = {"W1": child, "W2": head}
    for o in (child, head):
        alerts.watch(o, orders)
    _merge(child, head, 500)
    head.move(OrderStatus.ON_SITE, 1000)
    for o in (head, child):
        o.reach(1000, "first_responder")
    assert alerts.due(2500, orders) == []


def test_no_alert_for_work_a_callback_reopened_nor_a_repair_limit_of_a_customer_side_fault() -> None:
    """As the KPIs: an order the utility's callback reopened made no promise; a fault found on
    the customer's side carries no repair limit."""
    alerts = LimitAlerts(ServiceLimits())
    reopened, own = _order("W1"), _order("W2")
    reopened.origin = OrderOrigin.CALLBACK
    orders = {"W1": reopened, "W2": own}
    for o in (reopened, own):
        alerts.watch(o, orders)
    own.customer_side = True
    assert alerts.due(10**6, orders) == [Alert(10**6, "W2", "arrival_limit", 2800)]
