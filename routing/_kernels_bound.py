"""Numba kernels of the storm lower bound (private: call through ``routing.bound``).

``D`` is the solver's namedtuple of problem arrays (``routing.arrays.kernel_data``); the proof
that each quantity below only relaxes the objective is in ``routing.bound``'s docstring.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from routing._kernels_route import travel

NEVER = np.int64(2**62)


@nb.njit(cache=True, nogil=True)
def least_travel(D, slack):
    """Per order, the least travel into it from any other point (other orders, and the starts
    of crews holding its skill); per crew, the least travel to an order it may serve. Each
    less ``slack`` seconds (the float rounding margin), never below 0."""
    K, N = D.n_crews, D.n_orders
    into = np.full(N, NEVER, dtype=np.int64)
    first = np.full(K, NEVER, dtype=np.int64)
    for j in range(N):
        best = NEVER
        for i in range(N):
            if i != j:
                best = min(best, travel(D, K + i, K + j))
        for c in range(K):
            if D.crew_skills[c] & D.order_skill[j]:
                t = travel(D, c, K + j)
                best = min(best, t)
                first[c] = min(first[c], t)
        into[j] = max(0, best - slack) if best < NEVER else 0
    for c in range(K):
        first[c] = max(0, first[c] - slack) if first[c] < NEVER else 0
    return into, first


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True)
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


@nb.njit(cache=True, nogil=True, inline="always")
def _ramp_mid(t0, t1, start):
    """At the middle of (t0, t1], the least concave majorant's value of max(0, t - start)
    there: the line itself once started, else its chord from (t0, 0)."""
    if start <= t0:
        return 0.5 * (t0 + t1) - start
    if start < t1:
        return 0.5 * (t1 - start)
    return 0.0


@nb.njit(cache=True, nogil=True)
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
