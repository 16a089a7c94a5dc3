"""Limit alerts: raised once, shortly before the limit, only for orders still short of it; a
limit that moves earlier is watched again."""

from __future__ import annotations

from dispatch.alerts import LimitAlerts
from dispatch.events import Alert
from dispatch.limits import ServiceLimits
from dispatch.orders import OrderStatus, WorkOrder


def _order(oid: str, limit_class: str = "lv") -> WorkOrder:
    return WorkOrder(oid, "I1", 0, "FU-T1", 0.0, 0.0, "urban", "lv", limit_class, 100, 2800, 30, 0)


def test_alerts_fall_due_once_and_only_for_orders_short_of_the_limit() -> None:
    alerts = LimitAlerts(ServiceLimits())
    waiting, reached = _order("W1"), _order("W2")
    for o in (waiting, reached):
        alerts.watch(o)
    assert alerts.due(2800 - 601, {"W1": waiting, "W2": reached}) == []
    for s in (OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE):
        reached.move(s, 2000)
    orders = {"W1": waiting, "W2": reached}
    assert alerts.due(2800 - 600, orders) == [Alert(2200, "W1", "arrival_limit", 2800)]
    repair_due = 100 + 8 * 3600
    at = repair_due - 3600
    assert alerts.due(at, orders) == [Alert(at, "W1", "repair_limit", repair_due),
                                      Alert(at, "W2", "repair_limit", repair_due)]
    assert alerts.due(10**6, orders) == [] and alerts.raised == 3


def test_a_limit_moved_earlier_is_watched_again_and_still_raised_once() -> None:
    alerts = LimitAlerts(ServiceLimits())
    order = _order("W1", limit_class="cable")  # cable work carries no repair limit
    alerts.watch(order)
    order.deadline_s = 1500  # merged with an order reported earlier
    alerts.watch(order)
    assert alerts.due(900, {"W1": order}) == [Alert(900, "W1", "arrival_limit", 1500)]
    assert alerts.due(10**6, {"W1": order}) == []
