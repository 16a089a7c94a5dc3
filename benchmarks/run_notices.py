"""Customer-notice benchmark: every caller told, nothing lost, and how fast.

    python -m benchmarks.run_notices            # results/notices.json (about 10 min)

A webhook receiver on loopback (its own thread, asyncio) is subscribed to every notice kind
before the server starts, and checks each delivery's signature.

- **storm**: the default typhoon (the region and storm of ``make demo``, seed 1) played into the
  live service by the simulated field of ``serve --demo`` (every call, crew report and callback
  outcome goes through the event log, the engine thread, the outbox and the webhooks; not
  through HTTP, which ``load`` measures), on a storm clock the benchmark moves a minute at a
  time once the engine has caught up (a wall clock sped up would outrun the engine on 2 cores
  and charge the storm for it), until every order is closed, every callback made and every
  delivery answered. Reported: callers owed a callback, and how many heard an acknowledgement
  and a restoration or customer-side advice; ETR changes per caller; notices in the outbox
  never received (lost), received twice (only ever with the same id and body), bad signatures.
- **load**: ``serve`` on the default region takes 500 calls/s over HTTP (open loop, 64
  connections, every call a different customer, for 30 s). Each call's acknowledgement is
  timed from the moment its call was due to its arrival at the receiver (p50/p95/p99); target
  p95 under 1 s. Then the same checks: lost, duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import numpy as np

from api.live import LiveDispatch
from api.outbox import Outbox
from api.server_process import free_port, server_env, start_server, token_from_cli
from api.settings import Settings
from api.store import Store
from dispatch.notices import NoticeKind

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "benchmark-secret-0123456789abcdef"
HOOK_SECRET = "benchmark-hook-secret-0123456789"
STORM_OVER_S = 3 * 86_400  # the typhoon's calls come within its first 3 days


@dataclass
class Receiver:
    """Records every delivery: arrival time, id, body digest; counts bad signatures."""

    port: int = 0
    arrivals: list[tuple[float, dict[str, Any], str]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._serve(ready)), daemon=True).start()
        ready.wait(10)

    async def _serve(self, ready: threading.Event) -> None:
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower().decode()] = value.strip().decode()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                now = time.time()
                expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
                with self.lock:
                    if not hmac.compare_digest(expected, headers.get("x-signature", "")):
                        self.bad_signatures += 1
                    self.arrivals.append((now, json.loads(raw), hashlib.sha256(raw).hexdigest()))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def received(self) -> tuple[dict[str, dict[str, Any]], int, int]:
        """Bodies by id; duplicate deliveries; duplicates whose body differs (must be 0)."""
        with self.lock:
            arrivals = list(self.arrivals)
        digest: dict[str, str] = {}
        bodies: dict[str, dict[str, Any]] = {}
        duplicates = differing = 0
        for _, body, d in arrivals:
            if body["id"] in digest:
                duplicates += 1
                differing += digest[body["id"]] != d
            digest[body["id"]] = d
            bodies[body["id"]] = body
        return bodies, duplicates, differing


def _subscribe(data_dir: Path, url: str) -> None:
    """Register the receiver in the store before the server starts (no notice is missed)."""
    store = Store(Settings.from_env(data_dir).database_url)
    store.migrate()
    Outbox(store).subscribe(url, [k.value for k in NoticeKind], HOOK_SECRET)
    store.dispose()


def _outbox_ids(data_dir: Path) -> set[str]:
    db = sqlite3.connect(data_dir / "outage-dispatch.db")
    try:
        return {nid for (nid,) in db.execute("SELECT notice_id FROM notices")}
    finally:
        db.close()


def _wait_delivered(http: httpx2.Client, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        (sub,) = http.get("/v1/subscriptions").json()
        if sub["deliveries"]["pending"] == 0 or time.monotonic() > deadline:
            return dict(sub["deliveries"])
        time.sleep(0.5)


def _checks(rec: Receiver, outbox: set[str], deliveries: dict[str, int]) -> dict[str, Any]:
    bodies, duplicates, differing = rec.received()
    return {"notices": len(outbox), "received": len(bodies), "lost": len(outbox - set(bodies)),
            "unknown_received": len(set(bodies) - outbox), "duplicate_deliveries": duplicates,
            "duplicates_with_a_different_body": differing, "bad_signatures": rec.bad_signatures,
            "deliveries": deliveries,
            "by_kind": {k.value: sum(b["kind"] == k.value for b in bodies.values()) for k in NoticeKind}}


class _StormClock:
    """The storm clock the benchmark moves by hand."""

    def __init__(self, t_s: int) -> None:
        self.t_s = t_s

    def __call__(self) -> int:
        return self.t_s


def _caught_up(live: LiveDispatch) -> None:
    """Wait until the engine has applied every event handed in (and the decisions they lead to)."""
    for _ in range(2):  # the engine logs a settle when it runs out of work: wait for that one too
        time.sleep(0.002)
        while not live.idle():
            time.sleep(0.001)


def run_storm(step_s: int, timeout_s: float) -> dict[str, Any]:
    """The default typhoon through the live service on a storm clock moved by hand (see the
    module docstring)."""
    from api.demo_storm import StormDriver, demo_clock, demo_storm
    from grid_model.region import load_region

    region = load_region()
    storm = demo_storm(region)
    rec = Receiver()
    rec.start()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings.from_env(data_dir, dev_mode=True, tick_s=3600.0, webhook_allow_private=True)
        _subscribe(data_dir, f"http://127.0.0.1:{rec.port}/hook")
        store = Store(settings.database_url)
        clock = _StormClock(demo_clock(storm, 1.0).start_s)
        live = LiveDispatch(settings, store, region, clock=clock)
        live.start()
        driver = StormDriver(live, storm)
        t0 = time.perf_counter()
        engine = live.engine
        while time.perf_counter() - t0 < timeout_s:
            live.shift_changes()
            driver.step(clock.t_s)
            _caught_up(live)
            driver.step(clock.t_s)  # the decisions of this instant reach the field now
            if not driver.field.busy and not engine.has_open_work() and \
                    engine.callbacks.done == len(engine.callbacks.callbacks):
                break
            clock.t_s += step_s
        wall_s = time.perf_counter() - t0
        deadline = time.monotonic() + 300
        while live.notifier.outbox.counts()["pending"] and time.monotonic() < deadline:
            time.sleep(0.5)
        deliveries = live.notifier.outbox.counts()
        callers = {cb.customer_id for cb in engine.callbacks.callbacks.values()}
        owed, unlocated = len(engine.callbacks.callbacks), len(engine.unlocated)
        orders, still_open = len(engine.orders), len(engine.open_orders())
        live.stop()
        store.dispose()
        outbox = _outbox_ids(data_dir)
    bodies, _, _ = rec.received()
    heard: dict[str, set[str]] = {}
    for b in bodies.values():
        for c in b.get("customer_ids", ()):
            heard.setdefault(c, set()).add(b["kind"])
    acked = {c for c in callers if "acknowledged" in heard.get(c, ())}
    ended = {c for c in callers if heard.get(c, set()) & {"restored", "customer_side"}}
    settled = sum(1 for b in bodies.values() if b["kind"] == "customer_side" and b["order_id"] is None)
    changes = Counter(c for b in bodies.values() if b["kind"] == "etr_changed"
                      for c in b.get("customer_ids", ()))
    per_caller = np.percentile([changes.get(c, 0) for c in callers], [50, 90, 100]).tolist()
    return {"step_s": step_s, "wall_s": round(wall_s, 1), "storm_clock_h": round(clock.t_s / 3600, 1),
            "calls_unlocated": unlocated, "work_orders": orders, "work_orders_open": still_open,
            "callbacks_owed": owed, "callers": len(callers), "callers_acknowledged": len(acked),
            "callers_told_restored_or_advised": len(ended), "calls_settled_on_the_phone_advised": settled,
            "etr_changes_per_caller_p50_p90_max": per_caller,
            **_checks(rec, outbox, deliveries),
            "met": len(acked) == len(ended) == len(callers) and outbox <= set(bodies)}


async def _offer(port: int, token: str, customers: list[str], rate: float, seconds: float,
                 connections: int) -> dict[str, float]:
    """Offer ``rate`` calls/s (open loop), each for a different customer; each customer's due time."""
    total = int(rate * seconds)
    due_at: dict[str, float] = {}
    next_k = 0
    start = time.time() + 0.5

    async def worker() -> None:
        nonlocal next_k
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while next_k < total:
            k = next_k
            next_k += 1
            due = start + k / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            data = json.dumps({"call_id": f"N{k:07d}", "customer_id": customers[k]}).encode()
            due_at[customers[k]] = due
            head = (f"POST /v1/calls HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
            writer.write(head.encode() + data)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in answer.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*[worker() for _ in range(connections)])
    return due_at


