"""Switching plans: for a located MV fault, the steps that isolate the faulted section and
re-energise the healthy ones, and those that return the feeder to normal after the repair.

Isolate and restore, for a fault on the edge into node ``f`` cleared by the open point ``d``
(a breaker or recloser that tripped, or a switch an earlier plan opened):
1. open the nearest switch ``u`` between ``d`` and the fault (on the fault's own edge at the
   latest), then re-close ``d`` (when it is a switch: a fuse is replaced by the repair): the
   customers above the section are back;
2. open the first switches below ``u`` (or ``d``), the section's far ends (one already open was
   set by an earlier plan that feeds it over a tie and is left as it is), then for each, close
   the tie inside its subtree with room for the customers there: they are back from the
   neighbouring feeder. A subtree no tie can carry is tried a switch further down (that switch
   opened too; the customers between stay dark until the repair).
Return to normal, after the repair: close ``u``, then for each tie used: open it, then close the
switches opened below it, upstream first (a remote tie is opened on the word of the crew at the
first manual switch to close, so the section is dark only while that crew closes it). A tie is
never closed before the switch that cuts its section from the fault is open (no closing onto a
fault), and opened before that switch closes again (two feeders are never in parallel).

Each step is remote (done at once from the control room) or manual (a crew travels to the
switch and spends ``MANUAL_STEP_S`` there). The plan says which steps come after which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from grid_model.network import Network, NodeKind
from grid_model.switches import SwitchKind, SwitchLayer, Tie

MANUAL_STEP_S = 5 * 60  # a crew on site operating a manual switch (hot stick, locks, tags)


class Action(StrEnum):
    OPEN = "open"
    CLOSE = "close"


class Phase(StrEnum):
    ISOLATE = "isolate"  # cut the faulted section off
    RESTORE = "restore"  # feed the healthy sections
    NORMAL = "normal"  # after the repair, back to the normal configuration


class SwitchingError(ValueError):
    """No plan: the fault is not on the MV network, or what cleared it is not above it."""


@dataclass(frozen=True, slots=True)
class SwitchStep:
    """One operation: ``action`` (open or close) on a switch, device or tie at ``node``;
    ``after`` the steps (by index) it must wait for; ``restores`` the customers it brings back."""

    action: Action
    element_id: str
    node: int
    remote: bool
    phase: Phase
    after: tuple[int, ...] = ()
    restores: int = 0
    tie: Tie | None = None


@dataclass(frozen=True, slots=True)
class SwitchingPlan:
    """The steps for ``faults`` cleared by ``device``, the switches that cut them off from
    upstream (``isolating``; none when the device itself does), the customers the steps bring
    back before the repair, and those left dark until it."""

    faults: tuple[int, ...]
    device: int
    isolating: tuple[int, ...]
    steps: tuple[SwitchStep, ...]
    customers_restored: int
    customers_dark: int  # until the repair: the faulted section and what no tie could carry


def _first_switches_below(net: Network, layer: SwitchLayer, node: int) -> list[int]:
    """The switch points strictly below ``node`` with none between them and ``node``."""
    sl = net.subtree(node)
    points = np.flatnonzero(layer.switch[sl.start + 1:sl.stop] != SwitchKind.NONE) + sl.start + 1
    out: list[int] = []
    until = -1
    for p in points.tolist():  # preorder: a subtree is contiguous, so skip the points inside the last
        if p >= until:
            out.append(p)
            until = p + int(net.size[p])
    return out


@dataclass(frozen=True, slots=True)
class _Pickup:
    """Re-feed ``node``'s subtree through ``tie`` once the switches of ``chain`` (down to
    ``node``) are open."""

    chain: tuple[int, ...]
    tie: Tie
    inside: int
    customers: int


def _pickups(net: Network, layer: SwitchLayer, s: int, open_nodes: npt.NDArray[np.bool_],
             load: dict[str, int]) -> list[_Pickup]:
    """How to re-feed ``s``'s subtree: the tie with the most room that carries it all (its far
    end fed, no other open point inside), else the same for each first switch further down."""
    need = int(layer.customers_below[s])
    sl = net.subtree(s)
    best: tuple[Tie, int, int] | None = None
    if not open_nodes[sl.start + 1:sl.stop].any() and not _tie_inside(net, layer, s, load):
        for t in layer.ties:
            a_in, b_in = sl.start <= t.a < sl.stop, sl.start <= t.b < sl.stop
            if a_in == b_in:
                continue
            inside, outside = (t.a, t.b) if a_in else (t.b, t.a)
            room = t.capacity - load.get(t.tie_id, 0)
            if room >= need and _fed(net, open_nodes, outside) and (best is None or room > best[1]):
                best = (t, room, inside)
    if best is not None:
        load[best[0].tie_id] = load.get(best[0].tie_id, 0) + need
        return [_Pickup((s,), best[0], best[2], need)]
    return [_Pickup((s, *p.chain), p.tie, p.inside, p.customers)
            for below in _first_switches_below(net, layer, s)
            for p in _pickups(net, layer, below, open_nodes, load)]


def plan_switching(net: Network, layer: SwitchLayer, fault: int | Sequence[int], *,
                   open_nodes: npt.NDArray[np.bool_],
                   tie_load: dict[str, int] | None = None) -> SwitchingPlan:
    """The isolate-and-restore plan for faults on the edges into ``fault`` (one node, or several
    cleared by the same device: each is cut off by its nearest switch, the device re-closes
    only when all are, and no tie feeds a subtree holding one); see the module docstring.
    ``open_nodes`` marks what is open now, the device that cleared the faults among them (the
    first open node on the way up); a tie is used only when its far end has supply, its section
    holds no other open point, and ``tie_load`` (customers each tie carries already) leaves it
    room."""
    faults = (fault,) if isinstance(fault, int) else tuple(fault)
    if not faults:
        raise SwitchingError("no fault to switch around")
    for f in faults:
        if net.kind[f] not in (NodeKind.MV_NODE, NodeKind.FEEDER_HEAD, NodeKind.TRANSFORMER):
            raise SwitchingError(f"{net.node_id[f]} is not on the MV network: no switching for it")
    device = next((n for n in net.path_up(faults[0]) if open_nodes[n]), -1)
    if device < 0:
        raise SwitchingError(f"nothing open above {net.node_id[faults[0]]}: the fault has not been cleared")
    for f in faults[1:]:
        if next((n for n in net.path_up(f) if open_nodes[n]), -1) != device:
            raise SwitchingError(f"{net.node_id[f]} was not cleared by {net.node_id[device]}")
    customers = layer.customers_below
    steps: list[SwitchStep] = []

    def add(step: SwitchStep) -> int:
        steps.append(step)
        return len(steps) - 1

    restored = 0
    ups = [next((n for n in net.path_up(f) if n != device and net.is_ancestor(device, n)
                 and layer.switch[n] != SwitchKind.NONE), -1) for f in faults]
    tops = sorted({u for u in ups
                   if u >= 0 and not any(v >= 0 and v != u and net.is_ancestor(v, u) for v in ups)})
    isolated_up = -1 not in ups and layer.switch[device] != SwitchKind.NONE
    if isolated_up:
        opened_up = tuple(add(_switch(net, layer, Action.OPEN, u, Phase.ISOLATE)) for u in tops)
        back = int(customers[device] - sum(int(customers[u]) for u in tops))
        add(_switch(net, layer, Action.CLOSE, device, Phase.RESTORE, opened_up, back))
        restored += back
    load = dict(tie_load or {})
    ends: list[int] = []
    for u in sorted({device if u < 0 else u for u in ups}):
        ends += [s for s in _first_switches_below(net, layer, u) if s not in ends]
    pickups = [p for s in ends
               if not any(net.is_ancestor(s, f) for f in faults)
               and not (open_nodes[s] and _tie_inside(net, layer, s, load))
               for p in _pickups(net, layer, s, open_nodes, load)]
    opened: dict[int, int] = {}
    for p in pickups:
        for n in p.chain:
            if n not in opened:
                opened[n] = add(_switch(net, layer, Action.OPEN, n, Phase.ISOLATE))
        add(SwitchStep(Action.CLOSE, p.tie.tie_id, p.inside, p.tie.remote, Phase.RESTORE,
                       tuple(opened[n] for n in p.chain), p.customers, p.tie))
        restored += p.customers
    done = tuple(range(len(steps)))
    if isolated_up:
        for u in tops:
            add(_switch(net, layer, Action.CLOSE, u, Phase.NORMAL, done))
    closed: set[int] = set()
    for p in pickups:
        # a remote tie opens when the crew that closes the manual switch after it is there
        manual_next = layer.switch[p.chain[0]] != SwitchKind.REMOTE
        where = p.chain[0] if p.tie.remote and manual_next else p.inside
        remote = p.tie.remote and not manual_next
        last = add(SwitchStep(Action.OPEN, p.tie.tie_id, where, remote, Phase.NORMAL, done, tie=p.tie))
        for n in p.chain:
            if n not in closed:
                closed.add(n)
                last = add(_switch(net, layer, Action.CLOSE, n, Phase.NORMAL, (last,)))
    return SwitchingPlan(faults, device, tuple(tops) if isolated_up else (), tuple(steps), restored,
                         int(customers[device]) - restored)


def _tie_inside(net: Network, layer: SwitchLayer, s: int, load: dict[str, int]) -> bool:
    """Whether a tie with an end in ``s``'s subtree carries customers already."""
    sl = net.subtree(s)
    return any(load.get(t.tie_id, 0) and (sl.start <= t.a < sl.stop or sl.start <= t.b < sl.stop)
               for t in layer.ties)


def _fed(net: Network, open_nodes: npt.NDArray[np.bool_], node: int) -> bool:
    """Whether ``node`` has supply now (nothing open on its way up)."""
    return not any(open_nodes[n] for n in net.path_up(node))


def _switch(net: Network, layer: SwitchLayer, action: Action, node: int, phase: Phase,
            after: tuple[int, ...] = (), restores: int = 0) -> SwitchStep:
    """A step on the switch (or device) at ``node``."""
    return SwitchStep(action, layer.switch_id[node], node, layer.switch[node] == SwitchKind.REMOTE, phase,
                      after, restores)
