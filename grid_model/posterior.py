"""Which protective devices are out, given who reported: a maximum-a-posteriori choice by a
dynamic program over the supply tree.

The candidates are the elements whose opening darkens a subtree: every protective device (feeder
breaker, MV recloser, breaker or fuse, transformer fuse, LV outlet fuse), every service drop,
and every customer's own installation ("customer-side": a call from a customer whose supply
is on). The model, per outage snapshot:
- each candidate is out independently with the prior of its kind (``OutagePriors``);
- a customer below an outaged device calls with the call rate ``p``; a silent customer there
  is evidence with likelihood ``1 - p``; a customer whose supply is on does not call unless
  their own installation failed (prior: a customer reports a fault of their own);
- a meter below a dark LV element (its transformer live) sends a last gasp with the gasp rate
  ``a`` (the concentrator at the transformer passes it on); a meter below a dark transformer
  or MV device cannot, so a fresh last gasp rules its transformer and everything above out;
- an outage nested below another is unobservable. The max pass integrates it out exactly (with
  every prior below a half its likelier state is "not out", what the scores count); the sum pass
  counts the elements below a topmost outage as not out, so its probabilities are those of a
  prior over sets of topmost outages. Under independence an outage would also gain a factor
  ``1 / (1 - pi)`` per element nested below it (for a median feeder at the default priors about
  e^6.75): the confidences and EM's likelihood read topmost outages, not independent elements.

So the likelihood factorises over the tree: at each candidate ``v``, either ``v`` is the topmost
out on its path (score ``out(v)``: its prior log-odds, every customer below calling or not at
``p``, every meter gasping or not), or it is not out and its children decide (``in(v)``: the
sum of the children's scores). Scores are log-odds against the tree with nothing out and nobody
reporting, so a subtree without reports scores 0 and is never visited: the DP touches only the
candidate chains of the reports, O(reports x depth). Max gives the MAP outages (``map_outages``;
``MapState`` keeps the same sums incrementally, one chain per report); sum (log-sum-exp) gives
each candidate's posterior probability of being the topmost outage, by one outside pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from grid_model import _kernels_posterior as kernels
from grid_model._kernels_posterior import IMPOSSIBLE, TIE
from grid_model.network import DeviceKind, Network, NodeKind

_NO_MARKS = np.empty(0, dtype=np.int64)  # what ``report`` hands the kernel: no marks to read


class CandidateKind(IntEnum):
    """Kinds of candidate outage causes, each with its own prior."""

    FEEDER = 0
    MV_DEVICE = 1
    TRANSFORMER = 2
    LV_FUSE = 3
    SERVICE_DROP = 4
    CUSTOMER_SIDE = 5


CANDIDATE_NAMES: tuple[str, ...] = tuple(k.name.lower() for k in CandidateKind)


class PosteriorError(ValueError):
    """Bad input to the posterior: an unknown node, a rate or prior outside its range."""


@dataclass(frozen=True, slots=True)
class OutagePriors:
    """The model's parameters: per ``CandidateKind``, the probability that one element of the
    kind is out (for ``CUSTOMER_SIDE``: that a customer reports a fault of their own); the call
    rate of customers left dark; the share of meters whose last gasp gets through (0: no AMI)."""

    prior: tuple[float, ...]
    call_rate: float
    gasp_rate: float = 0.0

    def __post_init__(self) -> None:
        if len(self.prior) != len(CandidateKind):
            raise PosteriorError(f"need one prior per candidate kind ({', '.join(CANDIDATE_NAMES)}), "
                                 f"got {len(self.prior)}")
        for name, pi in zip(CANDIDATE_NAMES, self.prior, strict=True):
            if not 0.0 < pi < 0.5:
                raise PosteriorError(f"prior of {name} must lie in (0, 0.5), got {pi}")
        if not 0.0 < self.call_rate < 1.0:
            raise PosteriorError(f"call rate must lie in (0, 1), got {self.call_rate}")
        if not 0.0 <= self.gasp_rate < 1.0:
            raise PosteriorError(f"gasp rate must lie in [0, 1), got {self.gasp_rate}")


@dataclass(frozen=True, slots=True)
class SupplyTree:
    """The candidates of a network: per node its ``CandidateKind`` (-1: not a candidate), the
    nearest candidate strictly above it, its customers below, and whether it lies below its
    transformer (LV side, where a dark element leaves the concentrator powered); the candidates
    that are the utility's elements (not a customer's own installation), in preorder, as a table
    that the silent sums read in order (rows ``kernels.U_*``: position of the candidate above,
    kind, customers, LV side, customers whose nearest candidate above it is), and per node
    its column there (``utility_position``; the column count for the other nodes: where the silent
    sums keep their 0); the customers with no candidate above (``orphans``)."""

    kind: npt.NDArray[np.int8]
    parent: npt.NDArray[np.int64]
    customers: npt.NDArray[np.int64]
    lv_side: npt.NDArray[np.bool_]
    depth: npt.NDArray[np.int32]
    n_of_kind: tuple[int, ...]
    utility: npt.NDArray[np.int64]
    utility_position: npt.NDArray[np.int64]
    orphans: int

    @property
    def n_nodes(self) -> int:
        return len(self.kind)

    def has_chain(self, node_idx: int) -> bool:
        """Whether a candidate lies at or above ``node_idx`` (one that can explain its reports)."""
        return self.kind.item(node_idx) >= 0 or self.parent.item(node_idx) >= 0

    def chain(self, node_idx: int) -> list[int]:
        """The candidates from ``node_idx`` (itself when a candidate) up to the top."""
        if not 0 <= node_idx < self.n_nodes:
            raise PosteriorError(f"node {node_idx} is not in the network")
        v = node_idx if self.kind[node_idx] >= 0 else int(self.parent[node_idx])
        out = []
        while v >= 0:
            out.append(v)
            v = int(self.parent[v])
        return out


# Per node kind (``NodeKind`` order), without and with a protective device on it: its candidate
# kind (-1: none). A device's kind is where it sits; every drop, and a fused meter box, is a drop;
# every customer may have a fault of their own.
_CANDIDATE_OF = np.array([
    [-1, CandidateKind.FEEDER],  # substation
    [-1, CandidateKind.FEEDER],  # feeder head
    [-1, CandidateKind.MV_DEVICE],
    [-1, CandidateKind.TRANSFORMER],
    [-1, CandidateKind.LV_FUSE],  # LV branch
    [CandidateKind.SERVICE_DROP, CandidateKind.SERVICE_DROP],
    [-1, CandidateKind.SERVICE_DROP],  # meter box
    [CandidateKind.CUSTOMER_SIDE, CandidateKind.CUSTOMER_SIDE],
], dtype=np.int8).ravel()


def supply_tree_from_network(net: Network) -> SupplyTree:
    """Candidates: protective devices (their kind by where they sit), service drops, customers
    (one look-up per node in ``_CANDIDATE_OF``: a fresh predictor builds this inside the loop)."""
    nk, dev = net.kind, net.device != DeviceKind.NONE
    kind = _CANDIDATE_OF[2 * nk + dev]
    cand_parent, depth = kernels.candidate_parents(net.parent.astype(np.int64, copy=False), kind >= 0)
    n = len(kind)
    customers = net.count_below(nk == NodeKind.CUSTOMER)
    own = np.bincount(cand_parent[kind == CandidateKind.CUSTOMER_SIDE] + 1, minlength=n + 1)
    utility = np.flatnonzero((kind >= 0) & (kind != CandidateKind.CUSTOMER_SIDE))
    m = len(utility)
    position = np.full(n + 1, m, dtype=np.int64)  # a node's place in ``utility`` (m: none; index -1 too)
    position[utility] = np.arange(m)
    above = position[cand_parent[utility]]
    lv_side = np.asarray(nk > NodeKind.TRANSFORMER)
    table = np.stack([np.where(above < m, above, -1), kind[utility], customers[utility], lv_side[utility],
                      own[utility + 1]]).astype(np.int64)
    return SupplyTree(kind=kind, parent=cand_parent, customers=customers, lv_side=lv_side, depth=depth,
                      n_of_kind=tuple(int(np.count_nonzero(kind == k)) for k in CandidateKind),
                      utility=table, utility_position=position[:n], orphans=int(own[0]))


class Scorer:
    """``out(v)`` from a candidate's counts: its prior log-odds, its callers and silent
    customers at the call rate, its meters' gasps at the gasp rate; ``IMPOSSIBLE`` per violation."""

    def __init__(self, priors: OutagePriors) -> None:
        self.priors = priors
        self.log_odds = [math.log(pi / (1.0 - pi)) for pi in priors.prior]
        p, a = priors.call_rate, priors.gasp_rate
        self.log_p, self.log_1p = math.log(p), math.log1p(-p)
        self.log_a = math.log(a) if a > 0 else IMPOSSIBLE
        self.log_1a = math.log1p(-a)
        # what the kernels read (``grid_model._kernels_posterior``'s ``coef``)
        self.coef = np.array([*self.log_odds, self.log_p, self.log_1p, self.log_a, self.log_1a])
        self._silent: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float] | None = None

    def silent(self, tree: SupplyTree) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
        """For every candidate, the log-sum over its subtree's states when nobody below it
        reported (``z``), and the same summed over its children (``kids``), at its
        ``tree.utility_position`` (0 there for a customer's own fault): what the sum pass adds for
        the candidates without reports (the max pass needs none: their best is 0); and the log of
        the prior's normaliser over every set of topmost outages."""
        if self._silent is None:
            self._silent = kernels.silent_sums(tree.utility, tree.orphans, self.coef)
        return self._silent

    def out(self, kind: int, n: int, k: int, g: int, g_fresh: int, lv_side: bool, forbidden: bool) -> float:
        """Log-odds of ``v`` topmost out (``n`` customers, ``k`` calling, ``g`` gasping, ``g_fresh``
        of those gasps recent enough to prove the transformer live)."""
        if kind == CandidateKind.CUSTOMER_SIDE:
            s = self.log_odds[kind] if k > 0 else IMPOSSIBLE
            return s + IMPOSSIBLE * (g + forbidden)
        s = self.log_odds[kind] + k * self.log_p + (n - k) * self.log_1p
        if lv_side:
            s += g * self.log_a + (n - g) * self.log_1a
        else:
            s += IMPOSSIBLE * g_fresh
        return s + IMPOSSIBLE * forbidden


