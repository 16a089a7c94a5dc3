"""The control room's switching: which steps of which work order's switching plans are due,
done or dropped, and what the engine believes the switches' state to be.

An MV work order gets a plan (``grid_model.switching``) as soon as the faulted section is known:
from the fault passage indicators SCADA reads with a telemetered trip (remote switches and ties
only: what a plain FLISR does), and again, with the manual switches and ties too, once a crew
patrolling the line from the operated device has found the fault (``SwitchingMode.FULL``).
A step is due when the steps it comes after are done; a plan's return to normal waits for the
repairs on the way to the faults it cut off and below them (the operated device's, the faults'
own), not for the order's other work (a transformer fuse elsewhere below the device holds its
own fault), and for a later plan's return to normal only where that plan isolated a section
holding the step's switch. Remote
steps are carried out at once; manual ones become switching jobs that the policy sends crews
to, weighed by the customers each brings back. An isolate or restore step the field could not
carry out (it tripped on a fault nobody knew of, or was refused) is dropped with the isolate and
restore steps after it: those customers wait for the repair; the return to normal still undoes
what was done. A return-to-normal step that tripped waits for the next repair and is tried again.

The dispatcher may override the plan: hold a step (it and the steps after it wait until it is
released) or move one before another of the order's steps. A move that would let a step close
onto a known fault, parallel two feeders or load a tie past its capacity, right after the steps
it waits for or with any other step the plan then leaves unordered with it, is refused with the
reason and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from grid_model.network import Network, NodeKind
from grid_model.switches import MvPart, SwitchLayer, Tie, energised, mv_part, state_problems
from grid_model.switching import Action, Phase, SwitchingError, SwitchStep, plan_switching


class SwitchingMode(StrEnum):
    OFF = "off"  # no switching: customers wait for the repair
    REMOTE = "remote"  # remote switches and ties only, from the trip's fault indicators
    FULL = "full"  # and manual switching once a crew has found the fault


class OverrideError(ValueError):
    """A dispatcher's hold, release or move the plan cannot take; the message says why."""


class StepStatus(StrEnum):
    WAITING = "waiting"
    DUE = "due"
    DONE = "done"
    DROPPED = "dropped"


@dataclass(slots=True)
class PlannedStep:
    """One step of an order's plan, with the steps (by board index) it comes after."""

    step_id: int
    order_id: str
    plan_no: int  # the board's plans in the order they were made
    step: SwitchStep
    after: tuple[int, ...]
    status: StepStatus = StepStatus.WAITING
    job_id: str = ""
    hold: str = ""  # why the dispatcher holds it (empty: not held)
    operated: bool = False  # carried out (a step done as moot changed nothing)


