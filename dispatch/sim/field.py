"""The field, simulated: one crew-work simulator for replay, ``demo`` and ``serve --demo``.

It plays everything outside the engine: the storm's faults and the calls of the event file,
SCADA reporting a telemetered breaker, smart meters (last gasps and restores), crews driving to
the jobs the engine sends them to (arriving after the travel time the engine quoted), first
responders assessing, fixing small faults and reporting what they found, repair crews working
(``dispatch.sim.world``), shift starts and ends, generator trucks hooking up, the call-taker's
callbacks, and customers still dark calling again. The engine sees only what it would see live.

A driver pulls the next engine event with ``next_event`` and hands back what came of it:
``accepted`` (or ``refused``) for the event, and ``hear`` for the engine's decisions, which may
come later (live, the engine decides on its own thread). Batch replay drives it with
``dispatch.sim.run``; ``serve --demo`` from the server's clock.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dispatch.callbacks import CALLBACK_ATTEMPTS
from dispatch.crews import Crew
from dispatch.events import (
    AmiMessage,
    Assign,
    CallbackDue,
    CallbackMade,
    CallReceived,
    CrewArrived,
    CrewReleased,
    Decision,
    DeviceOperated,
    Divert,
    Event,
    FaultLocated,
    Finding,
    FirstResponseDone,
    GeneratorConnected,
    GeneratorReleased,
    Handover,
    Operate,
    Recall,
    RepairFinished,
    SendGenerator,
    ShiftEnded,
    ShiftStarted,
    SwitchingDone,
    SwitchRefused,
)
from dispatch.sim.world import World, WorldFault, WorldFinding
from grid_model.network import NodeKind
from grid_model.storm import Call
from grid_model.switching import MANUAL_STEP_S

log = logging.getLogger(__name__)

# Tie-break at equal times: the grid changes first, then telemetry, crews, then calls.
(_FAULT, _TELEMETRY, _SHIFT_END, _WORK, _ARRIVE, _SHIFT_START, _CALLBACK, _OUTSIDE,
 _FOLLOWUP) = range(9)


@dataclass(frozen=True, slots=True)
class AmiParams:
    """Smart meters behind concentrators at the transformers: a last gasp gets through only
    while the concentrator has supply (a fault below the transformer), with
    ``last_gasp_share``; a restore with ``restore_share`` at the next poll."""

    last_gasp_share: float = 0.8
    restore_share: float = 0.9
    last_gasp_delay_s: tuple[int, int] = (10, 120)
    restore_delay_s: tuple[int, int] = (60, 900)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class FieldParams:
    """How the field behaves: a responder's time on site (assess and make safe) and the
    longest fix it makes on the spot, how far its repair estimate is off (lognormal sigma), the
    call-taker's callbacks, the share of customers with a fault of their own who reset their
    breaker when the call-taker asks (the supply is back on the call), customers calling
    again, generator hook-up, the speed a crew patrols a line to find a fault."""

    assess_s: tuple[int, int] = (15 * 60, 25 * 60)
    fix_limit_s: int = 30 * 60
    estimate_spread: float = 0.25
    callback_after_s: int = 20 * 60
    callback_no_answer: float = 0.05
    callback_retry_s: int = 30 * 60
    phone_reset_share: float = 0.5
    repeat_call_delay_s: int = 30 * 60
    max_repeat_calls: int = 2
    generator_hookup_s: int = 30 * 60
    patrol_speed_ms: float = 10 / 3.6  # a crew patrolling an MV line from the device that operated
    seed: int = 0


@dataclass(slots=True)
class _Visit:
    """A responder on site: what it found and will report."""

    job_id: str
    token: int
    findings: list[WorldFinding]


@dataclass(slots=True)
class FieldStats:
    repeat_calls: int = 0
    ami_messages: int = 0
    callbacks_made: int = 0
    hours_of_service_breaches: int = 0
    work_past_duty: list[str] = field(default_factory=list)


class FieldSim:
    """The simulated field (see the module docstring)."""

    def __init__(self, world: World, crews: Sequence[Crew], customers: pd.DataFrame, *,
                 params: FieldParams | None = None, ami: AmiParams | None = None,
                 drive_shifts: bool = True, until_s: int) -> None:
        self.world = world
        self.params = params or FieldParams()
        self.ami = ami
        self.crews = {c.crew_id: c for c in crews}
        nodes = customers["node_idx"].tolist()
        self._meter_at = dict(zip(nodes, customers["meter_id"].tolist(), strict=True))
        self._customer_node = {**dict(zip(customers["customer_id"].tolist(), nodes, strict=True)),
                               **dict(zip(customers["meter_id"].tolist(), nodes, strict=True))}
        self._heap: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        self._rng = np.random.default_rng([self.params.seed, 41])
        self._ami_rng = np.random.default_rng(ami.seed if ami else 0)
        self._trip: dict[str, tuple[int, str, str, int, str]] = {}
        self._callback_node: dict[str, int] = {}
        self._visit_site: dict[str, int] = {}
        self._job_site: dict[str, int] = {}
        self._working: dict[str, str] = {}
        self._visits: dict[str, _Visit] = {}
        self._switching: dict[str, tuple[str, int]] = {}
        self._repair_token: dict[str, int] = {}
        self._truck: dict[str, tuple[int, int]] = {}
        self._connected: dict[str, int] = {}
        self._called_back: dict[int, int] = {}
        self._pending_followups = 0
        self.outside_left = 0
        self.faults_left = len(world.faults)
        self.stats = FieldStats()
        for f in world.faults:
            self._push(f.t_s, _FAULT, f)
        if drive_shifts:
            for crew in crews:
                for start, end in crew.shifts(until_s):
                    self._push(start, _SHIFT_START, ShiftStarted(start, crew.crew_id))
                    self._push(end, _SHIFT_END, ShiftEnded(end, crew.crew_id))

    def _push(self, t: int, prio: int, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, item))

    def add_outside(self, events: Iterable[Event]) -> None:
        """Events from outside the field (the storm file's calls and planned outages)."""
        for ev in events:
            self.outside_left += 1
            self._push(ev.t_s, _OUTSIDE, ev)

    @property
    def busy(self) -> bool:
        """Whether anything the field started is still under way (trips, visits, repairs,
        callbacks), or faults and calls are yet to come."""
        return bool(self.outside_left or self.faults_left or self._pending_followups or self._trip
                    or self._visits or self._repair_token or self._truck or self._switching)

    def next_event(self, until_s: int) -> Event | None:
        """The next event for the engine due by ``until_s`` (world changes on the way are
        applied here), or None."""
        while self._heap and self._heap[0][0] <= until_s:
            t, prio, _, item = heapq.heappop(self._heap)
            if prio == _OUTSIDE:
                self.outside_left -= 1
            elif prio in (_FOLLOWUP, _CALLBACK):
                self._pending_followups -= 1
            ev = self._due(t, item)
            if ev is not None:
                return ev
        return None

    def _due(self, t: int, item: Any) -> Event | None:
        if isinstance(item, WorldFault):
            self.faults_left -= 1
            self._fault(t, item)
            return None
        if isinstance(item, CallReceived):
            return self._triage(item)
        if not isinstance(item, tuple):
            return item
        kind, key, token = item
        if kind == "arrive":
            trip = self._trip.get(key)
            if trip is None or trip[0] != token:
                return None
            self._check_duty(key, t)
            return CrewArrived(t, key, trip[1])
        if kind == "visit":
            visit = self._visits.get(key)
            if visit is None or visit.token != token:
                return None
            return self._report_visit(t, key, visit)
        if kind == "repair":
            if self._repair_token.get(key) != token:
                return None
            del self._repair_token[key]
            reporter = next(c for c, j in self._working.items() if j == key)
            for crew_id in [c for c, j in self._working.items() if j == key]:
                self._check_duty(crew_id, t)
                del self._working[crew_id]
            restored = self.world.finish_repair(key, t)
            below = self._still_open_below(t, self._job_site.pop(key))
            return RepairFinished(t, reporter, key, restored, below)
        if kind == "located":
            job_id, element = token
            faults = self.world.faults_at(element)
            if not faults or self._working.get(key) != job_id:
                return None
            net = self.world.net
            return FaultLocated(t, key, job_id, tuple(net.device_id[n] or net.node_id[n] for n in faults))
        if kind == "switched":
            job = self._switching.get(key)
            if job is None or job[1] != token:
                return None
            del self._switching[key]
            self._check_duty(key, t)
            return SwitchingDone(t, key, job[0])
        if kind == "generator":
            truck = self._truck.get(key)
            if truck is None or truck[0] != token:
                return None
            del self._truck[key]
            self._connected[key] = truck[1]
            self.world.connect_generator(truck[1], t)
            return GeneratorConnected(t, key)
        if kind == "callback":
            return self._callback(t, key, token)
        raise ValueError(f"unknown field item {kind!r}")

    def _triage(self, ev: CallReceived) -> CallReceived:
        """The call-taker asks a caller whose own breaker has tripped to reset it; with
        ``phone_reset_share`` that brings the supply back on the call."""
        node = self._customer_node.get(ev.call.customer_id or ev.call.meter_id, -1)
        if node < 0 or not self.world.own_fault(node) or self._rng.random() >= self.params.phone_reset_share:
            return ev
        self.world.advise([node], ev.t_s)
        if self.world.is_dark(node):  # the utility's supply is out too: the call stands
            return ev
        return CallReceived(ev.t_s, ev.call, triage="customer_reset")

    def _fault(self, t: int, fault: WorldFault) -> None:
        op = fault.operates_idx
        if self.world.apply_fault(fault) and not fault.customer_side and self.world.telemetered[op]:
            self._push(t, _TELEMETRY, DeviceOperated(t, self.world.net.device_id[op],
                                                     self.world.fault_indicators(fault)))
        if self.ami and len(self.world.newly_dark) and self.world.sends_last_gasps(op):
            self._meters(self.world.newly_dark, "last_gasp", self.ami.last_gasp_share,
                         self.ami.last_gasp_delay_s, t)

    def _meters(self, nodes: np.ndarray, kind: str, share: float, delay: tuple[int, int], t: int) -> None:
        rng = self._ami_rng
        picked = nodes[rng.random(len(nodes)) < share]
        for node, lag in zip(picked.tolist(), rng.integers(delay[0], delay[1] + 1, len(picked)).tolist(),
                             strict=True):
            self._pending_followups += 1
            self.stats.ami_messages += 1
            self._push(t + lag, _FOLLOWUP, AmiMessage(t + lag, self._meter_at[node], kind))

    def _check_duty(self, crew_id: str, t: int) -> None:
        """Independent check of the hours of service: work reported past the end of the
        shift under way (or outside any shift) is a breach."""
        shift = self.crews[crew_id].shift_at(t)
        if shift is None or not shift[0] <= t <= shift[1]:
            self.stats.hours_of_service_breaches += 1
            self.stats.work_past_duty.append(f"{crew_id}@{t}")

    # -- what came of an event ---------------------------------------------------------
    def accepted(self, ev: Event) -> None:
        """The engine took ``ev``: the field acts on it."""
        if isinstance(ev, CrewArrived):
            self._arrived(ev)
        elif isinstance(ev, RepairFinished | FirstResponseDone) and self.ami and self.world.newly_back.size:
            self._meters(self.world.newly_back, "restore", self.ami.restore_share,
                         self.ami.restore_delay_s, ev.t_s)
        if isinstance(ev, RepairFinished):
            self._repeat_calls(ev.t_s, ev.restored_nodes)
        if isinstance(ev, FirstResponseDone):
            self._repeat_calls(ev.t_s, tuple(self.world.newly_back.tolist()))

    def refused(self, ev: Event, reason: str) -> None:
        """The engine refused ``ev``: a crew's trip or visit behind it is over."""
        log.warning("event refused: %s", reason)
        if isinstance(ev, CrewArrived | FirstResponseDone | RepairFinished):
            self._trip.pop(ev.crew_id, None)
            self._visits.pop(ev.crew_id, None)
            self._working.pop(ev.crew_id, None)
            self._switching.pop(ev.crew_id, None)

    def _arrived(self, ev: CrewArrived) -> None:
        trip = self._trip.pop(ev.crew_id, None)
        if trip is None:
            return
        _, job_id, kind, node, skill = trip
        if kind == "first_response":
            self._start_visit(ev.t_s, ev.crew_id, job_id, node)
            return
        if kind == "switching":
            self._seq += 1
            self._switching[ev.crew_id] = (job_id, self._seq)
            self._push(ev.t_s + MANUAL_STEP_S, _WORK, ("switched", ev.crew_id, self._seq))
            return
        done = self.world.start_repair(job_id, node, skill, ev.crew_id, self.crews[ev.crew_id].skills, ev.t_s)
        if done is None:
            self._push(ev.t_s, _WORK, CrewReleased(ev.t_s, ev.crew_id, job_id))
            return
        self._working[ev.crew_id] = job_id
        self._job_site[job_id] = node
        self._seq += 1
        self._repair_token[job_id] = self._seq
        self._push(done, _WORK, ("repair", job_id, self._seq))
        patrol = self._patrol_s(node)
        if patrol is not None:
            self._pending_followups += 1
            self._push(ev.t_s + patrol, _FOLLOWUP, ("located", ev.crew_id, (job_id, node)))

    def _patrol_s(self, element: int) -> int | None:
        """How long a crew at an MV device that operated patrols the line below it to the
        farthest of its faults; None when there is nothing to find (or no switch to act on it)."""
        world = self.world
        if world.switches is None or world.net.kind[element] > NodeKind.MV_NODE:
            return None
        faults = world.faults_at(element)
        if not faults:
            return None
        length = world.net.length_m
        far = max(sum(float(length[n]) for n in world.between(element, f)) for f in faults)
        return round(far / self.params.patrol_speed_ms)

    def _start_visit(self, t: int, crew_id: str, job_id: str, node: int) -> None:
        p = self.params
        findings = self.world.diagnose(node, p.fix_limit_s)
        skills = self.crews[crew_id].skills
        fixing = sum(f.work_s for f in findings if f.minor and f.skill in skills)
        assess = int(self._rng.integers(p.assess_s[0], p.assess_s[1] + 1))
        self._seq += 1
        self._visits[crew_id] = _Visit(job_id, self._seq, findings)
        self._visit_site[crew_id] = node
        self._push(t + assess + fixing, _WORK, ("visit", crew_id, self._seq))

    def _report_visit(self, t: int, crew_id: str, visit: _Visit) -> FirstResponseDone:
        """The responder fixes the minor faults it found on arrival, advises customers with
        faults of their own, looks again (the storm goes on meanwhile) and reports."""
        del self._visits[crew_id]
        self._check_duty(crew_id, t)
        skills = self.crews[crew_id].skills
        world = self.world
        fixed = world.fix([f.node_idx for f in visit.findings if f.minor and f.skill in skills], skills, t)
        world.advise([f.node_idx for f in visit.findings if f.customer_side], t)
        site = self._visit_site[crew_id]
        net = world.net
        out = [Finding(net.device_id[n] or net.node_id[n], f.skill, 0, fixed=n in fixed,
                       customer_side=f.customer_side)
               for f in visit.findings if (n := f.node_idx) in fixed or f.customer_side]
        again = world.diagnose(site, self.params.fix_limit_s)
        world.advise([f.node_idx for f in again if f.customer_side], t)
        for f in again:
            estimate = round(f.work_s * self._rng.lognormal(0.0, self.params.estimate_spread))
            out.append(Finding(net.device_id[f.node_idx] or net.node_id[f.node_idx], f.skill, estimate,
                               customer_side=f.customer_side))
        return FirstResponseDone(t, crew_id, visit.job_id, tuple(out))

    def _still_open_below(self, t: int, site: int) -> tuple[Finding, ...]:
        """What a repair crew sees still open at the element it repaired (a fault its skills
        do not cover) or below it (its customers' own faults it advises on)."""
        net = self.world.net
        below = [f for f in self.world.diagnose(site, self.params.fix_limit_s)
                 if net.is_ancestor(site, f.node_idx)]
        self.world.advise([f.node_idx for f in below if f.customer_side], t)
        return tuple(Finding(net.device_id[f.node_idx] or net.node_id[f.node_idx], f.skill,
                             round(f.work_s * self._rng.lognormal(0.0, self.params.estimate_spread)),
                             customer_side=f.customer_side) for f in below)

    def _repeat_calls(self, t: int, restored: Iterable[int]) -> None:
        """Customers below a repaired element who are still dark (they see the lights come
        back around them) call again, at most ``max_repeat_calls`` times each."""
        p = self.params
        for node in sorted(self.world.dark_customers_below(tuple(restored))):
            if self._called_back.get(node, 0) >= p.max_repeat_calls:
                continue
            self._called_back[node] = self._called_back.get(node, 0) + 1
            self.stats.repeat_calls += 1
            self._pending_followups += 1
            at = t + p.repeat_call_delay_s
            call = Call(f"RC{self.stats.repeat_calls:06d}", at, customer_id=self.world.customer_id_at(node))
            self._push(at, _FOLLOWUP, CallReceived(at, call))

    def _callback(self, t: int, callback_id: str, attempt: int) -> CallbackMade | None:
        """The call-taker calls the customer: no answer (tried again later), still dark, or
        supply back."""
        p = self.params
        node = self._callback_node.pop(callback_id)
        if self._rng.random() < p.callback_no_answer:
            if attempt < CALLBACK_ATTEMPTS:  # the engine closes the callback unanswered after the last
                self._callback_node[callback_id] = node
                self._pending_followups += 1
                self._push(t + p.callback_retry_s, _CALLBACK, ("callback", callback_id, attempt + 1))
            return CallbackMade(t, callback_id, "no_answer")
        self.stats.callbacks_made += 1
        return CallbackMade(t, callback_id, "still_dark" if self.world.is_dark(node) else "restored")

    # -- the engine's decisions --------------------------------------------------------
    def hear(self, decisions: Iterable[Decision]) -> None:
        """Carry out the engine's decisions in the field."""
        for d in decisions:
            if isinstance(d, Assign | Divert | Handover):
                self._leave_work(d.crew_id, d.t_s)
                self._seq += 1
                self._trip[d.crew_id] = (self._seq, d.job_id, d.kind, d.node_idx, d.skill)
                self._push(d.t_s + d.travel_s, _ARRIVE, ("arrive", d.crew_id, self._seq))
            elif isinstance(d, Recall):
                self._trip.pop(d.crew_id, None)
                self._visits.pop(d.crew_id, None)
                self._switching.pop(d.crew_id, None)
                self._leave_work(d.crew_id, d.t_s)
            elif isinstance(d, CallbackDue):
                self._callback_node[d.callback_id] = d.node_idx
                self._pending_followups += 1
                self._push(d.t_s + self.params.callback_after_s, _CALLBACK, ("callback", d.callback_id, 1))
            elif isinstance(d, SendGenerator):
                self._seq += 1
                self._truck[d.truck_id] = (self._seq, d.node_idx)
                self._push(d.t_s + d.travel_s + self.params.generator_hookup_s, _ARRIVE,
                           ("generator", d.truck_id, self._seq))
            elif isinstance(d, Operate):
                reason = self.world.operate(d.element_id, d.action, d.t_s)
                if reason:
                    refused = SwitchRefused(d.t_s, d.element_id, d.action, reason, d.step_id)
                    self._push(d.t_s, _TELEMETRY, refused)
            elif isinstance(d, GeneratorReleased):
                self._truck.pop(d.truck_id, None)
                node = self._connected.pop(d.truck_id, None)
                if node is not None:
                    self.world.disconnect_generator(node, d.t_s)

    def _leave_work(self, crew_id: str, t: int) -> None:
        """A crew on a repair leaves it (called away, off duty): the others go on, or the
        work waits for the next crew."""
        self._switching.pop(crew_id, None)
        job_id = self._working.pop(crew_id, None)
        if job_id is None:
            return
        done = self.world.leave_repair(job_id, crew_id, t)
        self._seq += 1
        if done is None:
            self._repair_token.pop(job_id, None)
            return
        self._repair_token[job_id] = self._seq
        self._push(done, _WORK, ("repair", job_id, self._seq))
