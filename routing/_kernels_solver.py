"""Numba kernels of the dispatch solver (private: call through ``routing.solver``).

Plain arrays only. ``D`` is a namedtuple of the problem's arrays, ``S`` of the mutable
solution state; both are built by ``routing.arrays``. Costs and times are int64.
Insertion is evaluated by re-timing the route suffix, stopping as soon as a finish time
matches the old schedule (the rest is then unchanged): O(route length) at worst.

The arrival step (travel, wait for ``earliest``, check the crew's end and hard windows) is one
inlined helper, ``arrive``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from routing.problem import TravelKind

# Travel kinds (``routing.problem.TravelKind``) and recreate insertion orders, as the kernels
# compare them (numba freezes module constants at compile time).
MATRIX = int(TravelKind.MATRIX)
EUCLIDEAN = int(TravelKind.EUCLIDEAN)
DIMACS = int(TravelKind.DIMACS)
ROAD = int(TravelKind.ROAD)
RANDOM_ORDER, BY_WEIGHT, BY_DEADLINE = 0, 1, 2

INF = np.int64(2**62)
# The suffix arrays of the dispatch objective, per route r and position i: field X is
# ``S.aux[r, SUFFIX_FIELDS * i + X]`` (``suffix_aggregates``, read with ``_suf``; a position's
# seven values share a cache line). For the distance objective ``aux`` holds the latest starts
# instead (``S.aux[r, i]``): one array for both keeps ``S`` as small as it was, which the kernels'
# calls are sensitive to (one more array in ``S`` made the 2-opt* descent seven times slower).
RPOS, RNEG, SPOS, SNEG, SFEAS, SSKILL, SLEFT = 0, 1, 2, 3, 4, 5, 6
SUFFIX_FIELDS = 7

# Kernels that allocate nothing are compiled without reference counting: numba increfs and
# decrefs every array of ``D`` and ``S`` (atomically) on each call, which took over half of
# the solver's time (numba issue #2345).
_leaf = nb.njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # numba-internal flag
# The insertion price, called in the innermost loop of every recreate, is inlined into its
# callers: a call that is not inlined passes every array of ``D`` and ``S`` (dozens of pointers,
# shapes and strides), which cost more than the pricing itself (VRPTW annealing 2.5x faster
# inlined). Inlining more (the local search's prices into ``descend``) made it slower.
_inline = nb.njit(cache=True, nogil=True, inline="always")


@nb.njit(cache=True, nogil=True, inline="always")
def travel(D, a, b):
    kind = D.travel_kind
    if kind == MATRIX:
        return D.matrix[a, b]
    if kind == ROAD:
        if a == b:
            return np.int64(0)
        return D.road_table[D.point_node[a], D.point_node[b]] + D.point_access[a] + D.point_access[b]
    dx = D.x[a] - D.x[b]
    dy = D.y[a] - D.y[b]
    d = np.sqrt(dx * dx + dy * dy)
    if kind == EUCLIDEAN:
        return np.int64(np.rint(d * D.seconds_per_metre))
    return np.int64(np.floor(d * 10.0))  # DIMACS: tenths of a unit, truncated


@nb.njit(cache=True, nogil=True, inline="always")
def order_cost(D, j, a, f, leg):
    if D.distance_objective:
        return leg
    late = a - D.deadline[j]
    if late < 0:
        late = 0
    return D.customers[j] * (f - D.reported[j]) + D.lateness_weight * D.priority[j] * late


@nb.njit(cache=True, nogil=True, inline="always")
def arrive(D, r, t, prev, j):
    """Crew ``r``, done at ``t`` at point ``prev``, goes to order ``j``: (the leg, when work
    starts after any wait for ``earliest``, whether that start (with ``shift_work`` > 0: that
    much of the work, or all of a shorter job) is within the crew's end and, for hard windows,
    the order's deadline)."""
    leg = travel(D, prev, D.n_crews + j)
    a = t + leg
    if a < D.earliest[j]:
        a = D.earliest[j]
    last = a + min(D.service[j], D.shift_work) if D.shift_work > 0 else a
    return leg, a, last <= D.crew_end[r] and (not D.hard_windows or a <= D.deadline[j])


@nb.njit(cache=True, nogil=True, inline="always")
def _suf(S, r, i, x):
    """Field ``x`` of the suffix arrays of route ``r`` at position ``i``."""
    return S.aux[r, SUFFIX_FIELDS * i + x]


@_leaf
def unassigned_cost(D, j):
    if D.distance_objective:
        return np.int64(10**12)
    return order_cost(D, j, D.horizon, D.horizon + D.service[j], 0)


@_leaf
def recompute_route(D, S, r):
    """Re-time route ``r`` and refresh its prefix caches; returns False if it is infeasible."""
    K = D.n_crews
    t = D.crew_start[r]
    prev = r
    cost = np.int64(0)
    load = np.int64(0)
    ok = True
    for i in range(S.rlen[r]):
        j = S.routes[r, i]
        leg, a, fits = arrive(D, r, t, prev, j)
        if not fits:
            ok = False
        f = a + D.service[j]
        cost += order_cost(D, j, a, f, leg)
        S.fin[r, i] = f
        S.cpre[r, i] = cost
        S.pos_of[j] = i
        S.route_of[j] = r
        load += D.demand[j]
        S.lpre[r, i] = load
        t = f
        prev = K + j
    if D.closed_routes and S.rlen[r] > 0:
        back = travel(D, prev, r)
        if D.hard_windows and t + back > D.crew_end[r]:
            ok = False
        if D.distance_objective:
            cost += back
    S.rcost[r] = cost
    S.load[r] = load
    if D.crew_capacity[r] > 0 and load > D.crew_capacity[r]:
        ok = False
    if D.distance_objective:
        latest_starts(D, S, r)
    else:
        suffix_aggregates(D, S, r)
    return ok


@_leaf
def suffix_aggregates(D, S, r):
    """Dispatch objective: the suffix arrays of route ``r`` (``_suf``, ``routing.arrays.State``),
    in one backward pass. Shifting every order from position i by s seconds costs s * RPOS
    (s > 0) or s * RNEG (s <= 0) exactly while s <= SPOS or -s <= SNEG: no order crosses its
    deadline, and after i none waits for its ``earliest`` (a wait would absorb a delay) or would
    have to (an advance). The shift keeps the crew's end while s <= SFEAS. SSKILL: the union of
    the orders' skill masks from i; SLEFT: what they would cost unassigned."""
    L = S.rlen[r]
    rp = np.int64(0)
    rn = np.int64(0)
    after_p = INF  # the slacks of the orders after i, waits counted
    after_n = INF
    room = INF
    skills = np.int64(0)
    left = np.int64(0)
    for i in range(L - 1, -1, -1):
        j = S.routes[r, i]
        a = S.fin[r, i] - D.service[j]
        d = D.deadline[j]
        late_w = D.lateness_weight * D.priority[j]
        rp += D.customers[j] + (late_w if a >= d else 0)
        rn += D.customers[j] + (late_w if a > d else 0)
        sp = min(d - a if a < d else INF, after_p)
        sn = min(a - d if a > d else INF, after_n)
        S.aux[r, SUFFIX_FIELDS * i + RPOS] = rp
        S.aux[r, SUFFIX_FIELDS * i + RNEG] = rn
        S.aux[r, SUFFIX_FIELDS * i + SPOS] = sp
        S.aux[r, SUFFIX_FIELDS * i + SNEG] = sn
        held = a - D.earliest[j]  # 0: it may have waited, and cannot start sooner
        after_p = min(sp, INF if held > 0 else 0)
        after_n = min(sn, held)
        last = a + min(D.service[j], D.shift_work) if D.shift_work > 0 else a
        room = min(room, D.crew_end[r] - last)
        S.aux[r, SUFFIX_FIELDS * i + SFEAS] = room
        skills |= D.order_skill[j]
        S.aux[r, SUFFIX_FIELDS * i + SSKILL] = skills
        left += unassigned_cost(D, j)
        S.aux[r, SUFFIX_FIELDS * i + SLEFT] = left


@_leaf
def tail_delta(D, S, r, i, t, prev, rc):
    """Dispatch objective: the cost change of the orders of route ``r`` from position ``i``
    when crew ``rc``, done at ``t`` at point ``prev``, takes them next in the same order (skills
    are the caller's to check); INF if one then breaks a limit. O(1) when they shift as one
    block within the exact range of the suffix arrays; else a re-timing that stops once a
    finish matches the old schedule."""
    L = S.rlen[r]
    K = D.n_crews
    if i < L and not D.hard_windows:
        j = S.routes[r, i]
        _, a, fits = arrive(D, rc, t, prev, j)
        if not fits:
            return INF
        s = a - (S.fin[r, i] - D.service[j])
        room = _suf(S, r, i, SFEAS) + D.crew_end[rc] - D.crew_end[r]
        if 0 < s <= _suf(S, r, i, SPOS):
            return INF if s > room else s * _suf(S, r, i, RPOS)
        if s <= 0 and -s <= _suf(S, r, i, SNEG):
            return INF if s > room else s * _suf(S, r, i, RNEG)
    base = S.cpre[r, i - 1] if i > 0 else np.int64(0)
    cost = np.int64(0)
    for m in range(i, L):
        j = S.routes[r, m]
        leg, a, fits = arrive(D, rc, t, prev, j)
        if not fits:
            return INF
        f = a + D.service[j]
        cost += order_cost(D, j, a, f, leg)
        if f == S.fin[r, m] and (rc == r or (not D.closed_routes and (
                m + 1 == L or _suf(S, r, m + 1, SFEAS) + D.crew_end[rc] - D.crew_end[r] >= 0))):
            return cost - (S.cpre[r, m] - base)
        t = f
        prev = K + j
    if D.closed_routes and D.hard_windows and t + travel(D, prev, rc) > D.crew_end[rc]:
        return INF
    return cost - (S.rcost[r] - base)


@_leaf
def tail_drop_delta(D, S, r, i, t, prev):
    """As ``tail_delta`` for route ``r``'s own crew, but the orders from the first one the
    crew can no longer start in time are left unassigned instead of the move being refused
    (a route full to the crew's end takes an order by giving up its last ones). Returns
    (cost change, the first position left out: ``rlen`` if none)."""
    L = S.rlen[r]
    K = D.n_crews
    if i >= L:
        return np.int64(0), L
    base = S.cpre[r, i - 1] if i > 0 else np.int64(0)
    if not D.hard_windows and D.shift_work == 0:
        j = S.routes[r, i]
        _, a, _ = arrive(D, r, t, prev, j)
        s = a - (S.fin[r, i] - D.service[j])
        if 0 < s <= _suf(S, r, i, SPOS):
            if s <= _suf(S, r, i, SFEAS):
                return s * _suf(S, r, i, RPOS), L
            # starts rise along the route: the first order out is found by bisection
            lo, hi = i, L - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if S.fin[r, mid] - D.service[S.routes[r, mid]] + s > D.crew_end[r]:
                    hi = mid
                else:
                    lo = mid + 1
            kept = s * (_suf(S, r, i, RPOS) - _suf(S, r, lo, RPOS))  # lo < L: some order is out
            return kept + _suf(S, r, lo, SLEFT) - (S.rcost[r] - (S.cpre[r, lo - 1] if lo > 0 else 0)), lo
        if s <= 0 and -s <= _suf(S, r, i, SNEG):
            return s * _suf(S, r, i, RNEG), L
    cost = np.int64(0)
    for m in range(i, L):
        j = S.routes[r, m]
        leg, a, fits = arrive(D, r, t, prev, j)
        if not fits:
            return (cost - (S.cpre[r, m - 1] - base if m > 0 else 0) + _suf(S, r, m, SLEFT)
                    - (S.rcost[r] - (S.cpre[r, m - 1] if m > 0 else 0))), m
        f = a + D.service[j]
        cost += order_cost(D, j, a, f, leg)
        if f == S.fin[r, m]:
            return cost - (S.cpre[r, m] - base), L
        t = f
        prev = K + j
    if D.closed_routes and D.hard_windows and t + travel(D, prev, r) > D.crew_end[r]:
        return INF, L
    return cost - (S.rcost[r] - base), L


@_leaf
def drop_unfit(D, S, r):
    """Drop from route ``r``, after its frozen head, every order the crew can no longer reach
    (or finish) in time as the route runs now; the others keep their order. Re-times it."""
    K = D.n_crews
    t = D.crew_start[r]
    prev = r
    keep = 0
    for i in range(S.rlen[r]):
        j = S.routes[r, i]
        _, a, fits = arrive(D, r, t, prev, j)
        if fits or i < S.frozen[r]:
            S.routes[r, keep] = j
            keep += 1
            t = a + D.service[j]
            prev = K + j
        else:
            S.route_of[j] = -1
    for i in range(keep, S.rlen[r]):
        S.routes[r, i] = -1
    S.rlen[r] = keep
    recompute_route(D, S, r)


@_leaf
def latest_starts(D, S, r):
    """Backward pass: the latest start at each position of route ``r`` that keeps every later
    order, and the return to the depot, within their limits."""
    K = D.n_crews
    L = S.rlen[r]
    if L == 0:
        return
    j = S.routes[r, L - 1]
    late = D.crew_end[r]
    if D.hard_windows:
        late = min(late, D.deadline[j])
        if D.closed_routes:
            late = min(late, D.crew_end[r] - D.service[j] - travel(D, K + j, r))
    S.aux[r, L - 1] = late
    for i in range(L - 2, -1, -1):
        j = S.routes[r, i]
        late = min(D.crew_end[r], late - travel(D, K + j, K + S.routes[r, i + 1]) - D.service[j])
        if D.hard_windows:
            late = min(late, D.deadline[j])
        S.aux[r, i] = late


@nb.njit(cache=True, nogil=True, inline="always")
def _after_head(D, S, r, tail_route, tail_start):
    """Where a route of crew ``r`` goes next when the tail of ``tail_route`` from
    ``tail_start`` follows its head: that tail's first order, else the depot ``r`` of a closed
    route, else nowhere (-1)."""
    if tail_start < S.rlen[tail_route]:
        return D.n_crews + S.routes[tail_route, tail_start]
    return r if D.closed_routes else -1


@nb.njit(cache=True, nogil=True, inline="always")
def _joined_leg(D, S, r, t, prev, tail_route, tail_start):
    """Distance objective: the leg from ``prev`` (done at ``t``) to where a route of crew ``r``
    goes next (``_after_head``); INF if the joined route breaks a limit (the tail's latest
    start, or the crew's end on the way back to the depot)."""
    nxt = _after_head(D, S, r, tail_route, tail_start)
    if nxt < 0:
        return np.int64(0)
    leg = travel(D, prev, nxt)
    if nxt >= D.n_crews:
        if t + leg > S.aux[tail_route, tail_start]:
            return INF
    elif D.hard_windows and t + leg > D.crew_end[r]:
        return INF
    return leg


@nb.njit(cache=True, nogil=True, inline="always")
def _insert_distance(D, S, r, p, c, prev, leg, f):
    """Distance objective: O(1) with the latest starts of the route (``f``: when ``c`` would
    be finished, after ``leg`` from ``prev``)."""
    out = _joined_leg(D, S, r, f, D.n_crews + c, r, p)
    if out >= INF:
        return INF
    nxt = _after_head(D, S, r, r, p)
    return leg + out - (travel(D, prev, nxt) if nxt >= 0 else 0)


@_inline
def _head_end(D, S, r, i):
    """When and where the head of route ``r`` up to position ``i`` (-1: none) is done."""
    if i >= 0:
        return S.fin[r, i], D.n_crews + S.routes[r, i]
    return D.crew_start[r], r


@_inline
def insert_delta(D, S, r, p, c):
    """Cost change of inserting order ``c`` at position ``p`` of route ``r`` (INF if infeasible)."""
    if (D.crew_skills[r] & D.order_skill[c]) == 0:
        return INF
    L = S.rlen[r]
    if p < S.frozen[r] or p > L or S.routes.shape[1] <= L + 1:
        return INF
    if D.crew_capacity[r] > 0 and S.load[r] + D.demand[c] > D.crew_capacity[r]:
        return INF
    K = D.n_crews
    t, prev = _head_end(D, S, r, p - 1)
    leg, a, fits = arrive(D, r, t, prev, c)
    if not fits:
        return INF
    f = a + D.service[c]
    if D.distance_objective:
        return _insert_distance(D, S, r, p, c, prev, leg, f)
    d = tail_delta(D, S, r, p, f, K + c, r)
    if d >= INF:
        return INF
    return order_cost(D, c, a, f, leg) + d


@_leaf
def insert_at(D, S, r, p, c):
    L = S.rlen[r]
    for i in range(L, p, -1):
        S.routes[r, i] = S.routes[r, i - 1]
    S.routes[r, p] = c
    S.rlen[r] = L + 1
    S.route_of[c] = r
    recompute_route(D, S, r)


@_leaf
def remove_range(D, S, r, start, length, out, n_out):
    """Remove ``length`` orders from position ``start`` of route ``r``; append them to ``out``."""
    L = S.rlen[r]
    for i in range(start, start + length):
        c = S.routes[r, i]
        out[n_out] = c
        n_out += 1
        S.route_of[c] = -1
    for i in range(start + length, L):
        S.routes[r, i - length] = S.routes[r, i]
    S.rlen[r] = L - length
    recompute_route(D, S, r)
    return n_out


@_leaf
def insert_drop_delta(D, S, r, p, c):
    """As ``insert_delta``, but the orders after ``c`` that the crew could then no longer
    start in time are left out, their unassigned cost priced in (``tail_drop_delta``).
    Returns (cost change or INF, the first position of route ``r`` left out: ``rlen`` if
    none)."""
    L = S.rlen[r]
    if ((D.crew_skills[r] & D.order_skill[c]) == 0 or p < S.frozen[r] or p > L
            or S.routes.shape[1] <= L + 1):
        return INF, L
    if D.crew_capacity[r] > 0 and S.load[r] + D.demand[c] > D.crew_capacity[r]:
        return INF, L
    t, prev = _head_end(D, S, r, p - 1)
    leg, a, fits = arrive(D, r, t, prev, c)
    if not fits:
        return INF, L
    f = a + D.service[c]
    d, cut = tail_drop_delta(D, S, r, p, f, D.n_crews + c)
    if d >= INF:
        return INF, L
    return order_cost(D, c, a, f, leg) + d, cut


@nb.njit(cache=True, nogil=True, inline="always")
def _candidate(D, S, r, p, c, drop):
    if drop:
        return insert_drop_delta(D, S, r, p, c)
    return insert_delta(D, S, r, p, c), S.rlen[r]


@_leaf
def best_insertion_cut(D, S, NB, CN, c, blink, drop):
    """Cheapest feasible position for ``c`` next to its nearest orders, or at the start or end
    of its nearest crews' routes (granular neighbourhood); with ``drop`` (dispatch objective)
    a position may leave out the orders after it that no longer fit (``insert_drop_delta``).
    Returns (route, position, delta, the first position left out of that route)."""
    best_r, best_p, best_d, best_cut = -1, -1, INF, -1
    for k in range(NB.shape[1]):
        q = NB[c, k]
        r = S.route_of[q]
        if r < 0:
            continue
        for p in (S.pos_of[q], S.pos_of[q] + 1):
            if blink > 0.0 and np.random.random() < blink:
                continue
            d, cut = _candidate(D, S, r, p, c, drop)
            if d < best_d:
                best_r, best_p, best_d, best_cut = r, p, d, cut
    for k in range(CN.shape[1]):
        r = CN[c, k]
        for p in (0, S.rlen[r]):
            d, cut = _candidate(D, S, r, p, c, drop)
            if d < best_d:
                best_r, best_p, best_d, best_cut = r, p, d, cut
    for r in range(D.n_crews):
        if S.rlen[r] == 0 and (D.crew_skills[r] & D.order_skill[c]) != 0:
            d = insert_delta(D, S, r, 0, c)
            if d < best_d:
                best_r, best_p, best_d, best_cut = r, 0, d, 0
            break
    return best_r, best_p, best_d, best_cut


@_leaf
def best_insertion(D, S, NB, CN, c, blink):
    """Cheapest feasible position for ``c`` (``best_insertion_cut`` without leaving any order
    out). Returns (route, position, delta)."""
    r, p, d, _ = best_insertion_cut(D, S, NB, CN, c, blink, False)
    return r, p, d


@_leaf
def total_cost(D, S):
    tot = np.int64(0)
    for r in range(D.n_crews):
        tot += S.rcost[r]
    for j in range(D.n_orders):
        if S.route_of[j] < 0:
            tot += unassigned_cost(D, j)
    return tot


@nb.njit(cache=True, nogil=True)
def seed_rng(seed):
    np.random.seed(seed)


@nb.njit(cache=True, nogil=True)
def recreate(D, S, NB, CN, removed, n_removed, blink, mode, U, it, drop, mark):
    """Insert ``removed`` orders greedily in a random, weight or deadline order; each route
    is backed up in ``U`` before its first change of iteration ``it``. With ``drop``, an
    insertion may leave out the orders after it that no longer fit: they join ``removed``
    (``mark[j] == it``: j is in it already) and are inserted in turn. Returns the length of
    ``removed``."""
    if mode == RANDOM_ORDER:
        np.random.shuffle(removed[:n_removed])
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
    while i < n_removed:
        c = removed[i]
        i += 1
        r, p, d, cut = best_insertion_cut(D, S, NB, CN, c, blink, drop)
        if r >= 0 and d < unassigned_cost(D, c):
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


@nb.njit(cache=True, nogil=True)
def construct_by_insertion(D, S, NB, CN):
    """Insert every unrouted order, in random order, at its cheapest granular position."""
    pending = np.empty(D.n_orders, dtype=np.int64)
    n = 0
    for j in range(D.n_orders):
        if S.route_of[j] < 0:
            pending[n] = j
            n += 1
    recreate(D, S, NB, CN, pending, n, 0.0, 0, undo_buffers(D, S), 1, False,
             np.zeros(0, dtype=np.int64))


@nb.njit(cache=True, nogil=True)
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
            i = slot[j]
            if prv[i] >= 0:
                nxt[prv[i]] = nxt[i]
            else:
                nxt_head = nxt[i]
            if nxt[i] < N:
                prv[nxt[i]] = prv[i]
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
        i = slot[best]
        if prv[i] >= 0:
            nxt[prv[i]] = nxt[i]
        else:
            nxt_head = nxt[i]
        if nxt[i] < N:
            prv[nxt[i]] = prv[i]
        _, a, _ = arrive(D, r, free[r], pos[r], best)
        free[r] = a + D.service[best]
        pos[r] = K + best
    for r in range(K):
        recompute_route(D, S, r)


@nb.njit(cache=True, nogil=True)
def undo_buffers(D, S):
    """Backups of the routes one iteration changes: (stamp, touched, routes, lengths,
    [routes touched, their cost before])."""
    K = D.n_crews
    return (np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64),
            np.empty((K, S.routes.shape[1]), dtype=np.int64), np.zeros(K, dtype=np.int64),
            np.zeros(2, dtype=np.int64))