@dataclass(frozen=True, slots=True)
class Reports:
    """Reporting units (distinct nodes, customers as a rule): whether each called, sent a last
    gasp, and whether that gasp is fresh (still proves its transformer live)."""

    node_idx: npt.NDArray[np.int64]
    call: npt.NDArray[np.bool_]
    gasp: npt.NDArray[np.bool_]
    fresh: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, calls: Sequence[int] = (), gasps: Sequence[int] = (),
           stale_gasps: Sequence[int] = ()) -> Reports:
        """Units from node lists; a node in several lists is one unit with each report."""
        nodes = sorted({*calls, *gasps, *stale_gasps})
        c, g, s = set(calls), set(gasps), set(stale_gasps)
        return cls(np.asarray(nodes, dtype=np.int64), np.asarray([v in c for v in nodes], dtype=bool),
                   np.asarray([v in g or v in s for v in nodes], dtype=bool),
                   np.asarray([v in g for v in nodes], dtype=bool))


@dataclass(frozen=True, slots=True)
class Outage:
    """A MAP outage: the candidate, its kind, its posterior probability of being the topmost
    outage on its path, and the reporting nodes it explains."""

    node_idx: int
    kind: CandidateKind
    probability: float
    explains: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Posterior:
    """The MAP outages, the MAP's log-odds score, and per visited candidate the posterior
    probability of being the topmost outage on its path."""

    outages: tuple[Outage, ...]
    log_score: float
    top_probability: dict[int, float]


