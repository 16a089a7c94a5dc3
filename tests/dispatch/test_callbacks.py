"""The callback book alone: one callback per calling customer and order, also when a merge
brings a customer's callback along from the order it was owed with."""

from __future__ import annotations

from dispatch.callbacks import CallbackBook


def test_a_customer_who_calls_again_after_a_merge_is_owed_one_callback() -> None:
    """A customer called about W1, which merged into W2; their repeat call, now about W2, owes
    no second callback (it used to, under W2's id), and W2's repair makes the one due."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    book.owe("W1", "3301000007", 7, 150)  # a repeat call about the same order
    book.owe("W2", "3301000008", 8, 200)
    book.move("W1", "W2")
    book.owe("W2", "3301000007", 7, 300)
    assert sorted((cb.order_id, cb.customer_id) for cb in book.callbacks.values()) == [
        ("W2", "3301000007"), ("W2", "3301000008")]
    due = book.release("W2", 400, lambda node: None)
    assert sorted(d.customer_id for d in due) == ["3301000007", "3301000008"]