@_leaf
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


@_leaf
def ruin(D, S, NB, U, it, removed, avg_removed, max_string):
    """Adjacent string removal (SISR): strings cut from routes near a random planned order,
    appended to ``removed``; returns how many, or -1 when nothing movable is planned."""
    K, N = D.n_crews, D.n_orders
    stamp = U[0]
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
    ks = int(np.random.uniform(1.0, max(1.0, ks_max) + 1.0))
    seed = np.random.randint(N)
    while S.route_of[seed] < 0 or S.pos_of[seed] < S.frozen[S.route_of[seed]]:
        seed = np.random.randint(N)
    n_removed = 0
    ruined = 0
    for k in range(-1, NB.shape[1]):
        if ruined >= ks:
            break
        q = seed if k < 0 else NB[seed, k]
        r = S.route_of[q]
        if r < 0 or stamp[r] == it or S.pos_of[q] < S.frozen[r]:
            continue
        L = S.rlen[r]
        lo = S.frozen[r]
        length = int(np.random.uniform(1.0, min(ls_max, float(L - lo)) + 1.0))
        first = max(lo, S.pos_of[q] - length + 1)
        last = min(S.pos_of[q], L - length)
        start = first if last <= first else np.random.randint(first, last + 1)
        touch(S, U, r, it)
        n_removed = remove_range(D, S, r, start, length, removed, n_removed)
        ruined += 1
    return n_removed


