"""Slow, obviously correct reference code the posterior DP is tested against."""

from __future__ import annotations

import itertools
import math

import numpy as np

from grid_model.feeder_factor import PRIOR_HIGH
from grid_model.network import Network, NodeKind
from grid_model.posterior import IMPOSSIBLE, CandidateKind, MapState, OutagePriors, Scorer, SupplyTree


def brute_force_posterior(net: Network, tree: SupplyTree, calls: set[int], gasps: set[int],
                          priors: OutagePriors, *, stale: set[int] | frozenset[int] = frozenset(),
                          forbidden: set[int] | frozenset[int] = frozenset()
                          ) -> tuple[float, frozenset[int], dict[int, float]]:
    """Every set of outaged utility candidates with none nested in another, scored customer by
    customer; returns the best score, its set, and per candidate the posterior probability of
    being the topmost outage on its path (a customer's own node: of being customer-side)."""
    utility = [v for v in range(net.n_nodes) if 0 <= tree.kind[v] != CandidateKind.CUSTOMER_SIDE]
    customers = [v for v in range(net.n_nodes) if net.kind[v] == NodeKind.CUSTOMER]
    p, a = priors.call_rate, priors.gasp_rate
    log_a = math.log(a) if a > 0 else IMPOSSIBLE
    odds = [math.log(pi / (1 - pi)) for pi in priors.prior]
    weights: dict[frozenset[int], float] = {}
    for r in range(len(utility) + 1):
        for combo in itertools.combinations(utility, r):
            out = frozenset(combo)
            if any(u != v and net.is_ancestor(u, v) for u in out for v in out):
                continue
            score = sum(odds[tree.kind[v]] + IMPOSSIBLE * (v in forbidden) for v in out)
            for c in customers:
                top = next((v for v in reversed(net.path_up(c)) if v in out), None)
                called, gasped = c in calls, c in gasps or c in stale
                if top is None:
                    cs_out = (odds[CandidateKind.CUSTOMER_SIDE] if called else IMPOSSIBLE) \
                        + IMPOSSIBLE * (gasped + (c in forbidden))
                    cs_in = IMPOSSIBLE * (called + gasped)
                    score += float(np.logaddexp(cs_out, cs_in)) if (called or gasped) else 0.0
                    continue
                score += math.log(p) if called else math.log1p(-p)
                if tree.lv_side[top]:
                    score += log_a if gasped else math.log1p(-a)
                elif c in gasps:
                    score += IMPOSSIBLE
            weights[out] = score
    best = max(weights, key=lambda s: weights[s])
    top_z = max(weights.values())
    total = sum(math.exp(w - top_z) for w in weights.values())
    marg: dict[int, float] = {}
    for v in utility:
        marg[v] = sum(math.exp(w - top_z) for s, w in weights.items() if v in s) / total
    for c in calls | gasps | stale:
        called, gasped = c in calls, c in gasps or c in stale
        cs_out = (odds[CandidateKind.CUSTOMER_SIDE] if called else IMPOSSIBLE) \
            + IMPOSSIBLE * (gasped + (c in forbidden))
        own = 1.0 / (1.0 + math.exp(min(700.0, IMPOSSIBLE * (called + gasped) - cs_out)))  # cs, given live
        live = [w for s, w in weights.items() if not any(net.is_ancestor(v, c) for v in s)]
        marg[c] = own * sum(math.exp(w - top_z) for w in live) / total
    return weights[best], best, marg


def log_likelihood(net: Network, tree: SupplyTree, calls: set[int], priors: OutagePriors) -> float:
    """The probability of exactly these calls (no AMI), summed over every set of topmost
    outages (customers' own faults included) weighted by their prior odds, over the sum of
    those weights."""
    utility = [v for v in range(net.n_nodes) if 0 <= tree.kind[v] != CandidateKind.CUSTOMER_SIDE]
    customers = [v for v in range(net.n_nodes) if net.kind[v] == NodeKind.CUSTOMER]
    p = priors.call_rate
    odds = [pi / (1 - pi) for pi in priors.prior]
    weight = likelihood = 0.0
    for r in range(len(utility) + 1):
        for combo in itertools.combinations(utility, r):
            if any(u != v and net.is_ancestor(u, v) for u in combo for v in combo):
                continue
            w = math.prod(odds[tree.kind[v]] for v in combo)
            live = [c for c in customers if not any(net.is_ancestor(v, c) for v in combo)]
            dark = [c for c in customers if c not in live]
            weight += w * (1 + odds[CandidateKind.CUSTOMER_SIDE]) ** len(live)
            own = math.prod(odds[CandidateKind.CUSTOMER_SIDE] if c in calls else 1.0 for c in live)
            likelihood += w * own * math.prod(p if c in calls else 1 - p for c in dark)
    return math.log(likelihood / weight)


