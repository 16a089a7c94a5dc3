"""The simulated world of demo and replay: the storm's ground truth, energisation and repair
work. The engine never looks in here; it learns only what crews report.

Faults open their operating element (a protective device, a service drop, or, for a fault in
the customer's own installation, the customer); a customer is out while any utility element
on its path is open (IEEE 1366 counts these) and, apart, while its own installation is faulted.

First response (``diagnose``): at its site a responder finds every open element on the site's
supply path (the highest is the cause, wherever it is); at an LV site or cause it walks the
area below it and also finds the open elements there and customers' own faults; at an MV site
with supply it patrols down to the highest open devices. Each
finding carries the skill its repair needs and the crew-seconds it takes; a minor one (re-fusing
or a reset) the responder fixes on the spot if it has the skill (``fix``); customer-side faults
end with advice (``advise``: the customer resets or calls an electrician).

Repairs (``start_repair``): the crews of a repair job work the faults that operated the job's
element and need the job's skill, and only crews holding that skill do: a crew without it
repairs nothing. Each fault is worked by one crew at a time, so the job ends when the work
left, spread over the crews on site, is done, and never before the longest fault left is. A
crew that would not end it sooner leaves at once; a crew that leaves (end of duty) leaves the
work it did done, and the job waits for the next crew.

A mobile generator connected at a customer supplies it until it is disconnected: the customer
is not out meanwhile, whatever fails or is repaired upstream.

Switching (``operate``, with a ``SwitchLayer``): switches open and close, a device that cleared
a fault may be re-closed once the fault is cut off behind an open switch (its faults still wait
for the repair), and a normally-open tie feeds a section from the neighbouring feeder. Supply
is worked out from the state: a customer is out while any open point lies on its path to the
substation, unless a closed tie feeds it (no open point between it and the tie, and the tie's
far end has supply). The field's physics stays honest: a close that would feed a fault trips at
once (nothing changes; counted), one that would put two feeders in parallel or a tie over its
capacity is refused (counted), and a fault in a section fed over a tie trips the tie. Customers
brought back by switching are counted, and their dark time saved: from the step until no
unrepaired fault is left on their normal supply path (the repair would have brought them back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grid_model.network import SKILLS, DeviceKind, Network, NodeKind
from grid_model.stormfile import TruthFault
from grid_model.switches import SwitchKind, SwitchLayer, Tie

CHECK_ONLY_S = 15 * 60
MOMENTARY_S = 5 * 60  # IEEE 1366: an interruption this short is momentary, not sustained


@dataclass(frozen=True, slots=True)
class WorldFault:
    """One damaged element: when, where, the element that opens for it, the crew-seconds
    and skill its repair needs, and whether it is in the customer's own installation."""

    t_s: int
    node_idx: int
    operates_idx: int
    repair_s: int
    skill: str = "lv"
    customer_side: bool = False


@dataclass(frozen=True, slots=True)
class WorldFinding:
    """What a responder finds open at ``node_idx``: the skill and crew-seconds its repair
    needs, whether that is minor enough to fix on the spot, and whether it is customer-side."""

    node_idx: int
    skill: str
    work_s: int
    minor: bool
    customer_side: bool


@dataclass(slots=True)
class _Repair:
    """Work left on one job (crew-seconds), its longest single fault, the crews on it."""

    skill: str
    left_s: float
    longest_s: float
    since_s: int
    crews: dict[str, frozenset[str]] = field(default_factory=dict)

    def advance(self, t_s: int) -> None:
        dt = t_s - self.since_s
        if self.crews:
            self.left_s = max(0.0, self.left_s - len(self.crews) * dt)
            self.longest_s = max(0.0, self.longest_s - dt)
        self.since_s = t_s

    def finish_s(self) -> int:
        return self.since_s + math.ceil(max(self.left_s / len(self.crews), self.longest_s))


