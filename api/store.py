"""The server's durable store (SQLAlchemy 2; SQLite in WAL mode by default, PostgreSQL by URL).

The event log is the source of truth: every input the engine acts on (a call, a crew's report,
a dispatcher's decision, a clock tick) is appended with its sequence number and storm-clock
time, committed before it is acknowledged; on start the engine's state is rebuilt by applying
the log in order. Calls are also kept by id (idempotent intake), API keys by the HMAC of the
token, the call each ``Idempotency-Key`` stored, the events refused because applying them raised
(a rebuild skips them), and the roster of the crews the server dispatches.

SQLite's files (database, WAL, shared memory) are created readable by their owner only: they hold
callers' addresses. Errors never carry SQL parameters (``hide_parameters``), so logging one
leaks no personal data.

Schema changes go through Alembic (``api/migrations``); ``Store.migrate`` upgrades to head.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("t_s", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", String(40), nullable=False),
)
calls = Table(
    "calls", metadata,
    Column("call_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("t_s", Integer, nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("time", String(40), nullable=True),
    Column("customer_id", String(64), nullable=False, default=""),
    Column("meter_id", String(64), nullable=False, default=""),
    Column("address", String(500), nullable=False, default=""),
    Column("lon", Float, nullable=True),
    Column("lat", Float, nullable=True),
)
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("crew_id", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)
idempotency = Table(
    "idempotency", metadata,
    Column("key", String(200), primary_key=True),
    Column("request", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
)
meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)
refused_events = Table(
    "refused_events", metadata,
    Column("seq", Integer, primary_key=True),
    Column("stage", String(16), primary_key=True),  # "event", or "settle": the decisions due before it
    Column("reason", Text, nullable=False),
    Column("refused_at", String(40), nullable=False),
)
roster = Table(
    "roster", metadata,
    Column("crew_id", String(64), primary_key=True),
)
# the outbox: customer notices, each derived from the logged event ``seq`` (api/outbox.py)
notices = Table(
    "notices", metadata,
    Column("notice_id", String(40), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)
subscriptions = Table(
    "subscriptions", metadata,
    Column("subscription_id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("kinds", JSON, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)
deliveries = Table(
    "deliveries", metadata,
    Column("subscription_id", String(32), primary_key=True),
    Column("notice_id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),  # pending, delivered, failed (gave up)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),  # unix seconds of the next attempt
    Column("last_error", Text, nullable=False, default=""),
    Column("delivered_at", String(40), nullable=True),
    Index("ix_deliveries_due", "status", "next_at"),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    t_s: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event waiting for the writer: its clock time, kind, payload and call row."""

    t_s: int
    kind: str
    payload: dict[str, Any]
    received_at: str
    call: dict[str, Any] | None = None
    idempotency_key: str | None = None


