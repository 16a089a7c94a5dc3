"""Run a storm through the engine under a simulated clock, with the world answering for
crews and the grid. Demo and replay both come through here."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dispatch.crews import Crew
from dispatch.engine import DispatchEngine, EventError
from dispatch.events import (
    AmiMessage,
    Assign,
    CallbackDone,
    CallReceived,
    CrewArrived,
    CrewReleased,
    DeviceOperated,
    Divert,
    Event,
    FaultFound,
    GeneratorConnected,
    GeneratorReleased,
    Handover,
    Recall,
    RepairFinished,
    SendGenerator,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.world import World, WorldFault
from grid_model.storm import Call
from grid_model.stormfile import PlannedOutageEvent, StormEvent

log = logging.getLogger(__name__)

# Tie-break at equal times: the grid changes first, then telemetry, crews, then calls.
(_FAULT, _TELEMETRY, _SHIFT_END, _REPAIR, _ARRIVE, _SHIFT_START, _CALLBACK, _OUTSIDE,
 _OUTSIDE_FOLLOWUP) = range(9)
# Customers still dark after a crew reports a repair above them (callers, and neighbours who
# see the lights come back around them) call again this much later, at most this often.
REPEAT_CALL_DELAY_S = 30 * 60
MAX_REPEAT_CALLS = 2
# The call-taker calls the customers of a repaired order back this long after the repair.
CALLBACK_AFTER_S = 20 * 60
# A generator truck supplies its customer this long after it arrives.
GENERATOR_HOOKUP_S = 30 * 60


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
class RunResult:
    end_s: int
    events: int
    rejected: int
    repeat_calls: int
    ami_messages: int


def storm_events(events: Sequence[StormEvent]) -> list[Event]:
    """Engine events from the storm file's records."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, Call):
            out.append(CallReceived(ev.t_s, ev))
        elif isinstance(ev, PlannedOutageEvent):
            out.append(ev)
    return out


