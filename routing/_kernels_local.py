"""Numba kernels of the local search of the dispatch objective (private: call through
``routing.solver``).

Moves between the routes of neighbouring orders: relocate an order or a string of orders
(or-opt), exchange two orders, exchange route tails (2-opt*); moves within a route: relocate an
order or a string, exchange two orders; an unplanned order is inserted, or takes the place of
a planned neighbour, when that pays; a planned one is left out when that pays. Between routes
a move is priced in O(1) (O(string)) with the suffix arrays of
``_kernels_route.suffix_aggregates`` (``tail_delta``): with ~30 orders a route a change near a
route's start moves every later order, which the re-timing of a ruin and recreate pays for
in full. Within a route the orders between the two ends of a move are re-timed.

``descend`` takes the best improving move of each order in a queue (orders in random order);
the orders of every route a move changes join the queue again, until it is empty or a budget
of move evaluations is spent.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from routing._kernels_config import INF, inline, kernel, leaf
from routing._kernels_insert import insert_at, remove_range
from routing._kernels_rng import shuffle
from routing._kernels_route import (
    SSKILL,
    arrive,
    head_end,
    order_cost,
    recompute_route,
    suf,
    tail_delta,
    tail_drop_delta,
    unassigned_cost,
)
from routing._kernels_tail import exchange_tails

# move kinds (``descend``; ``moves`` is a mask of 1 << kind)
NONE = 0
RELOCATE = 1  # a string of ``n`` orders to another route, before position p
SWAP = 2  # two orders of different routes exchange places
TAILS = 3  # 2-opt*: routes exchange their tails after two cut points
INTRA = 4  # a string of ``n`` orders to another place in its route
INTRA_SWAP = 5  # two orders of one route exchange places
INSERT = 6  # an unplanned order into a route
REPLACE = 7  # an unplanned order takes a planned one's place
DROP = 8  # a planned order is left out
ALL_MOVES = 0x1FE
# columns of ``descend``'s ``stats`` (a row per move kind)
STAT_APPLIED = 0  # moves applied
STAT_SAVED = 1  # cost they saved


@inline
def _prefix(S, r, i):
    """Cost of route ``r`` up to position ``i`` (-1: nothing)."""
    return S.cpre[r, i] if i >= 0 else np.int64(0)


@leaf
def removal_delta(D, S, r, i, n):
    """Cost change of taking the ``n`` orders from position ``i`` out of route ``r``."""
    t, prev = head_end(D, S, r, i - 1)
    d = tail_delta(D, S, r, i + n, t, prev, r)
    if d >= INF:
        return INF
    return d - (S.cpre[r, i + n - 1] - _prefix(S, r, i - 1))


@leaf
def string_insert_delta(D, S, r, p, src, i, n):
    """Cost change of inserting the ``n`` orders from position ``i`` of route ``src`` (another
    route, or -1: the single unplanned order ``i``), in their order, before position ``p`` of
    route ``r``; orders of ``r`` the crew can then no longer start in time are left out
    (``tail_drop_delta``, priced in). INF if infeasible."""
    L = S.rlen[r]
    if p < S.frozen[r] or p > L or S.routes.shape[1] <= L + n:
        return INF
    if D.crew_capacity[r] > 0:
        load = S.load[r]
        for k in range(i, i + n):
            load += D.demand[S.routes[src, k] if src >= 0 else i]
        if load > D.crew_capacity[r]:
            return INF
    t, prev = head_end(D, S, r, p - 1)
    cost = np.int64(0)
    for k in range(i, i + n):
        c = S.routes[src, k] if src >= 0 else i
        if (D.crew_skills[r] & D.order_skill[c]) == 0:
            return INF
        leg, a, fits = arrive(D, r, t, prev, c)
        if not fits:
            return INF
        f = a + D.service[c]
        cost += order_cost(D, c, a, f, leg)
        t = f
        prev = D.n_crews + c
    d, _ = tail_drop_delta(D, S, r, p, t, prev)
    if d >= INF:
        return INF
    return cost + d


@leaf
def replace_delta(D, S, r, i, c):
    """Cost change of putting order ``c`` (not in route ``r``) in place of the order at
    position ``i`` of route ``r``, later orders the crew can then no longer start in time left
    out; INF if infeasible."""
    if (D.crew_skills[r] & D.order_skill[c]) == 0 or i < S.frozen[r]:
        return INF
    old = S.routes[r, i]
    if D.crew_capacity[r] > 0 and S.load[r] - D.demand[old] + D.demand[c] > D.crew_capacity[r]:
        return INF
    t, prev = head_end(D, S, r, i - 1)
    leg, a, fits = arrive(D, r, t, prev, c)
    if not fits:
        return INF
    f = a + D.service[c]
    d, _ = tail_drop_delta(D, S, r, i + 1, f, D.n_crews + c)
    if d >= INF:
        return INF
    return order_cost(D, c, a, f, leg) + d - (S.cpre[r, i] - _prefix(S, r, i - 1))


@leaf
def tails_delta(D, S, r1, i, r2, j):
    """2-opt*: cost change of giving route ``r1`` the tail of ``r2`` after position ``j`` and
    ``r2`` the tail of ``r1`` after ``i`` (-1: the whole route); INF if infeasible (a skill
    is checked through the union of a tail's skill masks: exact for orders of one skill)."""
    L1, L2 = S.rlen[r1], S.rlen[r2]
    if i + 1 < S.frozen[r1] or j + 1 < S.frozen[r2]:
        return INF
    if i + 1 >= L1 and j + 1 >= L2:
        return INF
    cap = S.routes.shape[1]
    if i + 1 + L2 - j - 1 >= cap or j + 1 + L1 - i - 1 >= cap:
        return INF
    if j + 1 < L2 and (suf(S, r2, j + 1, SSKILL) & ~D.crew_skills[r1]) != 0:
        return INF
    if i + 1 < L1 and (suf(S, r1, i + 1, SSKILL) & ~D.crew_skills[r2]) != 0:
        return INF
    if D.crew_capacity[r1] > 0 or D.crew_capacity[r2] > 0:
        head1 = S.lpre[r1, i] if i >= 0 else 0
        head2 = S.lpre[r2, j] if j >= 0 else 0
        if ((D.crew_capacity[r1] > 0 and head1 + S.load[r2] - head2 > D.crew_capacity[r1])
                or (D.crew_capacity[r2] > 0 and head2 + S.load[r1] - head1 > D.crew_capacity[r2])):
            return INF
    t1, p1 = head_end(D, S, r1, i)
    t2, p2 = head_end(D, S, r2, j)
    d1 = tail_delta(D, S, r2, j + 1, t1, p1, r1)
    if d1 >= INF:
        return INF
    d2 = tail_delta(D, S, r1, i + 1, t2, p2, r2)
    if d2 >= INF:
        return INF
    return d1 + d2


@inline
def _intra_order(S, r, i, n, p, k):
    """The order at position ``k`` of route ``r`` once its string of ``n`` orders from
    ``i`` moves before position ``p`` (p < i or p > i + n), for k in the changed range."""
    if p < i:
        return S.routes[r, i + (k - p)] if k - p < n else S.routes[r, k - n]
    gap = p - i - n
    return S.routes[r, k + n] if k - i < gap else S.routes[r, k - gap]


@leaf
def intra_delta(D, S, r, i, n, p):
    """Cost change of moving the ``n`` orders from position ``i`` of route ``r`` before its
    position ``p`` (p < i or p > i + n); the orders in between are re-timed."""
    lo = p if p < i else i
    hi = i + n - 1 if p < i else p - 1
    if lo < S.frozen[r]:
        return INF
    t, prev = head_end(D, S, r, lo - 1)
    cost = np.int64(0)
    for k in range(lo, hi + 1):
        c = _intra_order(S, r, i, n, p, k)
        leg, a, fits = arrive(D, r, t, prev, c)
        if not fits:
            return INF
        f = a + D.service[c]
        cost += order_cost(D, c, a, f, leg)
        t = f
        prev = D.n_crews + c
    d = tail_delta(D, S, r, hi + 1, t, prev, r)
    if d >= INF:
        return INF
    return cost + d - (S.cpre[r, hi] - _prefix(S, r, lo - 1))


@leaf
def intra_swap_delta(D, S, r, i, j):
    """Cost change of exchanging the orders at positions ``i`` < ``j`` of route ``r``."""
    if i < S.frozen[r]:
        return INF
    t, prev = head_end(D, S, r, i - 1)
    cost = np.int64(0)
    for k in range(i, j + 1):
        c = S.routes[r, j if k == i else (i if k == j else k)]
        leg, a, fits = arrive(D, r, t, prev, c)
        if not fits:
            return INF
        f = a + D.service[c]
        cost += order_cost(D, c, a, f, leg)
        t = f
        prev = D.n_crews + c
    d = tail_delta(D, S, r, j + 1, t, prev, r)
    if d >= INF:
        return INF
    return cost + d - (S.cpre[r, j] - _prefix(S, r, i - 1))


@leaf
def _insert_string(D, S, r, p, buf, n):
    """Put ``buf[:n]`` before position ``p`` of route ``r`` and re-time it."""
    L = S.rlen[r]
    for k in range(L - 1, p - 1, -1):
        S.routes[r, k + n] = S.routes[r, k]
    for k in range(n):
        S.routes[r, p + k] = buf[k]
        S.route_of[buf[k]] = r
    S.rlen[r] = L + n
    recompute_route(D, S, r)


@leaf
def _apply_intra(D, S, r, i, n, p, buf):
    lo = p if p < i else i
    hi = i + n - 1 if p < i else p - 1
    for k in range(lo, hi + 1):
        buf[k - lo] = _intra_order(S, r, i, n, p, k)
    for k in range(lo, hi + 1):
        S.routes[r, k] = buf[k - lo]
    recompute_route(D, S, r)


@leaf
def _cut_unfit(D, S, r, buf, queue, in_queue, tail):
    """Leave out the orders of route ``r`` from the first (after its frozen head) the crew can
    no longer start in time, queueing them; returns the new queue tail."""
    t, prev = head_end(D, S, r, S.frozen[r] - 1)
    for k in range(S.frozen[r], S.rlen[r]):
        j = S.routes[r, k]
        _, a, fits = arrive(D, r, t, prev, j)
        if not fits:
            n = remove_range(D, S, r, k, S.rlen[r] - k, buf, 0)
            for m in range(n):
                tail = _push(buf[m], queue, in_queue, tail)
            return tail
        t = a + D.service[j]
        prev = D.n_crews + j
    return tail


@leaf
def _push_route(S, r, queue, in_queue, tail):
    """Queue every order of route ``r`` not queued yet; returns the new queue tail."""
    n = queue.shape[0]
    for k in range(S.frozen[r], S.rlen[r]):
        c = S.routes[r, k]
        if not in_queue[c]:
            in_queue[c] = True
            queue[tail % n] = c
            tail += 1
    return tail


@leaf
def _push_span(S, r, lo, hi, window, queue, in_queue, tail):
    """Queue the orders of route ``r`` at positions ``lo - window`` to ``hi + window`` (the
    whole route when ``window`` is 0)."""
    if window == 0:
        return _push_route(S, r, queue, in_queue, tail)
    n = queue.shape[0]
    for k in range(max(S.frozen[r], lo - window), min(S.rlen[r], hi + window + 1)):
        c = S.routes[r, k]
        if not in_queue[c]:
            in_queue[c] = True
            queue[tail % n] = c
            tail += 1
    return tail


@leaf
def _push(c, queue, in_queue, tail):
    if not in_queue[c]:
        in_queue[c] = True
        queue[tail % queue.shape[0]] = c
        tail += 1
    return tail


class LocalQueue(NamedTuple):
    """The orders ``descend`` works through: a ring buffer ``orders`` read from ``head[0]``,
    written at ``tail[0]`` (both count up; index modulo its length), and per order whether it
    is queued (``queued``)."""

    orders: np.ndarray
    queued: np.ndarray
    head: np.ndarray
    tail: np.ndarray

    def is_empty(self) -> bool:
        return bool(self.head[0] >= self.tail[0])


def local_queue(n_orders: int) -> LocalQueue:
    """An empty queue with room for every order."""
    return LocalQueue(np.empty(n_orders, dtype=np.int64), np.zeros(n_orders, dtype=np.bool_),
                      np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


@kernel
def queue_orders(Q, orders, rng):
    """Queue ``orders`` (those not queued yet), in random order."""
    order = orders.copy()
    shuffle(rng, order)
    for c in order:
        Q.tail[0] = _push(c, Q.orders, Q.queued, Q.tail[0])


@kernel
def queue_routes(S, Q, changed):
    """Queue the orders of every route flagged in ``changed`` (and clear the flags)."""
    for r in range(changed.shape[0]):
        if changed[r]:
            Q.tail[0] = _push_route(S, r, Q.orders, Q.queued, Q.tail[0])
            changed[r] = False


@kernel
def descend(D, S, NB, CN, Q, max_evals, max_string, string_near, moves, n_near, first, window,
            stats):
    """Best-improvement local search over the queue ``Q`` (``local_queue``): each order in it
    takes its best improving move, if any, and the orders of the routes that move changed
    join the queue again. Stops when the queue is empty or after about ``max_evals`` move
    evaluations. Returns (cost saved, evaluations)."""
    N = D.n_orders
    queue, in_queue = Q.orders, Q.queued
    head = Q.head[0]
    tail = Q.tail[0]
    buf = np.empty(S.routes.shape[1] + max_string + 1, dtype=np.int64)
    saved = np.int64(0)
    evals = 0
    while head < tail and evals < max_evals:
        u = queue[head % N]
        head += 1
        in_queue[u] = False
        if D.order_skill[u] == 0:
            continue
        r1 = S.route_of[u]
        best = np.int64(0)
        kind = NONE
        b_r = b_i = b_n = b_r2 = b_j = -1
        nn = min(n_near, NB.shape[1])
        if r1 < 0:
            uc = unassigned_cost(D, u)
            for k in range(nn + CN.shape[1]):
                if k < nn:
                    v = NB[u, k]
                    r2 = S.route_of[v]
                    if r2 < 0:
                        continue
                    j = S.pos_of[v]
                    if j >= S.frozen[r2]:
                        d = replace_delta(D, S, r2, j, u)
                        evals += 1
                        if d < INF and d - uc + unassigned_cost(D, v) < best:
                            best, kind, b_r, b_i = d - uc + unassigned_cost(D, v), REPLACE, r2, j
                else:
                    r2 = CN[u, k - nn]
                    j = -1
                for side in range(2):
                    p = j + side if j >= 0 else (0 if side == 0 else S.rlen[r2])
                    d = string_insert_delta(D, S, r2, p, -1, u, 1)
                    evals += 1
                    if d < INF and d - uc < best:
                        best, kind, b_r, b_i = d - uc, INSERT, r2, p
        else:
            i = S.pos_of[u]
            if i < S.frozen[r1]:
                continue
            L1 = S.rlen[r1]
            uc = unassigned_cost(D, u)
            rm1 = removal_delta(D, S, r1, i, 1)
            evals += 1
            if rm1 < INF and rm1 + uc < best:
                best, kind = rm1 + uc, DROP
            for k in range(nn + CN.shape[1]):
                if first and kind != NONE:
                    break
                if k < nn:
                    v = NB[u, k]
                    r2 = S.route_of[v]
                    if r2 < 0:
                        d = replace_delta(D, S, r1, i, v)
                        evals += 1
                        if d < INF and d + uc - unassigned_cost(D, v) < best:
                            best, kind, b_r, b_i = d + uc - unassigned_cost(D, v), REPLACE, r1, i
                            b_j = v
                        continue
                    j = S.pos_of[v]
                else:
                    v = -1
                    r2 = CN[u, k - nn]
                    if r2 == r1:
                        continue
                    j = -1
                # strings of two or more: near neighbours only (the first ``string_near``)
                longest = max_string if k < string_near or k >= nn else 1
                if r2 != r1:
                    for n in range(1, longest + 1 if moves & (1 << RELOCATE) else 1):
                        if i + n > L1:
                            break
                        rm = rm1 if n == 1 else removal_delta(D, S, r1, i, n)
                        if rm >= INF:
                            continue
                        for side in range(2):
                            p = j + side if v >= 0 else (0 if side == 0 else S.rlen[r2])
                            d = string_insert_delta(D, S, r2, p, r1, i, n)
                            evals += 1
                            if d < INF and rm + d < best:
                                best, kind, b_r, b_i, b_n, b_r2, b_j = rm + d, RELOCATE, r1, i, n, r2, p
                    if v < 0:
                        continue
                    if j >= S.frozen[r2] and moves & (1 << SWAP):
                        d1 = replace_delta(D, S, r1, i, v)
                        if d1 < INF:
                            d2 = replace_delta(D, S, r2, j, u)
                            if d2 < INF and d1 + d2 < best:
                                best, kind, b_r, b_i, b_r2, b_j = d1 + d2, SWAP, r1, i, r2, j
                        evals += 1
                    for side in range(2 if moves & (1 << TAILS) else 0):
                        # u then v (cut after u, before v) or v then u
                        ci, cj = (i, j - 1) if side == 0 else (i - 1, j)
                        d = tails_delta(D, S, r1, ci, r2, cj)
                        evals += 1
                        if d < best:
                            best, kind, b_r, b_i, b_r2, b_j = d, TAILS, r1, ci, r2, cj
                else:
                    for n in range(1, longest + 1 if moves & (1 << INTRA) else 1):
                        if i + n > L1:
                            break
                        for side in range(2):
                            p = j + side
                            if i <= p <= i + n:
                                continue
                            d = intra_delta(D, S, r1, i, n, p)
                            evals += 1
                            if d < best:
                                best, kind, b_r, b_i, b_n, b_j = d, INTRA, r1, i, n, p
                    if j >= S.frozen[r1] and moves & (1 << INTRA_SWAP):
                        d = intra_swap_delta(D, S, r1, min(i, j), max(i, j))
                        evals += 1
                        if d < best:
                            best, kind, b_r, b_i, b_j = d, INTRA_SWAP, r1, min(i, j), max(i, j)
        if kind == NONE:
            continue
        saved -= best
        if stats.shape[0] > kind:
            stats[kind, STAT_APPLIED] += 1
            stats[kind, STAT_SAVED] -= best
        w = window
        if kind == INSERT:
            insert_at(D, S, b_r, b_i, u)
            tail = _cut_unfit(D, S, b_r, buf, queue, in_queue, tail)
            tail = _push_span(S, b_r, b_i, b_i, w, queue, in_queue, tail)
        elif kind == REPLACE:
            if r1 < 0:  # u in, the planned order at (b_r, b_i) out
                out = S.routes[b_r, b_i]
                S.route_of[out] = -1
                S.routes[b_r, b_i] = u
                S.route_of[u] = b_r
                recompute_route(D, S, b_r)
                tail = _push(out, queue, in_queue, tail)
            else:  # u out, the unplanned b_j in
                S.route_of[u] = -1
                S.routes[b_r, b_i] = b_j
                S.route_of[b_j] = b_r
                recompute_route(D, S, b_r)
                tail = _push(u, queue, in_queue, tail)
            tail = _cut_unfit(D, S, b_r, buf, queue, in_queue, tail)
            tail = _push_span(S, b_r, b_i, b_i, w, queue, in_queue, tail)
        elif kind == DROP:
            i = S.pos_of[u]
            remove_range(D, S, r1, i, 1, buf, 0)
            tail = _push_span(S, r1, i, i - 1, w, queue, in_queue, tail)
        elif kind == RELOCATE:
            remove_range(D, S, b_r, b_i, b_n, buf, 0)
            _insert_string(D, S, b_r2, b_j, buf, b_n)
            tail = _cut_unfit(D, S, b_r2, buf, queue, in_queue, tail)
            tail = _push_span(S, b_r, b_i, b_i - 1, w, queue, in_queue, tail)
            tail = _push_span(S, b_r2, b_j, b_j + b_n - 1, w, queue, in_queue, tail)
        elif kind == SWAP:
            v = S.routes[b_r2, b_j]
            S.routes[b_r, b_i] = v
            S.routes[b_r2, b_j] = u
            S.route_of[v] = b_r
            S.route_of[u] = b_r2
            recompute_route(D, S, b_r)
            recompute_route(D, S, b_r2)
            tail = _cut_unfit(D, S, b_r, buf, queue, in_queue, tail)
            tail = _cut_unfit(D, S, b_r2, buf, queue, in_queue, tail)
            tail = _push_span(S, b_r, b_i, b_i, w, queue, in_queue, tail)
            tail = _push_span(S, b_r2, b_j, b_j, w, queue, in_queue, tail)
        elif kind == TAILS:
            exchange_tails(D, S, b_r, b_i, b_r2, b_j, buf)
            tail = _push_span(S, b_r, b_i, b_i + 1, w, queue, in_queue, tail)
            tail = _push_span(S, b_r2, b_j, b_j + 1, w, queue, in_queue, tail)
        elif kind == INTRA:
            _apply_intra(D, S, b_r, b_i, b_n, b_j, buf)
            lo = min(b_i, b_j)
            hi = max(b_i + b_n, b_j)
            tail = _push_span(S, b_r, lo, hi, w, queue, in_queue, tail)
        else:  # INTRA_SWAP
            a, b = S.routes[b_r, b_i], S.routes[b_r, b_j]
            S.routes[b_r, b_i] = b
            S.routes[b_r, b_j] = a
            recompute_route(D, S, b_r)
            tail = _push_span(S, b_r, b_i, b_j, w, queue, in_queue, tail)
    Q.head[0] = head
    Q.tail[0] = tail
    return saved, evals
