"""Stateful fuzzing of the API (``tests/api/fuzz.py``): a short run on each store breaks no
promise (no 5xx, the engine alive and rolling nothing back, teams and orders consistent, a
restart rebuilding the same state); issue 16's sequence, played out step by step, leaves the
engine working and a restart comes up on it; and the checker itself sees a team out of step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.server_process import caught_up
from grid_model.region import Region
from tests.api.conftest import issue_tokens, make_settings
from tests.api.fuzz import (
    FuzzGrid,
    FuzzTally,
    FuzzWorld,
    postgres_stores,
    run_fuzz,
    sqlite_stores,
    state_problems,
)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_random_legal_requests_break_no_promise(store: str, tmp_path: Path, region: Region,
                                                request: pytest.FixtureRequest) -> None:
    stores = sqlite_stores(tmp_path) if store == "sqlite" else \
        postgres_stores(tmp_path, request.getfixturevalue("postgres_server"))
    world = FuzzWorld(FuzzGrid.of(region), stores, FuzzTally(strict=True))
    run_fuzz(world, seed_=16, runs=5, steps=60)
    tally = world.tally
    assert tally.operations >= 250 and tally.restarts >= 1
    done = {kind.split()[0] for kind in tally.answers if kind.endswith((" 200", " 201", " 202"))}
    assert {"call", "on_site", "first_response", "repaired", "helper_reassigned"} <= done, tally.answers


def _orders(client: TestClient, h: dict[str, str]) -> list[dict[str, Any]]:
    caught_up(client, h)
    orders: list[dict[str, Any]] = client.get("/v1/work-orders?limit=10000", headers=h).json()
    return orders


def _problems(client: TestClient, h: dict[str, str]) -> list[str]:
    orders = _orders(client, h)
    crews = client.get("/v1/crews", headers=h).json()
    return state_problems(orders, crews, client.get("/v1/callbacks?due=false", headers=h).json())


def test_a_helper_sent_to_another_order_leaves_the_engine_working(tmp_path: Path, database_url: str,
                                                                  region: Region) -> None:
    """Issue 16: a team sent to a feeder breaker, another order, one of the team's helpers
    sent to it, a re-plan; then new work is still taken in, and a restart comes up."""
    settings = make_settings(tmp_path, database_url)
    h = {"Authorization": f"Bearer {issue_tokens(settings)['dispatcher']}"}
    grid = FuzzGrid.of(region)
    breaker, elsewhere = grid.team_breakers
    other = next(d for d in grid.devices if d != elsewhere and grid.feeder_of[d] == grid.feeder_of[elsewhere]
                 and grid.skill(grid.node_of[d]) == "mv")  # an overhead line's fuse, like FU-F0706-J030
    with TestClient(create_app(settings, region=region)) as client:
        assert client.post("/v1/device-reports", json={"device_id": breaker}, headers=h).status_code == 201
        for _ in range(200):
            jobs = [j for o in _orders(client, h) for j in o["jobs"]]
            team = next((j for j in jobs if j["element_id"] == breaker), None)
            if team is not None and team["helpers"]:
                break
            time.sleep(0.02)
        assert team is not None and team["helpers"], "the breaker's repair got no team"
        assert client.post("/v1/device-reports", json={"device_id": other}, headers=h).status_code == 201
        second = next(o for o in _orders(client, h) if o["element_id"] == other)
        helper = team["helpers"][0]
        version = client.get(f"/v1/work-orders/{second['order_id']}", headers=h).headers["ETag"]
        r = client.post(f"/v1/work-orders/{second['order_id']}/assignment", json={"crew_id": helper},
                        headers={**h, "If-Match": version})
        assert r.status_code == 200, r.text
        first = next(j for o in _orders(client, h) for j in o["jobs"] if j["job_id"] == team["job_id"])
        assert first["crew_id"] == team["crew_id"] and helper not in first["helpers"]
        assert client.post("/v1/plan/replan", headers=h).status_code == 202
        assert _problems(client, h) == []
        assert client.get("/readyz").status_code == 200
        customer = str(region.customers["customer_id"].iloc[7])
        assert client.post("/v1/calls", json={"call_id": "after", "customer_id": customer},
                           headers=h).status_code == 201
        orders = _orders(client, h)
        assert len(orders) == 3 and _problems(client, h) == []
    with TestClient(create_app(settings, region=region)) as client:  # a restart comes up, same orders
        assert client.get("/readyz").status_code == 200
        assert _orders(client, h) == orders


def _order(oid: str, status: str, jobs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"order_id": oid, "status": status, "element_id": "X", "merged_into": "", "arrived_s": None,
            "repaired_s": None, "etr_s": 3600, "jobs": jobs, **kw}


def _job(job_id: str, status: str, lead: str, helpers: list[str], skill: str = "mv") -> dict[str, Any]:
    return {"job_id": job_id, "kind": "repair", "status": status, "element_id": "X", "skill": skill,
            "service_s": 3600, "crew_id": lead, "helpers": helpers}


def _crew(crew_id: str, status: str, order_id: str = "", job_id: str = "") -> dict[str, Any]:
    return {"crew_id": crew_id, "status": status, "order_id": order_id, "job_id": job_id, "skills": ["mv"]}


def test_the_checker_finds_a_team_out_of_step() -> None:
    """What issue 16's bug left (the helper made the first job's lead, the real lead dropped
    from the team but still on the job, the helper on the second job too) is found; the same
    teams in step are not."""
    whole = ([_order("W1", "en_route", [_job("W1-R1", "en_route", "A", ["B"])]),
              _order("W2", "en_route", [_job("W2-R1", "en_route", "C", [])])],
             [_crew("A", "en_route", "W1", "W1-R1"), _crew("B", "en_route", "W1", "W1-R1"),
              _crew("C", "en_route", "W2", "W2-R1")])
    assert state_problems(*whole, []) == []
    broken = ([_order("W1", "en_route", [_job("W1-R1", "en_route", "B", [])]),
               _order("W2", "en_route", [_job("W2-R1", "en_route", "B", [])])],
              [_crew("A", "en_route", "W1", "W1-R1"), _crew("B", "en_route", "W2", "W2-R1"),
               _crew("C", "idle")])
    problems = state_problems(*broken, [])
    assert any("crew A: on W1-R1" in p for p in problems)
    assert any("crew B is on the teams of W1-R1 and W2-R1" in p for p in problems)
    waiting = ([_order("W1", "new", [_job("W1-R1", "new", "A", [])])],
               [_crew("A", "en_route", "W1", "W1-R1")])
    assert any("job W1-R1: new with team ['A']" in p for p in state_problems(*waiting, []))
