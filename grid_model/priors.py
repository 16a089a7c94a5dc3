"""The posterior's parameters, estimated by the tool: priors per candidate kind and the call
and gasp rates (``grid_model.posterior.OutagePriors``).

Two sources:
- ``PriorEstimator``: online, from the reports of this storm by expectation-maximisation. The
  E step is the posterior itself: each candidate's probability of being out given every report
  (``MapState.marginals`` for candidates with reports below them; for the rest, the probability
  that an outage there stayed silent, ``sigmoid(prior log-odds + N log(1-p) [+ N log(1-a)])``).
  The M step counts: a kind's prior is its expected outages over its elements (an element below
  an outage is out or not unseen, so it counts at its prior: without that, kinds a storm often
  hides under a bigger outage, drops most, came out several times below their share; from the
  call rate the feeders' factor applies at, its prior times a power of the factor of the outage's
  feeder, ``grid_model.feeder_factor.FeederCalls``: a storm hides most where it is densest); the
  call rate is the expected callers over the expected dark customers; the gasp rate the expected
  last gasps over the expected dark meters of LV outages. Unreported outages are counted too, which keeps
  the estimates from collapsing at low call rates (a 10-customer fuse at 5 % sends nothing more
  often than not). Each is a posterior mean under a weak prior (``start``, weighted ``strength``
  pseudo-elements, ``customer_strength`` pseudo-customers for a customer's own fault, or
  ``rate_strength`` pseudo-customers): a small feeder's few calls cannot make every caller's
  own installation the cause. Runs from several starts compare by the reports' log-likelihood
  plus these priors' log-density (``EmStep.objective``);
- ``priors_from_history``: a utility's record of past outages, counted by kind of element that
  operated (``outages_per_storm`` reads them off an outage history's extents), over the number of
  elements of each kind (one storm's worth): a start for the EM (``PredictionParams.priors``)
  better than the default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from grid_model import _kernels_posterior as kernels
from grid_model.feeder_factor import PRIOR_HIGH, PRIOR_LOW, applies
from grid_model.posterior import (
    CANDIDATE_NAMES,
    CandidateKind,
    MapState,
    OutagePriors,
    PosteriorError,
    Scorer,
    SupplyTree,
)

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
# The candidate kind each extent of an outage history stands for (``grid_model.history``: as the
# file gives it or inferred). Utilities' outage records name no LV outlet fuse and no customer's
# own installation, so a history says nothing of those two kinds.
EXTENT_KINDS: dict[str, CandidateKind] = {
    "feeder": CandidateKind.FEEDER, "mv_device": CandidateKind.MV_DEVICE,
    "transformer": CandidateKind.TRANSFORMER, "service_drop": CandidateKind.SERVICE_DROP,
}
_CS = int(CandidateKind.CUSTOMER_SIDE)
# Per node of those given, what the prior of the elements below an outage there is multiplied by
CoverScale = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]]


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
        out.append(_clip(pi, PRIOR_LOW, PRIOR_HIGH))
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
        counted = (tree.kind >= 0) & ~self._lone_drop
        # the utility's elements (by index: each boolean mask over the network is a pass over it)
        dev = np.flatnonzero(counted & (tree.kind != _CS))
        kind = tree.kind[dev].astype(np.int64)
        self._elements = np.bincount(kind, minlength=len(CandidateKind)).tolist()
        self._elements[_CS] = tree.n_of_kind[_CS]
        self._below = kernels.kinds_below(tree.parent, tree.kind, counted, tree.utility_position,
                                          tree.utility.shape[1], len(CandidateKind))
        # what ``silent_counts`` reads: those candidates by class of kind, side and customers
        lv, n, dev_below = tree.lv_side[dev], tree.customers[dev], self._below[tree.utility_position[dev]]
        key = (2 * kind + lv) * (int(n.max(initial=0)) + 1) + n
        _, first, of_class, weight = np.unique(key, return_index=True, return_inverse=True,
                                               return_counts=True)
        below = np.zeros((len(first), len(CandidateKind)))
        for k in range(len(CandidateKind)):
            below[:, k] = np.bincount(of_class, dev_below[:, k], minlength=len(first))
        self._classes = (kind[first], lv[first], n[first], weight.astype(np.int64), below)
        self._silent: tuple[OutagePriors, npt.NDArray[np.float64]] | None = None

    def silent_counts(self, priors: OutagePriors) -> npt.NDArray[np.float64]:
        """The expected counts (``kernels.E_*``) if nobody had reported: every utility candidate
        out with the probability that an outage there stays silent (kept for the last priors
        asked: an estimate that kept them asks again)."""
        if self._silent is None or self._silent[0] != priors:
            self._silent = priors, kernels.silent_counts(*self._classes, Scorer(priors).coef)
        return self._silent[1]

    def expected_counts(self, state: MapState, priors: OutagePriors, cover_scale: CoverScale | None = None
                        ) -> tuple[float, npt.NDArray[np.float64]]:
        """The E step under ``priors`` on the reports ``state`` holds: the reports' log-likelihood
        and the expected counts (``kernels.E_*``) of outages per kind, elements below them, dark
        customers, callers and last gasps. ``cover_scale``: for the nodes it is given, what the
        prior of the elements below a reported outage there is multiplied by (kept under
        ``PRIOR_HIGH``, or the prior where higher); each such element then counts as that many
        elements at its kind's prior."""
        tree = self.tree
        act, p_top, log_likelihood = state.marginals(priors)
        e = self.silent_counts(priors) + kernels.expected_counts(
            act, p_top, tree.kind, tree.customers, tree.lv_side, state.k, state.g, self._lone_drop,
            self._below, tree.utility_position, Scorer(priors).coef)
        if cover_scale is not None:
            e[kernels.E_COVERED:kernels.E_COVERED + len(CandidateKind)] += kernels.covered_scaled(
                act, p_top, self._below, tree.utility_position, cover_scale(act), np.asarray(priors.prior),
                PRIOR_HIGH)
        return log_likelihood, e

    def em_step(self, state: MapState, priors: OutagePriors, *, ami: bool = False,
                cover_scale: CoverScale | None = None) -> EmStep:
        """One EM iteration from ``priors`` on the reports ``state`` holds; ``ami``: a last
        gasp has been seen, so meters have AMI; ``cover_scale``: as ``expected_counts`` takes
        it, used from the call rate the feeders' factor applies at
        (``grid_model.feeder_factor``)."""
        scale = cover_scale if cover_scale is not None and applies(priors.call_rate) else None
        log_likelihood, e = self.expected_counts(state, priors, scale)
        m = len(CandidateKind)
        outages, covered = e[kernels.E_OUT:kernels.E_OUT + m], e[kernels.E_COVERED:kernels.E_COVERED + m]
        # the elements below an outage: out or not unseen, so as often as the prior says (times
        # the scale ``expected_counts`` weighed them by)
        counts = outages + covered * np.asarray(priors.prior)
        dark, calls = float(e[kernels.E_DARK]), float(e[kernels.E_CALLS])
        s_p = self.rate_strength
        call_rate = _clip((calls + s_p * self.start.call_rate) / (dark + s_p), 0.01, 0.95)
        gasp_rate = self.start.gasp_rate
        if ami or gasp_rate > 0:
            a0 = max(gasp_rate, AMI_GASP_RATE)
            gasp_rate = (float(e[kernels.E_GASPS]) + s_p * a0) / (float(e[kernels.E_LV_DARK]) + s_p)
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