# Scores per candidate: a dict of the candidates visited, or an array over every node.
NodeScores = Mapping[int, float] | npt.NDArray[np.float64]


def map_outages(tree: SupplyTree, reports: Reports, priors: OutagePriors, *,
                forbidden: Collection[int] = ()) -> Posterior:
    """The MAP set of outaged candidates given ``reports``, with posterior probabilities.
    ``forbidden``: candidates known energised (a crew has just restored them)."""
    scorer = Scorer(priors)
    n = tree.n_nodes
    bad = reports.node_idx[(reports.node_idx < 0) | (reports.node_idx >= n)]
    if len(bad):
        raise PosteriorError(f"report from node {int(bad[0])}, which is not in the network")
    k: dict[int, int] = {}
    g: dict[int, int] = {}
    gf: dict[int, int] = {}
    own: dict[int, int] = {}
    unit_chain: list[list[int]] = []
    for u, c, s, f in zip(reports.node_idx.tolist(), reports.call.tolist(), reports.gasp.tolist(),
                          reports.fresh.tolist(), strict=True):
        chain = tree.chain(u)
        unit_chain.append(chain)
        if not chain:
            raise PosteriorError(f"node {u} has no candidate on its supply path")
        own[chain[0]] = own.get(chain[0], 0) + int(c) + int(s)
        for v in chain:
            k[v] = k.get(v, 0) + int(c)
            g[v] = g.get(v, 0) + int(s)
            gf[v] = gf.get(v, 0) + int(s and f)
    nodes = sorted(k)
    z_silent, kids_silent, _ = scorer.silent(tree)
    out_s: dict[int, float] = {}
    in_max: dict[int, float] = {v: IMPOSSIBLE * own.get(v, 0) for v in nodes}
    column = tree.utility_position
    in_sum = {v: in_max[v] + float(kids_silent[column[v]]) for v in nodes}
    best: dict[int, float] = {}
    z: dict[int, float] = {}
    kind, parent, cust, lv = tree.kind, tree.parent, tree.customers, tree.lv_side
    for v in reversed(nodes):  # children before parents (preorder)
        o = scorer.out(int(kind[v]), int(cust[v]), k[v], g[v], gf[v], bool(lv[v]), v in forbidden)
        out_s[v] = o
        best[v] = max(o, in_max[v])
        z[v] = float(np.logaddexp(o, in_sum[v]))
        p = int(parent[v])
        if p >= 0:
            in_max[p] += best[v]
            in_sum[p] += z[v] - float(z_silent[column[v]])
    top_p = top_probabilities(parent, nodes, out_s, in_sum, z)
    chosen = topmost(parent, nodes, lambda v: out_s[v] > in_max[v] + TIE)
    explains: dict[int, list[int]] = {v: [] for v in chosen}
    for u, chain in zip(reports.node_idx.tolist(), unit_chain, strict=True):
        top = next((v for v in reversed(chain) if v in chosen), None)
        if top is not None:
            explains[top].append(u)
    outages = tuple(Outage(v, CandidateKind(int(kind[v])), top_p[v], tuple(explains[v]))
                    for v in sorted(chosen))
    score = sum(best[v] for v in nodes if parent[v] < 0)
    return Posterior(outages, score, top_p)


