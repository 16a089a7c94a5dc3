"""The switchboard on the two hand-built feeders: a plan's steps come due in order, remote and
manual alike; a plan's return to normal waits for the MV repair below its element and for a
later plan's (a plan from fault indicators, once the patrol has found the faults, for theirs
only); a step that did not hold drops the steps after it but not the return to normal,
which is tried again after the next repair; an order folded into another takes its plans. A
dispatcher's hold keeps a step and those after it waiting; a move is refused, naming why, when a
step could then close onto the fault or parallel the feeders in any order the plan allows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dispatch.switchboard import OverrideError, StepStatus, Switchboard, SwitchingMode
from grid_model.switches import SwitchLayer
from grid_model.switching import Action, Phase
from tests.grid_model.two_feeders import two_feeders


def _board(mode: SwitchingMode = SwitchingMode.FULL) -> tuple[Switchboard, dict[str, int], SwitchLayer]:
    net, layer, idx = two_feeders()
    return Switchboard(net, layer, mode), idx, layer


def _open_a(board: Switchboard, idx: dict[str, int]) -> np.ndarray:
    state = np.zeros(board.net.n_nodes, dtype=bool)
    state[idx["A"]] = True
    return state


def _carry_out(board: Switchboard) -> list[str]:
    """Do every due step, in the order they come due; their element ids."""
    done = []
    while due := board.due():
        for ps in due:
            board.done(ps)
            done.append(f"{ps.step.action} {ps.step.element_id}")
    return done


def test_steps_come_due_in_order_and_the_return_to_normal_waits_for_the_repair() -> None:
    board, idx, _ = _board()
    assert board.plan("W1", idx["J3"], _open_a(board, idx), remote=False, repair=idx["A"]) == 30
    assert _carry_out(board) == ["open SW-J2", "open SW-J4", "close CB-A", "close TIE-J5-K2"]
    assert board.open_switches == {idx["J2"], idx["J4"]} and board.reclosed == {idx["A"]}
    assert board.tie_load == {"TIE-J5-K2": 20} and board.pending("W1")
    board.release_repaired("W1", {idx["J3"]})  # an MV repair below A is still under way
    assert board.due() == []
    board.release_repaired("W1", set())
    assert _carry_out(board) == ["close SW-J2", "open TIE-J5-K2", "close SW-J4"]
    assert not board.pending("W1") and board.open_switches == set() and board.tie_load == {}


def test_a_remote_only_board_plans_nothing_from_a_found_fault() -> None:
    board, idx, _ = _board(SwitchingMode.REMOTE)
    assert board.plan("W1", idx["J3"], _open_a(board, idx), remote=False, repair=idx["A"]) == 0
    assert board.steps == []
    off, idx, _ = _board(SwitchingMode.OFF)
    assert off.plan("W1", idx["J3"], _open_a(off, idx), remote=True, repair=idx["A"]) == 0


def test_a_step_that_did_not_hold_drops_what_follows_but_not_the_return_to_normal() -> None:
    board, idx, _ = _board()
    board.plan("W1", idx["J3"], _open_a(board, idx), remote=False, repair=idx["A"])
    _carry_out(board)
    tie = next(ps for ps in board.steps if ps.step.element_id == "TIE-J5-K2" and ps.step.action == "close")
    board.undo(tie)
    assert board.drop(tie) == [] and tie.status == StepStatus.DROPPED and board.tie_load == {}
    board.release_repaired("W1", set())
    normal = _carry_out(board)
    assert normal == ["close SW-J2", "open TIE-J5-K2", "close SW-J4"]  # opening the open tie: a no-op
    close_j2 = next(ps for ps in board.steps if ps.step.element_id == "SW-J2" and ps.step.action == "close")
    board.undo(close_j2)
    assert board.drop(close_j2) == [] and close_j2.status == StepStatus.WAITING
    assert board.due() == [] and board.pending("W1")  # tried again after the next repair
    board.release_repaired("W1", set())
    assert [ps.step.element_id for ps in board.due()] == ["SW-J2"]


def test_an_order_folded_into_another_takes_its_plans() -> None:
    board, idx, _ = _board()
    board.plan("W1", idx["J3"], _open_a(board, idx), remote=False, repair=idx["A"])
    _carry_out(board)
    board.merge("W1", "W2")
    assert not board.pending("W1") and board.pending("W2")
    board.release_repaired("W2", set())
    assert len(_carry_out(board)) == 3 and not board.pending("W2")


def test_a_device_closed_by_one_plan_and_opened_by_another_is_closed_again() -> None:
    """CB-A re-closed by the first plan, then opened by a second one (held open): the second
    plan's return to normal closes it again (it is not taken for closed already)."""
    board, idx, _ = _board()
    board.plan("W1", idx["J3"], _open_a(board, idx), remote=False, repair=idx["A"])
    _carry_out(board)
    assert idx["A"] in board.reclosed
    reopen = next(ps for ps in board.steps if ps.step.element_id == "CB-A")
    board.done(dataclasses.replace(reopen, step=dataclasses.replace(reopen.step, action=Action.OPEN)))
    assert idx["A"] in board.open_switches and idx["A"] not in board.reclosed
    normal = dataclasses.replace(reopen.step, action=Action.CLOSE, phase=Phase.NORMAL)
    close = dataclasses.replace(reopen, step=normal)
    assert not board.moot(close)