@_leaf
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


@nb.njit(cache=True, nogil=True, inline="always")
def recreate_mode():
    """Insertion order of a recreate: random (40 %), by weight (40 %) or by deadline."""
    u = np.random.random()
    return RANDOM_ORDER if u < 0.4 else (BY_WEIGHT if u < 0.8 else BY_DEADLINE)


@_inline
def _recreated_cost(D, S, touched, acc, removed, n_removed):
    """The cost, after a recreate, of the routes it touched and of the removed orders it left
    out."""
    cost = np.int64(0)
    for i in range(acc[0]):
        cost += S.rcost[touched[i]]
    for i in range(n_removed):
        if S.route_of[removed[i]] < 0:
            cost += unassigned_cost(D, removed[i])
    return cost


@nb.njit(cache=True, nogil=True)
def sisr_iterations(D, S, B, NB, CN, n_iter, t_start, t_end, cur_cost, best_cost,
                    avg_removed, max_string, blink, changed, drop):
    """Ruin (adjacent string removals) and recreate, accepted by simulated annealing with the
    temperature falling from ``t_start`` to ``t_end`` over these iterations. Keeps the best
    solution in ``B``. Only the routes an iteration changes are backed up and, if it is
    rejected, restored; an accepted iteration flags the routes it changed in ``changed``.
    ``drop``: an insertion may leave out the orders after it that no longer fit (``recreate``).
    Returns (current cost, best cost, accepted count)."""
    N = D.n_orders
    removed = np.empty(N, dtype=np.int64)
    mark = np.zeros(N if drop else 0, dtype=np.int64)
    U = undo_buffers(D, S)
    touched, acc = U[1], U[4]
    accepted = 0
    for it in range(1, n_iter + 1):
        temp = t_start * (t_end / t_start) ** (it / n_iter) if t_start > 0 else 0.0
        acc[:] = 0
        n_removed = ruin(D, S, NB, U, it, removed, avg_removed, max_string)
        if n_removed < 0:
            break
        old_unplanned = np.int64(0)
        for _ in range(5):
            j = np.random.randint(N)
            if S.route_of[j] < 0:
                fresh = True
                for i in range(n_removed):
                    if removed[i] == j:
                        fresh = False
                if fresh:
                    removed[n_removed] = j
                    n_removed += 1
                    old_unplanned += unassigned_cost(D, j)
        n_removed = recreate(D, S, NB, CN, removed, n_removed, blink, recreate_mode(), U, it,
                             drop, mark)
        new_cost = cur_cost - acc[1] - old_unplanned + _recreated_cost(D, S, touched, acc, removed, n_removed)
        if new_cost < cur_cost - temp * np.log(np.random.random() + 1e-300):
            cur_cost = new_cost
            accepted += 1
            for i in range(acc[0]):
                changed[touched[i]] = True
            if new_cost < best_cost:
                best_cost = new_cost
                B.routes[:, :] = S.routes
                B.rlen[:] = S.rlen
        else:
            undo(D, S, U, removed, n_removed)
    return cur_cost, best_cost, accepted


