"""Numba kernels of the storm lower bound (private: call through ``routing.bound``).

``D`` is the solver's namedtuple of problem arrays (``routing.arrays.kernel_data``); the proof
that each quantity below only relaxes the objective is in ``routing.bound``'s docstring.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import inline, kernel
from routing._kernels_route import travel

NEVER = np.int64(2**62)
# No price of the assignment's auction goes above this (trails are at least minus the service
# anyway), so that legs plus prices never overflow.
PRICE_CAP = np.int64(2**40)


@kernel
def least_travel(D, slack, width):
    """Legs into each order and out of each crew's start, each less ``slack`` seconds (the float
    rounding margin) and never below 0. Returns, per order, the least leg into it (from another
    order or the start of a crew holding its skill; 0 if there is none), the ``width`` other
    orders with the least legs into it (``near``, least first, -1 where there are fewer) and
    those legs (``near_leg``, NEVER where none), and its least leg from a qualified crew's
    start (``start_leg``, NEVER if no crew holds its skill); per crew, the least leg to an
    order it may serve (``first``)."""
    K, N = D.n_crews, D.n_orders
    near = np.full((N, width), -1, dtype=np.int64)
    near_leg = np.full((N, width), NEVER, dtype=np.int64)
    start_leg = np.full(N, NEVER, dtype=np.int64)
    first = np.full(K, NEVER, dtype=np.int64)
    for k in range(N):
        for j in range(N):
            if j != k:
                leg = max(0, travel(D, K + j, K + k) - slack)
                if width > 0 and leg < near_leg[k, width - 1]:
                    _keep_least(near, near_leg, k, j, leg)
        for c in range(K):
            if D.crew_skills[c] & D.order_skill[k]:
                t = max(0, travel(D, c, K + k) - slack)
                start_leg[k] = min(start_leg[k], t)
                first[c] = min(first[c], t)
    into = np.minimum(near_leg[:, 0], start_leg) if width > 0 else start_leg.copy()
    into[into == NEVER] = 0
    first[first == NEVER] = 0
    return into, first, near, near_leg, start_leg


@inline
def _keep_least(ids, legs, k, j, leg):
    """Insert ``j`` with ``leg`` into row ``k`` of the ascending lists (``ids``, ``legs``), in
    place of its last entry (the caller checked that ``leg`` is less)."""
    pos = legs.shape[1] - 1
    while pos > 0 and legs[k, pos - 1] > leg:
        legs[k, pos] = legs[k, pos - 1]
        ids[k, pos] = ids[k, pos - 1]
        pos -= 1
    legs[k, pos] = leg
    ids[k, pos] = j


@kernel
def lead_room(near_leg, start_leg):
    """Per order k, the most lead any choice may give it whatever the trails of orders off its
    list: its least leg from a qualified crew's start, and, when its list is full, the last
    (longest) leg on it, which no order off the list beats (trails are at most 0)."""
    N, W = near_leg.shape
    room = start_leg.copy()
    if W > 0:
        for k in range(N):
            room[k] = min(room[k], near_leg[k, W - 1])
    return room


@kernel
def assignment_prices(near, near_leg, room, max_bids):
    """Forward auction (Bertsekas, eps = 1 s) for the least total of legs in which each order
    takes one predecessor, another order on its list (each order preceding at most one) or its
    ``room`` (a crew start, unlimited), and an order may precede none. Returns each order's
    price as a predecessor: minus its trail, a dual of the assignment's linear programme. Any
    prices >= 0 give a valid (lead, trail) through ``leads``; the auction only makes them good.
    Stops after ``max_bids`` bids."""
    N, W = near.shape
    price = np.zeros(N, dtype=np.int64)
    owner = np.full(N, -1, dtype=np.int64)
    queue = np.arange(N)
    head, size, bids = 0, N, 0
    while size > 0 and bids < max_bids:
        k = queue[head]
        head = (head + 1) % N
        size -= 1
        best, second, pick = room[k], NEVER, -1
        for w in range(W):
            j = near[k, w]
            if j < 0:
                break
            c = near_leg[k, w] + price[j]
            if c < best:
                second, best, pick = best, c, j
            elif c < second:
                second = c
        if pick < 0:
            continue  # the crew start is best; prices only rise, so it stays best
        bids += 1
        price[pick] = min(PRICE_CAP, price[pick] + min(second - best, PRICE_CAP) + 1)
        evicted = owner[pick]
        owner[pick] = k
        if evicted >= 0:
            queue[(head + size) % N] = evicted
            size += 1
    return price


@kernel
def leads(near, near_leg, room, trail):
    """The most lead each order can have given the trails (all <= 0): min(room, least of
    t(j, k) - trail_j over the orders j on its list); an order off the list has t(j, k) at
    least the list's last leg, which ``room`` already caps. 0 where nothing bounds it (a lone
    order no crew can serve)."""
    N, W = near.shape
    out = room.copy()
    for k in range(N):
        for w in range(W):
            j = near[k, w]
            if j < 0:
                break
            out[k] = min(out[k], near_leg[k, w] - trail[j])
        if out[k] == NEVER:
            out[k] = 0
    return out


@kernel
def lead_trail_violation(D, slack, lead, trail):
    """The most by which (lead, trail) breaks a condition of the busy intervals
    [a_j - lead_j, a_j + p_j + trail_j] (0 or less when it breaks none): lead_k + trail_j at
    most t(j, k) for every ordered pair of orders, lead_k at most the leg from the start of
    every crew holding k's skill, lead_j >= 0 and p_j + trail_j >= 0 (legs less ``slack``,
    never below 0)."""
    K, N = D.n_crews, D.n_orders
    worst = np.int64(-NEVER)
    for k in range(N):
        worst = max(worst, -lead[k], -(D.service[k] + trail[k]))
        for j in range(N):
            if j != k:
                worst = max(worst, lead[k] + trail[j] - max(0, travel(D, K + j, K + k) - slack))
        for c in range(K):
            if D.crew_skills[c] & D.order_skill[k]:
                worst = max(worst, lead[k] - max(0, travel(D, c, K + k) - slack))
    return worst


@kernel
def earliest_arrival(D, into, first, slack, metric):
    """Per order, a lower bound on its arrival by any crew that may serve it, not before
    ``earliest``. With ``metric`` (travel obeys the triangle inequality up to ``slack``): the
    crew's start plus its direct leg, less ``slack``. Otherwise: plus the direct leg (the order
    first) or the crew's least first leg plus the order's least leg in (any later order).
    Crews that would arrive after their end (``shift_work``: after end less the work owed) are
    left out; NEVER if none is left."""
    K, N = D.n_crews, D.n_orders
    out = np.full(N, NEVER, dtype=np.int64)
    for j in range(N):
        owed = min(D.service[j], D.shift_work) if D.shift_work > 0 else 0
        for c in range(K):
            if not D.crew_skills[c] & D.order_skill[j]:
                continue
            leg = max(0, travel(D, c, K + j) - slack)
            if not metric:
                leg = min(leg, first[c] + into[j])
            a = max(D.earliest[j], D.crew_start[c] + leg)
            if a + owed <= D.crew_end[c]:
                out[j] = min(out[j], a)
    return out


@kernel
def _done_weight(order, weight, size, room, free, cap, contains):
    """Most weight of busy time done: each order's fraction done times its weight, its
    seconds at most ``room`` each, of which ``free`` need no crew (an order not started by the
    horizon), the rest loading the sets of order types within ``cap`` (Hall's conditions).
    Free seconds first (an exchange argument), then a polymatroid with a box: the greedy in
    ``order`` (decreasing weight per second) is exact (Edmonds)."""
    val = 0.0
    residual = cap.copy()
    n_sets = len(cap)
    full = n_sets - 1
    saturated = False
    for j in order:
        if weight[j] <= 0 or room[j] <= 0:
            continue
        if size[j] <= 0:
            val += weight[j]
            continue
        val += weight[j] * free[j] / size[j]
        if saturated:
            continue
        take = room[j] - free[j]
        for b in range(n_sets):
            if contains[j, b] and residual[b] < take:
                take = residual[b]
        if take <= 0:
            saturated = residual[full] <= 0
            continue
        val += weight[j] * take / size[j]
        for b in range(n_sets):
            if contains[j, b]:
                residual[b] -= take
    return val


@kernel
def _resort(order, key, moved, is_moved):
    """Restore ``order`` to ascending (key, index) after the keys of ``moved`` (flagged in
    ``is_moved``, cleared here) changed: the others keep their order, so one merge does it
    (what a full stable argsort of ``key`` gives, in O(n + m log m))."""
    moved.sort()
    moved = moved[np.argsort(key[moved], kind="mergesort")]
    merged = np.empty_like(order)
    a = b = 0
    for i in range(len(order)):
        while a < len(order) and is_moved[order[a]]:
            a += 1
        if b < len(moved) and (a == len(order) or key[moved[b]] < key[order[a]] or (
                key[moved[b]] == key[order[a]] and moved[b] < order[a])):
            merged[i] = moved[b]
            b += 1
        else:
            merged[i] = order[a]
            a += 1
    order[:] = merged
    is_moved[moved] = False


@inline
def _ramp_mid(t0, t1, start):
    """At the middle of (t0, t1], the least concave majorant's value of max(0, t - start)
    there: the line itself once started, else its chord from (t0, 0)."""
    if start <= t0:
        return 0.5 * (t0 + t1) - start
    if start < t1:
        return 0.5 * (t1 - start)
    return 0.0


@kernel
def capacity_integral(grid, busy_from, virtual_from, size, cust, cust_from, late_w, late_from,
                      contains, crew_start, crew_sets):
    """Sum over grid steps (t0, t1] of (t1 - t0) times a lower bound on the weight (rates at
    t0, which only grow) of busy time not done during the step: the weight counted at t0 less
    the most that can be done at the step's middle, where each order's room (busy time is done
    from ``busy_from`` on, or for free from ``virtual_from`` on) and each crew's time since its
    start are replaced by concave majorants over the step. The most done is then concave in t,
    so its mean over the step is at most its value at the middle. Also returns the sum of the
    steps' weights counted (the scale of the float error)."""
    n = len(size)
    n_sets = crew_sets.shape[1]
    when = np.concatenate((cust_from, late_from))  # event e: order e % n gains a rate
    events = np.argsort(when, kind="mergesort")
    seen = 0
    weight = np.zeros(n)
    key = np.empty(n)
    for j in range(n):
        key[j] = -np.inf if size[j] <= 0 else -0.0
    order = np.argsort(key, kind="mergesort")
    moved = np.empty(n, dtype=np.int64)
    is_moved = np.zeros(n, dtype=np.bool_)
    room = np.zeros(n)
    free = np.zeros(n)
    cap = np.zeros(n_sets)
    total = scale = 0.0
    for k in range(1, len(grid)):
        t0, t1 = grid[k - 1], grid[k]
        m = 0
        while seen < 2 * n and when[events[seen]] <= t0:
            e = events[seen]
            j = e % n
            weight[j] += late_w[j] if e >= n else cust[j]
            if not is_moved[j]:
                is_moved[j] = True
                moved[m] = j
                m += 1
            seen += 1
        if m > 0:
            for i in range(m):
                j = moved[i]
                key[j] = -np.inf if size[j] <= 0 else -weight[j] / size[j]
            _resort(order, key, moved[:m], is_moved)
        held = 0.0
        for j in range(n):
            held += weight[j]
            if size[j] > 0:
                room[j] = min(size[j], _ramp_mid(t0, t1, busy_from[j]))
                free[j] = min(room[j], _ramp_mid(t0, t1, virtual_from[j]))
            else:
                room[j] = 1.0 if busy_from[j] < t1 else 0.0
        if held <= 0:
            continue
        cap[:] = 0.0
        for c in range(len(crew_start)):
            span = _ramp_mid(t0, t1, crew_start[c])
            for b in range(n_sets):
                if crew_sets[c, b]:
                    cap[b] += span
        total += (t1 - t0) * (held - _done_weight(order, weight, size, room, free, cap, contains))
        scale += (t1 - t0) * held
    return total, scale
