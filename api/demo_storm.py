"""``serve --demo``: the default storm played live into the server on a fast simulated clock,
for trying the map and the API without a utility behind them (development use only).

The storm's faults and calls are fed in as they fall due; the simulated world
(``dispatch.world``) answers for the crews the engine sends: they arrive after the travel time
the engine quoted, repair what they find, and the call-taker calls back 20 minutes later. The
engine sees only what it would see live. Left out against the batch replay (``dispatch.simulate``):
smart-meter messages, repeat calls, generator trucks and faults found upstream on site.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from typing import Any

from api.live import LiveDispatch
from api.store import DuplicateCallError
from dispatch.events import Assign, Decision, Divert, Handover, Recall
from dispatch.simulate import CALLBACK_AFTER_S
from dispatch.world import World, WorldFault
from grid_model.region import Region
from grid_model.storm import Storm, StormParams, generate_storm

log = logging.getLogger(__name__)
_FAULT, _ARRIVE, _REPAIR, _CALL, _CALLBACK = range(5)
LEAD_IN_S = 300  # the clock starts this long before the first call (earlier faults apply at once)


class StormClock:
    """Storm seconds from ``start_s``, running ``speed`` times faster than the wall clock."""

    def __init__(self, start_s: int, speed: float) -> None:
        self.start_s, self.speed, self._t0 = start_s, speed, time.monotonic()

    def __call__(self) -> int:
        return self.start_s + int((time.monotonic() - self._t0) * self.speed)


def demo_storm(region: Region, seed: int = 1) -> Storm:
    return generate_storm(region, StormParams(seed=seed))


def demo_clock(storm: Storm, speed: float) -> StormClock:
    """The storm clock from shortly before the storm's first call."""
    first = min((c.t_s for c in storm.calls), default=0)
    return StormClock(max(0, first - LEAD_IN_S), speed)


class StormDriver:
    """Plays ``storm`` into ``live`` (see the module docstring); a daemon thread."""

    def __init__(self, live: LiveDispatch, storm: Storm) -> None:
        self.live = live
        region = live.region
        net = region.network
        self.world = World(net, region.customers["node_idx"].to_numpy(),
                           [WorldFault(f.t_s, f.node_idx, f.operates_idx, f.repair_s) for f in storm.faults])
        self._heap: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        for f in self.world.faults:
            self._push(f.t_s, _FAULT, f)
        for c in storm.calls:
            self._push(c.t_s, _CALL, c)
        self._trip: dict[str, tuple[int, str]] = {}
        self._repair: dict[str, int] = {}
        self._decisions: queue.Queue[list[Decision]] = queue.Queue()
        live.listeners.append(self._hear)
        self._stop = threading.Event()
        self.calls_sent = 0

    def _hear(self, kind: str, decisions: list[Decision]) -> None:
        """The engine thread's decisions, handed to the driver's thread."""
        if decisions:
            self._decisions.put(decisions)

    def _push(self, t: int, prio: int, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, item))

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="demo-storm").start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._step(self.live.now_s())
            except Exception:  # the demo must not take the server down with it
                log.exception("demo storm step failed")

    def _step(self, now: int) -> None:
        while True:
            try:
                decisions = self._decisions.get_nowait()
            except queue.Empty:
                break
            for d in decisions:
                if isinstance(d, Assign | Divert):
                    self._seq += 1
                    self._trip[d.crew_id] = (self._seq, d.order_id)
                    self._push(d.t_s + d.travel_s, _ARRIVE, (d.crew_id, self._seq))
                elif isinstance(d, Handover) and d.crew_id in self._trip:
                    self._trip[d.crew_id] = (self._trip[d.crew_id][0], d.order_id)
                elif isinstance(d, Recall):
                    self._trip.pop(d.crew_id, None)
        while self._heap and self._heap[0][0] <= now:
            t, prio, _, item = heapq.heappop(self._heap)
            if prio == _FAULT:
                if self.world.apply_fault(item) and self.world.telemetered[item.operates_idx]:
                    self.live.submit("device", {"device_id": self.world.net.device_id[item.operates_idx]})
            elif prio == _CALL:
                row = {"call_id": item.call_id, "time": None, "customer_id": item.customer_id,
                       "meter_id": item.meter_id, "address": item.address, "lon": item.lon, "lat": item.lat}
                try:
                    self.live.submit("call", row, call=row)
                    self.calls_sent += 1
                except DuplicateCallError:
                    pass
            elif prio == _ARRIVE:
                self._arrive(t, *item)
            elif prio == _REPAIR:
                self._repaired(t, *item)
            else:
                self.live.submit("callback_done", {"order_id": item})

    def _arrive(self, t: int, crew_id: str, token: int) -> None:
        trip = self._trip.get(crew_id)
        if trip is None or trip[0] != token:
            return  # recalled or sent elsewhere meanwhile
        order_id = trip[1]
        if self.live.outcome("arrived", {"crew_id": crew_id, "order_id": order_id}).refused:
            self._trip.pop(crew_id, None)
            return
        if self.world.is_repairing(order_id):
            done = self.world.join_repair(order_id, t)
        else:
            with self.live.lock:
                site = self.live.engine.orders[order_id].node_idx
            done = self.world.start_repair(order_id, site, t)
        if done is None:
            self._trip.pop(crew_id, None)
            self.live.submit("released", {"crew_id": crew_id, "order_id": order_id})
            return
        self._seq += 1
        self._repair[order_id] = self._seq
        self._push(done, _REPAIR, (order_id, self._seq))

    def _repaired(self, t: int, order_id: str, token: int) -> None:
        if self._repair.get(order_id) != token:
            return
        del self._repair[order_id]
        with self.live.lock:
            order = self.live.engine.orders[order_id]
            team = list(order.team)
            reporter = next((c for c in team if self.live.engine.crews[c].status == "on_site"), None)
        if reporter is None:
            return
        restored = self.world.finish_repair(order_id, t)
        for crew_id in team:
            self._trip.pop(crew_id, None)
        self.live.submit("repaired", {"crew_id": reporter, "order_id": order_id,
                                      "restored_nodes": [int(n) for n in restored]})
        self._push(t + CALLBACK_AFTER_S, _CALLBACK, order_id)
