"""Racing requests against a real server on loopback: two dispatchers sending different crews
to one order with the same If-Match (exactly one wins, the other gets 409), many retries of one
call with one Idempotency-Key (exactly one call stored), and calls with a NUL among valid ones
(refused alone, the others stored)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2

from api.server_process import at_once
from grid_model.region import Region


def _race(n: int, request: Callable[[httpx2.Client, int], httpx2.Response], base: str,
          headers: dict[str, str]) -> list[httpx2.Response]:
    """``n`` clients, each connected first, send ``request`` at the same moment."""
    clients = [httpx2.Client(base_url=base, headers=headers, timeout=60) for _ in range(n)]
    for c in clients:
        c.get("/healthz")
    try:
        return at_once(clients, request)
    finally:
        for c in clients:
            c.close()


def _order_with_crew(client: httpx2.Client, region: Region, k: int) -> dict[str, Any]:
    customer = str(region.customers["customer_id"].iloc[k])
    assert client.post("/v1/calls", json={"call_id": f"R{k}", "customer_id": customer}).status_code == 201
    for _ in range(300):
        orders = [o for o in client.get("/v1/work-orders?open_only=true").json() if o["incident_id"]]
        mine = [o for o in orders if o["crew_id"] and o["status"] == "en_route"]
        if mine:
            return mine[-1]  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("no crew was sent")


def test_racing_assignments_with_one_if_match_have_exactly_one_winner(
        http_server: tuple[str, dict[str, str]], region: Region) -> None:
    base, tokens = http_server
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    with httpx2.Client(base_url=base, headers=h, timeout=60) as client:
        order = _order_with_crew(client, region, 7)
        oid = order["order_id"]
        for _trial in range(5):
            current = client.get(f"/v1/work-orders/{oid}").json()
            idle = [c["crew_id"] for c in client.get("/v1/crews?status=idle").json()
                    if current["skill"] in c["skills"] and c["crew_id"] != current["crew_id"]]
            crews, version = idle[:2], current["version"]

            def send(http: httpx2.Client, k: int, crews: list[str] = crews,
                     version: str = version) -> httpx2.Response:
                return http.post(f"/v1/work-orders/{oid}/assignment", json={"crew_id": crews[k]},
                                 headers={"If-Match": f'"{version}"'})

            answers = _race(2, send, base, h)
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 409], [a.text for a in answers]
            winner = next(crews[k] for k, a in enumerate(answers) if a.status_code == 200)
            loser = next(a for a in answers if a.status_code == 409)
            assert loser.json()["fields"][0]["field"] == "If-Match"
            assert client.get(f"/v1/work-orders/{oid}").json()["crew_id"] == winner


def test_one_idempotency_key_stores_one_call_however_many_race(
        http_server: tuple[str, dict[str, str]], region: Region) -> None:
    base, tokens = http_server
    h = {"Authorization": f"Bearer {tokens['call_taker']}"}
    customer = str(region.customers["customer_id"].iloc[21])
    def send(http: httpx2.Client, k: int) -> httpx2.Response:
        return http.post("/v1/calls", json={"call_id": f"I{k}", "customer_id": customer},
                         headers={"Idempotency-Key": "retry-7"})

    answers = _race(16, send, base, h)
    assert sorted(a.status_code for a in answers) == [200] * 15 + [201]
    assert len({a.json()["call_id"] for a in answers}) == 1
    with httpx2.Client(base_url=base, headers=h) as client:
        assert client.get("/v1/status").json()["store"]["calls"] == 1


def test_a_nul_in_one_call_fails_only_that_call(http_server: tuple[str, dict[str, str]],
                                                region: Region) -> None:
    base, tokens = http_server
    h = {"Authorization": f"Bearer {tokens['call_taker']}"}
    customers = region.customers["customer_id"]

    def send(http: httpx2.Client, k: int) -> httpx2.Response:
        if k == 5:
            return http.post("/v1/calls", json={"call_id": "N5", "address": "No. 44\x00 Ningyuan Lu"})
        return http.post("/v1/calls", json={"call_id": f"N{k}", "customer_id": str(customers.iloc[40 * k])})

    answers = _race(16, send, base, h)
    assert answers[5].status_code == 422 and answers[5].json()["fields"][0]["field"] == "address"
    assert all(a.status_code == 201 for k, a in enumerate(answers) if k != 5)
