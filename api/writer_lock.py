"""One writer per store: a server holds an exclusive lock on its store for its whole life, and
a second server on the same store refuses to start (two would number events alike and each
engine would see only its own).

SQLite: ``flock`` on ``<database>.lock`` beside the database file (released by the kernel when
the process ends, however it ends). PostgreSQL: a session advisory lock held by a dedicated
connection (released when that connection closes).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from api.settings import SettingsError
from api.store import sqlite_path

# the advisory lock key: the first 8 bytes of a hash of the project's name, as a signed bigint
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"outage-dispatch writer").digest()[:8], "big", signed=True)


class StoreBusyError(SettingsError):
    """Another server holds the store's writer lock."""


class WriterLock:
    """The writer lock on the store at ``database_url``; ``acquire`` or raise, ``release``."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._fd: int | None = None
        self._conn: Connection | None = None

    def acquire(self) -> WriterLock:
        """Take the lock without waiting; ``StoreBusyError`` naming the holder when it is taken."""
        path = sqlite_path(self.database_url)
        if path is not None:
            self._lock_file(path.with_name(path.name + ".lock"))
        elif not self.database_url.startswith("sqlite"):
            self._lock_postgres()
        return self

    def _lock_file(self, lock: Path) -> None:
        lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreBusyError(f"another outage-dispatch server (process {holder}) is using the store "
                                 f"in {lock.parent}: stop it first, or give this one another --data-dir") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def _lock_postgres(self) -> None:
        engine = create_engine(self.database_url, poolclass=NullPool, hide_parameters=True)
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar_one()
        except SQLAlchemyError:
            conn.close()
            raise
        if not got:
            conn.close()
            raise StoreBusyError(f"another outage-dispatch server is using the database "
                                 f"{engine.url.render_as_string(hide_password=True)}: stop it first, "
                                 f"or give this one another DATABASE_URL")
        self._conn = conn

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        if self._conn is not None:
            self._conn.close()  # ending the session drops the advisory lock
            self._conn = None
