"""The server's durable store (SQLAlchemy 2; SQLite in WAL mode by default, PostgreSQL by URL).

The event log is the source of truth: every input the engine acts on (a call, a crew's report,
a dispatcher's decision, a clock tick) is appended with its sequence number and storm-clock
time, committed before it is acknowledged; on start the engine's state is rebuilt by applying
the log in order. Calls are also kept by id (idempotent intake), API keys by the HMAC of the
token, and the responses of requests sent with an ``Idempotency-Key``.

Schema changes go through Alembic (``api/migrations``); ``Store.migrate`` upgrades to head.
"""

from __future__ import annotations

import json
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
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
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


class DuplicateCallError(Exception):
    """A call id already stored; ``stored`` is the call as first received."""

    def __init__(self, stored: dict[str, Any]) -> None:
        super().__init__(stored["call_id"])
        self.stored = stored


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable against a process crash in WAL mode
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Store:
    """Append-only event log plus the lookup tables; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the event log ---------------------------------------------------------------
    def append_batch(self, batch: list[PendingEvent]) -> list[int | dict[str, Any]]:
        """Commit events in one transaction (group commit); for each, its sequence number, or,
        for a call whose id is already stored (or earlier in the batch), the stored call, and
        nothing of it is written. Only one writer appends: it numbers the events itself."""
        ids = [p.call["call_id"] for p in batch if p.call is not None]
        out: list[int | dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        call_rows: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            known = {r.call_id: dict(r._mapping) for r in conn.execute(
                select(calls).where(calls.c.call_id.in_(ids)))} if ids else {}
            seq = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
            for p in batch:
                if p.call is not None and p.call["call_id"] in known:
                    out.append(known[p.call["call_id"]])
                    continue
                seq += 1
                event_rows.append({"seq": seq, "t_s": p.t_s, "kind": p.kind, "payload": p.payload,
                                   "received_at": p.received_at})
                if p.call is not None:
                    row = {**p.call, "seq": seq, "t_s": p.t_s, "received_at": p.received_at}
                    call_rows.append(row)
                    known[p.call["call_id"]] = row
                out.append(seq)
            if event_rows:
                conn.execute(insert(events), event_rows)
            if call_rows:
                conn.execute(insert(calls), call_rows)
        return out

    def events_after(self, seq: int = 0) -> Iterator[StoredEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events.c.seq, events.c.t_s, events.c.kind, events.c.payload)
                                .where(events.c.seq > seq).order_by(events.c.seq))
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

    def key(self, token_hash: str) -> tuple[str, str | None] | None:
        """(role, crew id) of a live key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.role, api_keys.c.crew_id).where(
                (api_keys.c.token_hash == token_hash) & (api_keys.c.revoked.is_(False)))).first()
            return (str(row.role), row.crew_id) if row else None

    # -- idempotent requests ---------------------------------------------------------
    def idempotent_response(self, key: str) -> tuple[str, int, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(idempotency).where(idempotency.c.key == key)).first()
            return (str(row.request), int(row.status), str(row.body)) if row else None

    def save_response(self, key: str, request: str, status: int, body: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(idempotency).values(key=key, request=request, status=status, body=body))
        except IntegrityError:
            pass  # a concurrent request with the same key stored it first