def run(engine: DispatchEngine, world: World, events: Sequence[Event], crews: Sequence[Crew], *,
        max_s: int, ami: AmiParams | None = None, progress: bool = False) -> RunResult:
    """Feed ``events`` and the world's consequences to the engine until all work is done
    or the clock passes ``max_s``; with ``ami``, meters report supply lost and back."""
    heap: list[tuple[int, int, int, object]] = []
    seq = 0

    def push(t: int, prio: int, item: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, prio, seq, item))

    for ev in events:
        push(ev.t_s, _OUTSIDE, ev)
    for f in world.faults:
        push(f.t_s, _FAULT, f)
    for crew in crews:
        for start, end in crew.shifts(max_s):
            push(start, _SHIFT_START, ShiftStarted(start, crew.crew_id))
            push(end, _SHIFT_END, ShiftEnded(end, crew.crew_id))
    trip: dict[str, tuple[int, str]] = {}
    repair_token: dict[str, int] = {}
    truck_token: dict[str, int] = {}
    truck_node: dict[str, int] = {}
    outside_left = len(events)
    handled = rejected = repeats = followups_pending = ami_sent = 0
    rng = np.random.default_rng(ami.seed if ami else 0)
    meter_at = dict(zip(engine.region.customers["node_idx"].tolist(),
                        engine.region.customers["meter_id"].tolist(), strict=True)) if ami else {}

    def meters(nodes: np.ndarray, kind: str, share: float, delay: tuple[int, int], t: int) -> None:
        nonlocal followups_pending, ami_sent
        picked = nodes[rng.random(len(nodes)) < share]
        for node, lag in zip(picked.tolist(), rng.integers(delay[0], delay[1] + 1, len(picked)).tolist(),
                             strict=True):
            followups_pending += 1
            ami_sent += 1
            push(t + lag, _OUTSIDE_FOLLOWUP, AmiMessage(t + lag, meter_at[node], kind))

    called_back: dict[int, int] = {}
    t = 0
    bar = tqdm(total=len(events), unit="event", disable=not progress, mininterval=0.5)
    while heap:
        t, prio, _, item = heapq.heappop(heap)
        if t > max_s:
            break
        if prio == _OUTSIDE:
            outside_left -= 1
            bar.update(1)
        elif prio in (_OUTSIDE_FOLLOWUP, _CALLBACK):
            followups_pending -= 1
        if isinstance(item, WorldFault):
            op = item.operates_idx
            if world.apply_fault(item) and world.telemetered[op]:
                push(t, _TELEMETRY, DeviceOperated(t, world.net.device_id[op]))
            if ami and len(world.newly_dark) and world.sends_last_gasps(op):
                meters(world.newly_dark, "last_gasp", ami.last_gasp_share, ami.last_gasp_delay_s, t)
            continue
        if isinstance(item, tuple):
            kind, key, token = item
            if kind == "generator":
                if truck_token.get(key) != token:
                    continue
                del truck_token[key]  # connected: a release now disconnects it
                item = GeneratorConnected(t, key)
            elif kind == "arrive":
                if trip.get(key, (None,))[0] != token:
                    continue
                item = CrewArrived(t, key, trip[key][1])
            else:
                if repair_token.get(key) != token:
                    continue
                del repair_token[key]
                team = engine.orders[key].team
                for crew_id in team:
                    trip.pop(crew_id, None)
                reporter = next(c for c in team if engine.crews[c].status == "on_site")
                item = RepairFinished(t, reporter, key, world.finish_repair(key, t))
        try:
            decisions = engine.handle(item)  # type: ignore[arg-type]
        except EventError as exc:
            rejected += 1
            engine.log.rejected.append(str(exc))
            log.warning("event rejected: %s", exc)
            continue
        handled += 1
        if isinstance(item, RepairFinished) and ami:
            meters(world.newly_back, "restore", ami.restore_share, ami.restore_delay_s, t)
        if isinstance(item, RepairFinished):
            still_dark = world.dark_customers_below(item.restored_nodes)
            still_dark |= {n for n in engine.callers_of(item.order_id) if world.is_dark(n)}
            for node in sorted(still_dark):
                if called_back.get(node, 0) >= MAX_REPEAT_CALLS:
                    continue
                called_back[node] = called_back.get(node, 0) + 1
                repeats += 1
                followups_pending += 1
                call = Call(f"RC{repeats:06d}", t + REPEAT_CALL_DELAY_S,
                            customer_id=world.customer_id_at(node))
                push(call.t_s, _OUTSIDE_FOLLOWUP, CallReceived(call.t_s, call))
            followups_pending += 1
            push(t + CALLBACK_AFTER_S, _CALLBACK, CallbackDone(t + CALLBACK_AFTER_S, item.order_id))
        if isinstance(item, GeneratorConnected):
            world.connect_generator(truck_node[item.truck_id], t)
        if isinstance(item, CrewArrived):
            order_id = item.order_id
            if world.is_repairing(order_id):
                done = world.join_repair(order_id, t)
            else:
                site = engine.orders[order_id].node_idx
                done = world.start_repair(order_id, site, t)
                top = world.found_above(order_id, site)
                if top is not None:
                    push(t, _ARRIVE, FaultFound(t, item.crew_id, order_id, world.net.node_id[top]))
            if done is None:
                trip.pop(item.crew_id, None)
                push(t, _REPAIR, CrewReleased(t, item.crew_id, order_id))
            else:
                push(done, _REPAIR, ("repair", order_id, seq + 1))
                repair_token[order_id] = seq
        for d in decisions:
            if isinstance(d, Assign | Divert):
                trip[d.crew_id] = (seq + 1, d.order_id)
                push(t + d.travel_s, _ARRIVE, ("arrive", d.crew_id, seq + 1))
            elif isinstance(d, Handover):
                trip[d.crew_id] = (trip[d.crew_id][0], d.order_id)
            elif isinstance(d, Recall):
                trip.pop(d.crew_id, None)
            elif isinstance(d, SendGenerator):
                truck_token[d.truck_id] = seq + 1
                truck_node[d.truck_id] = d.node_idx
                push(t + d.travel_s + GENERATOR_HOOKUP_S, _ARRIVE, ("generator", d.truck_id, seq + 1))
            elif isinstance(d, GeneratorReleased) and truck_token.pop(d.truck_id, None) is None:
                world.disconnect_generator(d.node_idx, t)  # it was connected
        if outside_left == 0 and followups_pending == 0 and not trip and not engine.has_open_work():
            break
    bar.close()
    engine.finish(t)
    world.finalize(t)
    return RunResult(end_s=t, events=handled, rejected=rejected, repeat_calls=repeats,
                     ami_messages=ami_sent)
