"""The callback book alone: one callback per calling customer and order, also when a merge or
a regrouping brings a customer's callback along from the order it was owed with; one not yet due
per customer, with the order of their latest call; callers an order moved away from; a customer
who never answers is closed unanswered after the last attempt."""

from __future__ import annotations

import pytest

from dispatch.callbacks import CallbackBook, CallbackOutcome


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


def test_a_caller_regrouped_to_another_order_takes_their_callback_and_is_owed_no_second() -> None:
    """A regrouping moves one caller of W1 to W2: their callback goes along (its id kept), the
    other stays; a repeat call about either order owes no second callback."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    book.owe("W1", "3301000009", 9, 120)
    book.move_caller("W1", "W2", "3301000007")
    book.owe("W1", "3301000007", 7, 300)
    book.owe("W2", "3301000007", 7, 310)
    assert sorted((cb.callback_id, cb.order_id) for cb in book.callbacks.values()) == [
        ("W1:3301000007", "W2"), ("W1:3301000009", "W1")]
    assert [d.customer_id for d in book.release("W2", 400, lambda node: None)] == ["3301000007"]


def test_a_customer_calling_about_another_order_takes_their_waiting_callback_along() -> None:
    """A customer owed a callback with W1 calls about W2 (their supply came back and went, or the
    grouping moved them): the callback goes to W2, no second is owed; W1's repair leaves it, W2's
    makes it due."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    book.owe("W1", "3301000009", 9, 110)
    book.owe("W2", "3301000007", 7, 300)
    assert sorted((cb.callback_id, cb.order_id) for cb in book.callbacks.values()) == [
        ("W1:3301000007", "W2"), ("W1:3301000009", "W1")]
    assert [d.customer_id for d in book.release("W1", 400, lambda node: None)] == ["3301000009"]
    assert [d.customer_id for d in book.release("W2", 500, lambda node: None)] == ["3301000007"]
    book.owe("W3", "3301000007", 7, 600)  # due already: a new call owes a new callback
    assert book.callbacks["W3:3301000007"].order_id == "W3"


def test_a_held_callback_brought_to_an_open_order_waits_for_that_order() -> None:
    """W1 is repaired while W2 upstream holds its caller dark: the callback waits on W2. The
    customer then calls about W3, which holds them now: W2's repair does not make it due (it is
    W3's to release), W3's does."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    holder = {"now": "W2"}
    assert book.release("W1", 200, lambda node: holder["now"]) == []
    book.owe("W3", "3301000007", 7, 300)
    holder["now"] = "W3"
    assert book.release("W2", 400, lambda node: holder["now"]) == []
    holder["now"] = None
    (due,) = book.release("W3", 500, lambda node: holder["now"])
    assert (due.callback_id, due.order_id, due.t_s) == ("W1:3301000007", "W3", 500)


def test_callers_an_order_moved_away_from_go_with_the_order_holding_them_or_are_due() -> None:
    """W1 moved: of its callers it no longer covers, one is held dark by W5 (the callback goes
    there) and one is held by nothing (due now); the one it still covers stays."""
    book = CallbackBook()
    for node in (7, 8, 9):
        book.owe("W1", f"330100000{node}", node, 100)
    held = {7: None, 8: "W5", 9: "W1"}
    due = book.release_uncovered("W1", lambda node: node == 9, 200, held.get)
    assert [(d.customer_id, d.order_id) for d in due] == [("3301000007", "W1")]
    assert {cb.customer_id: (cb.order_id, cb.due_s) for cb in book.callbacks.values()} == {
        "3301000007": ("W1", 200), "3301000008": ("W5", None), "3301000009": ("W1", None)}


def test_a_customer_called_back_who_calls_about_the_same_order_again_is_owed_a_new_callback() -> None:
    """W1 moved away from a caller whose supply came back: called back, restored. Dark again,
    they call about W1 (the order back over them): a new callback under a new id, not due (the
    pair with W1 used to count as owed, and the call owed nothing)."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    (due,) = book.release_uncovered("W1", lambda node: False, 200, lambda node: None)
    book.record(due.callback_id, CallbackOutcome.RESTORED, 300)
    assert book.owe("W1", "3301000007", 7, 400) is None
    assert [(cb.callback_id, cb.due_s) for cb in book.callbacks.values()] == [
        ("W1:3301000007", 200), ("W1:3301000007:2", None)]
    assert book.filed == ["W1:3301000007", "W1:3301000007:2"]


def test_a_call_about_another_order_says_where_the_callback_came_from_and_files_it_again() -> None:
    """W1 is repaired while W2 holds its caller dark (the callback waits on W2); the customer
    calls about W3: their callback goes there, ``owe`` names W1 (the engine closes it: no
    callback is left with it) and the call is filed again (the caller is acknowledged with W3's
    ETR)."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    assert book.release("W1", 200, lambda node: "W2") == []
    assert book.owe("W3", "3301000007", 7, 300) == "W1"
    assert book.of_order["W1"] == [] and book.all_done("W1")
    assert book.filed == ["W1:3301000007", "W1:3301000007"]


def test_callers_waiting_on_an_order_that_moved_away_from_them_are_due_or_wait_on_their_holder() -> None:
    """W1 and W4 were repaired while W2 held their callers dark; W2 moves and covers neither:
    the one nothing holds is due at once, the one W5 holds waits on W5."""
    book = CallbackBook()
    book.owe("W1", "3301000007", 7, 100)
    book.owe("W4", "3301000008", 8, 100)
    book.release("W1", 150, lambda node: "W2")
    book.release("W4", 160, lambda node: "W2")
    held = {7: None, 8: "W5"}
    due = book.release_uncovered("W2", lambda node: False, 200, held.get)
    assert [(d.callback_id, d.t_s) for d in due] == [("W1:3301000007", 200)]
    held[8] = None
    assert [d.callback_id for d in book.release("W5", 300, held.get)] == ["W4:3301000008"]


def test_a_customer_who_never_answers_is_closed_unanswered_after_the_last_attempt() -> None:
    """No answer is tried again; at the last attempt the callback closes unanswered, counted
    apart from those that reached the customer (the last attempt always got through before)."""
    book = CallbackBook(attempts=3)
    book.owe("W1", "3301000007", 7, 100)
    book.owe("W1", "3301000008", 8, 100)
    book.release("W1", 200, lambda node: None)
    for t in (300, 400):
        assert book.record("W1:3301000007", CallbackOutcome.NO_ANSWER, t).outcome is None
    book.record("W1:3301000008", CallbackOutcome.RESTORED, 300)
    assert not book.all_done("W1")
    cb = book.record("W1:3301000007", CallbackOutcome.NO_ANSWER, 500)
    assert (cb.outcome, cb.attempts, cb.done_s) == (CallbackOutcome.NO_ANSWER, 3, 500)
    assert book.all_done("W1") and (book.done, book.unanswered) == (2, 1)
    with pytest.raises(ValueError, match="is done"):
        book.record("W1:3301000007", CallbackOutcome.RESTORED, 600)