def _planned() -> tuple[Switchboard, dict[str, int], np.ndarray]:
    """The J3 plan: 0 open SW-J2, 1 close CB-A (after 0), 2 open SW-J4, 3 close the tie (after
    2); back to normal: 4 close SW-J2, 5 open the tie, 6 close SW-J4 (after 5)."""
    board, idx, _ = _board()
    state = _open_a(board, idx)
    board.plan("W1", idx["J3"], state, remote=False, repair=idx["A"])
    return board, idx, state


def test_a_held_step_and_the_steps_after_it_wait_until_it_is_released() -> None:
    board, _, _ = _planned()
    assert board.hold(3, "crew working near J5") == [] and board.steps[3].hold == "crew working near J5"
    assert _carry_out(board) == ["open SW-J2", "open SW-J4", "close CB-A"]
    board.release(3)
    assert _carry_out(board) == ["close TIE-J5-K2"]
    with pytest.raises(OverrideError, match=r"step 3 \(close TIE-J5-K2\) is done"):
        board.hold(3, "")
    with pytest.raises(OverrideError, match="not held"):
        board.release(4)
    with pytest.raises(OverrideError, match="no switching step 99"):
        board.hold(99, "")


def test_holding_a_step_under_way_calls_its_job_off() -> None:
    board, _, _ = _planned()
    (first, _) = board.due()
    first.job_id = "W1-S1"
    assert board.hold(first.step_id, "") == [first] and first.status == StepStatus.WAITING
    assert first.hold == "held by the dispatcher"


def test_a_safe_move_changes_the_order_the_steps_come_due_in() -> None:
    board, _, state = _planned()
    assert board.move_before(2, 0, state) == []
    assert _carry_out(board) == ["open SW-J4", "open SW-J2", "close TIE-J5-K2", "close CB-A"]


def test_a_move_that_would_close_onto_the_fault_is_refused_and_changes_nothing() -> None:
    board, _, state = _planned()
    before = [(ps.after, ps.status) for ps in board.steps]
    unsafe = r"step 3 \(close TIE-J5-K2\) before step 2 \(open SW-J4\) is unsafe: "
    with pytest.raises(OverrideError, match=unsafe + r"after step 3 \(close TIE-J5-K2\), fault at J3 is fed"):
        board.move_before(3, 2, state)
    with pytest.raises(OverrideError, match=r"after step 1 \(close CB-A\), fault at J3 is fed"):
        board.move_before(1, 0, state)
    assert [(ps.after, ps.status) for ps in board.steps] == before


def test_a_move_that_lets_two_steps_parallel_the_feeders_in_some_order_is_refused() -> None:
    """Closing SW-J4 before the tie opens: alone it is safe, but SW-J2 may close meanwhile
    (nothing orders the two), and then the two feeders run in parallel through the tie."""
    board, _, state = _planned()
    _carry_out(board)
    board.release_repaired("W1", set())
    with pytest.raises(OverrideError, match=r"after step 4 \(close SW-J2\), a loop"):
        board.move_before(6, 5, state)


def test_moves_the_plan_cannot_take_are_refused_naming_why() -> None:
    board, idx, state = _planned()
    board.plan("W2", idx["J3"], state, remote=False, repair=idx["A"])
    for step_id, before, why in [(0, 0, "before itself"), (0, 7, "different work orders"),
                                 (3, 4, "return-to-normal step waits for the repair")]:
        with pytest.raises(OverrideError, match=why):
            board.move_before(step_id, before, state)
    assert board.move_before(0, 1, state) == []  # it comes before already: nothing to do


def test_the_return_to_normal_waits_for_the_repairs_of_its_faults_not_for_the_orders_other_work() -> None:
    """The J3 plan's return to normal waits for the operated breaker's repair (on the way to
    the fault) and for one below the fault (J5's transformer), not for a transformer fuse on
    another branch below the breaker (J1's: its own fuse holds its fault)."""
    board, idx, _ = _planned()
    _carry_out(board)
    for repairing, waits in [({idx["A"]}, True), ({idx["TJ5"]}, True), ({idx["TJ1"]}, False)]:
        board.release_repaired("W1", repairing)
        assert (board.due() == []) == waits, repairing


def test_a_remote_plans_return_to_normal_waits_for_the_faults_the_patrol_found_once_it_has() -> None:
    """With the tie remote, the indicators' plan cuts out the section below the breaker (J1
    down to J4) and waits for every repair in it; once the patrol finds the fault at J3, it
    waits for the repairs on the way to J3 and below it only, as the patrol's plan does."""
    net, layer, idx = two_feeders()
    layer = dataclasses.replace(layer, ties=(dataclasses.replace(layer.ties[0], remote=True),))
    board = Switchboard(net, layer, SwitchingMode.FULL)
    state = _open_a(board, idx)
    assert board.plan("W1", idx["J1"], state, remote=True, repair=idx["A"]) == 20
    assert _carry_out(board) == ["open SW-J4", "close TIE-J5-K2"]
    board.release_repaired("W1", {idx["TJ1"]})
    assert board.due() == []  # before the patrol, J1's transformer may be the fault
    assert board.plan("W1", idx["J3"], state, remote=False, repair=idx["A"]) == 10

    assert _carry_out(board) == ["open SW-J2", "close CB-A"]
    board.release_repaired("W1", {idx["TJ3"]})
    assert _carry_out(board) == []
    board.release_repaired("W1", {idx["TJ1"]})
    assert _carry_out(board) == ["close SW-J2", "open TIE-J5-K2", "close SW-J4"]
    assert not board.pending("W1")
