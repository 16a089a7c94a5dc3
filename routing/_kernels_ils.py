"""Iterated local search (private kernels), for the distance objective: each iteration ruins
and recreates a few strings, then descends (relocate, 2-opt*) from the routes that changed,
accepted by late-acceptance hill climbing (Burke and Bykov 2017), as PyVRP's search does.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import kernel, leaf
from routing._kernels_insert import insert_at, insert_delta, prunable, remove_range
from routing._kernels_route import (
    after_head,
    head_end,
    leg_into,
    recompute_route,
    total_cost,
    travel,
)
from routing._kernels_ruin import keep_best, perturb
from routing._kernels_tail import exchange_first_tail
from routing._kernels_undo import undo_log


@leaf
def _copy_routes(src_routes, src_len, dst_routes, dst_len, changed):
    """Accept: the ``changed`` routes' orders copied into the current plan."""
    for r in range(changed.shape[0]):
        if changed[r]:
            for i in range(src_len[r]):
                dst_routes[r, i] = src_routes[r, i]
            dst_len[r] = src_len[r]


@leaf
def _restore(D, S, C, changed):
    """Reject: the ``changed`` routes get the current plan's (``C``) orders back."""
    for r in range(D.n_crews):
        if changed[r]:
            for i in range(S.rlen[r]):
                S.route_of[S.routes[r, i]] = -1
    for r in range(D.n_crews):
        if changed[r]:
            for i in range(C.rlen[r]):
                S.routes[r, i] = C.routes[r, i]
            S.rlen[r] = C.rlen[r]
            recompute_route(D, S, r)


@leaf
def _orders_of(S, dirty, out):
    """The orders of the ``dirty`` routes, into ``out``; returns how many."""
    n = 0
    for r in range(dirty.shape[0]):
        if dirty[r]:
            for i in range(S.rlen[r]):
                out[n] = S.routes[r, i]
                n += 1
    return n


@leaf
def _cheapest_elsewhere(D, S, NB, CN, u, r, limit):
    """The cheapest granular position for order ``u`` in a route other than its own ``r``
    (next to a neighbour, at an end of a near crew's route, or on an empty route) adding less
    than ``limit``; returns (route, position, distance added), route -1 if none."""
    best_r, best_p, best_d = -1, -1, limit
    K = D.n_crews
    prune = prunable(D, False)
    for k in range(NB.shape[1]):
        q = NB[u, k]
        r2 = S.route_of[q]
        if r2 < 0 or r2 == r:
            continue
        near = travel(D, K + u, K + q) if prune else np.int64(0)
        for p in (S.pos_of[q], S.pos_of[q] + 1):
            if prune and near - leg_into(S, r2, p) >= best_d:
                continue
            d = insert_delta(D, S, r2, p, u)
            if d < best_d:
                best_r, best_p, best_d = r2, p, d
    for k in range(CN.shape[1]):
        r2 = CN[u, k]
        if r2 == r:
            continue
        for p in (0, S.rlen[r2]):
            d = insert_delta(D, S, r2, p, u)
            if d < best_d:
                best_r, best_p, best_d = r2, p, d
    for r2 in range(K):
        if S.rlen[r2] == 0 and (D.crew_skills[r2] & D.order_skill[u]) != 0:
            if travel(D, r2, K + u) < best_d:  # the leg out alone
                d = insert_delta(D, S, r2, 0, u)
                if d < best_d:
                    best_r, best_p, best_d = r2, 0, d
            break
    return best_r, best_p, best_d


@leaf
def _relocate_pass(D, S, NB, CN, dirty, moved, orders, buf):
    """Each order of a ``dirty`` route to its cheapest position in another route when that
    costs less than its removal saves (moves within a route are the recreates' to find);
    flags the routes changed in ``moved``; returns the distance saved."""
    saved = np.int64(0)
    for k in range(_orders_of(S, dirty, orders)):
        u = orders[k]
        r = S.route_of[u]
        i = S.pos_of[u]
        if r < 0 or i < S.frozen[r]:
            continue
        _, prev = head_end(D, S, r, i - 1)
        nxt = after_head(D, S, r, r, i + 1)
        bridge = travel(D, prev, nxt) if nxt >= 0 else np.int64(0)
        gain = leg_into(S, r, i) + leg_into(S, r, i + 1) - bridge
        if gain <= 0:
            continue
        r2, p2, d = _cheapest_elsewhere(D, S, NB, CN, u, r, gain)
        if r2 >= 0:
            remove_range(D, S, r, i, 1, buf, 0)
            insert_at(D, S, r2, p2, u)
            saved += gain - d
            moved[r] = moved[r2] = True
    return saved