def top_probabilities(parent: npt.NDArray[np.int64], nodes: Sequence[int], out: NodeScores,
                      inner: NodeScores, z: NodeScores) -> dict[int, float]:
    """The DP's outside pass: per candidate of ``nodes`` (preorder), its posterior probability of
    being the topmost outage on its path, from its log-odds ``out`` (topmost out), ``inner`` (not
    out, its children's sums) and their log-sum ``z``."""
    top_p: dict[int, float] = {}
    w: dict[int, float] = {}  # log-weight of the states above and beside the candidate
    root_z: dict[int, float] = {}
    for v in nodes:  # parents before children
        p = int(parent[v])
        if p < 0:
            w[v], root_z[v] = 0.0, z[v]
        else:
            w[v], root_z[v] = w[p] + inner[p] - z[v], root_z[p]
        top_p[v] = math.exp(min(0.0, w[v] + out[v] - root_z[v]))
    return top_p


def topmost(parent: npt.NDArray[np.int64], nodes: Sequence[int], pick: Callable[[int], bool]) -> set[int]:
    """The candidates of ``nodes`` (preorder) that ``pick`` takes going down, none below one
    taken."""
    chosen: set[int] = set()
    covered: set[int] = set()
    for v in nodes:  # parents before children
        p = int(parent[v])
        if p >= 0 and (p in chosen or p in covered):
            covered.add(v)
        elif pick(v):
            chosen.add(v)
    return chosen


class Marginals(NamedTuple):
    """Every candidate with reports (preorder), its posterior probability of being the topmost
    outage on its path, and the log-likelihood of all the reports (silent units included) under
    the parameters: what compares two estimates of them."""

    act: npt.NDArray[np.int64]
    probability: npt.NDArray[np.float64]
    log_likelihood: float


