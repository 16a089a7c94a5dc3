"""First plans (private kernels): cheapest insertion in random order, the dispatcher's rule of
thumb (the crew free first takes the best weight per second of work), nearest available crew.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import INF, kernel, leaf
from routing._kernels_insert import NO_BLINK
from routing._kernels_route import arrive, recompute_route
from routing._kernels_ruin import RANDOM_ORDER, recreate
from routing._kernels_undo import undo_log


@kernel
def construct_by_insertion(D, S, NB, CN, rng):
    """Insert every unrouted order, in random order, at its cheapest granular position."""
    pending = np.empty(D.n_orders, dtype=np.int64)
    n = 0
    for j in range(D.n_orders):
        if S.route_of[j] < 0:
            pending[n] = j
            n += 1
    recreate(D, S, NB, CN, pending, n, NO_BLINK, RANDOM_ORDER, undo_log(D, S), 1, False,
             np.zeros(0, dtype=np.int64), False, rng)


@leaf
def _unlink(prv, nxt, i, head):
    """Take position ``i`` out of the doubly linked list (``len(prv) - 2``: the end); returns
    the list's head."""
    if prv[i] >= 0:
        nxt[prv[i]] = nxt[i]
    else:
        head = nxt[i]
    if nxt[i] < len(prv) - 2:
        prv[nxt[i]] = prv[i]
    return head


@kernel
def construct_by_rule(D, S, w_priority):
    """The crew that frees up first takes the order with the highest weight per second of
    work (travel + repair); weight = customers + w_priority * lateness_weight * priority.
    With ``w_priority`` = 0 this is the dispatcher's rule of thumb.

    Orders are scanned in decreasing weight per second of repair alone, an upper bound on the
    score (travel and waiting only add to the work), so a scan stops at the first order whose
    bound is below the best score found; done orders leave the scan list. Ties go to the
    lower order index, as in a scan of every order."""
    K, N = D.n_crews, D.n_orders
    free = D.crew_start.copy()
    pos = np.arange(K)
    bound = np.empty(N, dtype=np.float64)
    for j in range(N):
        w = D.customers[j] + w_priority * D.lateness_weight * D.priority[j]
        bound[j] = -((w + 1e-9) / (D.service[j] + 1.0))
    order = np.argsort(bound, kind="mergesort")
    # a doubly linked list over the positions of ``order`` not yet done (N: the end)
    nxt = np.arange(1, N + 2)
    prv = np.arange(-1, N + 1)
    nxt_head = 0
    slot = np.empty(N, dtype=np.int64)
    for i in range(N):
        slot[order[i]] = i
    for r in range(K):
        if S.rlen[r] > 0:
            free[r] = S.fin[r, S.rlen[r] - 1]
            pos[r] = K + S.routes[r, S.rlen[r] - 1]
    for j in range(N):
        if S.route_of[j] >= 0:
            nxt_head = _unlink(prv, nxt, slot[j], nxt_head)
    active = np.ones(K, dtype=np.bool_)
    while True:
        r = -1
        for k in range(K):
            if active[k] and (r < 0 or free[k] < free[r]):
                r = k
        if r < 0:
            break
        best, best_score = -1, -1.0
        if S.rlen[r] + 1 < S.routes.shape[1]:
            i = nxt_head
            while i < N:
                j = order[i]
                if -bound[j] < best_score:
                    break
                i = nxt[i]
                if (D.crew_skills[r] & D.order_skill[j]) == 0:
                    continue
                _, a, fits = arrive(D, r, free[r], pos[r], j)
                if not fits:
                    continue
                if D.crew_capacity[r] > 0 and S.load[r] + D.demand[j] > D.crew_capacity[r]:
                    continue
                w = D.customers[j] + w_priority * D.lateness_weight * D.priority[j]
                score = (w + 1e-9) / (a - free[r] + D.service[j] + 1.0)
                if score > best_score or (score == best_score and j < best):
                    best, best_score = j, score
        if best < 0:
            active[r] = False
            continue
        S.routes[r, S.rlen[r]] = best
        S.rlen[r] += 1
        S.route_of[best] = r
        S.load[r] += D.demand[best]
        nxt_head = _unlink(prv, nxt, slot[best], nxt_head)
        _, a, _ = arrive(D, r, free[r], pos[r], best)
        free[r] = a + D.service[best]
        pos[r] = K + best
    for r in range(K):
        recompute_route(D, S, r)


@kernel
def construct_nearest_available(D, S):
    """Orders by deadline, each to the crew with the skill that can get there first."""
    K = D.n_crews
    free = D.crew_start.copy()
    pos = np.arange(K)
    order = np.argsort(D.deadline, kind="mergesort")
    for j in order:
        best, best_a = -1, INF
        for r in range(K):
            if (D.crew_skills[r] & D.order_skill[j]) == 0 or S.rlen[r] + 1 >= S.routes.shape[1]:
                continue
            if D.crew_capacity[r] > 0 and S.load[r] + D.demand[j] > D.crew_capacity[r]:
                continue
            _, a, fits = arrive(D, r, free[r], pos[r], j)
            if not fits:
                continue
            if a < best_a:
                best, best_a = r, a
        if best < 0:
            continue
        S.routes[best, S.rlen[best]] = j
        S.rlen[best] += 1
        S.route_of[j] = best
        S.load[best] += D.demand[j]
        free[best] = best_a + D.service[j]
        pos[best] = K + j
    for r in range(K):
        recompute_route(D, S, r)
