"""Route arithmetic (private kernels): travel, when a crew arrives, what an order costs, and a
route's timing and caches (prefix costs, suffix aggregates, latest starts) that let the other
kernels price a change in O(1) or O(route length).

Plain arrays only. ``D`` is a namedtuple of the problem's arrays, ``S`` of the mutable
solution state; both are built by ``routing.arrays``. Costs and times are int64. A change is
priced by re-timing the route suffix, stopping as soon as a finish time matches the old
schedule (the rest is then unchanged): O(route length) at worst.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import INF, inline, leaf
from routing.problem import TravelKind

# Travel kinds (``routing.problem.TravelKind``) as the kernels compare them (numba freezes
# module constants at compile time).
MATRIX = int(TravelKind.MATRIX)
EUCLIDEAN = int(TravelKind.EUCLIDEAN)
DIMACS = int(TravelKind.DIMACS)
ROAD = int(TravelKind.ROAD)

# The suffix arrays of the dispatch objective, per route r and position i: field X is
# ``S.aux[r, SUFFIX_FIELDS * i + X]`` (``suffix_aggregates``, read with ``suf``; a position's
# seven values share a cache line). For the distance objective ``aux`` holds the latest starts
# instead (``S.aux[r, i]``): one array for both keeps ``S`` as small as it was, which the kernels'
# calls are sensitive to (one more array in ``S`` made the 2-opt* descent seven times slower).
RPOS, RNEG, SPOS, SNEG, SFEAS, SSKILL, SLEFT = 0, 1, 2, 3, 4, 5, 6
SUFFIX_FIELDS = 7


@inline
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


@inline
def order_cost(D, j, a, f, leg):
    if D.distance_objective:
        return leg
    late = a - D.deadline[j]
    if late < 0:
        late = 0
    return D.customers[j] * (f - D.reported[j]) + D.lateness_weight * D.priority[j] * late


@inline
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


@inline
def suf(S, r, i, x):
    """Field ``x`` of the suffix arrays of route ``r`` at position ``i``."""
    return S.aux[r, SUFFIX_FIELDS * i + x]


@leaf
def unassigned_cost(D, j):
    if D.distance_objective:
        return np.int64(10**12)
    return order_cost(D, j, D.horizon, D.horizon + D.service[j], 0)


@leaf
def recompute_route(D, S, r):
    """Re-time route ``r`` and refresh its prefix caches; returns False if it is infeasible."""
    return refresh_route(D, S, r, 0, S.rlen[r])


@leaf
def refresh_route(D, S, r, p, keep):
    """Route ``r`` changed from position ``p`` on: re-time it from there and refresh its caches,
    the distance objective's latest starts only before ``keep`` (those from ``keep`` on still
    hold); returns False if the part re-timed or the route's load breaks a limit."""
    ok = retime_from(D, S, r, p)
    if D.distance_objective:
        latest_starts_before(D, S, r, keep)
    else:
        suffix_aggregates(D, S, r)
    return ok


@leaf
def retime_from(D, S, r, p):
    """Re-time route ``r`` from position ``p`` on (its head before ``p`` unchanged) and
    refresh the prefix caches there, its cost and load, not the suffix arrays or latest
    starts; returns False if the part re-timed or the whole route's load breaks a limit."""
    K = D.n_crews
    t, prev = head_end(D, S, r, p - 1)
    cost = S.cpre[r, p - 1] if p > 0 else np.int64(0)
    load = S.lpre[r, p - 1] if p > 0 else np.int64(0)
    ok = True
    for i in range(p, S.rlen[r]):
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
    return ok


