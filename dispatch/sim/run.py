"""Run a storm through the engine under a simulated clock, the field (``dispatch.sim.field``)
answering for the grid and the crews. Demo and replay both come through here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from dispatch.engine import DispatchEngine
from dispatch.events import CallReceived, Event, EventError
from dispatch.sim.field import FieldSim
from grid_model.storm import Call
from grid_model.stormfile import PlannedOutageEvent, StormEvent

log = logging.getLogger(__name__)


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


def run(engine: DispatchEngine, field: FieldSim, *, max_s: int, progress: bool = False) -> RunResult:
    """Feed the field's events to the engine and the engine's decisions back to the field,
    until every fault has happened and all work is done, or the clock passes ``max_s``.
    Customers still out then (nobody reported them) are charged up to ``max_s`` whichever
    policy ran, so policies are judged over the same window."""
    handled = rejected = 0
    t = 0
    total = field.outside_left
    bar = tqdm(total=total, unit="event", disable=not progress, mininterval=0.5)
    while (ev := field.next_event(max_s)) is not None:
        t = ev.t_s
        bar.update(total - field.outside_left - bar.n)
        try:
            decisions = engine.handle(ev)
        except EventError as exc:
            rejected += 1
            engine.log.rejected.append(str(exc))
            field.refused(ev, str(exc))
            continue
        handled += 1
        field.accepted(ev)
        field.hear(decisions)
        if not field.busy and not engine.has_open_work():
            break
    bar.close()
    engine.finish(t)
    field.world.finalize(max_s)
    return RunResult(end_s=t, events=handled, rejected=rejected, repeat_calls=field.stats.repeat_calls,
                     ami_messages=field.stats.ami_messages)
