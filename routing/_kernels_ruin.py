"""Ruin and recreate (private kernels): adjacent string removal (SISR), greedy reinsertion in a
random, weight or deadline order (some recreates first open a route), accepted by simulated
annealing.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import INF, inline, kernel, leaf
from routing._kernels_insert import cheaper_insertion, insert_at, insert_delta, remove_range
from routing._kernels_rng import randint, random, shuffle, uniform
from routing._kernels_route import recompute_route, unassigned_cost
from routing._kernels_undo import begin, touch, undo, undo_log

# Recreate insertion orders.
RANDOM_ORDER, BY_WEIGHT, BY_DEADLINE = 0, 1, 2


@leaf
def ruin(D, S, NB, U, it, removed, avg_removed, max_string, rng):
    """Adjacent string removal (SISR): strings cut from routes near a random planned order,
    appended to ``removed``; returns how many, or -1 when nothing movable is planned."""
    K, N = D.n_crews, D.n_orders
    routed = 0
    nonempty = 0
    for r in range(K):
        if S.rlen[r] > S.frozen[r]:
            routed += S.rlen[r] - S.frozen[r]
            nonempty += 1
    if routed == 0:
        return -1
    ls_max = min(float(max_string), routed / nonempty)
    ks_max = 4.0 * avg_removed / (1.0 + ls_max) - 1.0
    ks = int(uniform(rng, 1.0, max(1.0, ks_max) + 1.0))
    seed = randint(rng, 0, N)
    while S.route_of[seed] < 0 or S.pos_of[seed] < S.frozen[S.route_of[seed]]:
        seed = randint(rng, 0, N)
    n_removed = 0
    ruined = 0
    for k in range(-1, NB.shape[1]):
        if ruined >= ks:
            break
        q = seed if k < 0 else NB[seed, k]
        r = S.route_of[q]
        if r < 0 or U.stamp[r] == it or S.pos_of[q] < S.frozen[r]:
            continue
        L = S.rlen[r]
        lo = S.frozen[r]
        length = int(uniform(rng, 1.0, min(ls_max, float(L - lo)) + 1.0))
        first = max(lo, S.pos_of[q] - length + 1)
        last = min(S.pos_of[q], L - length)
        start = first if last <= first else randint(rng, first, last + 1)
        touch(S, U, r, it)
        n_removed = remove_range(D, S, r, start, length, removed, n_removed)
        ruined += 1
    return n_removed


@inline
def add_unplanned(D, S, removed, n_removed, rng):
    """Five draws of a random order: each one unplanned and not yet in ``removed`` joins it
    (for the recreate to try again). Returns (length of ``removed``, what those cost unplanned)."""
    old_unplanned = np.int64(0)
    for _ in range(5):
        j = randint(rng, 0, D.n_orders)
        if S.route_of[j] < 0:
            fresh = True
            for i in range(n_removed):
                if removed[i] == j:
                    fresh = False
            if fresh:
                removed[n_removed] = j
                n_removed += 1
                old_unplanned += unassigned_cost(D, j)
    return n_removed, old_unplanned


@inline
def recreate_mode(rng):
    """Insertion order of a recreate: random (40 %), by weight (40 %) or by deadline."""
    u = random(rng)
    return RANDOM_ORDER if u < 0.4 else (BY_WEIGHT if u < 0.8 else BY_DEADLINE)


@leaf
def open_route(D, S, U, it, c):
    """Put ``c`` alone on the first empty route of a crew able to serve it (backed up in
    ``U``); False if there is none or ``c`` cannot go there."""
    for r in range(D.n_crews):
        if S.rlen[r] == 0 and (D.crew_skills[r] & D.order_skill[c]) != 0:
            if insert_delta(D, S, r, 0, c) >= INF:
                return False
            touch(S, U, r, it)
            insert_at(D, S, r, 0, c)
            return True
    return False


@kernel
def recreate(D, S, NB, CN, removed, n_removed, blink, mode, U, it, drop, mark, opening, rng):
    """Insert ``removed`` orders greedily in a random, weight or deadline order; each route
    is backed up in ``U`` before its first change of iteration ``it``. With ``opening``, the
    first of them starts a route of its own (``open_route``), which the others may join.
    With ``drop``, an insertion may leave out the orders after it that no longer fit: they
    join ``removed`` (``mark[j] == it``: j is in it already) and are inserted in turn.
    Returns the length of ``removed``."""
    if mode == RANDOM_ORDER:
        shuffle(rng, removed[:n_removed])
    else:
        key = np.empty(n_removed, dtype=np.int64)
        for i in range(n_removed):
            c = removed[i]
            if mode == BY_WEIGHT:
                key[i] = -(D.demand[c] if D.distance_objective else
                           D.customers[c] + D.lateness_weight * D.priority[c])
            else:
                key[i] = D.deadline[c]
        order = np.argsort(key, kind="mergesort")
        removed[:n_removed] = removed[:n_removed][order]
    if drop:
        for i in range(n_removed):
            mark[removed[i]] = it
    i = 0
    if opening and n_removed > 0 and open_route(D, S, U, it, removed[0]):
        i = 1
    while i < n_removed:
        c = removed[i]
        i += 1
        r, p, cut = cheaper_insertion(D, S, NB, CN, c, blink, drop, rng)
        if r >= 0:
            touch(S, U, r, it)
            insert_at(D, S, r, p, c)
            if drop and cut + 1 < S.rlen[r]:
                for k in range(cut + 1, S.rlen[r]):
                    q = S.routes[r, k]
                    if mark[q] != it:
                        mark[q] = it
                        removed[n_removed] = q
                        n_removed += 1
                    S.route_of[q] = -1
                for k in range(cut + 1, S.rlen[r]):
                    S.routes[r, k] = -1
                S.rlen[r] = cut + 1
                recompute_route(D, S, r)
    return n_removed


@inline
def perturb(D, S, NB, CN, U, it, removed, mark, drop, avg_removed, max_string, blink,
            open_share, rng):
    """One ruin and recreate, iteration ``it`` of either search: string removals, a few
    unplanned orders drawn to try again (``add_unplanned``), a recreate that opens a route with
    probability ``open_share``. Returns (length of ``removed``, what its drawn orders cost
    unplanned); -1 when nothing movable is planned."""
    begin(U)
    n_removed = ruin(D, S, NB, U, it, removed, avg_removed, max_string, rng)
    if n_removed < 0:
        return -1, np.int64(0)
    n_removed, old_unplanned = add_unplanned(D, S, removed, n_removed, rng)
    opening = open_share > 0.0 and random(rng) < open_share
    n_removed = recreate(D, S, NB, CN, removed, n_removed, blink, recreate_mode(rng), U, it,
                         drop, mark, opening, rng)
    return n_removed, old_unplanned


@inline
def _recreated_cost(D, S, U, removed, n_removed):
    """The cost, after a recreate, of the routes it touched and of the removed orders it left
    out."""
    cost = np.int64(0)
    for i in range(U.n_touched[0]):
        cost += S.rcost[U.touched[i]]
    for i in range(n_removed):
        if S.route_of[removed[i]] < 0:
            cost += unassigned_cost(D, removed[i])
    return cost


@leaf
def keep_best(S, B):
    """Copy the plan in ``S`` to ``B``: each route's orders up to its length (what is past a
    route's end is never read), not the whole table (at 1,000 orders a new best copied
    half a megabyte, more than an iteration's work)."""
    for r in range(S.rlen.shape[0]):
        for i in range(S.rlen[r]):
            B.routes[r, i] = S.routes[r, i]
        B.rlen[r] = S.rlen[r]


