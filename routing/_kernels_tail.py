"""Tail exchange, 2-opt* (private kernels), for the distance objective: two routes swap their
tails when the distance falls; priced in O(1) with the latest starts and prefix loads.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import INF, inline, kernel, leaf
from routing._kernels_route import head_end, joined_leg, leg_into, recompute_route, travel


@leaf
def _interchangeable(D, a, b):
    """Crews ``a`` and ``b`` start and end at the same place and time with the same skills and
    capacity, so a route's latest starts hold for either."""
    return (D.x[a] == D.x[b] and D.y[a] == D.y[b] and D.crew_start[a] == D.crew_start[b]
            and D.crew_end[a] == D.crew_end[b] and D.crew_skills[a] == D.crew_skills[b]
            and D.crew_capacity[a] == D.crew_capacity[b])


@kernel
def crew_classes(D):
    """Each crew's class: the first crew it is ``_interchangeable`` with (an equivalence), so
    the descent's innermost test is one comparison instead of a call and six pairs of loads."""
    K = D.n_crews
    cls = np.empty(K, dtype=np.int64)
    firsts = np.empty(K, dtype=np.int64)  # the crew opening each class so far
    n = 0
    for r in range(K):
        cls[r] = r
        for m in range(n):
            if _interchangeable(D, firsts[m], r):
                cls[r] = firsts[m]
                break
        if cls[r] == r:
            firsts[n] = r
            n += 1
    return cls


@inline
def tails_exchange_delta(D, S, r1, i, r2, j):
    """2-opt*: distance change of giving route ``r1`` the tail of ``r2`` after position ``j``
    and ``r2`` the tail of ``r1`` after ``i`` (-1: the whole route); INF if infeasible.
    O(1) with the latest-start and prefix-load arrays of the distance objective. Inlined into
    the descent, which calls it for ~40 % of the pairs it looks at: a call passes every array
    of ``D`` and ``S`` (the descent took 1.6x as long)."""
    L1, L2 = S.rlen[r1], S.rlen[r2]
    if i + 1 < S.frozen[r1] or j + 1 < S.frozen[r2]:
        return INF
    cap = S.routes.shape[1]
    if i + 1 + L2 - j - 1 >= cap or j + 1 + L1 - i - 1 >= cap:
        return INF
    if D.crew_capacity[r1] > 0:
        head1 = S.lpre[r1, i] if i >= 0 else 0
        head2 = S.lpre[r2, j] if j >= 0 else 0
        if (head1 + S.load[r2] - head2 > D.crew_capacity[r1]
                or head2 + S.load[r1] - head1 > D.crew_capacity[r2]):
            return INF
    t1, p1 = head_end(D, S, r1, i)
    t2, p2 = head_end(D, S, r2, j)
    new1 = joined_leg(D, S, r1, t1, p1, r2, j + 1)
    if new1 >= INF:
        return INF
    new2 = joined_leg(D, S, r2, t2, p2, r1, i + 1)
    if new2 >= INF:
        return INF
    old1 = joined_leg(D, S, r1, t1, p1, r1, i + 1)
    old2 = joined_leg(D, S, r2, t2, p2, r2, j + 1)
    return new1 + new2 - old1 - old2


@leaf
def exchange_tails(D, S, r1, i, r2, j, buf):
    """Apply the 2-opt* move of ``tails_exchange_delta``."""
    L1, L2 = S.rlen[r1], S.rlen[r2]
    n = 0
    for k in range(i + 1, L1):
        buf[n] = S.routes[r1, k]
        n += 1
    for k in range(j + 1, L2):
        S.routes[r1, i + 1 + k - j - 1] = S.routes[r2, k]
    S.rlen[r1] = i + 1 + L2 - j - 1
    for k in range(n):
        S.routes[r2, j + 1 + k] = buf[k]
    S.rlen[r2] = j + 1 + n
    recompute_route(D, S, r1)
    recompute_route(D, S, r2)


