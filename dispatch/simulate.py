"""Run a storm through the engine under a simulated clock, with the world answering for
crews and the grid. Demo and replay both come through here."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from dispatch.crews import Crew
from dispatch.engine import DispatchEngine, EventError
from dispatch.events import (
    Assign,
    CallbackDone,
    CallReceived,
    CrewArrived,
    Divert,
    Event,
    Handover,
    Recall,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.world import World, WorldFault
from grid_model.storm import Call
from grid_model.stormfile import PlannedOutageEvent, StormEvent

log = logging.getLogger(__name__)

# Tie-break at equal times: the grid changes first, then crews, then calls.
_FAULT, _SHIFT_END, _REPAIR, _ARRIVE, _SHIFT_START, _CALLBACK, _OUTSIDE, _OUTSIDE_FOLLOWUP = range(8)
# Customers still dark after a crew reports a repair above them (callers, and neighbours who
# see the lights come back around them) call again this much later, at most this often.
REPEAT_CALL_DELAY_S = 30 * 60
MAX_REPEAT_CALLS = 2
# The call-taker calls the customers of a repaired order back this long after the repair.
CALLBACK_AFTER_S = 20 * 60


@dataclass(frozen=True, slots=True)
class RunResult:
    end_s: int
    events: int
    rejected: int
    repeat_calls: int


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
        max_s: int, progress: bool = False) -> RunResult:
    """Feed ``events`` and the world's consequences to the engine until all work is done
    or the clock passes ``max_s``."""
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
    outside_left = len(events)
    handled = rejected = repeats = followups_pending = 0
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
            world.apply_fault(item)
            continue
        if isinstance(item, tuple):
            kind, crew_id, token = item
            if trip.get(crew_id, (None,))[0] != token:
                continue
            order_id = trip[crew_id][1]
            if kind == "arrive":
                item = CrewArrived(t, crew_id, order_id)
            else:
                del trip[crew_id]
                item = RepairFinished(t, crew_id, order_id, world.finish_repair(order_id, t))
        try:
            decisions = engine.handle(item)  # type: ignore[arg-type]
        except EventError as exc:
            rejected += 1
            engine.log.rejected.append(str(exc))
            log.warning("event rejected: %s", exc)
            continue
        handled += 1
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
        if isinstance(item, CrewArrived):
            work = world.start_repair(item.order_id, engine.orders[item.order_id].node_idx)
            push(t + work, _REPAIR, ("repair", item.crew_id, trip[item.crew_id][0]))
        for d in decisions:
            if isinstance(d, Assign | Divert):
                trip[d.crew_id] = (seq + 1, d.order_id)
                push(t + d.travel_s, _ARRIVE, ("arrive", d.crew_id, seq + 1))
            elif isinstance(d, Handover):
                trip[d.crew_id] = (trip[d.crew_id][0], d.order_id)
            elif isinstance(d, Recall):
                trip.pop(d.crew_id, None)
        if outside_left == 0 and followups_pending == 0 and not trip and not engine.has_open_work():
            break
    bar.close()
    engine.finish(t)
    world.finalize(t)
    return RunResult(end_s=t, events=handled, rejected=rejected, repeat_calls=repeats)