def outages_per_storm(extents: Iterable[str], storms: float) -> dict[CandidateKind, float]:
    """The mean outages per storm at each kind of element a history can name (``EXTENT_KINDS``,
    none recorded: 0), from its events' extents over the ``storms`` storms it covers."""
    if not 0.0 < storms < math.inf:
        raise PosteriorError(f"a history covers a positive number of storms, got {storms}")
    counts = dict.fromkeys(EXTENT_KINDS.values(), 0.0)
    for extent in extents:
        if extent not in EXTENT_KINDS:
            raise PosteriorError(f"unknown extent {extent!r}; known: {', '.join(EXTENT_KINDS)}")
        counts[EXTENT_KINDS[extent]] += 1.0
    return {kind: n / storms for kind, n in counts.items()}


def priors_from_history(tree: SupplyTree, outages_by_kind: Mapping[CandidateKind, float], *,
                        call_rate: float, start: OutagePriors = DEFAULT_PRIORS,
                        strength: float = 20.0) -> OutagePriors:
    """Priors from a history: ``outages_by_kind`` is the mean number of outages per storm at
    elements of each kind (a utility's record, or a replay's), over this network's elements; a
    kind it leaves out keeps the start's prior (the history does not know it), a kind it gives as
    0 was never out."""
    if not 0.0 < call_rate < 1.0:
        raise PosteriorError(f"call rate must lie in (0, 1), got {call_rate}")
    for kind, n in outages_by_kind.items():
        if not 0.0 <= n < math.inf:
            raise PosteriorError(f"outages per storm of kind {CANDIDATE_NAMES[kind]} must be 0 or more, "
                                 f"got {n}")
    counts = [float(outages_by_kind[k]) if k in outages_by_kind else start.prior[k] * tree.n_of_kind[k]
              for k in CandidateKind]
    prior = _kind_priors(counts, tree.n_of_kind, start, [strength] * len(CandidateKind))
    return OutagePriors(prior, call_rate, start.gasp_rate)
