"""Which open incident sits at each node of a network, for the predictor: read at every element
of every report's chain, and searched over whole subtrees when an incident opens above others."""

from __future__ import annotations

import numpy as np


class OpenAt:
    """Per node, the index of the open incident placed there (-1: none), held twice: ``at``, a
    list, for the look-ups one node at a time (a numpy item and its comparison cost ten times a
    list's), and an array for the searches of a subtree's slice."""

    def __init__(self, n_nodes: int) -> None:
        self.at = [-1] * n_nodes
        self._array = np.full(n_nodes, -1, dtype=np.int64)

    def place(self, node: int, incident: int) -> None:
        self.at[node] = incident
        self._array[node] = incident

    def clear(self, node: int) -> None:
        self.at[node] = -1
        self._array[node] = -1

    def within(self, start: int, stop: int) -> list[int]:
        """The nodes in ``range(start, stop)`` that hold an open incident, in order."""
        return (np.flatnonzero(self._array[start:stop] >= 0) + start).tolist()
