"""Crash safety: a real server on loopback takes calls from several clients, is killed with
SIGKILL mid-burst and restarted; every acknowledged call is there exactly once and the engine,
rebuilt from the store, has taken in exactly the stored calls."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx2

from api.server_process import caught_up, free_port, kill_mid_burst, server_env, start_server, token_from_cli
from dispatch.notices import NoticeKind
from grid_model.generate import RegionParams
from grid_model.region import load_region
from tests.api.receiver import receiver

SECRET = "crash-test-secret-0123456789"


def test_kill_9_mid_burst_loses_no_acknowledged_call(tmp_path: Path) -> None:
    customers = load_region(RegionParams(scale=0.1)).customers["customer_id"].tolist()
    data_dir = tmp_path / "data"
    env = server_env(SECRET)
    headers = {"Authorization": f"Bearer {token_from_cli(data_dir, env, 'dispatcher')}"}
    port = free_port()
    proc = start_server(data_dir, port, env, "--scale", "0.1")
    acknowledged = kill_mid_burst(proc, port, headers, customers)
    assert len(acknowledged) >= 150

    proc = start_server(data_dir, port, env, "--scale", "0.1")
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            status = caught_up(http)
            for call_id in acknowledged:
                assert http.get(f"/v1/calls/{call_id}").status_code == 200, call_id
            stored = status["store"]["calls"]
            assert stored >= len(acknowledged)  # a call may be stored and its answer lost in the kill
            assert status["engine"]["calls"] == stored and status["engine"]["refused"] == 0
            again = http.post("/v1/calls", json={"call_id": acknowledged[0], "customer_id": customers[0]})
            assert again.status_code == 200
            assert http.get("/v1/status").json()["store"]["calls"] == stored
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    db = sqlite3.connect(data_dir / "outage-dispatch.db")
    total, distinct = db.execute("SELECT count(*), count(DISTINCT call_id) FROM calls").fetchone()
    assert total == distinct == stored


def test_kill_9_mid_burst_loses_no_customer_notice(tmp_path: Path) -> None:
    """A receiver subscribed to every notice; the server is killed mid-burst and restarted: every
    notice in the outbox reaches the receiver (a second time only with the same id and body),
    and every caller owed a callback has been acknowledged."""
    customers = load_region(RegionParams(scale=0.1)).customers["customer_id"].tolist()
    data_dir = tmp_path / "data"
    env = server_env(SECRET)
    headers = {"Authorization": f"Bearer {token_from_cli(data_dir, env, 'dispatcher')}"}
    port = free_port()
    with receiver() as rec:
        proc = start_server(data_dir, port, env, "--scale", "0.1", "--allow-private-webhooks")
        hook = {"url": rec.url, "kinds": [k.value for k in NoticeKind], "secret": "hook-secret-0123456789"}
        r = httpx2.post(f"http://127.0.0.1:{port}/v1/subscriptions", json=hook, headers=headers)
        assert r.status_code == 201
        kill_mid_burst(proc, port, headers, customers)
        proc = start_server(data_dir, port, env, "--scale", "0.1", "--allow-private-webhooks")
        try:
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
                caught_up(http)
                owed = {cb["customer_id"] for cb in http.get("/v1/callbacks?due=false&limit=10000").json()}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    (sub,) = http.get("/v1/subscriptions").json()
                    acked = {b["customer_ids"][0] for b in rec.taken().values()
                             if b["kind"] == "acknowledged"}
                    if sub["deliveries"]["pending"] == 0 and owed <= acked:
                        break
                    time.sleep(0.1)
                assert owed and owed <= acked and sub["deliveries"]["failed"] == 0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    db = sqlite3.connect(data_dir / "outage-dispatch.db")
    stored = {nid for (nid,) in db.execute("SELECT notice_id FROM notices")}
    assert stored == set(rec.taken())
    bodies: dict[str, bytes] = {}
    for got in rec.got:
        assert bodies.setdefault(got.body["id"], got.raw) == got.raw
