"""``serve --demo``: the default storm played live into the server on a fast simulated clock,
for trying the map and the API without a utility behind them (development use only).

The simulated field of replay (``dispatch.sim.field``) plays everything outside the engine: the
storm's faults, calls, SCADA and smart meters, crews driving to the jobs the engine sends
them to, first responders' findings, repairs, patrols and switching (the world carries out the
steps the engine orders, with the server's switches and ties) and the call-taker's callbacks,
as they fall due on the server's clock. Each goes in through the live service like any client's request; the
engine's decisions come back through its listeners. Shift starts and ends are the server's own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from api.live import LiveDispatch
from api.store import DuplicateCallError
from dispatch.events import (
    AmiMessage,
    CallbackMade,
    CallReceived,
    CrewArrived,
    CrewReleased,
    Decision,
    DeviceOperated,
    Event,
    FaultLocated,
    Finding,
    FirstResponseDone,
    RepairFinished,
    SwitchingDone,
    SwitchRefused,
)
from dispatch.sim.field import AmiParams, FieldParams, FieldSim
from dispatch.sim.world import World, WorldFault
from grid_model.storm import Storm, StormParams, generate_storm

log = logging.getLogger(__name__)
LEAD_IN_S = 300  # the clock starts this long before the first call (earlier faults apply at once)
_WEEK_S = 7 * 86_400


class StormClock:
    """Storm seconds from ``start_s``, running ``speed`` times faster than the wall clock."""

    def __init__(self, start_s: int, speed: float) -> None:
        self.start_s, self.speed, self._t0 = start_s, speed, time.monotonic()

    def __call__(self) -> int:
        return self.start_s + int((time.monotonic() - self._t0) * self.speed)


def demo_storm(region: Any, seed: int = 1) -> Storm:
    return generate_storm(region, StormParams(seed=seed))


def demo_clock(storm: Storm, speed: float) -> StormClock:
    """The storm clock from shortly before the storm's first call."""
    first = min((c.t_s for c in storm.calls), default=0)
    return StormClock(max(0, first - LEAD_IN_S), speed)


def live_request(ev: Event) -> tuple[str, dict[str, Any]]:
    """The live service's event kind and payload for an event of the field."""
    if isinstance(ev, CallReceived):
        c = ev.call
        return "call", {"call_id": c.call_id, "time": None, "customer_id": c.customer_id,
                        "meter_id": c.meter_id, "address": c.address, "lon": c.lon, "lat": c.lat,
                        "triage": ev.triage}
    if isinstance(ev, DeviceOperated):
        return "device", {"device_id": ev.device_id, "indicators": list(ev.indicators)}
    if isinstance(ev, FaultLocated):
        return "fault_located", {"crew_id": ev.crew_id, "job_id": ev.job_id,
                                 "element_ids": list(ev.element_ids)}
    if isinstance(ev, SwitchingDone):
        return "switching_done", {"crew_id": ev.crew_id, "job_id": ev.job_id}
    if isinstance(ev, SwitchRefused):
        return "switch_refused", {"element_id": ev.element_id, "action": ev.action, "reason": ev.reason,
                                  "step_id": ev.step_id}
    if isinstance(ev, AmiMessage):
        return "ami", {"meter_id": ev.meter_id, "kind": ev.kind}
    if isinstance(ev, CrewArrived):
        return "arrived", {"crew_id": ev.crew_id, "job_id": ev.job_id}
    if isinstance(ev, FirstResponseDone):
        return "first_response", {"crew_id": ev.crew_id, "job_id": ev.job_id,
                                  "findings": _findings(ev.findings)}
    if isinstance(ev, RepairFinished):
        return "repaired", {"crew_id": ev.crew_id, "job_id": ev.job_id,
                            "restored_nodes": [int(n) for n in ev.restored_nodes],
                            "findings": _findings(ev.findings)}
    if isinstance(ev, CrewReleased):
        return "released", {"crew_id": ev.crew_id, "job_id": ev.job_id}
    if isinstance(ev, CallbackMade):
        return "callback", {"callback_id": ev.callback_id, "outcome": ev.outcome}
    raise ValueError(f"the demo has no live request for {type(ev).__name__}")


def _findings(findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    return [{"element_id": f.element_id, "skill": f.skill, "repair_s": f.repair_s, "fixed": f.fixed,
             "customer_side": f.customer_side} for f in findings]


class StormDriver:
    """Plays ``storm`` into ``live`` through the simulated field (see the module docstring);
    a daemon thread."""

    def __init__(self, live: LiveDispatch, storm: Storm) -> None:
        self.live = live
        region = live.region
        world = World(region.network, region.customers["node_idx"].to_numpy(),
                      [WorldFault(f.t_s, f.node_idx, f.operates_idx, f.repair_s, f.limit_class,
                                  f.fault_class == "customer_side") for f in storm.faults],
                      switches=live.switches)
        seed = storm.params.seed
        self.field = FieldSim(world, live.crews, region.customers, params=FieldParams(seed=seed),
                              ami=AmiParams(seed=seed), drive_shifts=False,
                              until_s=int(storm.params.duration_h * 3600) + _WEEK_S)
        self.field.add_outside(CallReceived(c.t_s, c) for c in storm.calls)
        self._decisions: queue.Queue[list[Decision]] = queue.Queue()
        live.listeners.append(self._hear)
        self._stop = threading.Event()
        self.calls_sent = 0

    def _hear(self, kind: str, decisions: list[Decision]) -> None:
        """The engine thread's decisions, handed to the driver's thread."""
        if decisions:
            self._decisions.put(decisions)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="demo-storm").start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.step(self.live.now_s())
            except Exception:  # the demo must not take the server down with it
                log.exception("demo storm step failed")

    def step(self, now: int) -> None:
        """Hear the engine's decisions so far, then send the field's events due by ``now``."""
        while True:
            try:
                self.field.hear(self._decisions.get_nowait())
            except queue.Empty:
                break
        while (ev := self.field.next_event(now)) is not None:
            kind, payload = live_request(ev)
            if kind == "call":
                try:
                    self.live.submit(kind, payload, call=payload)
                    self.calls_sent += 1
                except DuplicateCallError:
                    pass
                self.field.accepted(ev)
                continue
            outcome = self.live.outcome(kind, payload)
            if outcome.refused:
                self.field.refused(ev, outcome.refused)
            else:
                self.field.accepted(ev)