@leaf
def suffix_aggregates(D, S, r):
    """Dispatch objective: the suffix arrays of route ``r`` (``suf``, ``routing.arrays.State``),
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


@leaf
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
        room = suf(S, r, i, SFEAS) + D.crew_end[rc] - D.crew_end[r]
        if 0 < s <= suf(S, r, i, SPOS):
            return INF if s > room else s * suf(S, r, i, RPOS)
        if s <= 0 and -s <= suf(S, r, i, SNEG):
            return INF if s > room else s * suf(S, r, i, RNEG)
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
                m + 1 == L or suf(S, r, m + 1, SFEAS) + D.crew_end[rc] - D.crew_end[r] >= 0))):
            return cost - (S.cpre[r, m] - base)
        t = f
        prev = K + j
    if D.closed_routes and D.hard_windows and t + travel(D, prev, rc) > D.crew_end[rc]:
        return INF
    return cost - (S.rcost[r] - base)


@leaf
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
        if 0 < s <= suf(S, r, i, SPOS):
            if s <= suf(S, r, i, SFEAS):
                return s * suf(S, r, i, RPOS), L
            # starts rise along the route: the first order out is found by bisection
            lo, hi = i, L - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if S.fin[r, mid] - D.service[S.routes[r, mid]] + s > D.crew_end[r]:
                    hi = mid
                else:
                    lo = mid + 1
            kept = s * (suf(S, r, i, RPOS) - suf(S, r, lo, RPOS))  # lo < L: some order is out
            return kept + suf(S, r, lo, SLEFT) - (S.rcost[r] - (S.cpre[r, lo - 1] if lo > 0 else 0)), lo
        if s <= 0 and -s <= suf(S, r, i, SNEG):
            return s * suf(S, r, i, RNEG), L
    cost = np.int64(0)
    for m in range(i, L):
        j = S.routes[r, m]
        leg, a, fits = arrive(D, r, t, prev, j)
        if not fits:
            return (cost - (S.cpre[r, m - 1] - base if m > 0 else 0) + suf(S, r, m, SLEFT)
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


@leaf
def leg_into(S, r, k):
    """Distance objective: the length of the leg of route ``r`` into position ``k`` (``rlen``:
    the way back to the depot, 0 for an open route), read from the prefix costs."""
    L = S.rlen[r]
    if k < L:
        return S.cpre[r, k] - (S.cpre[r, k - 1] if k > 0 else 0)
    return S.rcost[r] - (S.cpre[r, L - 1] if L > 0 else 0)


@leaf
def latest_starts_before(D, S, r, keep):
    """Backward pass: the latest start at each position of route ``r`` before ``keep`` that
    keeps every later order, and the return to the depot, within their limits (legs read from
    the prefix costs, which the caller has set). Those from ``keep`` on hold theirs already (an
    edit before them leaves what follows them as it was); ``keep`` at or past the route's last
    position: every position."""
    L = S.rlen[r]
    if L == 0:
        return
    if keep >= L:
        j = S.routes[r, L - 1]
        late = D.crew_end[r]
        if D.hard_windows:
            late = min(late, D.deadline[j])
            if D.closed_routes:
                late = min(late, D.crew_end[r] - D.service[j] - leg_into(S, r, L))
        S.aux[r, L - 1] = late
        keep = L - 1
    late = S.aux[r, keep]
    for i in range(keep - 1, -1, -1):
        j = S.routes[r, i]
        late = min(D.crew_end[r], late - leg_into(S, r, i + 1) - D.service[j])
        if D.hard_windows:
            late = min(late, D.deadline[j])
        S.aux[r, i] = late


@inline
def after_head(D, S, r, tail_route, tail_start):
    """Where a route of crew ``r`` goes next when the tail of ``tail_route`` from
    ``tail_start`` follows its head: that tail's first order, else the depot ``r`` of a closed
    route, else nowhere (-1)."""
    if tail_start < S.rlen[tail_route]:
        return D.n_crews + S.routes[tail_route, tail_start]
    return r if D.closed_routes else -1


@inline
def joined_leg(D, S, r, t, prev, tail_route, tail_start):
    """Distance objective: the leg from ``prev`` (done at ``t``) to where a route of crew ``r``
    goes next (``after_head``); INF if the joined route breaks a limit (the tail's latest
    start, or the crew's end on the way back to the depot)."""
    nxt = after_head(D, S, r, tail_route, tail_start)
    if nxt < 0:
        return np.int64(0)
    leg = travel(D, prev, nxt)
    if nxt >= D.n_crews:
        if t + leg > S.aux[tail_route, tail_start]:
            return INF
    elif D.hard_windows and t + leg > D.crew_end[r]:
        return INF
    return leg


@inline
def head_end(D, S, r, i):
    """When and where the head of route ``r`` up to position ``i`` (-1: none) is done."""
    if i >= 0:
        return S.fin[r, i], D.n_crews + S.routes[r, i]
    return D.crew_start[r], r


@leaf
def total_cost(D, S):
    tot = np.int64(0)
    for r in range(D.n_crews):
        tot += S.rcost[r]
    for j in range(D.n_orders):
        if S.route_of[j] < 0:
            tot += unassigned_cost(D, j)
    return tot