class DuplicateCallError(Exception):
    """A call id (or Idempotency-Key) already stored; ``stored`` is the call as first received."""

    def __init__(self, stored: dict[str, Any]) -> None:
        super().__init__(stored["call_id"])
        self.stored = stored


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable against a process crash in WAL mode
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory one or another database."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def _owner_only(path: Path) -> None:
    """Create the SQLite database file readable by its owner only (SQLite gives its WAL and
    shared-memory files the database file's mode), and tighten the files if they exist."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        if (path.parent / name).exists():
            os.chmod(path.parent / name, 0o600)


class Store:
    """Append-only event log plus the lookup tables; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                _owner_only(path)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False},
                                                hide_parameters=True)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                                        hide_parameters=True)

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to an Alembic revision (the newest by default)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the event log ---------------------------------------------------------------
    def append_batch(self, batch: list[PendingEvent]) -> list[int | dict[str, Any]]:
        """Commit events in one transaction (group commit); for each, its sequence number, or,
        for a call whose id or Idempotency-Key is already stored (or earlier in the batch), the
        stored call, and nothing of it is written. Only one writer appends: it numbers the events
        itself, and so checks ids and keys atomically."""
        ids = [p.call["call_id"] for p in batch if p.call is not None]
        keys = [p.idempotency_key for p in batch if p.idempotency_key]
        out: list[int | dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        call_rows: list[dict[str, Any]] = []
        key_rows: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            keyed = {str(r.key): str(r.body) for r in conn.execute(
                select(idempotency.c.key, idempotency.c.body).where(idempotency.c.key.in_(keys)))} \
                if keys else {}
            ids += list(keyed.values())
            known = {r.call_id: dict(r._mapping) for r in conn.execute(
                select(calls).where(calls.c.call_id.in_(ids)))} if ids else {}
            seq = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
            for p in batch:
                stored = keyed.get(p.idempotency_key or "") or (p.call or {}).get("call_id")
                if stored in known:
                    out.append(known[stored])
                    continue
                seq += 1
                event_rows.append({"seq": seq, "t_s": p.t_s, "kind": p.kind, "payload": p.payload,
                                   "received_at": p.received_at})
                if p.call is not None:
                    row = {**p.call, "seq": seq, "t_s": p.t_s, "received_at": p.received_at}
                    call_rows.append(row)
                    known[p.call["call_id"]] = row
                    if p.idempotency_key:
                        key_rows.append({"key": p.idempotency_key, "request": p.kind, "status": 201,
                                         "body": p.call["call_id"]})
                        keyed[p.idempotency_key] = p.call["call_id"]
                out.append(seq)
            if event_rows:
                conn.execute(insert(events), event_rows)
            if call_rows:
                conn.execute(insert(calls), call_rows)
            if key_rows:
                conn.execute(insert(idempotency), key_rows)
        return out

    # -- events refused because applying them raised ---------------------------------
    def refused_events(self) -> dict[int, dict[str, str]]:
        """For each such event, its refused stages (``event``, ``settle``) and their reasons."""
        out: dict[int, dict[str, str]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(refused_events.c.seq, refused_events.c.stage, refused_events.c.reason))
            for r in rows:
                out.setdefault(int(r.seq), {})[str(r.stage)] = str(r.reason)
        return out

    def refuse_event(self, seq: int, stage: str, reason: str) -> None:
        """Mark a stage of a logged event refused: every rebuild skips it (marking it twice is
        marking it once)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(refused_events).values(seq=seq, stage=stage, reason=reason[:2000],
                                                           refused_at=now_iso()))
        except IntegrityError:
            pass

    def probe_write(self) -> None:
        """Commit a tiny write (raises when the store cannot write, e.g. a full disk)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(meta).where(meta.c.key == "write_probe").values(value=now_iso()))
            if not done.rowcount:
                conn.execute(insert(meta).values(key="write_probe", value=now_iso()))

    def events_after(self, seq: int = 0, *, until: int | None = None) -> Iterator[StoredEvent]:
        """The logged events after ``seq`` (up to ``until``), in order."""
        with self.engine.connect() as conn:
            e = events.c
            query = select(e.seq, e.t_s, e.kind, e.payload).where(e.seq > seq)
            if until is not None:
                query = query.where(e.seq <= until)
            rows = conn.execute(query.order_by(events.c.seq))
            for r in rows:
                payload = r.payload if isinstance(r.payload, dict) else json.loads(r.payload)
                yield StoredEvent(int(r.seq), int(r.t_s), str(r.kind), payload)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def scalar(query: Any) -> int:
                return int(conn.execute(query).scalar_one())

            return {"events": scalar(select(func.count()).select_from(events)),
                    "calls": scalar(select(func.count()).select_from(calls)),
                    "last_seq": scalar(select(func.coalesce(func.max(events.c.seq), 0)))}

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.call_id == call_id)).mappings().first()
            return dict(row) if row else None

    # -- settings kept in the store --------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def meta_setdefault(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(meta).values(key=key, value=value))
        except IntegrityError:
            pass
        stored = self.meta_get(key)
        assert stored is not None
        return stored

    # -- the roster the server dispatches -------------------------------------------
    def set_roster(self, crew_ids: list[str]) -> None:
        """Record the crews the server dispatches (crew tokens must name one of them)."""
        with self.engine.begin() as conn:
            conn.execute(delete(roster))
            conn.execute(insert(roster), [{"crew_id": c} for c in crew_ids])

    def roster(self) -> set[str]:
        """The crews recorded by the last server start; empty before the first."""
        with self.engine.connect() as conn:
            return {str(c) for c in conn.execute(select(roster.c.crew_id)).scalars()}

    # -- API keys --------------------------------------------------------------------
    def add_key(self, key_id: str, token_hash: str, role: str, crew_id: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(api_keys).values(key_id=key_id, token_hash=token_hash, role=role,
                                                 crew_id=crew_id, created_at=now_iso(), revoked=False))

    def revoke_key(self, token_hash: str) -> bool:
        """Revoke the key with this hash; False when there is no live one."""
        with self.engine.begin() as conn:
            live = (api_keys.c.token_hash == token_hash) & (api_keys.c.revoked.is_(False))
            done = conn.execute(update(api_keys).where(live).values(revoked=True))
            return bool(done.rowcount)

    def revoke_key_id(self, key_id: str) -> bool:
        """Revoke the key with this id; False when there is no live one."""
        with self.engine.begin() as conn:
            live = (api_keys.c.key_id == key_id) & (api_keys.c.revoked.is_(False))
            return bool(conn.execute(update(api_keys).where(live).values(revoked=True)).rowcount)

    def list_keys(self) -> list[dict[str, Any]]:
        """Every key's id, role, crew, creation time and whether it is revoked (never its hash)."""
        with self.engine.connect() as conn:
            k = api_keys.c
            rows = conn.execute(select(k.key_id, k.role, k.crew_id, k.created_at, k.revoked)
                                .order_by(k.created_at, k.key_id))
            return [dict(r._mapping) for r in rows]

    def key(self, token_hash: str) -> tuple[str, str | None] | None:
        """(role, crew id) of a live key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.role, api_keys.c.crew_id).where(
                (api_keys.c.token_hash == token_hash) & (api_keys.c.revoked.is_(False)))).first()
            return (str(row.role), row.crew_id) if row else None
