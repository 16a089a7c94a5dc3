"""The undo log of one ruin-and-recreate iteration (private kernels): the routes it changed,
backed up before their first change, and their cost before it.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import kernel, leaf
from routing._kernels_route import recompute_route


@kernel
def undo_buffers(D, S):
    """Backups of the routes one iteration changes: (stamp, touched, routes, lengths,
    [routes touched, their cost before])."""
    K = D.n_crews
    return (np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
            np.empty((K, S.routes.shape[1]), dtype=np.int64), np.zeros(K, dtype=np.int64),
            np.zeros(2, dtype=np.int64))


@leaf
def touch(S, U, r, it):
    """Back route ``r`` up the first time iteration ``it`` changes it, adding its old cost."""
    stamp, touched, backup, backup_len, acc = U
    if stamp[r] == it:
        return
    stamp[r] = it
    touched[acc[0]] = r
    acc[0] += 1
    acc[1] += S.rcost[r]
    backup_len[r] = S.rlen[r]
    for i in range(S.rlen[r]):
        backup[r, i] = S.routes[r, i]


@leaf
def undo(D, S, U, removed, n_removed):
    """Reject an iteration: the routes it touched get their backups back."""
    _, touched, backup, backup_len, acc = U
    for i in range(n_removed):
        S.route_of[removed[i]] = -1
    for i in range(acc[0]):
        r = touched[i]
        for p in range(S.rlen[r]):
            S.route_of[S.routes[r, p]] = -1
    for i in range(acc[0]):
        r = touched[i]
        S.rlen[r] = backup_len[r]
        for p in range(backup_len[r]):
            S.routes[r, p] = backup[r, p]
        recompute_route(D, S, r)
