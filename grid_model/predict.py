"""Outage prediction: group reports into incidents at the devices most likely out.

Incremental, as an OMS prediction engine works: each report (a call, a meter's last gasp)
updates the posterior DP of ``grid_model.posterior`` on its candidate chain only, and joins the
incident at the MAP outage that explains it (the highest candidate out on its chain), or the open
incident above that. When a report makes a candidate out whose subtree holds open incidents,
they merge into a new incident there; merged incidents are kept. Report by report, later
evidence only moves outages up. ``regroup`` reads every open report again per customer
(``grid_model.placement``, as the batch does) and moves the incidents no one has acted on where
that puts them: down and split as well as up and merged; those a crew is sent to stay.

The parameters (priors per kind, call and gasp rates) start from ``PredictionParams.priors``
and, unless ``estimate`` is off, are re-estimated online from the incidents decided so far
(``grid_model.priors.PriorEstimator``), one EM step per chain each time the reports have grown
by ``PredictionParams.estimate_growth``, or doubled after an estimate that changed nothing
(``SETTLED_GROWTH``); a change re-scores every chain with reports and opens the incidents the
new MAP adds.

AMI: a last gasp says the meter lost supply (never the customer's own breaker) and, for
``ami_alive_s``, that its transformer kept supply (its concentrator passed the message on). A
restore message takes the meter out of the counts; an incident whose every reporting meter is
back is over.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from grid_model.dark import DarkReading
from grid_model.feeder_factor import FeederCalls
from grid_model.network import DeviceKind, Network, NodeKind
from grid_model.placement import place_reports, read_reports
from grid_model.posterior import (
    CandidateKind,
    MapState,
    OutagePriors,
    SupplyTree,
    supply_tree_from_network,
)
from grid_model.priors import AMI_GASP_RATE, DEFAULT_PRIORS, SCATTERED_START, EmStep, PriorEstimator
from grid_model.rollup import RollupParams, RollupRules

# Two EM chains whose parameters have come within this factor of each other are one from then on.
CHAINS_MET = 1.05
# After an estimate that changed nothing, estimate again when the reports have grown this much:
# EM steps cost about the same for every report so far, and settled parameters rarely move.
SETTLED_GROWTH = 2.0
_DROP, _MV_NODE = int(NodeKind.SERVICE_DROP), int(NodeKind.MV_NODE)
_MV_KINDS = (CandidateKind.FEEDER, CandidateKind.MV_DEVICE)
# Subtrees up to this many nodes are searched for open incidents in Python, longer ones with numpy.
_SHORT_SUBTREE = 64


def _moved(a: OutagePriors, b: OutagePriors) -> float:
    """The largest factor between two sets of parameters' priors and call rates."""
    pairs = zip((*a.prior, a.call_rate), (*b.prior, b.call_rate), strict=True)
    return max(max(x / y, y / x) for x, y in pairs)


class IncidentKind(StrEnum):
    DEVICE = "device"
    CUSTOMER_SIDE = "customer_side"
    PLANNED = "planned"


_DEVICE, _CUSTOMER_SIDE = IncidentKind.DEVICE, IncidentKind.CUSTOMER_SIDE


@dataclass(frozen=True, slots=True)
class PredictionParams:
    """Where the posterior's parameters start (``priors``); whether they are estimated online
    (``estimate``), again each time the reports have grown by ``estimate_growth`` (plus a few:
    an EM step costs about the same for every report so far, so geometric steps keep the total a
    few times the last one; doubled after an estimate that changed nothing; ``predict_calls``
    uses its own ``BATCH_ESTIMATE_GROWTH``); the odds by which an outage above must beat the
    explanation below before a report opens its incident there (``up_odds``: report by report
    incidents only move up, and while an outage's calls are still arriving its silent customers
    weigh less than they will, so a report errs low; later reports, ``review`` and ``regroup``
    move it up); how long an element a crew has just restored, and the MV devices below it, are known
    energised (``restored_quiet_s``); how long a last gasp proves its transformer live
    (``ami_alive_s``). With ``rollup`` set, the roll-up rules of ``grid_model.rollup`` decide
    where each report goes instead (the engine's grouping)."""

    priors: OutagePriors = DEFAULT_PRIORS
    estimate: bool = True
    estimate_growth: float = 1.25
    restored_quiet_s: int = 3 * 3600
    ami_alive_s: int = 3600
    up_odds: float = 100.0
    rollup: RollupParams | None = None

    def __post_init__(self) -> None:
        if not 1.0 < self.estimate_growth < math.inf:
            raise ValueError(f"estimate_growth must be above 1 and finite, got {self.estimate_growth}")


