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

Applying an event is atomic whatever the engine does. A refusal (``EventError`` from
``handle``) changes nothing by the engine's contract. Anything else the engine raises, while
handling the event or deciding (``settle``), is rolled back: the event (or, for a failure in the
decisions due before it, that decision point) is marked refused in the store with the reason, and
the engine is rebuilt from the log without it; every later rebuild skips it too. A log that
holds such an event unmarked (written before the mark existed) is marked the same way while it
is rebuilt at start. An update's If-Match travels with its event and is checked right before it
is applied, so the check and the update are one step; so is the uniqueness of a planned outage's
id, whose ids live apart from incident ids (``planned:`` before the dispatcher's id).

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
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyproj import Transformer
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from api.notifier import PLANNED_PREFIX, Notifier
from api.outbox import Outbox
from api.settings import Settings
from api.store import DuplicateCallError, PendingEvent, Store, StoredEvent, now_iso
from api.views import crew_version, order_out, step_version
from api.webhooks import Deliverer
from dispatch.crews import Crew, RosterParams, storm_roster
from dispatch.engine import DispatchEngine
from dispatch.events import (
    AmiMessage,
    CallbackDone,
    CallbackMade,
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
    FaultLocated,
    Finding,
    FirstResponseDone,
    GeneratorConnected,
    OrderCancelled,
    PlannedOutageAnnounced,
    PlannedOutageCancelled,
    PlannedOutageChanged,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
    StepHeld,
    StepMoved,
    StepReleased,
    SwitchingDone,
    SwitchRefused,
)
from dispatch.notices import Channel
from dispatch.replay import make_policy
from dispatch.roster import CrewStatus
from dispatch.switchboard import SwitchingMode
from grid_model.region import Region
from grid_model.storm import Call
from grid_model.switches import SwitchLayer
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
    """What applying one logged event did: refused (with the reason) or the decisions.
    ``stale`` is the current version when the event's If-Match no longer held; ``failed`` says
    applying it raised and it was rolled back."""

    seq: int
    refused: str = ""
    decisions: tuple[Decision, ...] = ()
    stale: str = ""
    failed: bool = False


DECISION_POINTS = ("tick", "replan", "settle")


class EngineFailedError(Exception):
    """Applying a logged event raised something other than a refusal: the event, the stage
    (``event``, or ``settle`` for the decisions due before it) and whether it was deciding."""

    def __init__(self, ev: StoredEvent, stage: str, cause: Exception, *, deciding: bool) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.seq, self.kind, self.stage, self.deciding = ev.seq, ev.kind, stage, deciding


def _payload_event(ev: StoredEvent, region: Region) -> Event:
    """The engine event of a logged one."""
    p, t = ev.payload, ev.t_s
    kind = ev.kind
    if kind == "call":
        return CallReceived(t, Call(p["call_id"], t, customer_id=p.get("customer_id") or "",
                                    meter_id=p.get("meter_id") or "", address=p.get("address") or "",
                                    lon=p.get("lon"), lat=p.get("lat")), triage=p.get("triage") or "")
    if kind in ("tick", "replan", "settle"):
        return ClockTick(t)
    if kind == "arrived":
        return CrewArrived(t, p["crew_id"], p["job_id"])
    if kind == "first_response":
        return FirstResponseDone(t, p["crew_id"], p["job_id"], _findings(p))
    if kind == "repaired":
        return RepairFinished(t, p["crew_id"], p["job_id"], tuple(p["restored_nodes"]), _findings(p))
    if kind == "callback":
        return CallbackMade(t, p["callback_id"], p["outcome"])
    if kind == "callback_done":
        return CallbackDone(t, p["order_id"])
    if kind == "cancelled":
        return OrderCancelled(t, p["order_id"], p.get("reason", ""))
    if kind == "assign":
        return DispatcherAssigned(t, p["order_id"], p["crew_id"], p.get("job_id") or "")
    if kind == "ami":
        return AmiMessage(t, p["meter_id"], p["kind"])
    if kind == "generator":
        return GeneratorConnected(t, p["truck_id"])
    if kind == "position":
        return CrewPosition(t, p["crew_id"], p["x_m"], p["y_m"])
    if kind == "shift_start":
        return ShiftStarted(t, p["crew_id"])
    if kind == "shift_end":
        return ShiftEnded(t, p["crew_id"])
    if kind == "released":
        return CrewReleased(t, p["crew_id"], p["job_id"])
    if kind == "device":
        return DeviceOperated(t, p["device_id"], tuple(p.get("indicators", ())))
    if kind == "fault_located":
        return FaultLocated(t, p["crew_id"], p["job_id"], tuple(p["element_ids"]))
    if kind == "switching_done":
        return SwitchingDone(t, p["crew_id"], p["job_id"])
    if kind == "switch_refused":
        return SwitchRefused(t, p["element_id"], p["action"], p["reason"], p["step_id"])
    if kind == "step_hold":
        return StepHeld(t, p["step_id"], p["reason"])
    if kind == "step_release":
        return StepReleased(t, p["step_id"])
    if kind == "step_move":
        return StepMoved(t, p["step_id"], p["before"])
    if kind == "planned_outage":
        # logged before the notice rule, an announcement has no "urgent": it is taken as it was
        return PlannedOutageAnnounced(t, p["outage_id"], p["device_id"], p["start_s"], p["end_s"],
                                      p.get("urgent", False), p.get("reason", ""), owes_notice="urgent" in p)
    if kind == "planned_outage_changed":
        return PlannedOutageChanged(t, p["outage_id"], p["start_s"], p["end_s"], p["urgent"], p["reason"])
    if kind == "planned_outage_cancelled":
        return PlannedOutageCancelled(t, p["outage_id"], p["reason"])
    raise ValueError(f"event {ev.seq}: unknown kind {kind!r}")


def _findings(payload: dict[str, Any]) -> tuple[Finding, ...]:
    return tuple(Finding(f["element_id"], f["skill"], f["repair_s"], f["fixed"], f["customer_side"])
                 for f in payload.get("findings", ()))


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
        self._check_switching(store, settings.switching)
        self.epoch = datetime.fromisoformat(epoch)
        deliverer = Deliverer(Outbox(store), retry_base_s=settings.webhook_retry_base_s,
                              max_attempts=settings.webhook_max_attempts,
                              allow_private=settings.webhook_allow_private)
        self.notifier = Notifier(deliverer, self.epoch,
                                 channel=Channel(settings.notice_channel),
                                 etr_margin_s=settings.etr_notice_margin_s)
        self.to_utm = Transformer.from_crs("EPSG:4326", region.crs, always_xy=True)
        self.to_wgs = Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True)
        self.crews: list[Crew] = []  # the roster and the engine: built by start() (_build_engine)
        self.switches: SwitchLayer | None = None  # the grid's switches and ties, when switching
        self.engine: DispatchEngine
        self.lock = threading.RLock()  # held while the engine changes or is read
        self._pending: queue.Queue[tuple[PendingEvent, bool, Future[Logged]] | None] = queue.Queue()
        self._queue: queue.Queue[tuple[StoredEvent, Future[Outcome] | None] | None] = queue.Queue()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._last_t = 0
        self.applied_seq = 0
        self.committed_seq = 0
        self._commits: deque[tuple[int, float]] = deque()  # (last seq, monotonic time) per commit
        self.refused = 0
        self.rolled_back = 0
        self.calls_applied = 0
        self.notice_failures = 0
        self._planned: set[str] = set()
        self._skips: dict[int, dict[str, str]] = {}
        self._unsettled = False
        self._settle_asked = False
        self._decide_failed = False  # a decision point failed: ask for no settle until new input
        self.fault = ""  # why the engine thread cannot go on, while it waits for the store
        self.write_error = ""  # why the last commit failed, until one succeeds (ticks keep trying)
        self.ready = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _check_switching(store: Store, switching: str) -> None:
        """The log folds the same way only with the switching it was written with: a store
        keeps its first (a log from before the choice was kept was written without)."""
        stored = store.meta_get("switching") or ("off" if store.counts()["events"] else None)
        if stored is None:
            store.meta_setdefault("switching", switching)
        elif stored != switching:
            raise ValueError(f"this store's event log was written with switching {stored}; serve it with "
                             f"--switching {stored} (or start a new store)")

    def _build_engine(self) -> None:
        """A fresh engine and roster (at start, and for each rebuild that rolls an event back)."""
        policy, limits = make_policy(self.settings.policy, {})
        self.crews = storm_roster(self.region, seed=0,
                                  params=RosterParams(repair_scale=min(1.0, self.settings.grid_scale)))
        mode = SwitchingMode(self.settings.switching)
        if mode != SwitchingMode.OFF and self.switches is None:
            self.switches = self.region.switch_layer()
        self.engine = DispatchEngine(self.region, list(self.crews), policy,
                                     travel=RoadTravel(self.region.roads), limits=limits,
                                     switches=self.switches, switching=mode)
        self.notifier.reset(self.engine)

    # -- clock ---------------------------------------------------------------------
    def now_s(self) -> int:
        if self._clock is not None:
            return self._clock()
        return max(0, int((datetime.now(UTC) - self.epoch).total_seconds()))

    # -- start and stop ------------------------------------------------------------
    def start(self) -> None:
        """Rebuild the engine from the log, then start the engine and clock threads."""
        t0 = time.perf_counter()
        self.notifier.start(self.notifier.outbox.watermark())
        n, _ = self._rebuild()
        self.committed_seq = self.applied_seq
        self.store.set_roster([c.crew_id for c in self.crews])
        log.info("engine rebuilt from %d logged events in %.1f s", n, time.perf_counter() - t0)
        self._start_thread(self._write)
        if self._unsettled:  # the log ends between decisions: log the point where they are made
            self._settle_asked = True
            self.submit("settle", {})
        self.shift_changes()
        for target in (self._run, self._tick):
            self._start_thread(target)
        self.notifier.run()
        self.ready = True

    def _start_thread(self, target: Callable[[], None]) -> None:
        th = threading.Thread(target=target, daemon=True, name=f"live-{target.__name__}")
        th.start()
        self._threads.append(th)

    def shift_changes(self) -> None:
        """A crew off duty whose shift began since it went off starts it; a crew on duty past
        its duty's end (its shift's end, or its duty limit) ends it, and a job it is on is
        handed back: no crew works past its duty limit. A dispatcher's change of a crew's duty
        thus stands, through ticks and restarts, until the crew's shift starts or ends."""
        t = max(self.now_s(), self._last_t)
        due = []
        with self.lock:
            for crew in self.crews:
                state = self.engine.crews[crew.crew_id]
                shift = crew.shift_at(t)
                if state.status == CrewStatus.OFF:
                    began = shift[0] if shift is not None and shift[0] <= t else None
                    if began is not None and (state.off_since_s is None or state.off_since_s < began):
                        due.append(("shift_start", crew.crew_id))
                elif t >= state.duty_end_s:
                    due.append(("shift_end", crew.crew_id))
        for kind, crew_id in due:
            self.submit(kind, {"crew_id": crew_id})

    def _rebuild(self, until: int | None = None) -> tuple[int, Outcome | None]:
        """Fold the log (up to seq ``until``) into a fresh engine, skipping the stages marked
        refused; an event that raises is marked refused too, and the fold starts over. Returns
        how many events were folded and the outcome of the last."""
        while True:
            self._skips = self.store.refused_events()
            self._build_engine()
            self._unsettled, self._planned = False, set()
            self.applied_seq = self.refused = self.calls_applied = 0
            self.rolled_back = sum(len(stages) for stages in self._skips.values())
            n, last = 0, None
            try:
                for ev in self.store.events_after(0, until=until):
                    last = self._fold(ev)
                    self._last_t = max(self._last_t, ev.t_s)
                    n += 1
            except EngineFailedError as failure:
                self._refuse(failure)
                continue
            return n, last

    def _refuse(self, failure: EngineFailedError) -> None:
        """Mark a failed stage refused in the store, and say so in the log (for a call, the
        exception's type only: its message may quote the caller's address)."""
        self.store.refuse_event(failure.seq, failure.stage, str(failure))
        what = "the decisions due before event" if failure.stage == "settle" else "event"
        cause = failure.__cause__
        log.error("%s %d (%s) refused and rolled back: the engine raised %s; it is rebuilt without it",
                  what, failure.seq, failure.kind,
                  type(cause).__name__ if failure.kind == "call" else str(failure),
                  exc_info=None if failure.kind == "call" else cause)

    def stop(self) -> None:
        self._stop.set()
        self._pending.put(None)
        self._queue.put(None)
        for th in self._threads:
            th.join(timeout=5)
        self.notifier.stop()

    # -- intake --------------------------------------------------------------------
    def submit(self, kind: str, payload: dict[str, Any], *, call: dict[str, Any] | None = None,
               wait: bool = False) -> Logged:
        """Log an event (returns once it is committed) and queue it for the engine; with
        ``wait`` its outcome will follow. Raises ``DuplicateCallError`` (nothing logged) for a
        call id already stored."""
        return self.enqueue(kind, payload, call=call, wait=wait).result()

    def enqueue(self, kind: str, payload: dict[str, Any], *, call: dict[str, Any] | None = None,
                wait: bool = False, idempotency_key: str | None = None) -> Future[Logged]:
        """Hand an event to the writer; the future is done once it is committed (for an
        ``async`` caller: ``await asyncio.wrap_future(...)``). A call whose ``idempotency_key``
        is already stored fails with ``DuplicateCallError`` like a known call id."""
        done: Future[Logged] = Future()
        self._pending.put((PendingEvent(0, kind, payload, now_iso(), call, idempotency_key), wait, done))
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
            results = self._append(events)
            self._last_t = t
            seqs = [r for r in results if isinstance(r, int)]
            if seqs:
                self.committed_seq = max(seqs)
                self._commits.append((self.committed_seq, time.monotonic()))
            for ev, (_, wait, done), result in zip(events, batch, results, strict=True):
                if isinstance(result, Exception):
                    done.set_exception(result)
                    continue
                if isinstance(result, dict):
                    done.set_exception(DuplicateCallError(result))
                    continue
                future: Future[Outcome] | None = Future() if wait else None
                self._queue.put((StoredEvent(result, t, ev.kind, ev.payload), future))
                done.set_result(Logged(result, t, ev.received_at, future))

    def _append(self, events: list[PendingEvent]) -> list[int | dict[str, Any] | Exception]:
        """Commit a batch. When the store is down every event fails with its error; when one
        event cannot be stored, the others are committed one by one, so that a bad event fails
        only its own request."""
        try:
            results: list[int | dict[str, Any] | Exception] = list(self.store.append_batch(events))
        except (OperationalError, InterfaceError) as exc:
            self.write_error = str(getattr(exc, "orig", None) or type(exc).__name__)
            return [exc] * len(events)
        except SQLAlchemyError as exc:
            if len(events) == 1:
                return [exc]
            return [r for ev in events for r in self._append([ev])]
        self.write_error = ""
        return results

    def outcome(self, kind: str, payload: dict[str, Any], timeout_s: float = 60.0) -> Outcome:
        """Log an event and wait until the engine has applied (or refused) it."""
        future = self.submit(kind, payload, wait=True).outcome
        assert future is not None
        return future.result(timeout=timeout_s)

    def idle(self) -> bool:
        """Whether every event handed in is committed and applied."""
        return self._pending.empty() and self._queue.empty() and self.committed_seq <= self.applied_seq

    @property
    def settled(self) -> bool:
        """Whether the engine has decided on every event it applied: no ``settle`` is still to
        come (or deciding failed, and waits for new input)."""
        return not self._unsettled or self._decide_failed

    def lag(self) -> tuple[int, float]:
        """How far the engine is behind the log: committed events it has not applied, and how
        long the oldest of them has waited (seconds)."""
        behind = max(0, self.committed_seq - self.applied_seq)
        try:
            waited = time.monotonic() - self._commits[0][1] if behind else 0.0
        except IndexError:  # the engine thread caught up meanwhile
            waited = 0.0
        return behind, waited

    def problem(self, max_lag_s: float) -> str:
        """Why the engine cannot be relied on now; empty when it can."""
        if self.fault:
            return self.fault
        if self.write_error:
            return f"the store cannot write: {self.write_error}"
        stopped = [th.name for th in self._threads if not th.is_alive()]
        if self.ready and not self.notifier.alive:
            stopped.append("live-notices")
        if self.notice_failures:
            return f"customer notices of {self.notice_failures} events could not be derived (see the log)"
        if self.notifier.write_error:
            return f"customer notices cannot be committed: {self.notifier.write_error}"
        if stopped:
            return f"engine threads stopped: {', '.join(stopped)}"
        behind, waited = self.lag()
        if waited > max_lag_s:
            return f"the engine is {behind} events behind the log, the oldest waiting {waited:.0f} s " \
                   f"(limit {max_lag_s:g} s)"
        return ""

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            ev, future = item
            try:
                outcome = self._apply(ev)
            except Exception as exc:  # never leave the engine thread: say so, and go on
                log.exception("event %d (%s): applying it failed outside the engine", ev.seq, ev.kind)
                if future is not None:
                    future.set_exception(exc)
                continue
            while self._commits and self._commits[0][0] <= self.applied_seq:
                self._commits.popleft()
            if future is not None:
                future.set_result(outcome)
            if self._unsettled and not self._settle_asked and not self._decide_failed and self._queue.empty():
                self._settle_asked = True  # out of work: log the point where the engine decides
                self.enqueue("settle", {})

    def _tick(self) -> None:
        while not self._stop.wait(self.settings.tick_s):
            self.shift_changes()
            self.submit("tick", {})

    def _apply(self, ev: StoredEvent) -> Outcome:
        """Apply one event on the engine thread, atomically (see the module docstring), and
        tell the listeners and subscribers."""
        with self.lock:
            try:
                outcome = self._fold(ev)
            except EngineFailedError as failure:
                outcome = self._roll_back(failure)
        decisions = list(outcome.decisions)
        for listener in self.listeners:
            listener(ev.kind, decisions)
        if decisions or ev.kind not in ("tick", "settle"):
            self._publish({"seq": ev.seq, "t_s": ev.t_s, "event": ev.kind, "refused": outcome.refused,
                           "decisions": [_decision_json(d) for d in decisions]})
        return outcome

    def _roll_back(self, failure: EngineFailedError) -> Outcome:
        """Mark the failed stage refused and rebuild the engine up to its event without it; while
        the store cannot be reached, retry each second (``fault`` says why)."""
        while not self._stop.is_set():
            try:
                self._refuse(failure)
                _, last = self._rebuild(until=failure.seq)
            except SQLAlchemyError as exc:
                self.fault = f"cannot roll back event {failure.seq}: the store is unavailable " \
                             f"({type(exc).__name__})"
                log.error("%s; retrying", self.fault)
                self._stop.wait(1.0)
                continue
            self.fault = ""
            self._decide_failed = self._decide_failed or failure.deciding
            self._settle_asked = self._settle_asked and failure.kind != "settle"
            if last is not None and last.seq == failure.seq:
                return last
            break
        return Outcome(failure.seq, refused=str(failure), failed=True)

    def _fold(self, ev: StoredEvent) -> Outcome:
        """Apply one logged event to the engine, deciding where the log says; raises
        ``EngineFailedError`` when the engine raises anything but a refusal."""
        skip = self._skips.get(ev.seq, {})
        if "event" in skip:
            self.refused += 1
            self.applied_seq = ev.seq
            return Outcome(ev.seq, refused=skip["event"], failed=True)
        decisions: list[Decision] = []
        engine = self.engine
        event: Event | None = None
        clock_s = engine.clock_s
        if self._unsettled and clock_s is not None and ev.t_s > clock_s and "settle" not in skip:
            decisions += self._decide(ev, "settle", clock_s)
        stale, refused = self._check(ev)
        if not refused:
            try:
                if ev.kind == "replan":
                    engine.policy.on_override()
                event = _payload_event(ev, self.region)
                decisions += engine.handle(event, settle=False)
            except EventError as exc:  # a refusal: by the engine's contract it changed nothing
                refused = str(exc)
            except Exception as exc:
                raise EngineFailedError(ev, "event", exc, deciding=False) from exc
        if refused:
            self.refused += 1
        else:
            self._unsettled = True
            self.calls_applied += ev.kind == "call"
            if ev.kind == "planned_outage":
                self._planned.add(ev.payload["outage_id"])
            if ev.kind not in DECISION_POINTS:
                self._decide_failed = False
        if ev.kind in DECISION_POINTS and self._unsettled:
            decisions += self._decide(ev, "event", ev.t_s)
        if ev.kind == "settle":
            self._settle_asked = False
        try:
            self.notifier.after(ev.seq, ev.t_s, None if refused else event, decisions)
        except Exception:  # a fault in the notices must not undo what the engine did
            self.notice_failures += 1
            log.exception("event %d (%s): deriving its customer notices failed", ev.seq, ev.kind)
        self.applied_seq = ev.seq
        return Outcome(ev.seq, refused=refused, decisions=tuple(decisions), stale=stale)

    def _decide(self, ev: StoredEvent, stage: str, t_s: int) -> list[Decision]:
        """The engine's decisions due at ``t_s`` (the burst before ``ev`` is settled)."""
        try:
            decisions = self.engine.settle(t_s)
        except Exception as exc:
            raise EngineFailedError(ev, stage, exc, deciding=True) from exc
        self._unsettled = False
        return decisions

    def _check(self, ev: StoredEvent) -> tuple[str, str]:
        """Refusals decided here, before the engine sees the event: an If-Match that no longer
        holds (the current version, and the reason) or a planned-outage id already used."""
        p = ev.payload
        expect = p.get("expect")
        if expect is not None:
            if "order_id" in expect:
                order = self.engine.orders.get(expect["order_id"])
                what = f"work order {expect['order_id']}"
                current = order_out(self, order).version if order is not None else "none"
            elif "step_id" in expect:
                what = f"switching step {expect['step_id']}"
                current = step_version(self, int(expect["step_id"]))
            else:
                what = f"crew {expect['crew_id']}"
                current = crew_version(self, expect["crew_id"]) if expect["crew_id"] in self.engine.crews \
                    else "none"
            if current != expect["version"]:
                return current, f"{what} has changed since version {expect['version']}; read it again"
        if ev.kind == "planned_outage" and p["outage_id"] in self._planned:
            return "", f"planned outage {p['outage_id'].removeprefix(PLANNED_PREFIX)} already exists"
        return "", ""

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
