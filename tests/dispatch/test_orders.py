"""Work order lifecycle: allowed steps are time-stamped, others are refused; an order is
reached once, never before its own report."""

from __future__ import annotations

import pytest

from dispatch.orders import ALLOWED, OrderStatus, TransitionError, WorkOrder

# A shortest walk from NEW to each status, to set up every transition.
_PATH = {
    OrderStatus.NEW: [],
    OrderStatus.ASSIGNED: [OrderStatus.ASSIGNED],
    OrderStatus.EN_ROUTE: [OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE],
    OrderStatus.ON_SITE: [OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE],
    OrderStatus.REPAIRED: [OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE,
                           OrderStatus.REPAIRED],
    OrderStatus.CALLBACK_DONE: [OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE,
                                OrderStatus.REPAIRED, OrderStatus.CALLBACK_DONE],
    OrderStatus.CLOSED: [OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE,
                         OrderStatus.REPAIRED, OrderStatus.CALLBACK_DONE, OrderStatus.CLOSED],
    OrderStatus.MERGED: [OrderStatus.MERGED],
    OrderStatus.CANCELLED: [OrderStatus.CANCELLED],
}
_ALL_STEPS = [(a, b) for a in OrderStatus for b in OrderStatus]


def _order() -> WorkOrder:
    return WorkOrder("W1", "I1", 0, "FU-T1", 0.0, 0.0, "urban", "lv", "lv", 100, 2800, 30, 0)


def test_full_lifecycle_is_time_stamped() -> None:
    o = _order()
    steps = [(200, OrderStatus.ASSIGNED), (200, OrderStatus.EN_ROUTE), (900, OrderStatus.ON_SITE),
             (4000, OrderStatus.REPAIRED), (4900, OrderStatus.CALLBACK_DONE),
             (4900, OrderStatus.CLOSED)]
    for t, s in steps:
        o.move(s, t)
        if s == OrderStatus.ON_SITE:
            assert o.reach(t, "first_responder") and not o.reach(t + 60, "repair")
    assert o.history == steps
    assert (o.reached_s, o.reached_by, o.repaired_s) == (900, "first_responder", 4000)


def test_an_order_reached_before_its_report_counts_from_its_report() -> None:
    o = _order()
    assert o.reach(40, "repair") and o.reached_s == o.first_report_s == 100


@pytest.mark.parametrize(("start", "to"), _ALL_STEPS, ids=[f"{a.value}->{b.value}" for a, b in _ALL_STEPS])
def test_every_transition_is_allowed_or_refused_as_the_lifecycle_says(
        start: OrderStatus, to: OrderStatus) -> None:
    o = _order()
    for s in _PATH[start]:
        o.move(s, 1)
    if to in ALLOWED[start]:
        o.move(to, 2)
        assert o.status == to and o.history[-1] == (2, to)
    else:
        with pytest.raises(TransitionError, match=f"cannot go from {start.value} to {to.value}"):
            o.move(to, 2)
        assert o.status == start and len(o.history) == len(_PATH[start])


@pytest.mark.parametrize(("steps", "bad"), [
    ([], OrderStatus.REPAIRED),
    ([OrderStatus.ASSIGNED], OrderStatus.CLOSED),
    ([OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE], OrderStatus.NEW),
    ([OrderStatus.ASSIGNED, OrderStatus.EN_ROUTE, OrderStatus.ON_SITE], OrderStatus.CANCELLED),
    ([OrderStatus.MERGED], OrderStatus.ASSIGNED),
])
def test_impossible_transitions_are_refused(steps: list[OrderStatus], bad: OrderStatus) -> None:
    o = _order()
    for s in steps:
        o.move(s, 1)
    with pytest.raises(TransitionError, match=f"cannot go from {o.status.value} to {bad.value}"):
        o.move(bad, 2)
    assert o.status == (steps[-1] if steps else OrderStatus.NEW)


def test_urgency_puts_critical_customers_first_then_earliest_deadline() -> None:
    a, b, c = _order(), _order(), _order()
    b.critical, b.deadline_s = 1, 9999
    c.deadline_s = 100
    assert sorted([a, b, c], key=lambda o: o.urgency) == [b, c, a]