@dataclass(slots=True)
class Incident:
    """One predicted outage cause and the calls it explains."""

    incident_id: str
    node_idx: int
    kind: IncidentKind
    first_report_s: int
    call_ids: list[str] = field(default_factory=list)
    caller_nodes: set[int] = field(default_factory=set)
    restored_nodes: set[int] = field(default_factory=set)
    merged_into: str = ""
    closed_s: int | None = None
    certain: bool = False

    @property
    def is_open(self) -> bool:
        return not self.merged_into and self.closed_s is None


def _gasp_moves(inc: Incident, gasp: bool) -> bool:
    """A last gasp from a node whose incident is its customer's own fault: the meter lost
    supply, so the fault is above (the report leaves that incident)."""
    return gasp and inc.kind == _CUSTOMER_SIDE


class IncidentChange(NamedTuple):
    """What one call did: joined ``incident_id``; created it; merged these into it (a named
    tuple: one is built per report, in half a frozen dataclass's time)."""

    incident_id: str
    created: bool
    merged: tuple[str, ...] = ()


class Regrouping(NamedTuple):
    """What ``OutagePredictor.regroup`` changed: incidents moved (each with the node it left),
    incidents it opened, incidents merged (each with the one it went into), and reporting nodes
    that changed incident (node, from, to)."""

    moved: tuple[tuple[str, int], ...] = ()
    created: tuple[str, ...] = ()
    merged: tuple[tuple[str, str], ...] = ()
    regrouped: tuple[tuple[int, str, str], ...] = ()


@dataclass(slots=True)
class _Planned:
    incident_id: str
    device_idx: int
    start_s: int
    end_s: int


