"""Live-plan moves (private kernels): a warm start's routes cut to what still fits, crews held
back to a later start, and the order a free crew pulls to the head of its route.
"""

from __future__ import annotations

from routing._kernels_config import leaf
from routing._kernels_route import arrive, recompute_route


@leaf
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


@leaf
def advance_starts(D, S, crews, t):
    """Crews in ``crews`` cannot start before ``t``: move their start up and re-time them."""
    for r in crews:
        if D.crew_start[r] < t:
            D.crew_start[r] = t
            recompute_route(D, S, r)


@leaf
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