@kernel
def neighbour_legs(D, NB):
    """The legs between each order and its listed neighbours, both ways: (``out[u, k]``: from
    ``u`` to ``NB[u, k]``, ``back[u, k]``: from it to ``u``), read by the descent's bound
    instead of a travel computed per pair and pass."""
    K = D.n_crews
    out = np.empty(NB.shape, dtype=np.int64)
    back = np.empty(NB.shape, dtype=np.int64)
    for u in range(NB.shape[0]):
        for k in range(NB.shape[1]):
            v = NB[u, k]
            out[u, k] = travel(D, K + u, K + v) if v >= 0 else INF
            back[u, k] = travel(D, K + v, K + u) if v >= 0 else INF
    return out, back


@inline
def exchange_first_tail(D, S, NB, legs_out, legs_back, cls, u, dirty, either, moved, buf):
    """Apply the first improving 2-opt* move giving order ``u`` a neighbour as its next or
    previous order across two routes (``either``: only between routes one of which is
    ``dirty``), flagging both routes in ``moved``; returns (distance saved, the two routes),
    (0, -1, -1) when there is none."""
    r1 = S.route_of[u]
    for k in range(NB.shape[1]):
        v = NB[u, k]
        r2 = S.route_of[v]
        if r2 < 0 or r2 == r1 or (either and not (dirty[r1] or dirty[r2])) or cls[r1] != cls[r2]:
            continue
        # the move changes the distance by at least the new arc u -> v (or v -> u) less the
        # two legs it replaces: most pairs are dismissed on that, before any timing
        i, j = S.pos_of[u], S.pos_of[v] - 1
        d = np.int64(0)
        if legs_out[u, k] < leg_into(S, r1, i + 1) + leg_into(S, r2, j + 1):
            d = tails_exchange_delta(D, S, r1, i, r2, j)
        if d >= 0:
            i, j = S.pos_of[u] - 1, S.pos_of[v]
            if legs_back[u, k] < leg_into(S, r1, i + 1) + leg_into(S, r2, j + 1):
                d = tails_exchange_delta(D, S, r1, i, r2, j)
        if d < 0:
            exchange_tails(D, S, r1, i, r2, j, buf)
            moved[r1] = moved[r2] = True
            return -d, r1, r2
    return np.int64(0), -1, -1


@leaf
def _descent_pass(D, S, NB, legs_out, legs_back, cls, dirty, moved, buf):
    """One pass of ``tails_exchange_descent`` over the pairs with a ``dirty`` route, flagging
    the routes it changes in ``dirty`` and ``moved``; returns the distance saved. A leaf: in
    a kernel compiled with reference counting, the inlined price took and released a
    reference on each read of an array of ``S`` (the descent ran four times as long)."""
    saved = np.int64(0)
    for u in range(D.n_orders):
        r1 = S.route_of[u]
        if r1 < 0:
            continue
        d, r1, r2 = exchange_first_tail(D, S, NB, legs_out, legs_back, cls, u, dirty, True, moved,
                                        buf)
        if d > 0:
            dirty[r1] = dirty[r2] = True
            saved += d
    return saved


@kernel
def tails_exchange_descent(D, S, NB, legs, dirty):
    """Distance objective: apply improving 2-opt* moves between the routes of neighbouring
    orders (a new arc from an order to a neighbour in another route, either way), pass after
    pass, until a pass finds none. Returns the distance saved. A move's gain depends on its two
    routes only: a pass prices only the pairs with a route changed since the last pass began
    (the first pass: ``dirty``, the routes the annealing changed since the last descent, which
    left none to improve) or during this pass, which applies the same moves as pricing every
    pair. ``dirty`` is cleared at the end. ``legs``: ``neighbour_legs(D, NB)``."""
    cls = crew_classes(D)
    buf = np.empty(S.routes.shape[1], dtype=np.int64)
    moved = np.zeros(dirty.shape[0], dtype=np.bool_)  # the routes this pass changed
    saved = np.int64(0)
    improved = True
    while improved:
        gained = _descent_pass(D, S, NB, legs[0], legs[1], cls, dirty, moved, buf)
        saved += gained
        improved = gained > 0
        dirty[:] = moved
        moved[:] = False
    return saved