class OutagePredictor:
    """Incremental grouping on a ``Network``; O(candidate chain) per report."""

    def __init__(self, network: Network, params: PredictionParams | None = None) -> None:
        self.net = network
        self.params = params or PredictionParams()
        self._rules = RollupRules(network, self.params.rollup) if self.params.rollup else None
        # what the reporting nodes have told: who called, who sent a last gasp and until when it
        # is fresh (-1: stale); sets and dicts of ints, no object per node (one per report made
        # the garbage collector's passes a fifth longer)
        self._callers: set[int] = set()
        self._gasped: dict[int, int] = {}
        self._fresh: deque[tuple[int, int]] = deque()
        self._open_at = np.full(network.n_nodes, -1, dtype=np.int64)
        self._caller_incident: dict[int, int] = {}
        self._reports_of: dict[int, list[tuple[str, int]]] = {}  # per reporting node: (report id, time)
        self.reading: DarkReading | None = None  # the last regrouping's reading per customer
        self._off_chain: set[int] = set()  # open incidents a finding placed where no chain goes
        self.incidents: list[Incident] = []
        self._incident_idx: dict[str, int] = {}
        self._planned: list[_Planned] = []
        self._ami = False
        self._reports = 0
        self._next_estimate = 32 if self.params.estimate else math.inf
        self._version = 0  # counts the changes to the reports, their parameters or known-live elements
        self._top: tuple[tuple[int, int], npt.NDArray[np.float64]] | None = None
        self._margin = math.log(self.params.up_odds)
        self._chains = list(dict.fromkeys((self.params.priors, SCATTERED_START)))

    @cached_property
    def _feeder_calls(self) -> FeederCalls:
        """The calling nodes per feeder (``_callers`` counted so), for the estimation and the
        regrouping's reading."""
        return FeederCalls(self.net)

    @cached_property
    def tree(self) -> SupplyTree:
        """The posterior's candidates (built on first use: the roll-up rules never need it)."""
        return supply_tree_from_network(self.net)

    @cached_property
    def state(self) -> MapState:
        """The posterior DP's sums over the reports so far."""
        return MapState(self.tree, self.params.priors)

    @cached_property
    def estimator(self) -> PriorEstimator:
        """The online EM for the posterior's parameters."""
        return PriorEstimator(self.tree, self.params.priors)

    @property
    def priors(self) -> OutagePriors:
        """The parameters the DP decides with now (the start's under the roll-up rules)."""
        return self.params.priors if self._rules is not None else self.state.priors

    def add_planned(self, outage_id: str, device_idx: int, start_s: int, end_s: int) -> None:
        """Register a planned outage; calls from under it inside its window attach to it."""
        inc = Incident(outage_id, device_idx, IncidentKind.PLANNED, start_s)
        self.incidents.append(inc)
        self._planned.append(_Planned(outage_id, device_idx, start_s, end_s))
        self._incident_idx[outage_id] = len(self.incidents) - 1

    def move_planned(self, outage_id: str, start_s: int, end_s: int) -> None:
        """A planned outage's window moves (calls attach inside the new one)."""
        self._planned = [_Planned(p.incident_id, p.device_idx, start_s, end_s) if p.incident_id == outage_id
                         else p for p in self._planned]

    def cancel_planned(self, outage_id: str) -> None:
        """A planned outage is called off: no later call attaches to it."""
        self._planned = [p for p in self._planned if p.incident_id != outage_id]

    def knows(self, incident_id: str) -> bool:
        """Whether an incident or planned outage has this id."""
        return incident_id in self._incident_idx

    def incident(self, incident_id: str) -> Incident:
        return self.incidents[self._incident_idx[incident_id]]

    def add_call(self, call_id: str, node_idx: int, t_s: int) -> IncidentChange:
        """Group one located call; returns the incident it joined and any merges."""
        return self._group(call_id, node_idx, t_s, gasp=False)

    def add_last_gasp(self, message_id: str, node_idx: int, t_s: int) -> IncidentChange:
        """Group one meter's last gasp: its meter lost supply (never the customer's own
        breaker), and for ``ami_alive_s`` its transformer is known live."""
        if self._rules is not None and 0 <= node_idx < self.net.n_nodes:
            self._rules.alive(node_idx, t_s)
        return self._group(message_id, node_idx, t_s, gasp=True)

    def add_restore(self, message_id: str, node_idx: int, t_s: int) -> str | None:
        """A meter reports supply back. Returns the open incident it reported to when every
        node that reported to it is now back (the outage is over), else None."""
        k = self._caller_incident.get(node_idx)
        if k is None or not self.incidents[k].is_open:
            return None
        inc = self.incidents[k]
        del self._caller_incident[node_idx]
        if self._rules is None:
            self.state.now_s = t_s
        self._forget_unit(node_idx)
        inc.restored_nodes.add(node_idx)
        inc.call_ids.append(message_id)
        return inc.incident_id if inc.caller_nodes <= inc.restored_nodes else None

    def _group(self, call_id: str, node_idx: int, t_s: int, *, gasp: bool) -> IncidentChange:
        if not 0 <= node_idx < self.net.n_nodes:
            raise ValueError(f"call {call_id}: node {node_idx} is not in the network")
        planned = self._planned_over(node_idx, t_s) if self._planned else None
        if planned is not None:
            planned.call_ids.append(call_id)
            return IncidentChange(planned.incident_id, False)
        if self._rules is not None:
            existing = self._caller_incident.get(node_idx)
            if existing is not None and self.incidents[existing].is_open:
                inc = self._surviving(self.incidents[existing])
                if not _gasp_moves(inc, gasp):
                    self._count(inc, call_id, node_idx, t_s)
                    return IncidentChange(inc.incident_id, False)
            chain, top = self._rules.add(node_idx, t_s, gasp=gasp)
            joined = self._open_on(chain, top)
        else:
            top, joined = self._decide(call_id, node_idx, t_s, gasp=gasp)
        if self._off_chain:
            joined = self._higher(joined, self._off_chain_above(node_idx))
        if joined >= 0:
            inc = self.incidents[joined]
            self._attach(inc, joined, call_id, node_idx, t_s)
            return IncidentChange(inc.incident_id, False)
        existing = self._caller_incident.get(node_idx)
        if existing is not None and self.incidents[existing].is_open:
            inc = self._surviving(self.incidents[existing])
            if not (_gasp_moves(inc, gasp) and inc.node_idx != top):
                # reported before, to an incident off this chain (moved by a finding): it stays there
                self._count(inc, call_id, node_idx, t_s)
                return IncidentChange(inc.incident_id, False)
        inc, merged = self._open_incident(top, self.incident_kind(top), t_s)
        self._attach(inc, len(self.incidents) - 1, call_id, node_idx, t_s)
        return IncidentChange(inc.incident_id, True, merged)

    def _open_on(self, chain: list[int], top: int) -> int:
        """The open incident at the highest element of ``chain`` at or above ``top`` (-1: none)."""
        for a in reversed(chain):
            k = self._open_at.item(a)
            if k >= 0:
                return k
            if a == top:
                break
        return -1

    def _planned_over(self, node: int, t_s: int) -> Incident | None:
        """The planned outage whose device is at or above ``node`` and whose window holds ``t_s``
        (its end excluded: the outage is over then, as ``dispatch.planned`` says)."""
        for po in self._planned:
            if po.start_s <= t_s < po.end_s and self.net.is_ancestor(po.device_idx, node):
                return self.incident(po.incident_id)
        return None

    def _off_chain_above(self, node: int) -> int:
        """The open incident a finding placed where no chain goes (an MV node without a device)
        at or above ``node`` (the highest; -1: none): the chains alone would open a second
        incident under it."""
        best = -1
        for k in list(self._off_chain):
            inc = self.incidents[k]
            if not inc.is_open:
                self._off_chain.discard(k)
            elif self.net.is_ancestor(inc.node_idx, node):
                best = self._higher(best, k)
        return best

    def _higher(self, a: int, b: int) -> int:
        """Of two open incidents on one path (-1: none), the one upstream."""
        if a < 0 or b < 0:
            return max(a, b)
        return a if self.incidents[a].node_idx <= self.incidents[b].node_idx else b

    def _decide(self, call_id: str, node_idx: int, t_s: int, *, gasp: bool) -> tuple[int, int]:
        """Count the report in the posterior; its MAP outage, and the open incident at the
        highest element of its chain at or above that outage (-1: none)."""
        st = self.state
        st.now_s = t_s
        if self._fresh:
            self._expire(t_s)
        if not self.tree.has_chain(node_idx):
            raise ValueError(f"call {call_id}: node {node_idx} has no element above it that can be out")
        new_call = not gasp and node_idx not in self._callers
        new_gasp = gasp and node_idx not in self._gasped
        if not (new_call or new_gasp):
            chain = st.chain(node_idx)
            top = st.top(chain, self._margin)
            return top, self._open_on(chain, top)
        if new_call:
            self._callers.add(node_idx)
            self._feeder_calls.add(node_idx)
        if new_gasp:
            if st.priors.gasp_rate == 0.0:  # meters have AMI after all
                self._ami = True
                st.set_priors(replace(st.priors, gasp_rate=AMI_GASP_RATE))
            until = self._gasped[node_idx] = t_s + self.params.ami_alive_s
            self._fresh.append((until, node_idx))
        top, joined = st.report_marked(node_idx, self._open_at, call=int(new_call), gasp=int(new_gasp),
                                       fresh=int(new_gasp), margin=self._margin)
        self._reports += 1
        self._version += 1
        if self._reports >= self._next_estimate and self._estimate_again():
            chain = st.chain(node_idx)
            top = st.top(chain, self._margin)
            joined = self._open_on(chain, top)
        return top, joined

    def add_device_report(self, report_id: str, device_idx: int, t_s: int) -> IncidentChange:
        """A telemetered device (SCADA on a feeder breaker) reports that it opened: an
        incident at the device for certain (the one calls put there becomes certain), absorbing
        the open incidents below it; calls from below attach to it. Inside the window of a
        planned outage at or above the device, the planned work opened it: the report is that
        outage's."""
        if not 0 <= device_idx < self.net.n_nodes or self.net.device[device_idx] == DeviceKind.NONE:
            raise ValueError(f"device report {report_id}: node {device_idx} is not a protective device")
        planned = self._planned_over(device_idx, t_s)
        if planned is not None:  # planned work opened it
            planned.call_ids.append(report_id)
            return IncidentChange(planned.incident_id, False)
        k = self._open_at.item(device_idx)
        if k >= 0:  # calls put an incident here: now it is certain
            inc = self.incidents[k]
            inc.certain = True
            inc.call_ids.append(report_id)
            return IncidentChange(inc.incident_id, False)
        for a in self.net.path_up(device_idx)[1:]:
            if self._open_at[a] >= 0:
                return IncidentChange(self.incidents[self._open_at[a]].incident_id, False)
        inc, merged = self._open_incident(device_idx, IncidentKind.DEVICE, t_s)
        inc.certain = True
        inc.call_ids.append(report_id)
        return IncidentChange(inc.incident_id, True, merged)

    def relocate(self, incident_id: str, node_idx: int) -> IncidentChange:
        """A crew found the incident's cause upstream at ``node_idx``: the incident moves
        there (for certain) and absorbs the open incidents below it."""
        inc = self.incident(incident_id)
        if not inc.is_open or node_idx == inc.node_idx or not self.net.is_ancestor(node_idx, inc.node_idx):
            raise ValueError(f"incident {incident_id} cannot move to node {node_idx}: not open or not "
                             f"upstream of {inc.node_idx}")
        self._open_at[inc.node_idx] = -1
        inc.node_idx = node_idx
        inc.kind = IncidentKind.DEVICE
        inc.certain = True
        k = self._incident_idx[incident_id]
        if self.net.device.item(node_idx) == DeviceKind.NONE and self.net.kind.item(node_idx) <= _MV_NODE:
            self._off_chain.add(k)
        return IncidentChange(incident_id, False, self._settle(inc, k))

    def merge(self, incident_id: str, into_id: str) -> None:
        """A crew found that the incident's cause is the one of ``into_id`` (open, upstream):
        it merges into that incident, its callers with it."""
        child, parent = self.incident(incident_id), self.incident(into_id)
        if not (child.is_open and parent.is_open and self.net.is_ancestor(parent.node_idx, child.node_idx)):
            raise ValueError(f"incident {incident_id} cannot merge into {into_id}: not both open, or "
                             f"{into_id} is not upstream")
        self._merge(child, parent, self._incident_idx[into_id])

    def close(self, incident_id: str, t_s: int) -> None:
        """The incident is repaired: its callers stop counting toward later predictions, and
        its element and the MV devices below it are known energised for ``restored_quiet_s``."""
        inc = self.incident(incident_id)
        if not inc.is_open:
            return
        inc.closed_s = t_s
        if inc.kind == IncidentKind.PLANNED:
            return
        node = inc.node_idx
        self._open_at[node] = -1
        self._known_energised(node, t_s)
        mine = self._incident_idx[incident_id]
        for caller in inc.caller_nodes:
            if self._caller_incident.get(caller) == mine:
                del self._caller_incident[caller]
                self._forget_unit(caller)

    def _known_energised(self, node: int, t_s: int) -> None:
        """A crew restored ``node``: it and the MV devices below it are not predicted out for
        ``restored_quiet_s``."""
        if self._rules is not None:
            self._rules.restored(node, t_s)
            return
        st = self.state
        st.now_s = t_s
        until = t_s + self.params.restored_quiet_s
        st.forbidden_until[node] = until
        sl = self.net.subtree(node)
        st.forbidden_until[np.flatnonzero(np.isin(self.tree.kind[sl], _MV_KINDS)) + sl.start] = until
        self._version += 1

    def review(self) -> list[IncidentChange]:
        """Estimate the parameters now (unless off) and open an incident at every MAP outage
        no open incident covers yet (a change of parameters may add some between reports).
        Nothing to do under the roll-up rules."""
        if self._rules is not None:
            return []
        if self.params.estimate:
            self._estimate(iterations=10, force=True)
        changes = []
        covered: set[int] = set()
        parent = self.tree.parent
        for v in self.state.active().tolist():  # preorder: ancestors first
            if int(parent[v]) in covered or self._open_at[v] >= 0 or self._off_chain_above(v) >= 0:
                covered.add(v)
            elif self.state.is_out(v):
                inc, merged = self._open_incident(v, self.incident_kind(v), self.state.now_s)
                covered.add(v)
                changes.append(IncidentChange(inc.incident_id, True, merged))
        return changes

    def regroup(self, t_s: int, fixed: Callable[[str], bool] = lambda incident_id: False) -> Regrouping:
        """Estimate the parameters again (unless off; as ``review``), read every open report per
        customer under them, as the batch does (``grid_model.placement``), and move the incidents
        no one has acted on to where that reading puts their reports: up, down, split or merged.
        Certain, planned and ``fixed`` incidents (a crew is on its way or there) stay, with their
        reports; so does every incident whose reports the reading would put at or above, or
        below, one of those (no incident holds another's customers). Report by report an incident
        only moves up, and the estimates drift while the reports arrive: the regrouping undoes
        what they decided too high. Nothing under roll-up rules."""
        if self._rules is not None or not self._caller_incident:
            return Regrouping()
        st = self.state
        st.now_s = t_s
        if self._fresh:
            self._expire(t_s)
        if self.params.estimate:
            self._estimate(iterations=10, force=True)
        incidents = self.incidents
        free = {k for k in set(self._caller_incident.values())
                if incidents[k].is_open and not incidents[k].certain and k not in self._off_chain
                and incidents[k].kind != IncidentKind.PLANNED and not fixed(incidents[k].incident_id)}
        held = np.zeros(self.net.n_nodes, dtype=np.bool_)
        for node in np.flatnonzero(self._open_at >= 0).tolist():
            if self._open_at.item(node) not in free:
                held[node] = True
        for k in self._off_chain:
            held[incidents[k].node_idx] = True
        reading = self.reading = read_reports(st, self._feeder_calls)
        place = place_reports(st, self.net, reading, list(self._caller_incident))
        groups = self._free_groups(place, free, held)
        return self._apply_groups(groups, free)

    def placement(self) -> dict[int, int]:
        """Per reporting node with an open report, the element of its incident."""
        return {node: self.incidents[k].node_idx for node, k in self._caller_incident.items()}

    def _free_groups(self, place: dict[int, int], free: set[int], held: npt.NDArray[np.bool_]
                     ) -> dict[int, list[int]]:
        """Per element, the reporting nodes of ``free`` incidents placed there; an incident with
        a node placed on a path through a ``held`` element stays where it is (it leaves ``free``
        and its element is held), until no group crosses a held element."""
        net = self.net
        while True:
            groups: dict[int, list[int]] = {}
            for node, element in place.items():
                if self._caller_incident[node] in free:
                    groups.setdefault(element, []).append(node)
            stuck = {self._caller_incident[n] for e, nodes in groups.items()
                     if held[net.subtree(e)].any() or held[net.path_up(e)].any() for n in nodes}
            if not stuck:
                return groups
            for k in stuck:
                free.discard(k)
                held[self.incidents[k].node_idx] = True

    def _apply_groups(self, groups: dict[int, list[int]], free: set[int]) -> Regrouping:
        """Give each group one incident: the free one already at its element, else the free one
        holding most of its nodes (not yet given), else a new one; free incidents left without
        a group merge into the one that took most of their nodes."""
        incidents, mine = self.incidents, self._caller_incident
        owner: dict[int, int] = {}
        for element in groups:
            k = self._open_at.item(element)
            if k in free:
                owner[element] = k
        given = set(owner.values())
        for element in sorted(groups, key=lambda e: -len(groups[e])):
            if element in owner:
                continue
            counts = Counter(mine[n] for n in groups[element] if mine[n] not in given)
            if counts:
                owner[element] = min(counts, key=lambda k: (-counts[k], k))
                given.add(owner[element])
        moved: list[tuple[str, int]] = []
        created: list[str] = []
        regrouped: list[tuple[int, str, str]] = []
        for k in free:
            self._open_at[incidents[k].node_idx] = -1
        for element, nodes in groups.items():
            if element not in owner:  # its first report time comes with its nodes (``_move_node``)
                inc = self._new_incident(element, self.incident_kind(element), self.state.now_s)
                owner[element] = len(incidents) - 1
                created.append(inc.incident_id)
            k = owner[element]
            inc = incidents[k]
            if inc.node_idx != element:
                moved.append((inc.incident_id, inc.node_idx))
                inc.node_idx, inc.kind = element, self.incident_kind(element)
            for node in nodes:
                if mine[node] != k:
                    regrouped.append((node, incidents[mine[node]].incident_id, inc.incident_id))
                    self._move_node(node, incidents[mine[node]], inc, k)
        took: dict[str, Counter[str]] = {}  # per incident, how many of its nodes each other took
        for _, frm, to in regrouped:
            took.setdefault(frm, Counter())[to] += 1
        merged = []
        for k in sorted(free - given):
            child = incidents[k]
            parent = self.incident(took[child.incident_id].most_common(1)[0][0])
            self._merge(child, parent, self._incident_idx[parent.incident_id])
            merged.append((child.incident_id, parent.incident_id))
        for element, k in owner.items():  # after the merges: each cleared its child's old element
            self._open_at[element] = k
        return Regrouping(tuple(moved), tuple(created), tuple(merged), tuple(regrouped))

    def _move_node(self, node: int, src: Incident, dst: Incident, k: int) -> None:
        """A reporting node and its reports in ``src`` leave it for ``dst`` (``incidents[k]``)."""
        when = dict(self._reports_of.get(node, ()))
        gone = [c for c in src.call_ids if c in when]
        src.call_ids[:] = [c for c in src.call_ids if c not in when]
        src.caller_nodes.discard(node)
        dst.call_ids.extend(gone)
        dst.caller_nodes.add(node)
        dst.restored_nodes.discard(node)  # back once, dark again since: not over there
        dst.first_report_s = min([dst.first_report_s] + [when[c] for c in gone])
        self._caller_incident[node] = k

    def confidence(self, inc: Incident) -> float:
        """How sure the prediction is: 1 for a planned outage and for an element a device
        report or a crew's finding placed; else the posterior probability that the incident's
        element is the topmost outage on its path, given every open report under its feeder."""
        if inc.kind == IncidentKind.PLANNED or inc.certain:
            return 1.0
        v = inc.node_idx
        if self._rules is not None:
            return self._rules.confidence(v)
        if self.tree.kind[v] < 0:
            return 0.5
        return round(float(self._top_probability()[v]), 3)

    def explanations(self, node_idx: int, probability: Mapping[int, float] | None = None
                     ) -> list[tuple[int, CandidateKind, float]]:
        """Each candidate on a reporting node's chain, nearest first, with its posterior
        probability of being the outage that explains the node (customer-side, drop, fuse...):
        under the MAP's model, or as ``probability`` gives it (a reading per customer's)."""
        if self._rules is not None:
            return []
        chain = self.state.chain(node_idx)
        if probability is None:
            top = self._top_probability()
            probability = {v: float(top[v]) for v in chain}
        kind = self.tree.kind
        return [(v, CandidateKind(int(kind[v])), round(probability.get(v, 0.0), 4)) for v in chain]

    def _top_probability(self) -> npt.NDArray[np.float64]:
        """Per node, the posterior probability that it is the topmost outage on its path, given
        every open report (0 with no report below it): one sum pass of the DP over the
        candidates with reports, kept until the reports, the parameters or the time change."""
        key = (self._version, self.state.now_s)
        if self._top is None or self._top[0] != key:
            act, prob, _ = self.state.marginals(self.state.priors)
            top = np.zeros(self.net.n_nodes)
            top[act] = prob
            self._top = key, top
        return self._top[1]

    def _forget_unit(self, node: int) -> None:
        self._reports_of.pop(node, None)
        if self._rules is not None:
            self._rules.remove(node)
            return
        call = node in self._callers
        if call:
            self._callers.discard(node)
            self._feeder_calls.remove(node)
        until = self._gasped.pop(node, None)
        if not call and until is None:
            return
        fresh = until is not None and until >= 0  # not yet expired by ``_expire``
        self.state.report(node, call=-int(call), gasp=-int(until is not None), fresh=-int(fresh))
        self._version += 1

    def _expire(self, t_s: int) -> None:
        """Last gasps older than ``ami_alive_s`` no longer prove their transformer live."""
        fresh = self._fresh
        while fresh and fresh[0][0] <= t_s:
            until, node = fresh.popleft()
            if self._gasped.get(node) == until:
                self._gasped[node] = -1
                self.state.report(node, fresh=-1)
                self._version += 1

    def incident_kind(self, node: int) -> IncidentKind:
        """Below the service drop (a customer, a meter box): the customer's own fault."""
        return _CUSTOMER_SIDE if self.net.kind.item(node) > _DROP else _DEVICE

    def _estimate_again(self) -> bool:
        """Estimate, the reports having grown enough since the last time (``_next_estimate``,
        never with ``estimate`` off); whether the parameters changed. Once an estimate changes
        nothing, the next waits until the reports have at least doubled (``SETTLED_GROWTH``)."""
        changed = self._estimate()
        growth = self.params.estimate_growth if changed else max(self.params.estimate_growth, SETTLED_GROWTH)
        self._next_estimate = int(self._reports * growth) + 8
        return changed

    def _estimate(self, iterations: int = 1, *, force: bool = False) -> bool:
        """EM iterations on every chain; decide with the parameters under which the reports are
        likeliest; re-score on a real change (or ``force``), and say whether there was one."""
        st = self.state
        old = st.priors
        steps = []
        for start in self._chains:
            step = EmStep(start, -math.inf)
            for _ in range(iterations):
                step = self.estimator.em_step(st, step.priors, ami=self._ami,
                                              cover_scale=self._feeder_calls.cover_scale)
            steps.append(step)
        new = max(steps, key=lambda s: s.objective).priors
        self._chains = [s.priors for i, s in enumerate(steps)
                        if not any(_moved(s.priors, t.priors) < CHAINS_MET for t in steps[:i])]
        gasp_moved = (new.gasp_rate > 0) != (old.gasp_rate > 0) or abs(new.gasp_rate - old.gasp_rate) > 0.05
        if force or gasp_moved or _moved(new, old) > 1.5:
            st.set_priors(new)
            self._version += 1
            return True
        return False

    def _open_incident(self, node: int, kind: IncidentKind, t_s: int) -> tuple[Incident, tuple[str, ...]]:
        """A new incident at ``node``; the open incidents below it merge into it."""
        inc = self._new_incident(node, kind, t_s)
        return inc, self._settle(inc, len(self.incidents) - 1)

    def _new_incident(self, node: int, kind: IncidentKind, t_s: int) -> Incident:
        """A new incident at ``node``, numbered after the last (not yet placed there)."""
        k = len(self.incidents)
        number = k + 1
        incident_id = f"I{number:06d}"
        while incident_id in self._incident_idx:  # a planned outage took that id
            number += 1
            incident_id = f"I{number:06d}"
        inc = Incident(incident_id, node, kind, t_s)
        self.incidents.append(inc)
        self._incident_idx[incident_id] = k
        return inc

    def _settle(self, inc: Incident, k: int) -> tuple[str, ...]:
        """Place ``inc`` (``incidents[k]``) at its node; the open incidents below it merge into it."""
        node = inc.node_idx
        size = self.net.size.item(node)
        if size == 1:
            self._open_at[node] = k
            return ()
        merged: list[str] = []
        for below in self._open_within(node, size):
            child = self.incidents[below]
            self._merge(child, inc, k)
            merged.append(child.incident_id)
        self._open_at[node] = k
        return tuple(merged)

    def _open_within(self, node: int, size: int) -> list[int]:
        """The open incidents at ``node`` and in its subtree of ``size`` nodes, in preorder: a
        short subtree read as a list (a drop's, an outlet's: numpy's calls cost several times
        the scan), a long one by a mask."""
        marks = self._open_at[node:node + size]
        if size <= _SHORT_SUBTREE:
            return [k for k in marks.tolist() if k >= 0]
        return marks[marks >= 0].tolist()

    def _surviving(self, inc: Incident) -> Incident:
        while inc.merged_into:
            inc = self.incident(inc.merged_into)
        return inc

    def _attach(self, inc: Incident, k: int, call_id: str, node_idx: int, t_s: int) -> None:
        """A report joins ``inc`` (``incidents[k]``)."""
        self._count(inc, call_id, node_idx, t_s)
        inc.caller_nodes.add(node_idx)
        inc.restored_nodes.discard(node_idx)
        self._caller_incident[node_idx] = k

    def _count(self, inc: Incident, call_id: str, node_idx: int, t_s: int) -> None:
        """A report from ``node_idx`` is one of ``inc``'s (kept per node too with the posterior: a
        regrouping moves a node's reports with it; the roll-up rules never regroup)."""
        inc.call_ids.append(call_id)
        if self._rules is None:
            self._reports_of.setdefault(node_idx, []).append((call_id, t_s))

    def _merge(self, child: Incident, parent: Incident, k: int) -> None:
        """``child`` merges into ``parent`` (``incidents[k]``), its callers with it."""
        child.merged_into = parent.incident_id
        self._open_at[child.node_idx] = -1
        restored, mine = child.restored_nodes, self._incident_idx[child.incident_id]
        # its callers still reporting to it (not those that moved on to another incident)
        dark = [n for n in (child.caller_nodes - restored if restored else child.caller_nodes)
                if self._caller_incident.get(n) == mine]
        for node in dark:
            self._caller_incident[node] = k
        parent.caller_nodes |= child.caller_nodes
        if restored:
            parent.restored_nodes |= {n for n in restored if self._caller_incident.get(n) != k}
        if parent.restored_nodes:
            parent.restored_nodes.difference_update(dark)  # back there once, dark again here
        parent.call_ids.extend(child.call_ids)
        if child.first_report_s < parent.first_report_s:
            parent.first_report_s = child.first_report_s
