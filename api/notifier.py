"""Customer notices of the live service: derived on the engine thread as each logged event is
applied, committed to the outbox by a thread of their own, delivered by webhooks.

Every event's notices are derived, on every rebuild too (the notice book's state is part of the
fold), but only those of events after the outbox's watermark are queued: the ones before are
committed already (``api/outbox.py``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from api.outbox import OutboxNotice
from api.webhooks import Deliverer
from dispatch.engine import DispatchEngine
from dispatch.events import Decision, Event
from dispatch.notices import Channel, Notice, NoticeBook

log = logging.getLogger(__name__)
PLANNED_PREFIX = "planned:"  # planned-outage ids in the engine, apart from the predictor's incident ids
RETRY_WRITE_S = 1.0


class Notifier:
    """The notice book, the outbox writer thread and the webhook deliverer of one server."""

    def __init__(self, deliverer: Deliverer, epoch: datetime, *, channel: Channel, etr_margin_s: int) -> None:
        self.deliverer = deliverer
        self.outbox = deliverer.outbox
        self.epoch = epoch
        self.channel = channel
        self.etr_margin_s = etr_margin_s
        self.book: NoticeBook | None = None
        self.through_seq = 0  # the last event whose notices are queued (or committed)
        self.write_error = ""
        self._queue: queue.Queue[list[OutboxNotice] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def reset(self, engine: DispatchEngine) -> None:
        """A fresh book for a fresh engine (at start, and for each rebuild)."""
        self.book = NoticeBook(engine, channel=self.channel, etr_margin_s=self.etr_margin_s)

    def start(self, committed_through: int) -> None:
        """Before the log is folded: queue only the notices of events after ``committed_through``."""
        self.through_seq = max(self.through_seq, committed_through)

    def run(self) -> None:
        """Start the outbox writer and the deliverer (after the log is folded)."""
        self._thread = threading.Thread(target=self._write, daemon=True, name="live-notices")
        self._thread.start()
        self.deliverer.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.deliverer.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.deliverer.alive

    def after(self, seq: int, t_s: int, event: Event | None, decisions: Sequence[Decision]) -> None:
        """The notices of logged event ``seq`` (``event`` None when it was refused: only the
        decisions before it count), queued unless they are queued already."""
        assert self.book is not None
        notices = self.book.after(t_s, decisions, event)
        if seq <= self.through_seq:
            return
        self.through_seq = seq
        if notices:
            self._queue.put([OutboxNotice(f"{seq}-{k}", seq, n.kind.value, self.body(f"{seq}-{k}", n))
                             for k, n in enumerate(notices)])

    def body(self, notice_id: str, n: Notice) -> dict[str, Any]:
        """The webhook body: ``{id, kind, time, customer_ids | transformer_id, order_id, etr}``,
        with ``start`` for a planned outage and ``callback_id`` for a callback due."""
        out: dict[str, Any] = {"id": notice_id, "kind": n.kind.value, "time": self._iso(n.t_s)}
        if n.transformer_id:
            out["transformer_id"] = n.transformer_id
        else:
            out["customer_ids"] = list(n.customer_ids)
        out["order_id"] = n.order_id.removeprefix(PLANNED_PREFIX) or None
        out["etr"] = self._iso(n.etr_s) if n.etr_s is not None else None
        if n.start_s is not None:
            out["start"] = self._iso(n.start_s)
        if n.callback_id:
            out["callback_id"] = n.callback_id
        return out

    def _iso(self, t_s: int) -> str:
        return (self.epoch + timedelta(seconds=t_s)).isoformat()

    def _write(self) -> None:
        """The outbox writer: commit what is queued (one transaction per round); while the store
        cannot write, keep it and try again each second."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            notices = [n for group in batch for n in group]
            through = max(n.seq for n in notices)
            while True:
                try:
                    self.outbox.write(notices, through)
                    break
                except Exception as exc:
                    self.write_error = f"{type(exc).__name__}: {exc}"
                    log.error("notices of events up to %d not committed: %s; retrying", through,
                              self.write_error)
                    if self._stop.wait(RETRY_WRITE_S):
                        return
            self.write_error = ""
            self.deliverer.wake()
