"""The posterior's parameters, estimated by the tool: priors per candidate kind and the call
and gasp rates (``grid_model.posterior.OutagePriors``).

Two sources:
- ``PriorEstimator``: online, from the reports of this storm by expectation-maximisation. The
  E step is the posterior itself: each candidate's probability of being out given every report
  (``MapState.marginals`` for candidates with reports below them; for the rest, the probability
  that an outage there stayed silent, ``sigmoid(prior log-odds + N log(1-p) [+ N log(1-a)])``).
  The M step counts: a kind's prior is its expected outages over its elements (an element below
  an outage is out or not unseen, so it counts at its prior: without that, kinds a storm often
  hides under a bigger outage, drops most, came out several times below their share); the call rate is
  the expected callers over the expected dark customers; the gasp rate the expected last gasps
  over the expected dark meters of LV outages. Unreported outages are counted too, which keeps
  the estimates from collapsing at low call rates (a 10-customer fuse at 5 % sends nothing more
  often than not). Each is a posterior mean under a weak prior (``start``, weighted ``strength``
  pseudo-elements, ``customer_strength`` pseudo-customers for a customer's own fault, or
  ``rate_strength`` pseudo-customers): a small feeder's few calls cannot make every caller's
  own installation the cause. Runs from several starts compare by the reports' log-likelihood
  plus these priors' log-density (``EmStep.objective``);
- ``priors_from_history``: a utility's record of past outages, counted by kind of element that
  operated, over the number of elements of each kind (one storm's worth): a start for the EM
  (``PredictionParams.priors``) better than the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from grid_model import _kernels_posterior as kernels
from grid_model.posterior import CandidateKind, MapState, OutagePriors, PosteriorError, SupplyTree

# Where estimation starts when nothing better is known: a storm darkens a few per cent of the
# devices of each kind, drops and customers' own faults less often; a customer left dark calls
# with 10-30 % (DESIGN.md: 8-12 % in a wide outage, more in a small one; starting high makes the
# first reports err low, which later reports correct); no AMI until a last gasp arrives.
DEFAULT_PRIORS = OutagePriors(prior=(0.02, 0.02, 0.02, 0.02, 0.005, 0.002), call_rate=0.1, gasp_rate=0.0)
# Where a second EM chain starts: dense scattered storm damage (drops and customers' own
# installations, a high call rate), the other reading of many small clusters of calls than whole
# feeders out with few calling. EM settles in the mode nearest its start; the predictor keeps
# both chains and decides with the one under which the reports are likelier.
SCATTERED_START = OutagePriors(prior=(0.005, 0.005, 0.01, 0.01, 0.05, 0.005), call_rate=0.3, gasp_rate=0.0)
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
                 strength: Sequence[float]) -> tuple[float, ...]:
    out = []
    for kind in CandidateKind:
        m = elements[kind]
        pi = (counts[kind] + strength[kind] * start.prior[kind]) / (m + strength[kind])
        out.append(_clip(pi, 1e-6, 0.45))
    return tuple(out)


def _log_beta(x: float, mean: float, strength: float) -> float:
    """Log-density (up to a constant) of the Beta prior whose mode, given ``n`` of ``m``, is the
    M step's ``(n + strength * mean) / (m + strength)``."""
    return strength * (mean * math.log(x) + (1.0 - mean) * math.log1p(-x))


class EmStep(NamedTuple):
    """The parameters one EM iteration gives, and for the parameters it started from the
    log-likelihood of the reports plus the log-density of the parameters' prior: what two chains
    compare by."""

    priors: OutagePriors
    objective: float


class PriorEstimator:
    """Online EM for the posterior's parameters (see the module docstring)."""

    def __init__(self, tree: SupplyTree, start: OutagePriors, *, strength: float = 20.0,
                 customer_strength: float = 200.0, rate_strength: float = 50.0) -> None:
        self.tree = tree
        self.start = start
        self.strength = tuple(customer_strength if k == _CS else strength for k in CandidateKind)
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
        counted = (tree.kind >= 0) & ~self._lone_drop
        self._below = kernels.kinds_below(tree.parent, tree.kind, counted, len(CandidateKind))
        self._dev_below = self._below[self._dev]

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

    def em_step(self, state: MapState, priors: OutagePriors, *, ami: bool = False) -> EmStep:
        """One EM iteration from ``priors`` on the reports ``state`` holds; ``ami``: a last
        gasp has been seen, so meters have AMI."""
        tree = self.tree
        act, p_top, log_likelihood = state.marginals(priors)
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
        # the elements below an outage: out or not unseen, so as often as the prior says
        below = self._below[act]
        covered = p_top @ below + q_all @ self._dev_below - q_act @ below
        counts += covered * np.asarray(priors.prior)
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
        nxt = OutagePriors(_kind_priors(counts.tolist(), self._elements, self.start, self.strength),
                           call_rate, _clip(gasp_rate, 0.0, 0.95))
        return EmStep(nxt, log_likelihood + self.log_prior(priors))

    def log_prior(self, priors: OutagePriors) -> float:
        """The log-density of ``priors`` under the weak priors the M step's means assume: worth
        ``strength`` elements of each kind (``customer_strength`` customers for a customer's own
        fault) and ``rate_strength`` customers or meters for the rates, centred on the start."""
        s = sum(_log_beta(pi, pi0, w) for pi, pi0, w in zip(priors.prior, self.start.prior, self.strength,
                                                             strict=True))
        s += _log_beta(priors.call_rate, self.start.call_rate, self.rate_strength)
        if priors.gasp_rate > 0:
            s += _log_beta(priors.gasp_rate, max(self.start.gasp_rate, AMI_GASP_RATE), self.rate_strength)
        return s


def priors_from_history(tree: SupplyTree, outages_by_kind: Mapping[CandidateKind, float], *,
                        call_rate: float, start: OutagePriors = DEFAULT_PRIORS,
                        strength: float = 20.0) -> OutagePriors:
    """Priors from a history: ``outages_by_kind`` is the mean number of outages per storm at
    elements of each kind (a utility's record, or a replay's), over this network's elements."""
    if not 0.0 < call_rate < 1.0:
        raise PosteriorError(f"call rate must lie in (0, 1), got {call_rate}")
    counts = [float(outages_by_kind.get(k, 0.0)) for k in CandidateKind]
    prior = _kind_priors(counts, tree.n_of_kind, start, [strength] * len(CandidateKind))
    return OutagePriors(prior, call_rate, start.gasp_rate)