def candidate_parents(net: Network, cand: list[bool]) -> tuple[list[int], list[int]]:
    """Per node, the nearest candidate strictly above it (-1: none) and the number of candidates
    above it, by walking up from the node."""
    above, depth = [], []
    for v in range(net.n_nodes):
        up = [a for a in net.path_up(v)[1:] if cand[a]]
        above.append(up[0] if up else -1)
        depth.append(len(up))
    return above, depth


def silent_sums(tree: SupplyTree, priors: OutagePriors) -> tuple[list[float], list[float], float]:
    """Per candidate, by recursion over its candidate children: ``kids``, the sum of their
    ``z``, and ``z = log(e^out + e^kids)`` with ``out`` scored for nobody reporting; and the log
    of the prior's normaliser: per top candidate, its prior odds or, not out, its children's
    and its own customers' (each with or without a fault of their own), multiplied over the tops
    and the customers with no candidate above."""
    scorer = Scorer(priors)
    cs = int(CandidateKind.CUSTOMER_SIDE)
    children: dict[int, list[int]] = {}
    for v in range(tree.n_nodes):
        if tree.kind[v] >= 0 and tree.parent[v] >= 0:
            children.setdefault(int(tree.parent[v]), []).append(v)
    z = [0.0] * tree.n_nodes
    kids = [0.0] * tree.n_nodes

    def visit(v: int) -> float:
        kids[v] = sum(visit(c) for c in children.get(v, []))
        out = scorer.out(int(tree.kind[v]), int(tree.customers[v]), 0, 0, 0, bool(tree.lv_side[v]), False)
        z[v] = max(out, kids[v]) + math.log1p(math.exp(-abs(out - kids[v])))
        return z[v]

    with_own_fault = math.log1p(priors.prior[cs] / (1 - priors.prior[cs]))

    def prior(v: int) -> float:
        if tree.kind[v] == cs:
            return with_own_fault
        inner = sum(prior(c) for c in children.get(v, []))
        return float(np.logaddexp(scorer.log_odds[int(tree.kind[v])], inner))

    normaliser = 0.0
    for v in range(tree.n_nodes):
        if tree.kind[v] >= 0 and tree.parent[v] < 0:
            if tree.kind[v] != cs:
                visit(v)
            normaliser += prior(v)
    return z, kids, normaliser


def expected_counts(tree: SupplyTree, state: MapState, priors: OutagePriors,
                    cover_scale: np.ndarray | None = None) -> list[float]:
    """The E step's expected counts (``kernels.E_*`` order), candidate by candidate: a candidate
    with reports is out with its marginal, a utility one without with the probability that an
    outage there stayed silent (the logistic of its silent score); a drop serving one customer
    counts as customer-side, and stays out of the silent counts. With ``cover_scale``, an element
    below a candidate with reports counts as its kind's prior times the scale there (under
    ``PRIOR_HIGH``, or the prior where higher) over the prior."""
    m = len(CandidateKind)
    act, prob, _ = state.marginals(priors)
    p_top = dict(zip(act.tolist(), prob.tolist(), strict=True))
    scorer = Scorer(priors)
    cs = int(CandidateKind.CUSTOMER_SIDE)
    lone = [tree.kind[v] == CandidateKind.SERVICE_DROP and tree.customers[v] <= 1
            for v in range(tree.n_nodes)]
    out, covered = [0.0] * m, [0.0] * m
    dark = lv_dark = calls = gasps = 0.0
    for v in range(tree.n_nodes):
        kind = int(tree.kind[v])
        if kind < 0 or (v not in p_top and (kind == cs or lone[v])):
            continue
        n = int(tree.customers[v])
        if v in p_top:
            p = p_top[v]
        else:
            p = 1.0 / (1.0 + math.exp(-scorer.out(kind, n, 0, 0, 0, bool(tree.lv_side[v]), False)))
        counted_as = cs if lone[v] else kind
        out[counted_as] += p
        below = [0] * m
        for u in range(tree.n_nodes):
            a = int(tree.parent[u])
            while a >= 0 and tree.kind[u] >= 0 and not lone[u]:
                if a == v:
                    below[int(tree.kind[u])] += 1
                    break
                a = int(tree.parent[a])
        more = [1.0] * m
        if cover_scale is not None and v in p_top:
            more = [min(pi * float(cover_scale[v]), max(pi, PRIOR_HIGH)) / pi for pi in priors.prior]
        for k in range(m):
            covered[k] += p * below[k] * more[k]
        if counted_as != cs:
            dark += p * n
            calls += p * int(state.k[v])
            if tree.lv_side[v]:
                lv_dark += p * n
                gasps += p * int(state.g[v])
    return [*out, *covered, dark, lv_dark, calls, gasps]