@kernel
def sisr_iterations(D, S, B, NB, CN, n_iter, t_start, t_end, cur_cost, best_cost,
                    avg_removed, max_string, blink, changed, drop, open_share, rng):
    """Ruin (adjacent string removals) and recreate, accepted by simulated annealing with the
    temperature falling from ``t_start`` to ``t_end`` over these iterations. Keeps the best
    solution in ``B``. Only the routes an iteration changes are backed up and, if it is
    rejected, restored; an accepted iteration flags the routes it changed in ``changed``.
    ``drop``: an insertion may leave out the orders after it that no longer fit (``recreate``).
    ``open_share``: the share of recreates that first open a route (``recreate``); none
    draws a random number when it is 0, so the stream is the same as without them.
    Returns (current cost, best cost, accepted count)."""
    N = D.n_orders
    removed = np.empty(N, dtype=np.int64)
    mark = np.zeros(N if drop else 0, dtype=np.int64)
    U = undo_log(D, S)
    accepted = 0
    for it in range(1, n_iter + 1):
        temp = t_start * (t_end / t_start) ** (it / n_iter) if t_start > 0 else 0.0
        n_removed, old_unplanned = perturb(D, S, NB, CN, U, it, removed, mark, drop, avg_removed,
                                           max_string, blink, open_share, rng)
        if n_removed < 0:
            break
        new_cost = (cur_cost - U.cost_before[0] - old_unplanned
                    + _recreated_cost(D, S, U, removed, n_removed))
        if new_cost < cur_cost - temp * np.log(random(rng) + 1e-300):
            cur_cost = new_cost
            accepted += 1
            for i in range(U.n_touched[0]):
                changed[U.touched[i]] = True
            if new_cost < best_cost:
                best_cost = new_cost
                keep_best(S, B)
        else:
            undo(D, S, U, removed, n_removed)
    return cur_cost, best_cost, accepted


@kernel
def sample_deltas(D, S, NB, CN, n_iter, avg_removed, max_string, blink, drop, rng):
    """The cost changes of ``n_iter`` ruin-and-recreate moves from the current plan, each
    undone (to calibrate the annealing temperature)."""
    N = D.n_orders
    removed = np.empty(N, dtype=np.int64)
    mark = np.zeros(N if drop else 0, dtype=np.int64)
    U = undo_log(D, S)
    out = np.zeros(n_iter, dtype=np.int64)
    for it in range(1, n_iter + 1):
        begin(U)
        n_removed = ruin(D, S, NB, U, it, removed, avg_removed, max_string, rng)
        if n_removed < 0:
            return out[:it - 1]
        n_removed = recreate(D, S, NB, CN, removed, n_removed, blink, recreate_mode(rng), U,
                             it, drop, mark, False, rng)
        out[it - 1] = _recreated_cost(D, S, U, removed, n_removed) - U.cost_before[0]
        undo(D, S, U, removed, n_removed)
    return out
