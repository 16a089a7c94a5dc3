"""The open incidents by node: the list and the subtree searches agree as incidents come and go."""

from __future__ import annotations

from grid_model.open_at import OpenAt


def test_placed_incidents_are_found_by_node_and_by_slice() -> None:
    open_at = OpenAt(10)
    for node, incident in ((2, 0), (5, 1), (9, 2), (5, 3)):
        open_at.place(node, incident)
    open_at.clear(9)
    assert open_at.at == [-1, -1, 0, -1, -1, 3, -1, -1, -1, -1]
    assert open_at.within(0, 10) == [2, 5]
    assert open_at.within(3, 5) == [] and open_at.within(5, 6) == [5]
