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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grid_model.network import SKILLS, DeviceKind, Network, NodeKind
from grid_model.stormfile import TruthFault

CHECK_ONLY_S = 15 * 60


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


class World:
    """Energisation state and customer outage records, updated as faults occur and clear."""

    def __init__(self, network: Network, customer_nodes: np.ndarray, faults: list[WorldFault], *,
                 telemetered: np.ndarray | None = None) -> None:
        self.net = network
        # Devices whose opening SCADA reports at once: by default every feeder breaker.
        self.telemetered = telemetered if telemetered is not None else (
            (network.kind == NodeKind.FEEDER_HEAD) & (network.device == DeviceKind.BREAKER))
        self.faults = sorted(faults, key=lambda f: (f.t_s, f.node_idx))
        n = network.n_nodes
        self._dark = np.zeros(n, dtype=np.int32)
        self._is_customer = np.zeros(n, dtype=bool)
        self._is_customer[customer_nodes] = True
        self._out_since = np.zeros(n, dtype=np.int64)
        self._backed = np.zeros(n, dtype=bool)
        # customers the last fault darkened and the last repair brought back (for AMI)
        self.newly_dark = np.zeros(0, dtype=np.int64)
        self.newly_back = np.zeros(0, dtype=np.int64)
        # utility-side outage seconds and interruptions (IEEE 1366), and customer-side seconds
        self.outage_s = np.zeros(n, dtype=np.int64)
        self.interruptions = np.zeros(n, dtype=np.int64)
        self.customer_side_s = np.zeros(n, dtype=np.int64)
        self.dark_at_end = 0
        self.dark_at_end_s = 0
        self.judged_until_s: int | None = None
        # (t_s, change in customers out): the customers-out curve of a run's report
        self.out_changes: list[tuple[int, int]] = []
        self._open: dict[int, list[WorldFault]] = {}
        self._own: dict[int, tuple[int, list[WorldFault]]] = {}
        self._claimed_by: dict[int, str] = {}
        self._claims: dict[str, list[int]] = {}
        self._repairs: dict[str, _Repair] = {}
        self.repairs_done = 0
        self.repairs_by_unqualified_crew = 0

    @classmethod
    def from_truth(cls, network: Network, customer_nodes: np.ndarray,
                   truth: list[TruthFault]) -> World:
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
        return cls(network, customer_nodes, faults)

    # -- faults and energisation -------------------------------------------------------
    def apply_fault(self, fault: WorldFault) -> bool:
        """The fault's element fails; its operating element opens if it was closed (then
        True is returned). A customer-side fault darkens that customer only, apart."""
        op = fault.operates_idx
        self.newly_dark = np.zeros(0, dtype=np.int64)
        if fault.customer_side:
            if op in self._own:
                self._own[op][1].append(fault)
                return False
            self._own[op] = (fault.t_s, [fault])
            return True
        if op in self._open:
            self._open[op].append(fault)
            return False
        self._open[op] = [fault]
        sl = self.net.subtree(op)
        newly = (self._dark[sl] == 0) & self._is_customer[sl] & ~self._backed[sl]
        self.newly_dark = np.flatnonzero(newly) + sl.start
        self._out_since[sl][newly] = fault.t_s
        self.interruptions[sl][newly] += 1
        self._dark[sl] += 1
        self.out_changes.append((fault.t_s, len(self.newly_dark)))
        return True

    def _close(self, op: int, t_s: int) -> np.ndarray:
        """Close an open utility element; returns the customers it brings back."""
        del self._open[op]
        sl = self.net.subtree(op)
        self._dark[sl] -= 1
        back = (self._dark[sl] == 0) & self._is_customer[sl] & ~self._backed[sl]
        self.outage_s[sl][back] += t_s - self._out_since[sl][back]
        return np.flatnonzero(back) + sl.start

    def _restored(self, back: list[np.ndarray], t_s: int) -> None:
        self.newly_back = np.concatenate(back) if back else np.zeros(0, dtype=np.int64)
        if len(self.newly_back):
            self.out_changes.append((t_s, -len(self.newly_back)))

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
            hit = np.flatnonzero((self._dark[sl] > 0) & self._is_customer[sl])
            out.update((hit + sl.start).tolist())
        return out

    def own_fault(self, node: int) -> bool:
        """Whether the customer at ``node`` has a fault in its own installation."""
        return node in self._own

    def is_dark(self, node: int) -> bool:
        """Whether the customer at ``node`` has no supply, for whatever reason."""
        return bool(self._dark[node] > 0) or node in self._own

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
        self._restored(back, t_s)
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
        self._restored(back, t_s)
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
        return node >= 0 and self.net.kind[node] == NodeKind.TRANSFORMER and bool(self._dark[node] == 0)

    def connect_generator(self, node: int, t_s: int) -> None:
        """A generator truck supplies the customer at ``node`` from ``t_s``."""
        if self._is_customer[node] and self._dark[node] > 0 and not self._backed[node]:
            self.outage_s[node] += t_s - self._out_since[node]
            self.out_changes.append((t_s, -1))
        self._backed[node] = True

    def disconnect_generator(self, node: int, t_s: int) -> None:
        """The truck leaves; a customer still cut off is out again from ``t_s``."""
        self._backed[node] = False
        if self._dark[node] > 0:
            self._out_since[node] = t_s
            if self._is_customer[node]:
                self.out_changes.append((t_s, 1))

    def finalize(self, t_s: int) -> None:
        """Charge customers still out at the end of the run up to ``t_s`` (counted in
        ``dark_at_end``)."""
        dark = (self._dark > 0) & self._is_customer & ~self._backed
        self.judged_until_s = t_s
        self.dark_at_end = int(np.count_nonzero(dark))
        self.dark_at_end_s = int((t_s - self._out_since[dark]).sum())
        self.outage_s[dark] += t_s - self._out_since[dark]
        self._out_since[dark] = t_s
        for node, (opened, _) in self._own.items():
            self.customer_side_s[node] += t_s - opened
        self._own = {node: (t_s, faults) for node, (_, faults) in self._own.items()}