def run_load(rate: float, seconds: float) -> dict[str, Any]:
    """500 calls/s over HTTP; each acknowledgement timed from its call's due time."""
    from grid_model.region import load_region

    customers = load_region().customers["customer_id"].astype(str).tolist()
    random.Random(7).shuffle(customers)
    rec = Receiver()
    rec.start()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = server_env(SECRET)
        token = token_from_cli(data_dir, env, "call_taker")
        dispatcher = token_from_cli(data_dir, env, "dispatcher")
        _subscribe(data_dir, f"http://127.0.0.1:{rec.port}/hook")
        port = free_port()
        proc = start_server(data_dir, port, env, "--allow-private-webhooks")
        try:
            due_at = asyncio.run(_offer(port, token, customers, rate, seconds, 64))
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}",
                               headers={"Authorization": f"Bearer {dispatcher}"}, timeout=60) as http:
                deliveries = _wait_delivered(http, 300)
                owed = http.get("/v1/kpis").json()["callbacks_owed"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        outbox = _outbox_ids(data_dir)
    with rec.lock:
        first = {}
        for t, body, _ in rec.arrivals:
            if body["kind"] == "acknowledged":
                first.setdefault(body["customer_ids"][0], t)
    lat = np.array([first[c] - due for c, due in due_at.items() if c in first])
    return {"offered_per_s": rate, "seconds": seconds, "calls": len(due_at), "callbacks_owed": owed,
            "acknowledged": len(lat), "ack_p50_s": round(float(np.percentile(lat, 50)), 3),
            "ack_p95_s": round(float(np.percentile(lat, 95)), 3),
            "ack_p99_s": round(float(np.percentile(lat, 99)), 3), "ack_max_s": round(float(lat.max()), 3),
            **_checks(rec, outbox, deliveries), "met": float(np.percentile(lat, 95)) < 1.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--step", type=int, default=60,
                    help="storm seconds the clock moves per step of the storm run (default 60)")
    ap.add_argument("--storm-timeout", type=float, default=1800.0)
    ap.add_argument("--suite", choices=["all", "storm", "load"], default="all")
    ap.add_argument("--out", type=Path, default=RESULTS / "notices.json")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {}
    if args.suite in ("all", "load"):
        results["load"] = run_load(args.rate, args.seconds)
        print(json.dumps(results["load"], indent=1), flush=True)
    if args.suite in ("all", "storm"):
        results["storm"] = run_storm(args.step, args.storm_timeout)
        print(json.dumps(results["storm"], indent=1), flush=True)
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=Path(__file__).parent).stdout.strip()}
    args.out.write_text(json.dumps({"suite": "notices", "meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
