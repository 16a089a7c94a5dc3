"""The live dispatch service behind the API: the engine as a deterministic fold over the
store's event log.

A request that changes anything hands its event to the writer thread, which commits waiting
events together (group commit: one transaction for all that queued meanwhile), each with its
sequence number and a storm-clock time that never goes back, and passes them on to the engine
thread, which applies events strictly in log order. Calls are acknowledged once committed; requests that need
the engine's verdict (a crew's report, a dispatcher's choice) wait for their event to be
applied, and an event the engine refuses changes nothing, then or on any later rebuild. On
start the engine is rebuilt by applying the whole log. Clock ticks are logged too, so a rebuild
makes the same plans. Changes are published to server-sent-event subscribers.

The engine decides (assignments, alerts, ETRs: ``DispatchEngine.settle``) once per burst, not
per event: before the first event of a later clock second, after a tick or a re-plan request,
and after a ``settle`` event the engine thread logs when it runs out of work. Every one of these
is in the log, so a rebuild decides at the same points.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyproj import Transformer

from api.settings import Settings
from api.store import DuplicateCallError, PendingEvent, Store, StoredEvent, now_iso
from dispatch.crews import region_roster
from dispatch.engine import DispatchEngine
from dispatch.events import (
    CallbackDone,
    CallReceived,
    ClockTick,
    CrewArrived,
    CrewPosition,
    CrewReleased,
    Decision,
    DeviceOperated,
    DispatcherAssigned,
    Event,
    EventError,
    OrderCancelled,
    PlannedOutageAnnounced,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.replay import make_policy
from grid_model.region import Region
from grid_model.storm import Call
from routing.travel import RoadTravel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Logged:
    """An event as committed to the log; ``outcome`` is set when the submitter waits."""

    seq: int
    t_s: int
    received_at: str
    outcome: Future[Outcome] | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one logged event did: refused (with the reason) or the decisions."""

    seq: int
    refused: str = ""
    decisions: tuple[Decision, ...] = ()


def _payload_event(ev: StoredEvent, region: Region) -> Event:
    """The engine event of a logged one."""
    p, t = ev.payload, ev.t_s
    kind = ev.kind
    if kind == "call":
        return CallReceived(t, Call(p["call_id"], t, customer_id=p.get("customer_id") or "",
                                    meter_id=p.get("meter_id") or "", address=p.get("address") or "",
                                    lon=p.get("lon"), lat=p.get("lat")))
    if kind in ("tick", "replan", "settle"):
        return ClockTick(t)
    if kind == "arrived":
        return CrewArrived(t, p["crew_id"], p["order_id"])
    if kind == "repaired":
        return RepairFinished(t, p["crew_id"], p["order_id"], tuple(p["restored_nodes"]))
    if kind == "callback_done":
        return CallbackDone(t, p["order_id"])
    if kind == "cancelled":
        return OrderCancelled(t, p["order_id"], p.get("reason", ""))
    if kind == "assign":
        return DispatcherAssigned(t, p["order_id"], p["crew_id"])
    if kind == "position":
        return CrewPosition(t, p["crew_id"], p["x_m"], p["y_m"])
    if kind == "shift_start":
        return ShiftStarted(t, p["crew_id"])
    if kind == "shift_end":
        return ShiftEnded(t, p["crew_id"])
    if kind == "released":
        return CrewReleased(t, p["crew_id"], p["order_id"])
    if kind == "device":
        return DeviceOperated(t, p["device_id"])
    if kind == "planned_outage":
        return PlannedOutageAnnounced(t, p["outage_id"], p["device_id"], p["start_s"], p["end_s"])
    raise ValueError(f"event {ev.seq}: unknown kind {kind!r}")


