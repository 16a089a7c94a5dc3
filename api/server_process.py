"""The server as a separate process on loopback, for tests and benchmarks that need a real
one (a crash test kills it; a load test keeps its CPU apart from the load generator's), and
what they do to it: bursts of calls ended by SIGKILL, requests sent all at once, waiting until
the engine has caught up with the log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(secret: str, database_url: str | None = None) -> dict[str, str]:
    """This process's environment with the server's secret, and its database if not SQLite."""
    env = {**os.environ, "OUTAGE_DISPATCH_SECRET": secret}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def token_from_cli(data_dir: Path, env: dict[str, str], role: str) -> str:
    """A token for ``role`` made by `outage-dispatch token create`, as an operator would."""
    out = subprocess.run([sys.executable, "-m", "api.cli", "token", "create", "--role", role, "--data-dir",
                          str(data_dir)], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def start_server(data_dir: Path, port: int, env: dict[str, str], *extra: str,
                 timeout_s: float = 120.0) -> subprocess.Popen[bytes]:
    """``outage-dispatch serve`` on 127.0.0.1:``port``, returned once ``/readyz`` answers 200;
    its output goes to ``data_dir/server.log``. Raises ``RuntimeError`` with the log's end if it
    exits or is not ready in time."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--data-dir", str(data_dir), *extra], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server not ready in {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def kill_mid_burst(proc: subprocess.Popen[bytes], port: int, headers: dict[str, str], customers: list[str], *,
                   clients: int = 4, after: int = 150, prefix: str = "c") -> list[str]:
    """``clients`` threads file calls as fast as the server answers; once ``after`` are
    acknowledged the server is killed with SIGKILL. Returns the ids of the acknowledged calls."""
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as http:
            n = 0
            while not stop.is_set():
                call_id = f"{prefix}{k}-{n}"
                customer = customers[(k * 7919 + n * 31) % len(customers)]
                try:
                    r = http.post("/v1/calls", json={"call_id": call_id, "customer_id": customer})
                except httpx2.HTTPError:
                    return
                if r.status_code in (200, 201, 202):
                    with lock:
                        acknowledged.append(call_id)
                n += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    while len(acknowledged) < after and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for th in threads:
        th.join()
    return acknowledged


def at_once(clients: list[httpx2.Client],
            request: Callable[[httpx2.Client, int], httpx2.Response]) -> list[Any]:
    """Every client (each on its own connection) sends ``request`` at the same moment, from its
    own thread; their answers, in order."""
    barrier = threading.Barrier(len(clients))
    answers: list[Any] = [None] * len(clients)

    def go(k: int) -> None:
        barrier.wait()
        answers[k] = request(clients[k], k)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(len(clients))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return answers


def caught_up(http: httpx2.Client, headers: dict[str, str] | None = None,
              timeout_s: float = 60.0) -> dict[str, Any]:
    """``/v1/status`` once the engine has applied every logged event and decided on them (a
    ``TestClient`` is an httpx2 client too); ``RuntimeError`` if it has not in ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = http.get("/v1/status", headers=headers).json()
        if status["engine"]["applied_seq"] == status["store"]["last_seq"] and status["engine"]["settled"]:
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"the engine did not catch up in {timeout_s:.0f} s: {status}")
        time.sleep(0.02)
