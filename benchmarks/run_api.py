"""API load benchmark: call intake under a storm's load, on SQLite and on PostgreSQL.

    python -m benchmarks.run_api              # results/api-load.json (about 4 min)

The server runs as its own process on loopback (``outage-dispatch serve``, the default region,
the optimizer policy). A load generator in another process offers calls at a fixed rate (open
loop: a slow answer does not slow the offered load) from 64 connections for 60 s, each call for
a random customer, while a dispatcher client asks for a re-plan every 5 s, so the engine keeps
re-planning under the load. Reported: acknowledged calls per second, latency percentiles from
the moment each call was due, and afterwards the plan endpoint's latency. Then the same against
PostgreSQL (fsync on). Last, the plan endpoint with over 10,000 open orders: the server on the
grid built around PG&E's storm history, every event's device reported open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from api.server_process import free_port, server_env, start_server, token_from_cli

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "benchmark-secret-0123456789abcdef"


def _serve(data_dir: Path, port: int, database_url: str | None,
           grid: str = "default") -> subprocess.Popen[bytes]:
    return start_server(data_dir, port, server_env(SECRET, database_url), "--grid", grid)


def _token(data_dir: Path, database_url: str | None, role: str) -> str:
    return token_from_cli(data_dir, server_env(SECRET, database_url), role)


class _Connection:
    """One keep-alive HTTP/1.1 connection writing requests and reading their answers: a load
    generator lighter than a full client, so that on a 2-core machine the server, not the
    generator, is what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> None:
        self.reader, self.writer, self.token = reader, writer, token

    async def post(self, path: str, body: dict[str, Any]) -> int:
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {self.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])


async def _offer(port: int, token: str, dispatcher: str, customers: list[str], rate: float, seconds: float,
                 connections: int) -> dict[str, Any]:
    """Offer ``rate`` calls/s for ``seconds`` (open loop); latency counts from each call's due time."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    errors = 0
    rng = random.Random(7)
    total = int(rate * seconds)
    next_k = 0
    start = time.perf_counter() + 0.5

    async def worker() -> None:
        nonlocal next_k, errors
        conn = _Connection(*await asyncio.open_connection("127.0.0.1", port), token)
        while next_k < total:
            k = next_k
            next_k += 1
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                call = {"call_id": f"L{k:07d}", "customer_id": rng.choice(customers)}
                code = await conn.post("/v1/calls", call)
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                conn = _Connection(*await asyncio.open_connection("127.0.0.1", port), token)
                continue
            codes[code] = codes.get(code, 0) + 1
            if code in (200, 201, 202):
                latencies.append(time.perf_counter() - due)
        conn.writer.close()

    async def replans() -> int:
        n = 0
        while time.perf_counter() < start + seconds:
            await asyncio.sleep(5)
            conn = _Connection(*await asyncio.open_connection("127.0.0.1", port), dispatcher)
            await conn.post("/v1/plan/replan", {})
            conn.writer.close()
            n += 1
        return n

    replanner = asyncio.create_task(replans())
    await asyncio.gather(*[worker() for _ in range(connections)])
    elapsed = time.perf_counter() - start
    n_replans = await replanner
    lat = np.array(latencies) * 1000
    return {"offered_per_s": rate, "seconds": seconds, "offered": total, "acknowledged": len(latencies),
            "acknowledged_per_s": round(len(latencies) / elapsed, 1), "status_codes": codes, "errors": errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(lat.max()), 1),
            "replans_requested": n_replans}


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _plan_latency(port: int, token: str) -> dict[str, Any]:
    import httpx2

    h = {"Authorization": f"Bearer {token}"}
    with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=h, timeout=120) as client:
        for _ in range(1200):  # let the engine apply the whole burst
            status = client.get("/v1/status").json()
            if status["engine"]["applied_seq"] >= status["store"]["last_seq"] - 5:
                break
            time.sleep(0.5)
        kpis = client.get("/v1/kpis").json()
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            plan = client.get("/v1/plan")
            times.append(time.perf_counter() - t0)
            plan.raise_for_status()
        planned = sum(len(route) for route in plan.json()["routes"].values())
        t0 = time.perf_counter()
        client.get("/v1/work-orders", params={"open_only": "true", "limit": 10000}).raise_for_status()
        orders_s = time.perf_counter() - t0
    ms = np.array(times) * 1000
    return {"open_orders": kpis["work_orders_open"], "planned_jobs": planned, "plan_bytes": len(plan.content),
            "engine_caught_up": status["engine"],
            "plan_p50_ms": round(float(np.percentile(ms, 50)), 1), "plan_max_ms": round(float(ms.max()), 1),
            "open_orders_list_ms": round(orders_s * 1000, 1)}


def plan_at_10k(database_url: str | None) -> dict[str, Any]:
    """The plan endpoint with every event of PG&E's storm open at once: the server runs on the
    grid built around the history (one element per event), every event's device is reported
    open, nobody repairs anything."""
    import httpx2

    pge = Path(__file__).resolve().parents[1] / "data" / "pge-2024-02-storm.csv"
    events = pge.read_text(encoding="utf-8").splitlines()[1:]
    devices = sorted({line.split(",", 1)[0] for line in events})
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        dispatcher = _token(data_dir, database_url, "dispatcher")
        port = free_port()
        proc = _serve(data_dir, port, database_url, grid=f"history:{pge}")
        try:
            t0 = time.perf_counter()
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}",
                               headers={"Authorization": f"Bearer {dispatcher}"}, timeout=60) as client:
                for device in devices:
                    client.post("/v1/device-reports", json={"device_id": device}).raise_for_status()
            report_s = time.perf_counter() - t0
            result = _plan_latency(port, dispatcher)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    return {"store": "postgresql" if database_url else "sqlite", "device_reports": len(devices),
            "reports_seconds": round(report_s, 1), **result}


def run_store(database_url: str | None, *, rate: float, seconds: float) -> dict[str, Any]:
    from grid_model.region import load_region

    customers = load_region().customers["customer_id"].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        token = _token(data_dir, database_url, "call_taker")
        dispatcher = _token(data_dir, database_url, "dispatcher")
        port = free_port()
        proc = _serve(data_dir, port, database_url)
        try:
            load = _run_loop(_offer(port, token, dispatcher, customers, rate, seconds, 64))
            plan = _plan_latency(port, dispatcher)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return {"store": "postgresql" if database_url else "sqlite", **load, "plan_endpoint": plan,
            "met": load["acknowledged_per_s"] >= 500 and load["p99_ms"] < 200}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=RESULTS / "api-load.json")
    args = ap.parse_args(argv)
    from api.pg_local import local_postgres

    runs = [run_store(None, rate=args.rate, seconds=args.seconds)]
    with local_postgres(fsync=True) as url:
        runs.append(run_store(url, rate=args.rate, seconds=args.seconds))
    plan = plan_at_10k(None)
    meta = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count()}
    args.out.write_text(json.dumps({"suite": "api-load", "meta": meta,
                                    "results": {"intake": runs, "plan_10k": plan}}, indent=1))
    print(json.dumps({"intake": runs, "plan_10k": plan}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
