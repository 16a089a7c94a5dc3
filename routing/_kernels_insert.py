"""Insertion kernels (private): the price of putting one order at a position (optionally
leaving out the orders that then no longer fit), the cheapest granular position, and the
edits that insert and remove orders.
"""

from __future__ import annotations

import numpy as np

from routing._kernels_config import INF, inline, leaf
from routing._kernels_rng import random
from routing._kernels_route import (
    DIMACS,
    EUCLIDEAN,
    arrive,
    head_end,
    joined_leg,
    leg_into,
    order_cost,
    refresh_route,
    tail_delta,
    tail_drop_delta,
    travel,
    unassigned_cost,
)

# ``blink`` of ``best_insertion_cut``: no position is skipped.
NO_BLINK = 0.0


@inline
def _insert_distance(D, S, r, p, c, leg, f):
    """Distance objective: O(1) with the latest starts of the route (``f``: when ``c`` would
    be finished, after a leg of ``leg``)."""
    out = joined_leg(D, S, r, f, D.n_crews + c, r, p)
    if out >= INF:
        return INF
    return leg + out - leg_into(S, r, p)


@inline
def _start_at(D, S, r, p, c):
    """Where every insertion price starts: may ``c`` go at position ``p`` of route ``r`` (skill,
    frozen head, room, capacity, arrival in time)? Returns (the leg in, arrival, finish);
    arrival INF when it may not."""
    L = S.rlen[r]
    if ((D.crew_skills[r] & D.order_skill[c]) == 0 or p < S.frozen[r] or p > L
            or S.routes.shape[1] <= L + 1):
        return 0, INF, INF
    if D.crew_capacity[r] > 0 and S.load[r] + D.demand[c] > D.crew_capacity[r]:
        return 0, INF, INF
    t, prev = head_end(D, S, r, p - 1)
    leg, a, fits = arrive(D, r, t, prev, c)
    if not fits:
        return 0, INF, INF
    return leg, a, a + D.service[c]


@inline
def insert_delta(D, S, r, p, c):
    """Cost change of inserting order ``c`` at position ``p`` of route ``r`` (INF if infeasible)."""
    leg, a, f = _start_at(D, S, r, p, c)
    if a >= INF:
        return INF
    if D.distance_objective:
        return _insert_distance(D, S, r, p, c, leg, f)
    d = tail_delta(D, S, r, p, f, D.n_crews + c, r)
    if d >= INF:
        return INF
    return order_cost(D, c, a, f, leg) + d


@leaf
def insert_at(D, S, r, p, c):
    """Put order ``c`` at position ``p`` of route ``r``: the head before ``p`` keeps its
    times, and (distance objective) the orders after it their latest starts, one place on."""
    L = S.rlen[r]
    for i in range(L, p, -1):
        S.routes[r, i] = S.routes[r, i - 1]
        if D.distance_objective:
            S.aux[r, i] = S.aux[r, i - 1]
    S.routes[r, p] = c
    S.rlen[r] = L + 1
    S.route_of[c] = r
    refresh_route(D, S, r, p, p + 1)


@leaf
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
        if D.distance_objective:
            S.aux[r, i - length] = S.aux[r, i]
    S.rlen[r] = L - length
    refresh_route(D, S, r, start, start)
    return n_out


@leaf
def insert_drop_delta(D, S, r, p, c):
    """As ``insert_delta``, but the orders after ``c`` that the crew could then no longer
    start in time are left out, their unassigned cost priced in (``tail_drop_delta``).
    Returns (cost change or INF, the first position of route ``r`` left out: ``rlen`` if
    none)."""
    L = S.rlen[r]
    leg, a, f = _start_at(D, S, r, p, c)
    if a >= INF:
        return INF, L
    d, cut = tail_drop_delta(D, S, r, p, f, D.n_crews + c)
    if d >= INF:
        return INF, L
    return order_cost(D, c, a, f, leg) + d, cut


@inline
def _candidate(D, S, r, p, c, drop):
    if drop:
        return insert_drop_delta(D, S, r, p, c)
    return insert_delta(D, S, r, p, c), S.rlen[r]


@inline
def _until_blink(blink, rng):
    """How many positions are priced before the next one is skipped (each one is, with
    probability ``blink``: a geometric draw, one random number per skip instead of one per
    position); -1: none is."""
    if blink <= 0.0:
        return -1
    return int(np.log(1.0 - random(rng)) / np.log(1.0 - blink))


@inline
def prunable(D, drop):
    """Whether ``best_insertion_cut`` may pass over a position next to ``q`` on a bound: for
    the distance objective an insertion next to ``q`` costs at least the leg between ``c`` and
    ``q`` less the leg it replaces, the same either way for a symmetric travel kind."""
    kind = D.travel_kind
    return D.distance_objective and not drop and kind in (DIMACS, EUCLIDEAN)


@leaf
def best_insertion_cut(D, S, NB, CN, c, blink, drop, rng):
    """Cheapest feasible position for ``c`` next to its nearest orders, or at the start or end
    of its nearest crews' routes (granular neighbourhood); with ``drop`` (dispatch objective)
    a position may leave out the orders after it that no longer fit (``insert_drop_delta``).
    Returns (route, position, delta, the first position left out of that route)."""
    best_r, best_p, best_d, best_cut = -1, -1, INF, -1
    skip = _until_blink(blink, rng)
    prune = prunable(D, drop)
    for k in range(NB.shape[1]):
        q = NB[c, k]
        r = S.route_of[q]
        if r < 0:
            continue
        near = travel(D, D.n_crews + c, D.n_crews + q) if prune else np.int64(0)
        for p in (S.pos_of[q], S.pos_of[q] + 1):
            if skip == 0:
                skip = _until_blink(blink, rng)
                continue
            skip -= 1
            if prune and near - leg_into(S, r, p) >= best_d:
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


@leaf
def cheaper_insertion(D, S, NB, CN, c, blink, drop, rng):
    """Where to insert ``c`` if that costs less than leaving it out: (route, position, first
    position left out) of its cheapest granular insertion (``best_insertion_cut``); route -1
    when it fits nowhere or leaving it out costs no more. The one rule every caller keeps."""
    r, p, d, cut = best_insertion_cut(D, S, NB, CN, c, blink, drop, rng)
    if r < 0 or d >= unassigned_cost(D, c):
        return -1, -1, -1
    return r, p, cut


@leaf
def insert_if_cheaper(D, S, NB, CN, c, rng):
    """Insert ``c`` at its cheapest granular position unless leaving it out costs no more
    (``cheaper_insertion``, no order left out); returns (route, position), route -1: left out."""
    r, p, _ = cheaper_insertion(D, S, NB, CN, c, NO_BLINK, False, rng)
    if r >= 0:
        insert_at(D, S, r, p, c)
    return r, p