class MapState:
    """The DP's sums kept up to date one report at a time: adding or removing a reporting unit
    updates the counts and scores on its candidate chain only (O(depth), one kernel call);
    ``top`` reads the MAP outage explaining a chain. A change of priors recomputes every chain
    with reports. Per node: the reports' counts (``k`` calls, ``g`` gasps, ``gf`` fresh gasps,
    ``own`` reports from the node itself), until when a crew's restore rules it out
    (``forbidden_until``), and its scores (``out_s``, ``in_s``, ``child_sum``)."""

    def __init__(self, tree: SupplyTree, priors: OutagePriors) -> None:
        self.tree = tree
        self.scorer = Scorer(priors)
        n = tree.n_nodes
        self._tree = np.stack([tree.kind, tree.parent, tree.customers, tree.lv_side], dtype=np.int64)
        self._counts = np.zeros((5, n), dtype=np.int64)
        self._scores = np.zeros((3, n))
        self._chain = np.empty(int(tree.depth.max()) + 1 if n else 0, dtype=np.int64)
        self._pos = np.empty(n, dtype=np.int64)  # the batch kernels' scratch
        counts, scores = self._counts, self._scores  # the kernel's bundles; the names are rows of them
        self.k, self.g, self.gf = counts[kernels.CALLS], counts[kernels.GASPS], counts[kernels.FRESH]
        self.own, self.forbidden_until = counts[kernels.OWN], counts[kernels.FORBIDDEN_UNTIL]
        self.forbidden_until[:] = np.iinfo(np.int64).min  # never
        self.out_s, self.in_s, self.child_sum = scores[kernels.OUT], scores[kernels.IN], scores[kernels.CHILD]
        self.now_s = 0
        self._tops = np.flatnonzero((tree.kind >= 0) & (tree.parent < 0))  # candidates with none above
        self._active: npt.NDArray[np.int64] | None = None  # ``active()`` until the next report

    @property
    def priors(self) -> OutagePriors:
        return self.scorer.priors

    def chain(self, node_idx: int) -> list[int]:
        """The candidates from ``node_idx`` (itself when a candidate) up to the top."""
        return self.tree.chain(node_idx)

    def report(self, node_idx: int, *, call: int = 0, gasp: int = 0, fresh: int = 0,
               margin: float = 0.0) -> tuple[list[int], int]:
        """Add (+1) or remove (-1) the call, gasp or freshness of its gasp of the unit at
        ``node_idx``; returns its chain and ``top(chain, margin)`` after the change."""
        m, top, _ = self._report(node_idx, call, gasp, fresh, margin, _NO_MARKS)
        return self._chain[:m].tolist(), top

    def report_marked(self, node_idx: int, marks: npt.NDArray[np.int64], *, call: int = 0, gasp: int = 0,
                      fresh: int = 0, margin: float = 0.0) -> tuple[int, int]:
        """``report`` for a caller that needs of the chain only the highest candidate at or above
        ``top`` with a mark in ``marks`` (>= 0; the predictor's open incidents): ``top`` and that
        mark (-1: none), read in the kernel rather than off the chain as a list."""
        _, top, mark = self._report(node_idx, call, gasp, fresh, margin, marks)
        return top, mark

    def _report(self, node_idx: int, call: int, gasp: int, fresh: int, margin: float,
                marks: npt.NDArray[np.int64]) -> tuple[int, int, int]:
        if not 0 <= node_idx < self.tree.n_nodes:
            raise PosteriorError(f"node {node_idx} is not in the network")
        self._active = None
        return kernels.report(node_idx, call, gasp, fresh, self.now_s, margin, self._tree, self._counts,
                              self._scores, self.scorer.coef, self._chain, marks)

    def update(self, chain: list[int], *, call: int = 0, gasp: int = 0, fresh: int = 0) -> None:
        """``report`` for a unit with this chain."""
        self.report(chain[0], call=call, gasp=gasp, fresh=fresh)

    def top(self, chain: list[int], margin: float = 0.0) -> int:
        """The MAP outage explaining a unit on ``chain``: the highest candidate out. With a
        ``margin``, a candidate is out only when its score beats its children's by that much
        (log-odds; the chain's lowest candidate otherwise)."""
        for v in reversed(chain):
            if self.is_out(v, margin):
                return v
        return chain[0]

    def is_out(self, v: int, margin: float = 0.0) -> bool:
        return bool(self.k[v] or self.g[v]) and bool(self.out_s[v] > self.in_s[v] + TIE + margin)

    def set_priors(self, priors: OutagePriors) -> None:
        """New parameters: every candidate with reports is scored again, bottom-up."""
        self.scorer = Scorer(priors)
        self.rescore_all()

    def rescore_all(self) -> None:
        """Score every candidate with reports again, bottom-up."""
        kernels.rescore(self.active(), self.now_s, self._tree, self._counts, self._scores, self.scorer.coef)

    def marginals(self, priors: OutagePriors) -> Marginals:
        """``map_outages``'s sum pass, vectorised, under ``priors``; under the state's own
        priors, the sums over silent subtrees are computed once."""
        scorer = self.scorer if priors == self.scorer.priors else Scorer(priors)
        z, kids, normaliser = scorer.silent(self.tree)
        act = self.active()
        column = self.tree.utility_position
        prob, evidence = kernels.marginals(act, self.now_s, self._tree, self._counts, scorer.coef, z, kids,
                                           column, self._pos)
        return Marginals(act, prob, float(z[column[self._tops]].sum()) + evidence - normaliser)

    def active(self) -> npt.NDArray[np.int64]:
        """Candidates with reports below them, in preorder; kept until the next report (an
        estimate reads it twice, a pass over every node each time), so not to be modified."""
        if self._active is None:
            self._active = np.flatnonzero((self.k != 0) | (self.g != 0))
        return self._active
