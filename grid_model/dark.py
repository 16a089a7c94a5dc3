"""Which customers are dark, given who reported: the reading per customer of the posterior in
which every element is out independently (as a storm damages them), beside the MAP of
``grid_model.posterior``.

The MAP names the likeliest explanation of all the reports at once; with few callers (8-12 % of
the customers who lose supply call) it reads a hard-hit feeder's calls as many small faults
where one big outage is nearly as likely. This reading asks, per element on the reports' chains,
whether the customers below it are dark with a posterior of at least a half (the element's and
its ancestors' probabilities of being the topmost outage, summed: those events exclude one
another), and names the topmost such elements: the customers it calls dark are each likelier
dark than not. On the generated storms it names as many outages as the MAP or more with a
higher customers-out F1 (``benchmarks/README.md``).

The model: each candidate is out independently with its own prior (``log_odds``), a dark
customer calls with the call rate ``p`` and a dark meter on the LV side sends a last gasp with
the gasp rate ``a``, as in ``grid_model.posterior``; an element nested below an outage is
unobservable and free, so an outage gains a factor ``1 / (1 - pi)`` per element below it
(``silent_scores``' ``nested``), which the posterior's prior over sets of topmost outages leaves
out. Scores are log-odds against nothing out and nobody reporting; the passes visit the
candidates with reports only, O(reports x depth), after one pass over the tree per set of priors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from grid_model._kernels_posterior import IMPOSSIBLE
from grid_model.posterior import CandidateKind, MapState, SupplyTree, top_probabilities, topmost

# How the passes fold an element's two states: np.logaddexp sums them (the posterior), np.maximum
# keeps the best (the MAP).
Fold = Callable[..., npt.NDArray[np.float64]]
_CS = int(CandidateKind.CUSTOMER_SIDE)


class Evidence(NamedTuple):
    """The reports as the passes read them: the candidates with reports below them (preorder),
    and per node the units below it that called, sent a last gasp, a gasp still fresh (proving
    the transformer live), the reports of the node itself (supply on there: only its own fault
    explains them), and whether a crew has just restored it."""

    chains: npt.NDArray[np.int64]
    calls: npt.NDArray[np.int64]
    gasps: npt.NDArray[np.int64]
    fresh: npt.NDArray[np.int64]
    own: npt.NDArray[np.int64]
    forbidden: npt.NDArray[np.bool_]


class ChainScores(NamedTuple):
    """Per candidate on the chains (``chains``, preorder): its score out (the topmost outage on
    its path), in (not out, its children decide) and the two folded, indexed by node."""

    chains: npt.NDArray[np.int64]
    out: npt.NDArray[np.float64]
    inner: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]


def evidence_of_calls(tree: SupplyTree, nodes: list[int]) -> Evidence:
    """The evidence of one call from each of ``nodes`` (a node twice calls once)."""
    n = tree.n_nodes
    calls = np.zeros(n, dtype=np.int64)
    own = np.zeros(n, dtype=np.int64)
    for u in set(nodes):
        chain = tree.chain(u)
        own[chain[0]] += 1
        calls[chain] += 1
    zero = np.zeros(n, dtype=np.int64)
    return Evidence(np.flatnonzero(calls), calls, zero, zero, own, np.zeros(n, dtype=np.bool_))


def evidence_of_state(state: MapState) -> Evidence:
    """The evidence a ``MapState`` holds now: its reports, fresh gasps and restored elements."""
    return Evidence(state.active(), state.k, state.g, state.gf, state.own,
                    state.forbidden_until > state.now_s)


def kind_log_odds(tree: SupplyTree, prior: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """Per node, the log-odds of its candidate kind's prior (0 for a node that is no candidate)."""
    pi = np.asarray(prior, dtype=np.float64)
    odds = np.log(pi) - np.log1p(-pi)
    return np.where(tree.kind >= 0, odds[np.maximum(tree.kind, 0)], 0.0)


def silent_scores(tree: SupplyTree, log_odds: npt.NDArray[np.float64], call_rate: float, fold: Fold,
                  gasp_rate: float = 0.0) -> tuple[npt.NDArray[np.float64], ...]:
    """Per candidate, three log-odds against nothing out, over the states ``fold`` folds: of the
    candidates strictly below it while it is out (each out or not, unseen either way), of its
    subtree with nobody below reporting, and the latter summed over its children. With every
    prior below a half the best state of each is nothing out (0), which is why the MAP skips
    subtrees without reports; above a half a silent element may be likelier out than not."""
    n = tree.n_nodes
    cand = np.flatnonzero(tree.kind >= 0)
    free = fold(0.0, log_odds)
    nested, silent, kids = np.zeros(n), np.zeros(n), np.zeros(n)
    quiet = tree.customers * math.log1p(-call_rate) + np.where(tree.lv_side, tree.customers, 0) * math.log1p(
        -gasp_rate)
    depth = tree.depth[cand]
    for d in range(int(depth.max()), -1, -1):  # children before parents
        level = cand[depth == d]
        util = level[tree.kind[level] != _CS]  # a silent customer's own fault: not reported, not out
        silent[util] = fold(log_odds[util] + nested[util] + quiet[util], kids[util])
        up = level[tree.parent[level] >= 0]
        np.add.at(nested, tree.parent[up], nested[up] + free[up])
        np.add.at(kids, tree.parent[up], silent[up])
    return nested, silent, kids


