"""ETR book: touched orders are re-quoted, a re-plan re-quotes every open one, small moves
are not re-announced, and every quote made is kept."""

from __future__ import annotations

from dispatch.etr import EtrBook
from dispatch.events import EtrUpdate
from dispatch.orders import OrderStatus, WorkOrder


def _order(oid: str) -> WorkOrder:
    return WorkOrder(oid, "I1", 0, "FU-T1", 0.0, 0.0, "urban", "lv", "lv", 100, 2800, 30, 0)


def test_quotes_follow_touches_and_re_plans_and_ignore_small_moves() -> None:
    book = EtrBook(step_s=600)
    orders = {"W1": _order("W1"), "W2": _order("W2")}
    quotes = {"W1": 5000, "W2": 9000}

    def refresh(t: int, version: int) -> list[EtrUpdate]:
        return book.refresh(t, version, lambda: list(orders.values()), orders, lambda o: quotes[o.order_id])

    assert refresh(10, 0) == [EtrUpdate(10, "W1", 5000), EtrUpdate(10, "W2", 9000)]  # first plan
    assert refresh(20, 0) == []  # nothing touched, same plan
    quotes["W1"] = 5300
    book.touch("W1")
    assert refresh(30, 0) == [] and book.current["W1"] == 5000  # moved less than the step
    quotes["W1"], quotes["W2"] = 6000, 12_000
    assert refresh(40, 1) == [EtrUpdate(40, "W1", 6000), EtrUpdate(40, "W2", 12_000)]  # re-plan
    orders["W2"].move(OrderStatus.MERGED, 50)
    book.forget("W2")
    book.touch("W2")
    assert refresh(60, 1) == [] and "W2" not in book.current
    assert [(t, o) for t, o, _ in book.history] == [(10, "W1"), (10, "W2"), (40, "W1"), (40, "W2")]
