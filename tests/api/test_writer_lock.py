"""One writer per store: while a server runs, a second `outage-dispatch serve` on the same data
folder (SQLite) or the same database (PostgreSQL) refuses to start with a clear message and
exits non-zero well within 30 s; the first goes on serving."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from api.server_process import free_port, server_env, start_server, token_from_cli
from api.settings import SettingsError
from api.writer_lock import StoreBusyError, WriterLock
from tests.api.conftest import _fresh_database

SECRET = "writer-lock-secret-0123456789abcdef"


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_second_server_on_the_same_store_refuses_to_start(store: str, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    url = _fresh_database(request.getfixturevalue("postgres_server")) if store == "postgres" else None
    env = server_env(SECRET, url)
    data_dir = tmp_path / "data"
    token = token_from_cli(data_dir, env, "viewer")
    port = free_port()
    first = start_server(data_dir, port, env, "--scale", "0.1")
    try:
        t0 = time.monotonic()
        folder = tmp_path / "other" if url else data_dir  # PostgreSQL: the same database from elsewhere
        second = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", str(free_port()),
                                 "--data-dir", str(folder), "--scale", "0.1"],
                                env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode != 0 and time.monotonic() - t0 < 30
        assert "another outage-dispatch server" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        r = httpx2.get(f"http://127.0.0.1:{port}/v1/kpis", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_the_lock_is_released_with_its_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    lock = WriterLock(url).acquire()
    with pytest.raises(StoreBusyError, match="another outage-dispatch server"):
        WriterLock(url).acquire()
    assert isinstance(StoreBusyError("x"), SettingsError)  # the command line prints it in one line
    lock.release()
    WriterLock(url).acquire().release()
