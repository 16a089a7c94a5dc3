"""A throwaway PostgreSQL server on loopback for tests and benchmarks: ``initdb`` into a
temporary folder, ``pg_ctl start`` on a free port, stopped and removed on exit. Run as root,
the server runs as the ``postgres`` system user (it refuses root).

The binaries come from ``PG_BIN``, the PATH, or ``/usr/lib/postgresql/<version>/bin`` (Debian's
``postgresql`` package: ``make pg`` installs it when absent).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries here, or the server would not start; says which."""


def pg_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    env = os.environ.get("PG_BIN")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_postgres(*, fsync: bool = False) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh PostgreSQL database (``fsync`` off by default: for
    tests; benchmarks turn it on); raises ``PostgresUnavailableError`` when it cannot start."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise PostgresUnavailableError("PostgreSQL server binaries not found (install Debian's "
                                       "postgresql package: make pg)")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = Path(tempfile.mkdtemp(prefix="od-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if as_root:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    started = False
    try:
        run = subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--no-sync"], capture_output=True, text=True)
        if run.returncode:
            raise PostgresUnavailableError(f"initdb failed: {run.stderr.strip()[-500:]}")
        options = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=100 "
                   f"-c fsync={'on' if fsync else 'off'}")
        run = subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                              str(tmp / "server.log"), "-w", "-t", "60", "start"],
                             capture_output=True, text=True)
        if run.returncode:
            log = (tmp / "server.log").read_text(errors="replace") if (tmp / "server.log").exists() else ""
            raise PostgresUnavailableError(f"pg_ctl start failed: {run.stderr.strip()[-300:]} {log[-500:]}")
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                            "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