@nb.njit(cache=True, nogil=True)
def sample_deltas(D, S, NB, CN, n_iter, avg_removed, max_string, blink, drop):
    """The cost changes of ``n_iter`` ruin-and-recreate moves from the current plan, each
    undone (to calibrate the annealing temperature)."""
    N = D.n_orders
    removed = np.empty(N, dtype=np.int64)
    mark = np.zeros(N if drop else 0, dtype=np.int64)
    U = undo_buffers(D, S)
    touched, acc = U[1], U[4]
    out = np.zeros(n_iter, dtype=np.int64)
    for it in range(1, n_iter + 1):
        acc[:] = 0
        n_removed = ruin(D, S, NB, U, it, removed, avg_removed, max_string)
        if n_removed < 0:
            return out[:it - 1]
        n_removed = recreate(D, S, NB, CN, removed, n_removed, blink, recreate_mode(), U, it,
                             drop, mark)
        out[it - 1] = _recreated_cost(D, S, touched, acc, removed, n_removed) - acc[1]
        undo(D, S, U, removed, n_removed)
    return out


@_leaf
def _interchangeable(D, a, b):
    """Crews ``a`` and ``b`` start and end at the same place and time with the same skills and
    capacity, so a route's latest starts hold for either."""
    return (D.x[a] == D.x[b] and D.y[a] == D.y[b] and D.crew_start[a] == D.crew_start[b]
            and D.crew_end[a] == D.crew_end[b] and D.crew_skills[a] == D.crew_skills[b]
            and D.crew_capacity[a] == D.crew_capacity[b])


