"""The undo log of one ruin-and-recreate iteration (private kernels): the routes it changed,
backed up before their first change, and their cost before it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from routing._kernels_config import inline, kernel, leaf
from routing._kernels_route import recompute_route


class UndoLog(NamedTuple):
    """Per crew: the iteration that last backed its route up (``stamp``), the backup
    (``routes``, ``lengths``); ``touched[:n_touched[0]]``: the routes this iteration changed,
    ``cost_before[0]``: their cost before it."""

    stamp: np.ndarray
    touched: np.ndarray
    routes: np.ndarray
    lengths: np.ndarray
    n_touched: np.ndarray
    cost_before: np.ndarray


@kernel
def undo_log(D, S):
    """An empty undo log for the routes of ``S``."""
    K = D.n_crews
    return UndoLog(np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
                   np.empty((K, S.routes.shape[1]), dtype=np.int64), np.zeros(K, dtype=np.int64),
                   np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


@inline
def begin(U):
    """A new iteration: nothing touched yet."""
    U.n_touched[0] = 0
    U.cost_before[0] = 0


@leaf
def touch(S, U, r, it):
    """Back route ``r`` up the first time iteration ``it`` changes it, adding its old cost."""
    if U.stamp[r] == it:
        return
    U.stamp[r] = it
    U.touched[U.n_touched[0]] = r
    U.n_touched[0] += 1
    U.cost_before[0] += S.rcost[r]
    U.lengths[r] = S.rlen[r]
    for i in range(S.rlen[r]):
        U.routes[r, i] = S.routes[r, i]


@leaf
def undo(D, S, U, removed, n_removed):
    """Reject an iteration: the routes it touched get their backups back."""
    for i in range(n_removed):
        S.route_of[removed[i]] = -1
    for i in range(U.n_touched[0]):
        r = U.touched[i]
        for p in range(S.rlen[r]):
            S.route_of[S.routes[r, p]] = -1
    for i in range(U.n_touched[0]):
        r = U.touched[i]
        S.rlen[r] = U.lengths[r]
        for p in range(U.lengths[r]):
            S.routes[r, p] = U.routes[r, p]
        recompute_route(D, S, r)
