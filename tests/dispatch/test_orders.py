"""Work order lifecycle: allowed steps are time-stamped, others are refused."""

from __future__ import annotations

import pytest

from dispatch.orders import OrderStatus, TransitionError, WorkOrder


def _order() -> WorkOrder:
    return WorkOrder("W1", "I1", 0, "FU-T1", 0.0, 0.0, "urban", "lv", "lv", 100, 2800, 30, 0)


def test_full_lifecycle_is_time_stamped() -> None:
    o = _order()
    for t, s in [(200, OrderStatus.ASSIGNED), (900, OrderStatus.ON_SITE),
                 (4000, OrderStatus.REPAIRED), (4000, OrderStatus.CLOSED)]:
        o.move(s, t)
    assert o.history == [(200, OrderStatus.ASSIGNED), (900, OrderStatus.ON_SITE),
                         (4000, OrderStatus.REPAIRED), (4000, OrderStatus.CLOSED)]
    assert o.arrived_s == 900 and o.repaired_s == 4000


@pytest.mark.parametrize(("steps", "bad"), [
    ([], OrderStatus.REPAIRED),
    ([OrderStatus.ASSIGNED], OrderStatus.CLOSED),
    ([OrderStatus.ASSIGNED, OrderStatus.ON_SITE], OrderStatus.MERGED),
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
