"""The undo log of one ruin-and-recreate iteration (private kernels): the routes it changed,
backed up with their timing caches before their first change, and their cost before it. A
rejected iteration copies them back instead of re-timing each route.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from routing._kernels_config import inline, kernel, leaf
from routing._kernels_route import SUFFIX_FIELDS


class UndoLog(NamedTuple):
    """Per crew: the iteration that last backed its route up (``stamp``), the backup
    (``routes``, ``lengths``, and the route's caches in ``State``: ``fin``, ``cpre``, ``lpre``,
    ``aux`` with ``width[0]`` entries a position, ``rcost``, ``load``);
    ``touched[:n_touched[0]]``: the routes this iteration changed, ``cost_before[0]``: their
    cost before it."""

    stamp: np.ndarray
    touched: np.ndarray
    routes: np.ndarray
    lengths: np.ndarray
    n_touched: np.ndarray
    cost_before: np.ndarray
    fin: np.ndarray
    cpre: np.ndarray
    lpre: np.ndarray
    aux: np.ndarray
    rcost: np.ndarray
    load: np.ndarray
    width: np.ndarray


@kernel
def undo_log(D, S):
    """An empty undo log for the routes of ``S``."""
    K = D.n_crews
    cap = S.routes.shape[1]
    width = 1 if D.distance_objective else SUFFIX_FIELDS  # aux entries a position holds
    return UndoLog(np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
                   np.empty((K, cap), dtype=np.int64), np.zeros(K, dtype=np.int64),
                   np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64),
                   np.empty((K, cap), dtype=np.int64), np.empty((K, cap), dtype=np.int64),
                   np.empty((K, cap), dtype=np.int64), np.empty((K, cap * width), dtype=np.int64),
                   np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
                   np.full(1, width, dtype=np.int64))


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
    L = S.rlen[r]
    U.lengths[r] = L
    U.rcost[r] = S.rcost[r]
    U.load[r] = S.load[r]
    for i in range(L):
        U.routes[r, i] = S.routes[r, i]
        U.fin[r, i] = S.fin[r, i]
        U.cpre[r, i] = S.cpre[r, i]
        U.lpre[r, i] = S.lpre[r, i]
    for i in range(L * U.width[0]):
        U.aux[r, i] = S.aux[r, i]


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
        L = U.lengths[r]
        S.rlen[r] = L
        S.rcost[r] = U.rcost[r]
        S.load[r] = U.load[r]
        for p in range(L):
            c = U.routes[r, p]
            S.routes[r, p] = c
            S.route_of[c] = r
            S.pos_of[c] = p
            S.fin[r, p] = U.fin[r, p]
            S.cpre[r, p] = U.cpre[r, p]
            S.lpre[r, p] = U.lpre[r, p]
        for p in range(L * U.width[0]):
            S.aux[r, p] = U.aux[r, p]