@dataclass(frozen=True, slots=True)
class SwitchingTally:
    """What switching did in the world: steps carried out, closes that tripped on a fault or
    were refused (parallel feeders, a tie over capacity), ties tripped by a fault in the section
    they fed, customer restorations by switching and the customer-seconds they saved."""

    steps: int
    tripped: int
    refused: int
    tie_trips: int
    customers_restored: int
    saved_s: int


class World:
    """Energisation state and customer outage records, updated as faults occur and clear."""

    def __init__(self, network: Network, customer_nodes: np.ndarray, faults: list[WorldFault], *,
                 telemetered: np.ndarray | None = None, switches: SwitchLayer | None = None) -> None:
        self.net = network
        self.switches = switches
        # Devices whose opening SCADA reports at once: by default every feeder breaker.
        self.telemetered = telemetered if telemetered is not None else (
            (network.kind == NodeKind.FEEDER_HEAD) & (network.device == DeviceKind.BREAKER))
        self.faults = sorted(faults, key=lambda f: (f.t_s, f.node_idx))
        n = network.n_nodes
        self._dark = np.zeros(n, dtype=np.int32)  # open points on the normal supply path
        self._faulted = np.zeros(n, dtype=np.int32)  # elements with unrepaired faults on it
        self._is_open = np.zeros(n, dtype=bool)
        self._tie_fed = np.zeros(n, dtype=bool)
        self._out = np.zeros(n, dtype=bool)
        self._is_customer = np.zeros(n, dtype=bool)
        self._is_customer[customer_nodes] = True
        self._out_since = np.zeros(n, dtype=np.int64)
        self._lit_by_switching = np.full(n, -1, dtype=np.int64)
        self._backed = np.zeros(n, dtype=bool)
        # customers the last fault darkened and the last repair brought back (for AMI)
        self.newly_dark = np.zeros(0, dtype=np.int64)
        self.newly_back = np.zeros(0, dtype=np.int64)
        # utility-side outage seconds and interruptions (IEEE 1366), and customer-side seconds
        self.outage_s = np.zeros(n, dtype=np.int64)
        self.interruptions = np.zeros(n, dtype=np.int64)
        self.momentary_interruptions = np.zeros(n, dtype=np.int64)
        self._counted = np.zeros(n, dtype=bool)  # the outage under way counts as an interruption
        self.customer_side_s = np.zeros(n, dtype=np.int64)
        # the history behind them: customer outages ended (nodes, from, to), elements' open spans
        self._outages: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._opened_s = np.zeros(n, dtype=np.int64)
        self._open_spans: list[tuple[int, int, int]] = []
        self.dark_at_end = 0
        self.dark_at_end_s = 0
        self.judged_until_s: int | None = None
        # (t_s, change in customers out): the customers-out curve of a run's report
        self.out_changes: list[tuple[int, int]] = []
        self._open: dict[int, list[WorldFault]] = {}
        self._reclosed: set[int] = set()
        self._switched_open: set[int] = set()
        self._ties = {t.tie_id: t for t in switches.ties} if switches is not None else {}
        self._switch_at = {switches.switch_id[k]: k for k in switches.switch_points().tolist()} \
            if switches is not None else {}
        self._closed_ties: dict[str, Tie] = {}  # in the order they closed
        self._tie_state: dict[str, tuple[int, int, int]] = {}  # tie id: dead end, its section's top, fed end
        self._own: dict[int, tuple[int, list[WorldFault]]] = {}
        self._claimed_by: dict[int, str] = {}
        self._claims: dict[str, list[int]] = {}
        self._repairs: dict[str, _Repair] = {}
        self.repairs_done = 0
        self.repairs_by_unqualified_crew = 0
        self._switching = {"steps": 0, "tripped": 0, "refused": 0, "tie_trips": 0, "customers_restored": 0,
                           "saved_s": 0}

    @classmethod
    def from_truth(cls, network: Network, customer_nodes: np.ndarray,
                   truth: list[TruthFault], *, switches: SwitchLayer | None = None) -> World:
        """The world of a storm's truth file; a fault naming an element or operating device the
        network does not have is refused (ValueError naming the fault)."""
        index = network.index_of()
        device_index = {d: i for i, d in enumerate(network.device_id) if d}
        faults = []
        for f in truth:
            element = index.get(f.element_id)
            operates = device_index.get(f.operates_id, index.get(f.operates_id))
            if element is None or operates is None:
                unknown = f.element_id if element is None else f.operates_id
                raise ValueError(f"fault {f.fault_id}: the network has no element {unknown!r}")
            faults.append(WorldFault(f.t_s, element, operates, f.repair_s, f.limit_class,
                                     f.fault_class == "customer_side"))
        return cls(network, customer_nodes, faults, switches=switches)

    # -- faults and energisation -------------------------------------------------------
    def apply_fault(self, fault: WorldFault) -> bool:
        """The fault's element fails; its operating element opens if it was closed and the
        fault reaches it (then True is returned: not through a switch held open below it), and
        protection trips a tie that now feeds the fault. A customer-side fault darkens that
        customer only, apart."""
        op = fault.operates_idx
        self.newly_dark = np.zeros(0, dtype=np.int64)
        if fault.customer_side:
            if op in self._own:
                self._own[op][1].append(fault)
                return False
            self._own[op] = (fault.t_s, [fault])
            return True
        sl = self.net.subtree(op)
        reaches = not any(n in self._switched_open for n in self.between(op, fault.node_idx))
        opened = False
        if op not in self._open:
            self._open[op] = [fault]
            self._faulted[sl] += 1
            if reaches:
                self._set_open(op, True, fault.t_s)
                opened = True
            else:
                self._reclosed.add(op)  # closed, its fault waiting behind an open switch
        else:
            self._open[op].append(fault)
            if op in self._reclosed and reaches and self._dark[fault.node_idx] == 0:
                self._reclosed.discard(op)  # fed through it again after a re-close: it operates again
                self._set_open(op, True, fault.t_s)
                opened = True
        self._update([sl], fault.t_s, interruption=True)
        return opened

    def between(self, top: int, node: int) -> list[int]:
        """The nodes from ``node`` up to ``top``, ``top`` left out (the edges a fault current,
        or a crew patrolling down from ``top``, passes)."""
        path = self.net.path_up(node)
        return path[:path.index(top)] if top in path else path

    def _set_open(self, node: int, is_open: bool, t_s: int) -> None:
        """Open or close the edge into ``node`` (the supply path of its subtree) at ``t_s``."""
        if self._is_open[node] != is_open:
            self._is_open[node] = is_open
            self._dark[self.net.subtree(node)] += 1 if is_open else -1
            if is_open:
                self._opened_s[node] = t_s
            else:
                self._open_spans.append((node, int(self._opened_s[node]), t_s))

    def _close(self, op: int, t_s: int) -> slice:
        """The faults of an element are repaired: it closes, unless switching had already
        closed it, or holds it open (then the return to normal closes it)."""
        del self._open[op]
        sl = self.net.subtree(op)
        self._faulted[sl] -= 1
        if op in self._reclosed:
            self._reclosed.discard(op)
        elif op not in self._switched_open:
            self._set_open(op, False, t_s)
        return sl

    def _supplied(self, node: int) -> bool:
        return bool(self._dark[node] == 0 or self._tie_fed[node])

    def _update(self, ranges: list[slice], t_s: int, *, interruption: bool = False,
                by_switching: bool = False) -> None:
        """After a change inside ``ranges``: protection acts on the closed ties (counted), then
        the customers' records follow."""
        tripped, touched = self._settle(ranges)
        self._switching["tie_trips"] += len(tripped)
        self._refresh(ranges + touched, t_s, interruption=interruption, by_switching=by_switching)

    def _refresh(self, ranges: list[slice], t_s: int, *, interruption: bool = False,
                 by_switching: bool = False) -> None:
        """Customers whose supply changed inside ``ranges``: outage records, the curve, and the
        customers newly dark or back (for the meters). An outage shorter than ``MOMENTARY_S``
        is a momentary interruption, not a sustained one (IEEE 1366). Customers brought back by
        switching while a fault is unrepaired on their normal path are timed (saved dark time),
        and that time ends when no such fault is left or they are dark again."""
        dark, back = [], []
        for sl in ranges:
            out = self._is_customer[sl] & ~self._backed[sl] & (self._dark[sl] > 0) & ~self._tie_fed[sl]
            newly = np.flatnonzero(out & ~self._out[sl]) + sl.start
            gone = np.flatnonzero(~out & self._out[sl]) + sl.start
            self._out[newly] = True
            self._out_since[newly] = t_s
            self._counted[newly] = interruption
            self.interruptions[newly] += interruption
            self._out[gone] = False
            self.outage_s[gone] += t_s - self._out_since[gone]
            if len(gone):
                self._outages.append((gone, self._out_since[gone], t_s))
            brief = gone[self._counted[gone] & (t_s - self._out_since[gone] < MOMENTARY_S)]
            self.interruptions[brief] -= 1
            self.momentary_interruptions[brief] += 1
            dark.append(newly)
            back.append(gone)
        self.newly_dark = np.unique(np.concatenate(dark)) if dark else np.zeros(0, dtype=np.int64)
        self.newly_back = np.unique(np.concatenate(back)) if back else np.zeros(0, dtype=np.int64)
        if len(self.newly_dark):
            self.out_changes.append((t_s, len(self.newly_dark)))
        if len(self.newly_back):
            self.out_changes.append((t_s, -len(self.newly_back)))
        lit = self._lit_by_switching
        if by_switching:
            timed = self.newly_back[self._faulted[self.newly_back] > 0]
            lit[timed] = t_s
            self._switching["customers_restored"] += len(timed)
        ended = np.unique(np.concatenate([self.newly_dark, *(np.flatnonzero(self._faulted[sl] == 0) + sl.start
                                                             for sl in ranges)]))
        ended = ended[lit[ended] >= 0]
        self._switching["saved_s"] += int((t_s - lit[ended]).sum())
        lit[ended] = -1

    # -- ties ------------------------------------------------------------------------------
    def _settle(self, ranges: list[slice]) -> tuple[list[tuple[Tie, str]], list[slice]]:
        """Work out again what every closed tie feeds once one opened or closed, or a change
        inside ``ranges`` touches one (its section, its ends, or what lies above its section's
        top); protection opens a tie that now feeds a fault, parallels two feeders or carries
        more than its capacity. Returns the ties tripped with the reason, and the ranges whose
        supply was recomputed."""
        if self._tie_state.keys() == self._closed_ties.keys() \
                and not any(self._touches(tie_id, ranges) for tie_id in self._closed_ties):
            return [], []
        old = [self.net.subtree(root) for _, root, _ in self._tie_state.values() if root >= 0]
        for sl in old:
            self._tie_fed[sl] = False
        tripped: list[tuple[Tie, str]] = []
        self._tie_state = {}
        touched = list(old)
        for tie in list(self._closed_ties.values()):
            inside, root, far, section, reason = self._feeds(tie)
            if reason:
                tripped.append((tie, reason))
                del self._closed_ties[tie.tie_id]
                continue
            self._tie_state[tie.tie_id] = (inside, root, far)
            if section is not None:
                sl = self.net.subtree(root)
                self._tie_fed[sl] |= section
                touched.append(sl)
        return tripped, touched

    def _touches(self, tie_id: str, ranges: list[slice]) -> bool:
        """Whether a change inside ``ranges`` reaches the tie's section, its top or its ends."""
        tie = self._ties[tie_id]
        _, root, _ = self._tie_state.get(tie_id, (tie.a, -1, tie.b))
        top = (root, root + int(self.net.size[root])) if root >= 0 else (tie.a, tie.a + 1)
        return any((r.start < top[1] and top[0] < r.stop) or r.start <= tie.a < r.stop
                   or r.start <= tie.b < r.stop for r in ranges)

    def _feeds(self, tie: Tie) -> tuple[int, int, int, np.ndarray | None, str]:
        """What a closed tie feeds from the state now: its dead end, that section's top (the
        first open point above it), its fed end and the section (over the top's subtree), or
        why protection opens it ("" when it holds)."""
        fed_a, fed_b = self._dark[tie.a] == 0, self._dark[tie.b] == 0
        if fed_a and fed_b:
            return tie.a, -1, tie.b, None, f"{tie.tie_id} would put two feeders in parallel"
        if not (fed_a or fed_b):
            return tie.a, -1, tie.b, None, ""  # both ends dead: it carries nothing
        inside, far = (tie.b, tie.a) if fed_a else (tie.a, tie.b)
        root = next(n for n in self.net.path_up(inside) if self._is_open[n])
        section = self._tie_section(inside, root)
        sl = self.net.subtree(root)
        if (section & self._tie_fed[sl]).any():
            return inside, root, far, None, f"{tie.tie_id} would put two feeders in parallel"
        carried = int((section & self._is_customer[sl]).sum())
        over = f"{tie.tie_id} would carry {carried} customers, over its {tie.capacity}"
        reason = self._fault_in(sl, section) or (over if carried > tie.capacity else "")
        return inside, root, far, None if reason else section, reason

    def _tie_section(self, inside: int, root: int) -> np.ndarray:
        """Over ``root``'s subtree: the nodes joined to ``inside`` with no open point between
        (the open ``root`` being the section's top)."""
        net = self.net
        sl = net.subtree(root)
        lca = np.full(sl.stop - sl.start, root, dtype=np.int64)
        for p in reversed(self.between(root, inside)):
            lca[p - sl.start:p - sl.start + int(net.size[p])] = p
        d = self._dark
        return (d[sl] == d[lca]) & (d[inside] == d[lca])

    # -- switching ---------------------------------------------------------------------
    def operate(self, element_id: str, action: str, t_s: int) -> str:
        """Carry out a switching step on a switch, a device or a tie (``action`` open or
        close); returns "" when done, else why not: a close that would feed a fault (radially
        or over a tie) trips at once, one that would parallel two feeders or overload a tie is
        refused, and a tie between two dead sections is not closed; nothing changes, and each
        is counted."""
        if action not in ("open", "close"):
            raise ValueError(f"switching {element_id}: action must be open or close, got {action!r}")
        tie = self._ties.get(element_id)
        node = -1 if tie is not None else self._switch_node(element_id)
        if action == "open":
            if tie is not None:
                if self._closed_ties.pop(tie.tie_id, None) is None:
                    return ""
            elif self._is_open[node]:
                return ""
            else:  # held open by the control room (a device re-closed on pending faults too)
                self._reclosed.discard(node)
                self._switched_open.add(node)
                self._set_open(node, True, t_s)
            self._switching["steps"] += 1
            self._update(self._ranges(tie, node), t_s, interruption=True)
            return ""
        if (tie is not None and tie.tie_id in self._closed_ties) or (tie is None and not self._is_open[node]):
            return ""
        if tie is not None and self._dark[tie.a] > 0 and self._dark[tie.b] > 0:
            self._switching["refused"] += 1
            return f"closing {tie.tie_id}: neither end has supply"
        before = dict(self._closed_ties)
        if tie is not None:
            self._closed_ties[tie.tie_id] = tie
        else:
            self._set_open(node, False, t_s)
        ranges = self._ranges(tie, node)
        tripped, touched = self._settle(ranges)
        problem = tripped[0][1] if tripped else self._fault_fed(ranges)
        if problem:
            if tie is None:
                self._set_open(node, True, t_s)
            self._closed_ties = before
            self._settle(ranges + touched)
            self._switching["tripped" if problem.startswith("closing onto") else "refused"] += 1
            return problem
        if tie is None:
            if node in self._open:
                self._reclosed.add(node)
            self._switched_open.discard(node)
        self._switching["steps"] += 1
        self._refresh(ranges + touched, t_s, by_switching=True)
        return ""

    def _ranges(self, tie: Tie | None, node: int) -> list[slice]:
        if tie is None:
            return [self.net.subtree(node)]
        return [slice(tie.a, tie.a + 1), slice(tie.b, tie.b + 1)]

    def _switch_node(self, element_id: str) -> int:
        node = self._switch_at.get(element_id)
        if node is None:
            raise ValueError(f"switching: no switch, device or tie {element_id!r}")
        return node

    def _fault_fed(self, ranges: list[slice]) -> str:
        """A fault on the substations' supply inside ``ranges`` (over a tie is ``_settle``'s)."""
        return next((reason for sl in ranges if (reason := self._fault_in(sl, self._dark[sl] == 0))), "")

    def _fault_in(self, sl: slice, fed: np.ndarray) -> str:
        """An unrepaired fault in ``sl`` on a node ``fed`` marks (over ``sl``)."""
        for op, faults in self._open.items():
            if op < sl.stop and sl.start < op + int(self.net.size[op]):
                for f in faults:
                    if sl.start <= f.node_idx < sl.stop and fed[f.node_idx - sl.start]:
                        return f"closing onto the fault at {self.net.node_id[f.node_idx]}"
        return ""

    def fault_indicators(self, fault: WorldFault) -> tuple[str, ...]:
        """The remote switches between a fault and the device it operated whose fault passage
        indicators picked up its current (SCADA reads them with the trip)."""
        layer = self.switches
        if layer is None:
            return ()
        out = []
        for n in self.net.path_up(fault.node_idx):
            if n == fault.operates_idx:
                break
            if layer.switch[n] == SwitchKind.REMOTE:
                out.append(layer.switch_id[n])
        return tuple(reversed(out))

    def faults_at(self, element: int) -> tuple[int, ...]:
        """Where on the network the unrepaired faults that operated ``element`` lie (what a
        crew patrolling the line from it finds)."""
        return tuple(sorted({f.node_idx for f in self._open.get(element, [])}))

    def switch_state(self) -> tuple[np.ndarray, list[Tie], list[int]]:
        """The open edges (operated devices, opened switches), the closed ties, and where the
        unrepaired utility faults are: what ``grid_model.switches`` judges a state by."""
        faults = sorted({f.node_idx for fs in self._open.values() for f in fs})
        return self._is_open.copy(), list(self._closed_ties.values()), faults

    def off_normal(self) -> list[str]:
        """Switches held open and ties closed: what is not in the normal configuration."""
        layer = self.switches
        held = [layer.switch_id[n] for n in sorted(self._switched_open)] if layer is not None else []
        return held + list(self._closed_ties)

    def outages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every utility-side outage of a customer that has ended (``finalize`` ends those under
        way): customer nodes, from and to (seconds). A customer's outages sum to its ``outage_s``."""
        if not self._outages:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        nodes, since, until = zip(*self._outages, strict=True)
        ends = [np.full(len(n), t, dtype=np.int64) for n, t in zip(nodes, until, strict=True)]
        return np.concatenate(nodes), np.concatenate(since), np.concatenate(ends)

    def open_spans(self) -> list[tuple[int, int, int]]:
        """When each utility element was open (operated by a fault, or opened by switching):
        (node, from, to) in seconds, ended (``finalize`` ends those still open); a close that
        trips at once ends one span and starts the next at the same second."""
        return list(self._open_spans)

    @property
    def switching(self) -> SwitchingTally:
        return SwitchingTally(**self._switching)

    def customer_id_at(self, node: int) -> str:
        """The customer number a caller at ``node`` gives (the first meter of a meter box)."""
        while not self._is_customer[node]:
            node += 1
        return self.net.node_id[node]

    def dark_customers_below(self, nodes: tuple[int, ...]) -> set[int]:
        """Customers under any of ``nodes`` who are still out (utility side)."""
        out: set[int] = set()
        for node in nodes:
            sl = self.net.subtree(node)
            hit = np.flatnonzero((self._dark[sl] > 0) & ~self._tie_fed[sl] & self._is_customer[sl])
            out.update((hit + sl.start).tolist())
        return out

    def own_fault(self, node: int) -> bool:
        """Whether the customer at ``node`` has a fault in its own installation."""
        return node in self._own

    def is_dark(self, node: int) -> bool:
        """Whether the customer at ``node`` has no supply, for whatever reason."""
        return not self._supplied(node) or node in self._own

    # -- first response ----------------------------------------------------------------
    def diagnose(self, site: int, fix_limit_s: int) -> list[WorldFinding]:
        """What a responder at ``site`` finds (see the module docstring), the cause first;
        ``fix_limit_s``: the longest repair the responder counts as minor."""
        net = self.net
        on_path = [op for op in reversed(net.path_up(site)) if op in self._open]
        if on_path and net.kind[on_path[0]] >= NodeKind.TRANSFORMER:
            walk: int | None = on_path[0]
        else:
            walk = site if net.kind[site] >= NodeKind.TRANSFORMER else None
        found = [self._finding(op, fix_limit_s) for op in on_path]
        if walk is not None:
            end = walk + int(net.size[walk])
            found += [self._finding(op, fix_limit_s) for op in sorted(self._open)
                      if walk <= op < end and op not in on_path]
            found += [WorldFinding(o, "", sum(f.repair_s for f in self._own[o][1]), False, True)
                      for o in sorted(self._own) if walk <= o < end]
        elif not on_path:
            end = site + int(net.size[site])
            tops: list[int] = []
            for op in sorted(o for o in self._open if site <= o < end):
                if not any(net.is_ancestor(t, op) for t in tops):
                    tops.append(op)
            found += [self._finding(op, fix_limit_s) for op in tops]
        return found

    def _finding(self, op: int, fix_limit_s: int) -> WorldFinding:
        faults = self._open[op]
        skills = sorted({f.skill for f in faults}, key=SKILLS.index)
        work = sum(f.repair_s for f in faults if f.skill == skills[-1])
        return WorldFinding(op, skills[-1], work, len(skills) == 1 and work <= fix_limit_s, False)

    def fix(self, nodes: list[int], skills: frozenset[str], t_s: int) -> tuple[int, ...]:
        """A responder fixes these open elements on the spot (those it has the skill for and
        that are still open); returns those closed."""
        done, back = [], []
        for op in nodes:
            faults = self._open.get(op)
            if faults is None or op in self._claimed_by or any(f.skill not in skills for f in faults):
                continue
            back.append(self._close(op, t_s))
            done.append(op)
            self.repairs_done += len(faults)
        self._update(back, t_s)
        return tuple(done)

    def advise(self, nodes: list[int], t_s: int) -> None:
        """Customers told their fault is their own: they reset or have it fixed now."""
        for node in nodes:
            opened = self._own.pop(node, None)
            if opened is not None:
                self.customer_side_s[node] += t_s - opened[0]

    # -- repairs -----------------------------------------------------------------------
    def start_repair(self, job_id: str, element: int, skill: str, crew_id: str, crew_skills: frozenset[str],
                     t_s: int) -> int | None:
        """A crew arrives at a repair job: it starts (or resumes) the work on the faults that
        operated ``element`` and need ``skill``; returns when the job will be done, or None
        when this crew would not end it sooner (it leaves)."""
        job = self._repairs.get(job_id)
        if job is None:
            claimed = [element] if element in self._open and element not in self._claimed_by else []
            faults = [f.repair_s for op in claimed for f in self._open[op] if f.skill == skill]
            if not faults:
                claimed = []
            for op in claimed:
                self._claimed_by[op] = job_id
            self._claims[job_id] = claimed
            faults = faults or [CHECK_ONLY_S]
            job = self._repairs[job_id] = _Repair(skill, float(sum(faults)), float(max(faults)), t_s)
        job.advance(t_s)
        if skill not in crew_skills:
            return None
        if job.crews and job.longest_s * len(job.crews) >= job.left_s:
            return None
        job.crews[crew_id] = crew_skills
        return job.finish_s()

    def leave_repair(self, job_id: str, crew_id: str, t_s: int) -> int | None:
        """The crew stops working the job (its duty ends, or it is called away); the others
        go on. Returns the new finish time, or None when nobody is left on it."""
        job = self._repairs.get(job_id)
        if job is None or crew_id not in job.crews:
            return None
        job.advance(t_s)
        del job.crews[crew_id]
        return job.finish_s() if job.crews else None

    def finish_repair(self, job_id: str, t_s: int) -> tuple[int, ...]:
        """Close the faults of the job's elements that the crews on site are qualified for;
        returns the elements re-energised. An element with a fault of another skill left stays
        open (the crew reports it). A fault closed with no crew on site holding its skill would
        be an unqualified repair (counted: the invariant that it never happens)."""
        done = self._claims.pop(job_id, [])
        job = self._repairs.pop(job_id)
        held = frozenset().union(*job.crews.values()) if job.crews else frozenset()
        back = []
        for op in done:
            del self._claimed_by[op]
            closed = [f for f in self._open[op] if f.skill == job.skill or f.skill in held]
            left = [f for f in self._open[op] if f not in closed]
            self.repairs_done += len(closed)
            self.repairs_by_unqualified_crew += sum(1 for f in closed if f.skill not in held)
            if left:
                self._open[op] = left
                continue
            back.append(self._close(op, t_s))
        self._update(back, t_s)
        return tuple(op for op in done if op not in self._open)

    # -- meters and generators ---------------------------------------------------------
    def sends_last_gasps(self, node: int) -> bool:
        """Whether meters below an element that just opened send last gasps that get
        through: their meter must lose supply (not so for a customer's own breaker) while the
        AMI concentrator at their transformer keeps it (not so at the transformer or above)."""
        if not NodeKind.TRANSFORMER < self.net.kind[node] < NodeKind.CUSTOMER:
            return False
        while node >= 0 and self.net.kind[node] > NodeKind.TRANSFORMER:
            node = int(self.net.parent[node])
        return node >= 0 and self.net.kind[node] == NodeKind.TRANSFORMER and self._supplied(node)

    def connect_generator(self, node: int, t_s: int) -> None:
        """A generator truck supplies the customer at ``node`` from ``t_s``."""
        self._backed[node] = True
        self._refresh([slice(node, node + 1)], t_s)

    def disconnect_generator(self, node: int, t_s: int) -> None:
        """The truck leaves; a customer still cut off is out again from ``t_s``."""
        self._backed[node] = False
        self._refresh([slice(node, node + 1)], t_s)

    def finalize(self, t_s: int) -> None:
        """Charge customers still out at the end of the run up to ``t_s`` (counted in
        ``dark_at_end``)."""
        dark = self._out
        self.judged_until_s = t_s
        self.dark_at_end = int(np.count_nonzero(dark))
        self.dark_at_end_s = int((t_s - self._out_since[dark]).sum())
        self.outage_s[dark] += t_s - self._out_since[dark]
        self._outages.append((np.flatnonzero(dark), self._out_since[dark], t_s))
        self._out_since[dark] = t_s
        still = np.flatnonzero(self._is_open)
        self._open_spans += [(n, int(self._opened_s[n]), t_s) for n in still.tolist()]
        self._opened_s[still] = t_s
        lit = self._lit_by_switching >= 0
        self._switching["saved_s"] += int((t_s - self._lit_by_switching[lit]).sum())
        self._lit_by_switching[lit] = t_s
        for node, (opened, _) in self._own.items():
            self.customer_side_s[node] += t_s - opened
        self._own = {node: (t_s, faults) for node, (_, faults) in self._own.items()}