@_leaf
def tails_exchange_delta(D, S, r1, i, r2, j):
    """2-opt*: distance change of giving route ``r1`` the tail of ``r2`` after position ``j``
    and ``r2`` the tail of ``r1`` after ``i`` (-1: the whole route); INF if infeasible.
    O(1) with the latest-start and prefix-load arrays of the distance objective."""
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
    t1, p1 = _head_end(D, S, r1, i)
    t2, p2 = _head_end(D, S, r2, j)
    new1 = _joined_leg(D, S, r1, t1, p1, r2, j + 1)
    if new1 >= INF:
        return INF
    new2 = _joined_leg(D, S, r2, t2, p2, r1, i + 1)
    if new2 >= INF:
        return INF
    old1 = _joined_leg(D, S, r1, t1, p1, r1, i + 1)
    old2 = _joined_leg(D, S, r2, t2, p2, r2, j + 1)
    return new1 + new2 - old1 - old2


@_leaf
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


@nb.njit(cache=True, nogil=True)
def tails_exchange_descent(D, S, NB):
    """Distance objective: apply improving 2-opt* moves between the routes of neighbouring
    orders (a new arc from an order to a neighbour in another route, either way) until none
    is left. Returns the distance saved."""
    buf = np.empty(S.routes.shape[1], dtype=np.int64)
    saved = np.int64(0)
    improved = True
    while improved:
        improved = False
        for u in range(D.n_orders):
            r1 = S.route_of[u]
            if r1 < 0:
                continue
            for k in range(NB.shape[1]):
                v = NB[u, k]
                r2 = S.route_of[v]
                if r2 < 0 or r2 == r1 or not _interchangeable(D, r1, r2):
                    continue
                i, j = S.pos_of[u], S.pos_of[v] - 1
                d = tails_exchange_delta(D, S, r1, i, r2, j)
                if d >= 0:
                    i, j = S.pos_of[u] - 1, S.pos_of[v]
                    d = tails_exchange_delta(D, S, r1, i, r2, j)
                if d < 0:
                    exchange_tails(D, S, r1, i, r2, j, buf)
                    saved -= d
                    improved = True
                    break
    return saved


