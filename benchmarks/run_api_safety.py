"""API correctness under races and crashes (not timed): racing If-Match, racing
Idempotency-Key, and SIGKILL in the middle of a burst, on SQLite and on PostgreSQL.

    python -m benchmarks.run_api_safety          # results/api-safety.json (about 5 min)

The server runs as its own process on loopback (``outage-dispatch serve``, the default region
at scale 0.1). if-match: in each trial two dispatchers, each on its own connection, send
different idle crews to one order with the same If-Match at the same moment; exactly one may
win (200), the other must get 409, and the order must hold the winner's crew. idempotency: in
each trial 16 clients send one call each (different call ids) with one Idempotency-Key at the
same moment; exactly one call may be stored, and every answer must name it. kill-9: four
clients file calls as fast as the server answers, the server is killed with SIGKILL after at
least 150 acknowledged calls and restarted; every acknowledged call must be readable, stored
once, and taken in by the rebuilt engine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from api.server_process import (
    at_once,
    caught_up,
    free_port,
    kill_mid_burst,
    server_env,
    start_server,
    token_from_cli,
)

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "benchmark-secret-0123456789abcdef"
SCALE = ("--scale", "0.1")


def _customers() -> list[str]:
    from grid_model.generate import RegionParams
    from grid_model.region import load_region

    return [str(c) for c in load_region(RegionParams(scale=0.1)).customers["customer_id"]]


def _wait_for_crew(client: httpx2.Client, call_id: str, customer: str) -> dict[str, Any]:
    client.post("/v1/calls", json={"call_id": call_id, "customer_id": customer}).raise_for_status()
    for _ in range(1000):
        orders = [o for o in client.get("/v1/work-orders?open_only=true").json() if o["status"] == "en_route"]
        if orders:
            return orders[0]  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise RuntimeError("no crew was sent")


def if_match(base: str, token: str, customers: list[str], trials: int) -> dict[str, Any]:
    h = {"Authorization": f"Bearer {token}"}
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    with httpx2.Client(base_url=base, headers=h, timeout=60) as client:
        oid = _wait_for_crew(client, "IM-0", customers[7])["order_id"]
        racers = [httpx2.Client(base_url=base, headers=h, timeout=60) for _ in range(2)]
        for trial in range(trials):
            order = client.get(f"/v1/work-orders/{oid}").json()
            idle = [c["crew_id"] for c in client.get("/v1/crews?status=idle").json()
                    if order["skill"] in c["skills"] and c["crew_id"] != order["crew_id"]][:2]
            for c in racers:
                c.get("/healthz")
            answers = at_once(racers, lambda http, k, idle=idle, version=order["version"]: http.post(
                f"/v1/work-orders/{oid}/assignment", json={"crew_id": idle[k]},
                headers={"If-Match": version}))
            codes = tuple(sorted(a.status_code for a in answers))
            outcomes[str(codes)] = outcomes.get(str(codes), 0) + 1
            holder = client.get(f"/v1/work-orders/{oid}").json()["crew_id"]
            winners = [idle[k] for k, a in enumerate(answers) if a.status_code == 200]
            if codes != (200, 409) or winners != [holder]:
                failures.append(f"trial {trial}: {codes}, order holds {holder}, winners {winners}")
        for c in racers:
            c.close()
    return {"trials": trials, "exactly_one_winner": trials - len(failures), "outcomes": outcomes,
            "failures": failures[:10]}


def idempotency(base: str, token: str, customers: list[str], trials: int,
                senders: int = 16) -> dict[str, Any]:
    h = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    racers = [httpx2.Client(base_url=base, headers=h, timeout=60) for _ in range(senders)]
    with httpx2.Client(base_url=base, headers=h, timeout=60) as client:
        for trial in range(trials):
            for c in racers:
                c.get("/healthz")
            answers = at_once(racers, lambda http, k, trial=trial: http.post(
                "/v1/calls", headers={"Idempotency-Key": f"key-{trial}"},
                json={"call_id": f"K{trial}-{k}", "customer_id": customers[(97 * trial + k) % 3000]}))
            named = {a.json().get("call_id") for a in answers}
            stored = [k for k in range(senders) if client.get(f"/v1/calls/K{trial}-{k}").status_code == 200]
            created = sum(a.status_code in (201, 202) for a in answers)
            if len(stored) != 1 or created != 1 or named != {f"K{trial}-{stored[0]}"}:
                failures.append(f"trial {trial}: stored {len(stored)}, created {created}, "
                                f"answers named {named}")
    for c in racers:
        c.close()
    return {"trials": trials, "senders": senders, "exactly_one_stored": trials - len(failures),
            "failures": failures[:10]}


def kill_9(database_url: str | None, customers: list[str], rounds: int) -> dict[str, Any]:
    env = server_env(SECRET, database_url)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        h = {"Authorization": f"Bearer {token_from_cli(data_dir, env, 'dispatcher')}"}
        port = free_port()
        for r in range(rounds):
            proc = start_server(data_dir, port, env, *SCALE)
            acknowledged = kill_mid_burst(proc, port, h, customers, after=300, prefix=f"r{r}-")
            proc = start_server(data_dir, port, env, *SCALE)
            try:
                with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=h, timeout=30) as http:
                    status = caught_up(http)
                    lost = [c for c in acknowledged if http.get(f"/v1/calls/{c}").status_code != 200]
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            runs.append({"acknowledged": len(acknowledged), "lost": len(lost),
                         "stored_calls": status["store"]["calls"], "engine_calls": status["engine"]["calls"],
                         "engine_refused": status["engine"]["refused"]})
    return {"store": "postgresql" if database_url else "sqlite", "rounds": runs,
            "acknowledged": sum(r["acknowledged"] for r in runs), "lost": sum(r["lost"] for r in runs),
            "engine_took_every_stored_call": all(r["stored_calls"] == r["engine_calls"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--kills", type=int, default=3, help="SIGKILL rounds per store")
    ap.add_argument("--out", type=Path, default=RESULTS / "api-safety.json")
    args = ap.parse_args(argv)
    from api.pg_local import local_postgres

    customers = _customers()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = server_env(SECRET)
        dispatcher = token_from_cli(data_dir, env, "dispatcher")
        port = free_port()
        proc = start_server(data_dir, port, env, *SCALE)
        try:
            base = f"http://127.0.0.1:{port}"
            races = {"if_match": if_match(base, dispatcher, customers, args.trials),
                     "idempotency": idempotency(base, dispatcher, customers, args.trials)}
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    kills = [kill_9(None, customers, args.kills)]
    with local_postgres() as url:
        kills.append(kill_9(url, customers, args.kills))
    met = (races["if_match"]["exactly_one_winner"] == args.trials
           and races["idempotency"]["exactly_one_stored"] == args.trials
           and all(k["lost"] == 0 for k in kills))
    result = {**races, "kill_9": kills, "met": met}
    meta = {"machine": platform.machine(), "python": platform.python_version()}
    args.out.write_text(json.dumps({"suite": "api-safety", "meta": meta, "results": result}, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