class LiveDispatch:
    """Owns the engine, the store and the engine thread (see the module docstring)."""

    def __init__(self, settings: Settings, store: Store, region: Region, *,
                 clock: Callable[[], int] | None = None) -> None:
        """``clock`` gives the storm clock in seconds (default: seconds since the store's epoch;
        a demo runs a faster one)."""
        self.settings = settings
        self.store = store
        self.region = region
        self._clock = clock
        # called on the engine thread with each applied event's kind and decisions
        self.listeners: list[Callable[[str, list[Decision]], None]] = []
        epoch = store.meta_setdefault("epoch", datetime.now(UTC).isoformat())
        self.epoch = datetime.fromisoformat(epoch)
        self.to_utm = Transformer.from_crs("EPSG:4326", region.crs, always_xy=True)
        self.to_wgs = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
        policy, limits = make_policy(settings.policy, {})
        self.crews = region_roster(region, seed=0, scale=min(1.0, settings.grid_scale))
        self.engine = DispatchEngine(region, list(self.crews), policy, travel=RoadTravel(region.roads),
                                     limits=limits)
        self.lock = threading.RLock()  # held while the engine changes or is read
        self._pending: queue.Queue[tuple[PendingEvent, bool, Future[Logged]] | None] = queue.Queue()
        self._queue: queue.Queue[tuple[StoredEvent, Future[Outcome] | None] | None] = queue.Queue()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._last_t = 0
        self.applied_seq = 0
        self.refused = 0
        self.calls_applied = 0
        self._unsettled = False
        self._settle_asked = False
        self.ready = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- clock ---------------------------------------------------------------------
    def now_s(self) -> int:
        if self._clock is not None:
            return self._clock()
        return max(0, int((datetime.now(UTC) - self.epoch).total_seconds()))

    # -- start and stop ------------------------------------------------------------
    def start(self) -> None:
        """Rebuild the engine from the log, then start the engine and clock threads."""
        t0 = time.perf_counter()
        n = 0
        for ev in self.store.events_after(0):
            self._apply(ev)
            self._last_t = ev.t_s
            n += 1
        log.info("engine rebuilt from %d logged events in %.1f s", n, time.perf_counter() - t0)
        self._start_thread(self._write)
        if self._unsettled:  # the log ends between decisions: log the point where they are made
            self._settle_asked = True
            self.submit("settle", {})
        self._shift_changes()
        for target in (self._run, self._tick):
            self._start_thread(target)
        self.ready = True

    def _start_thread(self, target: Callable[[], None]) -> None:
        th = threading.Thread(target=target, daemon=True, name=f"live-{target.__name__}")
        th.start()
        self._threads.append(th)

    def _shift_changes(self) -> None:
        """Crews whose shift is under way start it; crews past their shift end it (a crew at
        work finishes its job first)."""
        t = max(self.now_s(), self._last_t)
        due = []
        with self.lock:
            for crew in self.crews:
                shift = crew.shift_at(t)
                on = shift is not None and shift[0] <= t
                s = self.engine.crews[crew.crew_id]
                if on and (s.status == "off" or s.going_off):
                    due.append(("shift_start", crew.crew_id))
                elif not on and s.status != "off" and not s.going_off:
                    due.append(("shift_end", crew.crew_id))
        for kind, crew_id in due:
            self.submit(kind, {"crew_id": crew_id})

    def stop(self) -> None:
        self._stop.set()
        self._pending.put(None)
        self._queue.put(None)
        for th in self._threads:
            th.join(timeout=5)

    # -- intake --------------------------------------------------------------------
    def submit(self, kind: str, payload: dict[str, Any], *, call: dict[str, Any] | None = None,
               wait: bool = False) -> Logged:
        """Log an event (returns once it is committed) and queue it for the engine; with
        ``wait`` its outcome will follow. Raises ``DuplicateCallError`` (nothing logged) for a
        call id already stored."""
        return self.enqueue(kind, payload, call=call, wait=wait).result()

    def enqueue(self, kind: str, payload: dict[str, Any], *, call: dict[str, Any] | None = None,
                wait: bool = False) -> Future[Logged]:
        """Hand an event to the writer; the future is done once it is committed (for an
        ``async`` caller: ``await asyncio.wrap_future(...)``)."""
        done: Future[Logged] = Future()
        self._pending.put((PendingEvent(0, kind, payload, now_iso(), call), wait, done))
        return done

    def _write(self) -> None:
        """The writer thread: commit everything waiting in one transaction, in order."""
        while True:
            item = self._pending.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 512:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._pending.put(None)
                    break
                batch.append(more)
            t = max(self.now_s(), self._last_t)
            events = [dataclasses.replace(ev, t_s=t) for ev, _, _ in batch]
            try:
                results = self.store.append_batch(events)
            except Exception as exc:  # the store is down: every waiting request hears so
                for _, _, done in batch:
                    done.set_exception(exc)
                continue
            self._last_t = t
            for ev, (_, wait, done), result in zip(events, batch, results, strict=True):
                if isinstance(result, dict):
                    done.set_exception(DuplicateCallError(result))
                    continue
                future: Future[Outcome] | None = Future() if wait else None
                self._queue.put((StoredEvent(result, t, ev.kind, ev.payload), future))
                done.set_result(Logged(result, t, ev.received_at, future))

    def outcome(self, kind: str, payload: dict[str, Any], timeout_s: float = 60.0) -> Outcome:
        """Log an event and wait until the engine has applied (or refused) it."""
        future = self.submit(kind, payload, wait=True).outcome
        assert future is not None
        return future.result(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            ev, future = item
            outcome = self._apply(ev)
            if future is not None:
                future.set_result(outcome)
            if self._unsettled and not self._settle_asked and self._queue.empty():
                self._settle_asked = True  # out of work: log the point where the engine decides
                self.enqueue("settle", {})

    def _tick(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            self._shift_changes()
            self.submit("tick", {})

    def _apply(self, ev: StoredEvent) -> Outcome:
        decisions: list[Decision] = []
        refused = ""
        with self.lock:
            engine = self.engine
            if self._unsettled and engine.clock_s is not None and ev.t_s > engine.clock_s:
                decisions += engine.settle(engine.clock_s)
                self._unsettled = False
            if ev.kind == "replan":
                engine.policy.on_override()
            try:
                decisions += engine.handle(_payload_event(ev, self.region), settle=False)
                self._unsettled = True
                self.calls_applied += ev.kind == "call"
            except (EventError, ValueError, KeyError) as exc:
                self.refused += 1
                refused = str(exc)
            if ev.kind in ("tick", "replan", "settle") and self._unsettled:
                decisions += engine.settle(ev.t_s)
                self._unsettled = False
            if ev.kind == "settle":
                self._settle_asked = False
            self.applied_seq = ev.seq
        for listener in self.listeners:
            listener(ev.kind, decisions)
        if decisions or ev.kind not in ("tick", "settle"):
            self._publish({"seq": ev.seq, "t_s": ev.t_s, "event": ev.kind, "refused": refused,
                           "decisions": [_decision_json(d) for d in decisions]})
        return Outcome(ev.seq, refused=refused, decisions=tuple(decisions))

    # -- change stream -------------------------------------------------------------
    def subscribe(self, loop: asyncio.AbstractEventLoop
                  ) -> tuple[asyncio.Queue[dict[str, Any]], Callable[[], None]]:
        """A queue of change messages for an SSE client on ``loop``, and how to unsubscribe."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        entry = (loop, q)
        self._subscribers.add(entry)
        return q, lambda: self._subscribers.discard(entry)

    def _publish(self, message: dict[str, Any]) -> None:
        for loop, q in list(self._subscribers):
            def put(q: asyncio.Queue[dict[str, Any]] = q) -> None:
                if not q.full():  # a subscriber that cannot keep up misses changes, never blocks us
                    q.put_nowait(message)
            try:
                loop.call_soon_threadsafe(put)
            except RuntimeError:  # its loop has closed
                self._subscribers.discard((loop, q))


def _decision_json(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(d).__name__}
    for name in d.__slots__:
        out[name] = getattr(d, name)
    return out
