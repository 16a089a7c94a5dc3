"""The switchboard on the two hand-built feeders: a plan's steps come due in order, remote and
manual alike; a plan's return to normal waits for the MV repair below its element and for a
later plan's; a step that did not hold drops the steps after it but not the return to normal,
which is tried again after the next repair; an order folded into another takes its plans."""

from __future__ import annotations

import dataclasses

import numpy as np

from dispatch.switchboard import StepStatus, Switchboard, SwitchingMode
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