class Switchboard:
    """Switching plans of the open work orders and the switch states they leave."""

    def __init__(self, net: Network, layer: SwitchLayer, mode: SwitchingMode) -> None:
        self.net = net
        self.layer = layer
        self.mode = mode
        self._remote = layer.remote_only()
        self.steps: list[PlannedStep] = []
        self._of_order: dict[str, list[int]] = {}
        self._released: set[int] = set()
        self._repairing: dict[int, int] = {}  # plan: the element whose repair it waits for
        self._cut: dict[int, tuple[int, ...]] = {}  # plan: the faults (or section) it cut off
        self._remote_plans: set[int] = set()  # plans from fault indicators (their section, not the faults)
        self._reach: dict[int, tuple[int, ...]] = {}  # plan: what it isolated (switches, or the device)
        self._faults: dict[int, tuple[int, ...]] = {}  # plan: where a fault it switches around may be
        self._mv: MvPart | None = None  # built on a dispatcher's first move or the first question of supply
        self._fed: tuple[int, npt.NDArray[np.bool_]] | None = None  # (state's hash, what it feeds)
        self._plans = 0
        self.open_switches: set[int] = set()
        self.reclosed: set[int] = set()
        self.tie_load: dict[str, int] = {}
        self._remote_at = {self._remote.switch_id[k]: k for k in self._remote.switch_points().tolist()}

    def steps_of(self, order_id: str) -> list[PlannedStep]:
        """The steps of an order's plans (with those of the orders folded into it)."""
        return [self.steps[k] for k in self._of_order.get(order_id, [])]

    def remote_node_of(self, switch_id: str) -> int | None:
        """The node of a remote switch (one a fault indicator may name)."""
        return self._remote_at.get(switch_id)

    def plan(self, order_id: str, fault: int | Sequence[int], open_nodes: npt.NDArray[np.bool_], *,
             remote: bool, repair: int) -> int:
        """Plan the isolation and restoration of faults (or of the section a fault indicator
        points to) for an order, whose return to normal waits for the repair of element
        ``repair``; returns the customers it expects to bring back."""
        if self.mode == SwitchingMode.OFF or (not remote and self.mode != SwitchingMode.FULL):
            return 0
        try:
            plan = plan_switching(self.net, self._remote if remote else self.layer, fault,
                                  open_nodes=self.believed_open(open_nodes), tie_load=self.tie_load)
        except SwitchingError:
            return 0
        base = len(self.steps)
        self._plans += 1
        if remote:
            self._remote_plans.add(self._plans)
        else:  # the patrol found the faults: the order's remote plans for them wait for these only
            for p in {self.steps[k].plan_no for k in self._of_order.get(order_id, [])} & self._remote_plans:
                if self._repairing[p] == repair:
                    self._cut[p] = plan.faults
        self._repairing[self._plans] = repair
        self._cut[self._plans] = plan.faults
        self._reach[self._plans] = plan.isolating or (plan.device,)
        self._faults[self._plans] = self._section(plan.faults[0]) if remote else plan.faults
        for k, step in enumerate(plan.steps):
            after = tuple(base + a for a in step.after)
            self.steps.append(PlannedStep(base + k, order_id, self._plans, step, after))
        self._of_order.setdefault(order_id, []).extend(range(base, base + len(plan.steps)))
        return plan.customers_restored

    def _section(self, top: int) -> tuple[int, ...]:
        """Where a fault a remote plan switches around may lie: the MV nodes from the switch
        whose indicator saw it (or the device) down to the next remote switches."""
        sl = self.net.subtree(top)
        below = np.flatnonzero(self._remote.switch[sl.start + 1:sl.stop]) + 1
        cut = np.zeros(sl.stop - sl.start + 1, dtype=np.int64)
        np.add.at(cut, below, 1)
        np.add.at(cut, below + self.net.size[below + sl.start], -1)
        mv = self.net.kind[sl.start:sl.stop] <= NodeKind.TRANSFORMER
        return tuple((np.flatnonzero(mv & (np.cumsum(cut)[:-1] == 0)) + sl.start).tolist())

    def fed(self, open_nodes: npt.NDArray[np.bool_]) -> tuple[MvPart, npt.NDArray[np.bool_]]:
        """The MV nodes with supply as the board believes the switches now (``open_nodes``:
        the devices of open orders), on the MV part; worked out again only when that changes."""
        mv = self._mv_part()
        state = self.believed_open(open_nodes)
        key = hash((state.tobytes(), tuple(sorted(self.tie_load))))
        if self._fed is None or self._fed[0] != key:
            ties = [mv.tie(t) for t in self.layer.ties if t.tie_id in self.tie_load]
            self._fed = key, energised(mv.net, mv.state(state), ties)
        return mv, self._fed[1]

    def believed_open(self, open_nodes: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """``open_nodes`` (the devices of open work orders) with the board's switching on top:
        the switches it holds open, and the devices it closed again."""
        state = open_nodes.copy()
        state[list(self.open_switches)] = True
        state[list(self.reclosed)] = False
        return state

    def merge(self, order_id: str, into: str) -> None:
        """An order folded into another: its plans go with it (and wait for its repairs)."""
        steps = self._of_order.pop(order_id, [])
        for k in steps:
            self.steps[k].order_id = into
        self._of_order.setdefault(into, []).extend(steps)
        self._of_order[into].sort()

    def release_repaired(self, order_id: str, repairing: set[int]) -> list[PlannedStep]:
        """The order's plans with no MV repair left on the way to their faults or below them
        (``repairing``: the elements of the order's live MV repair jobs; the operated device's
        own repair is on the way) may return to normal, the latest plan's first (an earlier
        plan's switches may lie inside the section a later one isolated); their isolate and
        restore steps not yet carried out are moot now and dropped. Returns those that had
        become switching jobs."""
        out = []
        for k in self._of_order.get(order_id, []):
            ps = self.steps[k]
            if ps.plan_no in self._released or any(self._blocks(ps.plan_no, n) for n in repairing):
                continue
            self._released.add(ps.plan_no)
            for other in self._of_order[order_id]:
                o = self.steps[other]
                if o.plan_no == ps.plan_no and o.step.phase != Phase.NORMAL \
                        and o.status in (StepStatus.WAITING, StepStatus.DUE):
                    if o.status == StepStatus.DUE and o.job_id:
                        out.append(o)
                    o.status = StepStatus.DROPPED
        return out

    def _blocks(self, plan: int, repair: int) -> bool:
        """Whether a repair under way keeps the plan from returning to normal: it is the
        element the plan waits for, or on the way to one of its faults, or at or below one."""
        net = self.net
        return repair == self._repairing[plan] or any(
            net.is_ancestor(repair, f) or net.is_ancestor(f, repair) for f in self._cut[plan])

    def moot(self, ps: PlannedStep) -> bool:
        """Whether the step would change nothing the board knows of (a return to normal for a
        step that was never carried out, a switch already as the step leaves it)."""
        step = ps.step
        if step.tie is not None:
            return (step.tie.tie_id in self.tie_load) == (step.action == Action.CLOSE)
        if step.action == Action.OPEN:
            return step.node in self.open_switches
        reclosing = step.phase == Phase.RESTORE and step.node not in self.reclosed
        return step.node not in self.open_switches and not reclosing

    def due(self) -> list[PlannedStep]:
        """Steps that may be carried out now (and are not yet under way), marked due."""
        out = []
        for ps in self.steps:
            if ps.status != StepStatus.WAITING or ps.hold:
                continue
            if ps.step.phase == Phase.NORMAL and ps.plan_no not in self._released:
                continue
            if all(self.steps[a].status in (StepStatus.DONE, StepStatus.DROPPED) for a in ps.after) \
                    and self._normal_turn(ps):
                ps.status = StepStatus.DUE
                out.append(ps)
        return out

    def _normal_turn(self, ps: PlannedStep) -> bool:
        """A return-to-normal step waits for those of the order's later plans that isolated a
        section holding its switch (their switches close first)."""
        if ps.step.phase != Phase.NORMAL:
            return True
        return all(self.steps[k].status in (StepStatus.DONE, StepStatus.DROPPED)
                   for k in self._of_order[ps.order_id]
                   if self.steps[k].plan_no > ps.plan_no and self.steps[k].step.phase == Phase.NORMAL
                   and any(self.net.is_ancestor(t, ps.step.node) for t in self._reach[self.steps[k].plan_no]))

    def done(self, ps: PlannedStep) -> None:
        """The step was carried out: the believed switch states follow."""
        ps.status = StepStatus.DONE
        ps.operated = True
        step = ps.step
        if step.tie is not None:
            if step.action == Action.CLOSE:
                self.tie_load[step.tie.tie_id] = self.tie_load.get(step.tie.tie_id, 0) + step.restores
            else:
                self.tie_load.pop(step.tie.tie_id, None)
        elif step.action == Action.OPEN:  # held open by the control room, whatever closed it before
            self.reclosed.discard(step.node)
            self.open_switches.add(step.node)
        elif step.node in self.open_switches:
            self.open_switches.discard(step.node)
        elif step.phase == Phase.RESTORE:  # the device that cleared the fault, closed again
            self.reclosed.add(step.node)

    def undo(self, ps: PlannedStep) -> None:
        """A step believed done did not hold: the believed switch states go back."""
        ps.operated = False
        step = ps.step
        if step.tie is not None:
            if step.action == Action.CLOSE:
                self.tie_load.pop(step.tie.tie_id, None)
        elif step.action == Action.CLOSE:
            if step.node in self.reclosed:
                self.reclosed.discard(step.node)
            else:
                self.open_switches.add(step.node)
        else:
            self.open_switches.discard(step.node)

    def value(self, ps: PlannedStep) -> int:
        """Customers a step brings back, with those of the steps waiting only for it."""
        return ps.step.restores + sum(o.step.restores for o in self.steps[ps.step_id + 1:]
                                      if o.after == (ps.step_id,) and o.step.phase != Phase.NORMAL)

    def drop(self, ps: PlannedStep) -> list[PlannedStep]:
        """The step could not be carried out. A return-to-normal step waits to be tried again
        once the order's next MV repair is done (its section holds a fault nobody knew of);
        any other is dropped with the isolate and restore steps after it (the return to normal
        still comes: it undoes what was done). A close carried out after it (remote steps go
        out at once, before the field's word) fed what the step was to cut off and tripped: it
        is taken back too. Returns the dropped steps that had become switching jobs."""
        if ps.step.phase == Phase.NORMAL:
            ps.status = StepStatus.WAITING
            self._released.discard(ps.plan_no)
            return []
        out = []
        dropped = {ps.step_id}
        ps.status = StepStatus.DROPPED
        grew = True
        while grew:  # to a fixpoint: a dispatcher's move may put a later step before an earlier one
            grew = False
            for other in self.steps:
                if other.step.phase == Phase.NORMAL or not set(other.after) & dropped:
                    continue
                if other.status in (StepStatus.WAITING, StepStatus.DUE):
                    if other.status == StepStatus.DUE and other.job_id:
                        out.append(other)
                elif other.status == StepStatus.DONE and other.operated and other.step.action == Action.CLOSE:
                    self.undo(other)
                else:
                    continue
                dropped.add(other.step_id)
                other.status = StepStatus.DROPPED
                grew = True
        return out

    def tripped_again(self, device: int) -> None:
        """A device re-closed by switching has operated again (a fault nobody knew of)."""
        self.reclosed.discard(device)

    def off_normal(self, order_id: str) -> list[str]:
        """The switches and ties the order's plans have yet to return to normal."""
        return sorted({self.steps[k].step.element_id for k in self._of_order.get(order_id, [])
                       if self.steps[k].step.phase == Phase.NORMAL
                       and self.steps[k].status in (StepStatus.WAITING, StepStatus.DUE)})

    def pending(self, order_id: str) -> bool:
        """Whether the order has steps left (its return to normal keeps it open)."""
        return any(self.steps[k].status in (StepStatus.WAITING, StepStatus.DUE)
                   for k in self._of_order.get(order_id, []))

    # -- the dispatcher's overrides ----------------------------------------------------
    def open_step(self, step_id: int) -> PlannedStep:
        """A step not yet carried out nor dropped; ``OverrideError`` naming it otherwise."""
        if not 0 <= step_id < len(self.steps):
            raise OverrideError(f"no switching step {step_id}")
        ps = self.steps[step_id]
        if ps.status in (StepStatus.DONE, StepStatus.DROPPED):
            raise OverrideError(f"switching step {step_id} ({describe(ps)}) is {ps.status.value}")
        return ps

    def hold(self, step_id: int, reason: str) -> list[PlannedStep]:
        """Hold a step: it, and the steps after it, wait until it is released. Returns it when
        it had become a switching job (to be called off)."""
        ps = self.open_step(step_id)
        ps.hold = reason or "held by the dispatcher"
        if ps.status == StepStatus.DUE:
            ps.status = StepStatus.WAITING
            return [ps] if ps.job_id else []
        return []

    def release(self, step_id: int) -> PlannedStep:
        """Release a held step: it comes due when the steps it waits for are done."""
        ps = self.open_step(step_id)
        if not ps.hold:
            raise OverrideError(f"switching step {step_id} ({describe(ps)}) is not held")
        ps.hold = ""
        return ps

    def move_before(self, step_id: int, before: int, open_nodes: npt.NDArray[np.bool_]) -> list[PlannedStep]:
        """Carry out step ``step_id`` before step ``before`` (both of one order, neither done):
        ``before`` waits for it, and when it waited for ``before`` itself it waits for what
        ``before`` waited for instead. Refused (``OverrideError``, nothing changed) when it
        would make a step unsafe (see the module docstring) or a step wait for itself. Returns
        ``before`` when it had become a switching job (to be called off: it waits now)."""
        a, b = self.open_step(step_id), self.open_step(before)
        if step_id == before:
            raise OverrideError(f"switching step {step_id} cannot come before itself")
        if a.order_id != b.order_id:
            raise OverrideError(f"switching steps {step_id} and {before} belong to different work orders "
                                f"({a.order_id}, {b.order_id})")
        if (a.step.phase == Phase.NORMAL) != (b.step.phase == Phase.NORMAL):
            raise OverrideError(f"step {step_id} ({describe(a)}) and step {before} ({describe(b)}): a "
                                f"return-to-normal step waits for the repair, it cannot change places with "
                                f"an isolate or restore step")
        old = {ps.step_id: ps.after for ps in self.steps}
        if step_id in _waits_for(before, old):
            return []  # it comes before already
        new = dict(old)
        if before in a.after:
            new[step_id] = tuple(sorted((set(a.after) - {before}) | set(b.after)))
        new[before] = tuple(sorted(set(b.after) | {step_id}))
        if before in _waits_for(step_id, new):
            raise OverrideError(f"step {step_id} ({describe(a)}) waits for step {before} through other "
                                f"steps: move those first")
        problems = self._new_problems(a.order_id, old, new, open_nodes)
        if problems:
            k, problem = problems[0]
            raise OverrideError(f"moving step {step_id} ({describe(a)}) before step {before} ({describe(b)}) "
                                f"is unsafe: after step {k} ({describe(self.steps[k])}), {problem}")
        a.after, b.after = new[step_id], new[before]
        if b.status == StepStatus.DUE:
            b.status = StepStatus.WAITING
            return [b] if b.job_id else []
        return []

    def _new_problems(self, order_id: str, old: dict[int, tuple[int, ...]], new: dict[int, tuple[int, ...]],
                      open_nodes: npt.NDArray[np.bool_]) -> list[tuple[int, str]]:
        """The order's closing steps that the precedence ``new`` makes unsafe and ``old`` did
        not. A step is checked right after the steps it waits for, and with each other step that
        need not wait for it done too (with those that one waits for): two steps in either order."""
        mv = self._mv_part()
        faults = sorted({int(mv.index[f]) for p, fs in self._faults.items() if p not in self._released
                         for f in fs})
        base = mv.state(self.believed_open(open_nodes))
        ties = {t.tie_id: mv.tie(t) for t in self.layer.ties if t.tie_id in self.tie_load}
        live = [ps.step_id for ps in self.steps_of(order_id)
                if ps.status not in (StepStatus.DONE, StepStatus.DROPPED)]
        cache: dict[tuple[int, frozenset[int]], frozenset[str]] = {}

        def problems(k: int, done: frozenset[int], after: dict[int, tuple[int, ...]]) -> frozenset[str]:
            if (k, done) not in cache:
                cache[k, done] = frozenset(self._problems(k, done, after, base, ties, faults))
            return cache[k, done]

        out: list[tuple[int, str]] = []
        for k in live:
            if self.steps[k].step.action != Action.CLOSE:
                continue
            for other in (-1, *live):
                now, then = _done_before(k, other, new, live), _done_before(k, other, old, live)
                if now is None or now == then:
                    continue
                worse = problems(k, now, new) - (problems(k, then, old) if then is not None else frozenset())
                out.extend((k, p) for p in sorted(worse))
        return out

    def _mv_part(self) -> MvPart:
        if self._mv is None:
            self._mv = mv_part(self.net, self.layer.customers_below)
        return self._mv

    def _problems(self, k: int, done: frozenset[int], after: dict[int, tuple[int, ...]],
                  base: npt.NDArray[np.bool_], ties: dict[str, Tie], faults: list[int]) -> list[str]:
        """What step ``k`` makes unsafe, done right after the steps ``done`` (on the MV part)."""
        mv = self._mv_part()
        state, closed = base.copy(), dict(ties)
        for j in _in_order(done, after):
            _apply(self.steps[j].step, state, closed, mv)
        before = set(state_problems(mv.net, self.layer, state, list(closed.values()), faults,
                                    customers=mv.customers))
        _apply(self.steps[k].step, state, closed, mv)
        return [p for p in state_problems(mv.net, self.layer, state, list(closed.values()), faults,
                                          customers=mv.customers) if p not in before]


def describe(ps: PlannedStep) -> str:
    """A step as a dispatcher reads it: ``close TIE-J5-K2``."""
    return f"{ps.step.action} {ps.step.element_id}"


def _waits_for(k: int, after: dict[int, tuple[int, ...]]) -> set[int]:
    """The steps ``k`` waits for, directly or through others."""
    out: set[int] = set()
    todo = list(after[k])
    while todo:
        j = todo.pop()
        if j not in out:
            out.add(j)
            todo.extend(after[j])
    return out


def _done_before(k: int, other: int, after: dict[int, tuple[int, ...]], live: list[int]
                 ) -> frozenset[int] | None:
    """The live steps done when step ``k`` is carried out right after ``other`` (-1: none) and
    what each waits for; None when ``other`` waits for ``k``."""
    done = _waits_for(k, after)
    if other >= 0 and other != k:
        if k in _waits_for(other, after):
            return None
        done |= _waits_for(other, after) | {other}
    return frozenset(done & set(live))


def _in_order(steps: frozenset[int] | set[int], after: dict[int, tuple[int, ...]]) -> list[int]:
    """``steps`` in an order their precedence allows (lowest id first among those free)."""
    out: list[int] = []
    left = set(steps)
    while left:
        k = min(j for j in left if not set(after[j]) & left)
        out.append(k)
        left.discard(k)
    return out


def _apply(step: SwitchStep, state: npt.NDArray[np.bool_], closed: dict[str, Tie], mv: MvPart) -> None:
    """A step on a state of the MV part."""
    if step.tie is not None:
        if step.action == Action.CLOSE:
            closed[step.tie.tie_id] = mv.tie(step.tie)
        else:
            closed.pop(step.tie.tie_id, None)
    else:
        state[mv.index[step.node]] = step.action == Action.OPEN