@nb.njit(cache=True, nogil=True)
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


@_leaf
def advance_starts(D, S, crews, t):
    """Crews in ``crews`` cannot start before ``t``: move their start up and re-time them."""
    for r in crews:
        if D.crew_start[r] < t:
            D.crew_start[r] = t
            recompute_route(D, S, r)


@_leaf
def best_pull(D, S, r):
    """The queued (not committed) or unplanned order that crew ``r``, free now with an empty
    route, would start soonest ahead of the plan (an unplanned one counts as started at the
    horizon, as the objective does), weighted by customers and priority; -1 if none gains."""
    K = D.n_crews
    best = -1
    best_gain = 0.0
    for q in range(K):
        for i in range(S.frozen[q], S.rlen[q]):
            j = S.routes[q, i]
            if (D.crew_skills[r] & D.order_skill[j]) == 0:
                continue
            _, a, fits = arrive(D, r, D.crew_start[r], r, j)
            if not fits:
                continue
            ahead = S.fin[q, i] - D.service[j] - a
            gain = float(ahead) * (D.customers[j] + D.lateness_weight * D.priority[j])
            if gain > best_gain:
                best, best_gain = j, gain
    for j in range(D.n_orders):
        if S.route_of[j] >= 0 or (D.crew_skills[r] & D.order_skill[j]) == 0:
            continue
        _, a, fits = arrive(D, r, D.crew_start[r], r, j)
        if not fits:
            continue
        gain = float(D.horizon - a) * (D.customers[j] + D.lateness_weight * D.priority[j])
        if gain > best_gain:
            best, best_gain = j, gain
    return best
