"""The control room's switching: which steps of which work order's switching plans are due,
done or dropped, and what the engine believes the switches' state to be.

An MV work order gets a plan (``grid_model.switching``) as soon as the faulted section is known:
from the fault passage indicators SCADA reads with a telemetered trip (remote switches and ties
only: what a plain FLISR does), and again, with the manual switches and ties too, once a crew
patrolling the line from the operated device has found the fault (``SwitchingMode.FULL``).
A step is due when the steps it comes after are done; a plan's return to normal waits for the
repair of the element whose faults it cut off (not for the rest of the order's work). Remote
steps are carried out at once; manual ones become switching jobs that the policy sends crews
to, weighed by the customers each brings back. An isolate or restore step the field could not
carry out (it tripped on a fault nobody knew of, or was refused) is dropped with the isolate and
restore steps after it: those customers wait for the repair; the return to normal still undoes
what was done. A return-to-normal step that tripped waits for the next repair and is tried again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from grid_model.network import Network
from grid_model.switches import SwitchLayer
from grid_model.switching import Action, Phase, SwitchingError, SwitchStep, plan_switching


class SwitchingMode(StrEnum):
    OFF = "off"  # no switching: customers wait for the repair
    REMOTE = "remote"  # remote switches and ties only, from the trip's fault indicators
    FULL = "full"  # and manual switching once a crew has found the fault


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
        self._plans = 0
        self.open_switches: set[int] = set()
        self.reclosed: set[int] = set()
        self.tie_load: dict[str, int] = {}
        self._remote_at = {self._remote.switch_id[k]: k for k in self._remote.switch_points().tolist()}

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
        self._repairing[self._plans] = repair
        for k, step in enumerate(plan.steps):
            after = tuple(base + a for a in step.after)
            self.steps.append(PlannedStep(base + k, order_id, self._plans, step, after))
        self._of_order.setdefault(order_id, []).extend(range(base, base + len(plan.steps)))
        return plan.customers_restored

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
        """The order's plans with no MV repair left at or below their element (``repairing``:
        the elements of the order's live MV repair jobs) may return to normal, the latest plan's
        first (an earlier plan's switches are inside the section a later one isolated); their
        isolate and restore steps not yet carried out are moot now and dropped. Returns those
        that had become switching jobs."""
        out = []
        for k in self._of_order.get(order_id, []):
            ps = self.steps[k]
            if ps.plan_no in self._released or any(self.net.is_ancestor(self._repairing[ps.plan_no], n)
                                                   for n in repairing):
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
            if ps.status != StepStatus.WAITING:
                continue
            if ps.step.phase == Phase.NORMAL and ps.plan_no not in self._released:
                continue
            if all(self.steps[a].status in (StepStatus.DONE, StepStatus.DROPPED) for a in ps.after) \
                    and self._normal_turn(ps):
                ps.status = StepStatus.DUE
                out.append(ps)
        return out

    def _normal_turn(self, ps: PlannedStep) -> bool:
        """A return-to-normal step waits for those of the order's later plans."""
        if ps.step.phase != Phase.NORMAL:
            return True
        return all(self.steps[k].status in (StepStatus.DONE, StepStatus.DROPPED)
                   for k in self._of_order[ps.order_id]
                   if self.steps[k].plan_no > ps.plan_no and self.steps[k].step.phase == Phase.NORMAL)

    def done(self, ps: PlannedStep) -> None:
        """The step was carried out: the believed switch states follow."""
        ps.status = StepStatus.DONE
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
        still comes: it undoes what was done). Returns the dropped steps that had become
        switching jobs."""
        if ps.step.phase == Phase.NORMAL:
            ps.status = StepStatus.WAITING
            self._released.discard(ps.plan_no)
            return []
        out = []
        dropped = {ps.step_id}
        ps.status = StepStatus.DROPPED
        for other in self.steps[ps.step_id + 1:]:
            if other.status in (StepStatus.WAITING, StepStatus.DUE) and other.step.phase != Phase.NORMAL \
                    and set(other.after) & dropped:
                dropped.add(other.step_id)
                if other.status == StepStatus.DUE and other.job_id:
                    out.append(other)
                other.status = StepStatus.DROPPED
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
