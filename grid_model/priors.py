"""The posterior's parameters, estimated by the tool: priors per candidate kind and the call
and gasp rates (``grid_model.posterior.OutagePriors``).

Two sources:
- ``PriorEstimator``: online, from the reports of this storm by expectation-maximisation. The
  E step is the posterior itself: each candidate's probability of being out given every report
  (``MapState.marginals`` for candidates with reports below them; for the rest, the probability
  that an outage there stayed silent, ``sigmoid(prior log-odds + N log(1-p) [+ N log(1-a)])``).
  The M step counts: a kind's prior is its expected outages over its elements; the call rate is
  the expected callers over the expected dark customers; the gasp rate the expected last gasps
  over the expected dark meters of LV outages. Unreported outages are counted too, which keeps
  the estimates from collapsing at low call rates (a 10-customer fuse at 5 % sends nothing more
  often than not). Each is a posterior mean under a weak prior (``start``, weighted ``strength``
  pseudo-elements or ``rate_strength`` pseudo-customers);
- ``priors_from_history``: a utility's record of past outages, counted by kind of element that
  operated, over the number of elements of each kind (one storm's worth): a start for the EM
  (``PredictionParams.priors``) better than the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from grid_model.posterior import CandidateKind, MapState, OutagePriors, PosteriorError, SupplyTree

# Where estimation starts when nothing better is known: a storm darkens a few per cent of the
# devices of each kind, drops and customers' own faults less often; a customer left dark calls
# with 10-30 % (DESIGN.md: 8-12 % in a wide outage, more in a small one; starting high makes the
# first reports err low, which later reports correct); no AMI until a last gasp arrives.
DEFAULT_PRIORS = OutagePriors(prior=(0.02, 0.02, 0.02, 0.02, 0.005, 0.002), call_rate=0.1, gasp_rate=0.0)
# The gasp rate assumed once the first last gasp shows that meters have AMI, until estimated.
AMI_GASP_RATE = 0.5
_CS = int(CandidateKind.CUSTOMER_SIDE)


def _dot(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """``a @ b`` without BLAS, which hands a long dot product to threads that wait for a free
    core: tens of milliseconds on a busy machine, for microseconds of work."""
    return float(np.multiply(a, b).sum())


def _clip(x: float, lo: float, hi: float) -> float:
    """``np.clip`` of one float, as its ufunc computes it (NaN stays NaN): numpy's call
    overhead on a scalar is several microseconds, paid a few times per estimate."""
    if lo > x:
        return lo
    return hi if hi < x else x


def _kind_priors(counts: Sequence[float], elements: Sequence[int], start: OutagePriors,
                 strength: float) -> tuple[float, ...]:
    out = []
    for kind in CandidateKind:
        m = elements[kind]
        pi = (counts[kind] + strength * start.prior[kind]) / (m + strength)
        out.append(_clip(pi, 1e-6, 0.45))
    return tuple(out)


class PriorEstimator:
    """Online EM for the posterior's parameters (see the module docstring)."""

    def __init__(self, tree: SupplyTree, start: OutagePriors, *, strength: float = 20.0,
                 rate_strength: float = 50.0) -> None:
        self.tree = tree
        self.start = start
        self.strength = strength
        self.rate_strength = rate_strength
        # A drop serving one customer cannot be told from that customer's own fault by calls:
        # the M step counts such outages as customer-side, and the drop prior comes from drops
        # serving several customers only (where two calls from one drop tell them apart).
        self._lone_drop = (tree.kind == CandidateKind.SERVICE_DROP) & (tree.customers <= 1)
        dev = (tree.kind >= 0) & (tree.kind != _CS) & ~self._lone_drop
        self._elements = np.bincount(tree.kind[dev], minlength=len(CandidateKind)).tolist()
        self._elements[_CS] = tree.n_of_kind[_CS]
        self._dev = np.flatnonzero(dev)
        self._dev_pos = np.full(tree.n_nodes, -1, dtype=np.int64)  # a node's place in ``_dev``
        self._dev_pos[self._dev] = np.arange(len(self._dev))
        self._q: tuple[OutagePriors, npt.NDArray[np.float64]] | None = None
        self._dev_kind = tree.kind[self._dev].astype(np.int64)
        self._dev_n = tree.customers[self._dev].astype(np.float64)
        self._dev_lv = tree.lv_side[self._dev]

    def _silent(self, priors: OutagePriors) -> npt.NDArray[np.float64]:
        """Per utility candidate, the probability that it is out anyway when nobody below it
        reported (kept for the last priors asked: an estimate that kept them asks again)."""
        if self._q is None or self._q[0] != priors:
            odds = np.log(np.asarray(priors.prior) / (1.0 - np.asarray(priors.prior)))[self._dev_kind]
            s = odds + self._dev_n * np.log1p(-priors.call_rate)
            if priors.gasp_rate > 0:
                s = s + np.where(self._dev_lv, self._dev_n * np.log1p(-priors.gasp_rate), 0.0)
            self._q = priors, expit(s)  # the logistic function
        return self._q[1]

    def em_step(self, state: MapState, priors: OutagePriors, *, ami: bool = False) -> OutagePriors:
        """One EM iteration from ``priors`` on the reports ``state`` holds; ``ami``: a last
        gasp has been seen, so meters have AMI."""
        tree = self.tree
        act, p_top = state.marginals(priors)
        kind = tree.kind[act].astype(np.int64)
        n = tree.customers[act].astype(np.float64)
        lv = tree.lv_side[act]
        lone = self._lone_drop[act]
        kind[lone] = _CS
        k = state.k[act].astype(np.float64)
        g = state.g[act].astype(np.float64)
        utility = kind != _CS
        lv = lv & utility
        # candidates without reports: all utility candidates, minus those with reports
        q_all = self._silent(priors)
        pos = self._dev_pos[act]
        q_act = np.where(pos >= 0, q_all[pos], 0.0)
        m = len(CandidateKind)
        counts = (np.bincount(kind, weights=p_top, minlength=m)
                  + np.bincount(self._dev_kind, q_all, minlength=m) - np.bincount(kind, q_act, minlength=m))
        silent_dark = _dot(q_all, self._dev_n) - _dot(q_act, n)
        dark = _dot(p_top[utility], n[utility]) + silent_dark
        calls = _dot(p_top[utility], k[utility])
        s_p = self.rate_strength
        call_rate = _clip((calls + s_p * self.start.call_rate) / (dark + s_p), 0.01, 0.95)
        gasp_rate = self.start.gasp_rate
        if ami or gasp_rate > 0:
            a0 = max(gasp_rate, AMI_GASP_RATE)
            on_lv = utility & lv
            lv_dark = (_dot(p_top[on_lv], n[on_lv]) + _dot(q_all[self._dev_lv], self._dev_n[self._dev_lv])
                       - _dot(q_act[on_lv], n[on_lv]))
            s_a = self.rate_strength
            gasp_rate = (_dot(p_top[on_lv], g[on_lv]) + s_a * a0) / (lv_dark + s_a)
        return OutagePriors(_kind_priors(counts.tolist(), self._elements, self.start, self.strength),
                            call_rate, _clip(gasp_rate, 0.0, 0.95))


def priors_from_history(tree: SupplyTree, outages_by_kind: Mapping[CandidateKind, float], *,
                        call_rate: float, start: OutagePriors = DEFAULT_PRIORS,
                        strength: float = 20.0) -> OutagePriors:
    """Priors from a history: ``outages_by_kind`` is the mean number of outages per storm at
    elements of each kind (a utility's record, or a replay's), over this network's elements."""
    if not 0.0 < call_rate < 1.0:
        raise PosteriorError(f"call rate must lie in (0, 1), got {call_rate}")
    counts = [float(outages_by_kind.get(k, 0.0)) for k in CandidateKind]
    return OutagePriors(_kind_priors(counts, tree.n_of_kind, start, strength), call_rate, start.gasp_rate)
