"""The customer-notice outbox in the store: notices, webhook subscriptions and deliveries.

Notices are a function of the event log (``dispatch.notices``): the engine thread derives them
as it applies each event, and the outbox writer commits them, a delivery row for each active
subscription that wants their kind, and the log position they derive from (``notices_seq`` in
``meta``) in one transaction. A server killed between an event's commit and its notices' commit
derives them again when it rebuilds from the log (every event after ``notices_seq``): no notice
is lost, and their ids (``<seq>-<k>``, the k-th notice of event ``seq``) make a second write of
the same notice a no-op.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.store import Store, deliveries, meta, notices, now_iso, subscriptions

WATERMARK = "notices_seq"
# pending (not yet taken, or retrying), delivered, failed (given up), dropped (its subscriber stopped)
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dropped")


@dataclass(frozen=True, slots=True)
class OutboxNotice:
    """A notice as the outbox keeps it: its id, event, kind and webhook body."""

    notice_id: str
    seq: int
    kind: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    url: str
    kinds: tuple[str, ...]
    secret: str
    created_at: str
    active: bool


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery whose time has come: where to, signed with what, and the body."""

    subscription_id: str
    notice_id: str
    url: str
    secret: str
    body: str
    attempts: int


class Outbox:
    """The outbox's tables in ``store`` (see the module docstring); safe to share between threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._insert = sqlite_insert if store.is_sqlite else pg_insert

    # -- notices ---------------------------------------------------------------------
    def watermark(self) -> int:
        """The last logged event whose notices are committed (0: none yet)."""
        value = self.store.meta_get(WATERMARK)
        return int(value) if value is not None else 0

    def write(self, batch: Sequence[OutboxNotice], through_seq: int) -> None:
        """Commit notices, their deliveries to the subscribers that want them, and the
        watermark, in one transaction; notices (and deliveries) already stored are skipped."""
        now = now_iso()
        with self.store.engine.begin() as conn:
            subs = [s for s in self._subscriptions(conn) if s.active]
            if batch:
                rows = [{"notice_id": n.notice_id, "seq": n.seq, "kind": n.kind,
                         "body": json.dumps(n.body, separators=(",", ":")), "created_at": now} for n in batch]
                conn.execute(self._insert(notices).on_conflict_do_nothing(index_elements=["notice_id"]), rows)
                due = time.time()
                wanted = [{"subscription_id": s.subscription_id, "notice_id": n.notice_id,
                           "status": "pending", "attempts": 0, "next_at": due, "last_error": "",
                           "delivered_at": None}
                          for n in batch for s in subs if n.kind in s.kinds]
                if wanted:
                    conn.execute(self._insert(deliveries).on_conflict_do_nothing(
                        index_elements=["subscription_id", "notice_id"]), wanted)
            done = conn.execute(update(meta).where(meta.c.key == WATERMARK).values(value=str(through_seq)))
            if not done.rowcount:
                conn.execute(self._insert(meta).values(key=WATERMARK, value=str(through_seq)))

    # -- subscriptions ---------------------------------------------------------------
    def subscribe(self, url: str, kinds: Sequence[str], secret: str) -> Subscription:
        sub = Subscription("sub-" + secrets.token_hex(6), url, tuple(kinds), secret, now_iso(), True)
        with self.store.engine.begin() as conn:
            conn.execute(subscriptions.insert().values(
                subscription_id=sub.subscription_id, url=url, kinds=list(kinds), secret=secret,
                created_at=sub.created_at, active=True))
        return sub

    def unsubscribe(self, subscription_id: str) -> bool:
        """Stop delivering to a subscription: what it still had pending is dropped (its record
        stays); False when there is no active one."""
        with self.store.engine.begin() as conn:
            live = (subscriptions.c.subscription_id == subscription_id) & subscriptions.c.active.is_(True)
            if not conn.execute(update(subscriptions).where(live).values(active=False)).rowcount:
                return False
            d = deliveries.c
            pending = (d.subscription_id == subscription_id) & (d.status == "pending")
            conn.execute(update(deliveries).where(pending)
                         .values(status="dropped", last_error="the subscription was stopped"))
            return True

    def subscriptions(self) -> list[Subscription]:
        with self.store.engine.connect() as conn:
            return self._subscriptions(conn)

    @staticmethod
    def _subscriptions(conn: Any) -> list[Subscription]:
        rows = conn.execute(select(subscriptions).order_by(subscriptions.c.created_at))
        return [Subscription(r.subscription_id, r.url, tuple(r.kinds if isinstance(r.kinds, list)
                                                             else json.loads(r.kinds)),
                             r.secret, r.created_at, bool(r.active)) for r in rows]

    # -- deliveries ------------------------------------------------------------------
    def due(self, subscription_id: str, now: float, limit: int) -> list[DueDelivery]:
        """A subscription's pending deliveries whose time has come, oldest first."""
        d, n, s = deliveries.c, notices.c, subscriptions.c
        query = (select(d.subscription_id, d.notice_id, s.url, s.secret, n.body, d.attempts)
                 .join(notices, n.notice_id == d.notice_id)
                 .join(subscriptions, s.subscription_id == d.subscription_id)
                 .where(and_(d.subscription_id == subscription_id, d.status == "pending", d.next_at <= now))
                 .order_by(d.next_at, n.seq, d.notice_id).limit(limit))
        with self.store.engine.connect() as conn:
            return [DueDelivery(*r) for r in conn.execute(query)]

    def next_due_at(self, subscription_id: str) -> float | None:
        """When a subscription's earliest pending delivery falls due (unix seconds), if any."""
        d = deliveries.c
        with self.store.engine.connect() as conn:
            return conn.execute(select(func.min(d.next_at)).where(
                (d.subscription_id == subscription_id) & (d.status == "pending"))).scalar_one_or_none()

    def record(self, done: Sequence[DueDelivery],
               failed: Sequence[tuple[DueDelivery, str, float | None]]) -> None:
        """Mark deliveries delivered, or failed: retried at the time given, or given up (None)."""
        d = deliveries.c
        with self.store.engine.begin() as conn:
            stamp = now_iso()
            if done:
                conn.execute(update(deliveries).where((d.subscription_id == bindparam("sid"))
                                                      & (d.notice_id == bindparam("nid")))
                             .values(status="delivered", attempts=bindparam("n"), delivered_at=stamp,
                                     last_error=""),
                             [{"sid": x.subscription_id, "nid": x.notice_id, "n": x.attempts + 1}
                              for x in done])
            for x, error, retry_at in failed:  # not one dropped meanwhile (its subscriber stopped)
                row = (d.subscription_id == x.subscription_id) & (d.notice_id == x.notice_id)
                conn.execute(update(deliveries).where(row & (d.status == "pending"))
                             .values(status="pending" if retry_at is not None else "failed",
                                     attempts=x.attempts + 1, last_error=error[:1000],
                                     next_at=retry_at if retry_at is not None else time.time()))

    def deliveries_of(self, subscription_id: str, *, status: str | None = None, limit: int = 500,
                      offset: int = 0) -> list[dict[str, Any]]:
        """A subscription's deliveries (with their notice's kind), oldest notice first."""
        d, n = deliveries.c, notices.c
        query = (select(d.notice_id, n.kind, d.status, d.attempts, d.next_at, d.last_error, d.delivered_at)
                 .join(notices, n.notice_id == d.notice_id).where(d.subscription_id == subscription_id)
                 .order_by(n.seq, d.notice_id).limit(limit).offset(offset))
        if status is not None:
            query = query.where(d.status == status)
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def counts(self, subscription_id: str | None = None) -> dict[str, int]:
        """Deliveries by status (of one subscription, or all)."""
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        if subscription_id is not None:
            query = query.where(deliveries.c.subscription_id == subscription_id)
        with self.store.engine.connect() as conn:
            got = {str(k): int(v) for k, v in conn.execute(query)}
        return {s: got.get(s, 0) for s in DELIVERY_STATUSES}

    def retry_failed(self, subscription_id: str) -> int:
        """Put an (active) subscription's given-up deliveries back in line, due now; how many."""
        d = deliveries.c
        with self.store.engine.begin() as conn:
            return int(conn.execute(update(deliveries).where((d.subscription_id == subscription_id)
                                                             & (d.status == "failed"))
                                    .values(status="pending", next_at=time.time())).rowcount)