def chain_scores(tree: SupplyTree, ev: Evidence, log_odds: npt.NDArray[np.float64], call_rate: float,
                 fold: Fold, gasp_rate: float = 0.0) -> ChainScores:
    """The upward pass over the chains of the reports with a prior per node: out, its log-odds,
    what is nested below it (``silent_scores``), every customer below calling or not at
    ``call_rate``, every meter below on the LV side gasping or not at ``gasp_rate`` (a fresh
    gasp rules out an MV outage above it); in, its children's scores."""
    nested, silent, kids = silent_scores(tree, log_odds, call_rate, fold, gasp_rate)
    log_p, log_1p = math.log(call_rate), math.log1p(-call_rate)
    log_a = math.log(gasp_rate) if gasp_rate > 0 else IMPOSSIBLE
    log_1a = math.log1p(-gasp_rate)
    chains = ev.chains
    n = tree.n_nodes
    out, inner, score = np.zeros(n), np.zeros(n), np.zeros(n)
    inner[chains] = kids[chains] + IMPOSSIBLE * ev.own[chains]
    for v in chains[::-1].tolist():  # children before parents (preorder)
        k, g = int(ev.calls[v]), int(ev.gasps[v])
        if tree.kind[v] == _CS:
            o = (float(log_odds[v]) if k else IMPOSSIBLE) + IMPOSSIBLE * g
        else:
            c = int(tree.customers[v])
            o = float(log_odds[v] + nested[v]) + k * log_p + (c - k) * log_1p
            o += g * log_a + (c - g) * log_1a if tree.lv_side[v] else IMPOSSIBLE * int(ev.fresh[v])
        out[v] = o + IMPOSSIBLE * bool(ev.forbidden[v])
        score[v] = float(fold(out[v], inner[v]))
        p = int(tree.parent[v])
        if p >= 0:
            inner[p] += score[v] - silent[v]
    return ChainScores(chains, out, inner, score)


def topmost_probabilities(tree: SupplyTree, s: ChainScores) -> dict[int, float]:
    """Per candidate on the chains, its posterior probability of being the topmost outage on its
    path (``s`` folded with logaddexp)."""
    return top_probabilities(tree.parent, s.chains.tolist(), s.out, s.inner, s.score)


def dark_probabilities(tree: SupplyTree, chains: list[int], top_p: dict[int, float]) -> dict[int, float]:
    """Per utility candidate on ``chains`` (preorder, every candidate above one included), the
    posterior probability that the customers below it are dark: its and its ancestors'
    probabilities ``top_p`` of being the topmost outage, summed (those events exclude one
    another); per customer's own installation, that of the candidate above it (the customer's
    supply is off), its own fault being the customer's and not an outage."""
    dark: dict[int, float] = {}
    for v in chains:  # parents first
        above = dark.get(int(tree.parent[v]), 0.0)
        dark[v] = above if tree.kind[v] == _CS else above + top_p[v]
    return dark


def dark_topmost(tree: SupplyTree, chains: list[int], top_p: dict[int, float]) -> set[int]:
    """The candidates on ``chains`` (preorder, every candidate above one included), none nested
    in another, below which the customers are dark with a posterior of at least a half
    (``dark_probabilities``). A customer's own fault is named where nothing above it is (it called
    with supply on)."""
    return _half_dark(tree, chains, dark_probabilities(tree, chains, top_p))


def _half_dark(tree: SupplyTree, chains: list[int], dark: dict[int, float]) -> set[int]:
    """``dark_topmost`` from the ``dark_probabilities``."""
    return topmost(tree.parent, chains, lambda v: dark[v] >= 0.5 or tree.kind[v] == _CS)


def likeliest_of_equals(tree: SupplyTree, chains: list[int], named: set[int],
                        log_odds: npt.NDArray[np.float64]) -> set[int]:
    """``named`` with each utility element replaced by the likeliest cause of the same customers'
    outage: of the elements on its chain with the same customers (a transformer fuse over a
    single LV fuse, a feeder breaker over a feeder's only transformer), which the reports cannot
    tell apart, the one whose kind's prior (``log_odds``) is highest, the lowest of equals (the
    MAP's choice; under independence the nested elements would favour the highest by a little)."""
    equal_child: dict[int, int] = {}
    for v in chains:
        p = int(tree.parent[v])
        if p >= 0 and tree.kind[v] != _CS and tree.customers[v] == tree.customers[p]:
            equal_child[p] = v
    equal_parent = {v: p for p, v in equal_child.items()}
    chosen = set()
    for v in named:
        top = v
        while top in equal_parent:
            top = equal_parent[top]
        best, w = top, equal_child.get(top)
        while w is not None:
            if log_odds[w] >= log_odds[best]:
                best = w
            w = equal_child.get(w)
        chosen.add(best)
    return chosen


class DarkReading(NamedTuple):
    """The candidates the reading names, and per candidate on the reports' chains its posterior
    probability of being the topmost outage on its path and that its customers are dark."""

    named: set[int]
    top_probability: dict[int, float]
    dark_probability: dict[int, float]


def read_dark(state: MapState, log_odds: npt.NDArray[np.float64] | None = None) -> DarkReading:
    """The reading per customer of the reports ``state`` holds, under its priors: per kind, or
    per node (``log_odds``) with its call and gasp rates."""
    tree, priors = state.tree, state.priors
    if log_odds is None:
        log_odds = kind_log_odds(tree, priors.prior)
    s = chain_scores(tree, evidence_of_state(state), log_odds, priors.call_rate, np.logaddexp,
                     priors.gasp_rate)
    top_p = topmost_probabilities(tree, s)
    chains = s.chains.tolist()
    dark = dark_probabilities(tree, chains, top_p)
    named = likeliest_of_equals(tree, chains, _half_dark(tree, chains, dark), log_odds)
    return DarkReading(named, top_p, dark)