@leaf
def _tails_pass(D, S, NB, legs_out, legs_back, cls, dirty, moved, orders, buf):
    """``_kernels_tail``'s 2-opt* pass from the orders of the ``dirty`` routes only: a new
    arc between ``u`` and a neighbour ``v`` in another route, either way, for each order ``u``
    of a dirty route (not from an order of a clean route whose neighbour is in a dirty one,
    as PyVRP's search starts from its perturbed orders only); flags the routes changed in
    ``moved``; returns the distance saved."""
    saved = np.int64(0)
    for m in range(_orders_of(S, dirty, orders)):
        if S.route_of[orders[m]] >= 0:
            d, _, _ = exchange_first_tail(D, S, NB, legs_out, legs_back, cls, orders[m], dirty,
                                          False, moved, buf)
            saved += d
    return saved


@kernel
def descend(D, S, NB, CN, legs, cls, changed):
    """Relocate and 2-opt* passes in turn, each from the orders of the routes changed since
    that kind of pass last ran (at first ``changed``), until neither has a route to look at;
    flags every route they change in ``changed``; returns the distance saved."""
    todo = np.empty((2, changed.shape[0]), dtype=np.bool_)
    todo[0] = changed
    todo[1] = changed
    moved = np.zeros_like(changed)
    orders = np.empty(D.n_orders, dtype=np.int64)
    buf = np.empty(max(S.routes.shape[1], D.n_orders), dtype=np.int64)
    saved = np.int64(0)
    kind = 0
    while todo[0].any() or todo[1].any():
        moved[:] = False
        if kind == 0:
            saved += _relocate_pass(D, S, NB, CN, todo[0], moved, orders, buf)
        else:
            saved += _tails_pass(D, S, NB, legs[0], legs[1], cls, todo[1], moved, orders, buf)
        todo[kind] = False
        for r in range(moved.shape[0]):
            if moved[r]:
                changed[r] = True
                todo[0, r] = True
                todo[1, r] = True
        kind = 1 - kind
    return saved


@kernel
def ils_iterations(D, S, B, C, NB, CN, legs, cls, n_iter, cur_cost, best_cost, hist, hist_at,
                   avg_removed, max_string, blink, open_share, rng):
    """``n_iter`` iterations: ruin and recreate (``perturb``), ``descend`` from the routes they changed,
    accept when the result costs less than the current plan or than the ring's entry at
    ``hist_at[0]``, which the cost of the current plan then replaces if lower (late acceptance
    over ``len(hist)`` iterations; the ring starts full of the first plan's cost). ``C`` holds
    the current plan, ``B`` the best; a new best is descended from every route first. Returns
    (current cost, best cost, iterations run: fewer when nothing is left to ruin)."""
    K, N = D.n_crews, D.n_orders
    removed = np.empty(N, dtype=np.int64)
    mark = np.zeros(0, dtype=np.int64)
    U = undo_log(D, S)
    changed = np.zeros(K, dtype=np.bool_)
    H = hist.shape[0]
    done = 0
    for it in range(1, n_iter + 1):
        changed[:] = False
        n_removed, _ = perturb(D, S, NB, CN, U, it, removed, mark, False, avg_removed,
                               max_string, blink, open_share, rng)
        if n_removed < 0:
            break
        for i in range(U.n_touched[0]):
            changed[U.touched[i]] = True
        descend(D, S, NB, CN, legs, cls, changed)
        cand = total_cost(D, S)
        if cand < best_cost:
            changed[:] = True
            descend(D, S, NB, CN, legs, cls, changed)
            cand = total_cost(D, S)
            best_cost = cand
            keep_best(S, B)
        late = hist[hist_at[0]]
        if cand < late or cand < cur_cost:
            cur_cost = cand
            _copy_routes(S.routes, S.rlen, C.routes, C.rlen, changed)
        else:
            _restore(D, S, C, changed)
        if cur_cost < late:
            hist[hist_at[0]] = cur_cost
        hist_at[0] = (hist_at[0] + 1) % H
        done = it
    return cur_cost, best_cost, done
