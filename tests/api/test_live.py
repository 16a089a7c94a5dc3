"""Atomic event application: an event whose handling (or the decisions it leads to) raises is
rolled back, marked refused in the store and skipped by every rebuild; the engine thread goes
on, and a log written before the mark existed starts fine."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.server_process import caught_up
from api.store import Store
from dispatch.engine import DispatchEngine
from dispatch.events import Decision, DeviceOperated, PlannedOutageAnnounced
from grid_model.region import Region
from tests.api.conftest import issue_tokens, make_settings


def _state(client: TestClient, h: dict[str, str]) -> tuple[list[Any], list[Any], list[Any]]:
    caught_up(client, h)
    orders = [(o["order_id"], o["status"], o["crew_id"], o["version"])
              for o in client.get("/v1/work-orders", headers=h).json()]
    incidents = [(i["incident_id"], i["kind"], i["open"], i["calls"])
                 for i in client.get("/v1/incidents?open_only=false", headers=h).json()]
    crews = [(c["crew_id"], c["status"], c["order_id"]) for c in client.get("/v1/crews", headers=h).json()]
    return orders, incidents, crews


def _devices(region: Region) -> list[str]:
    return [d for d in region.network.device_id if d]


def _poison(monkeypatch: pytest.MonkeyPatch, name: str, bad: Callable[[Any], bool]) -> None:
    """Make the engine's handler ``name`` apply its event and then raise for events ``bad``
    picks: the effects are half made when the error comes."""
    original = getattr(DispatchEngine, name)

    def poisoned(self: DispatchEngine, ev: Any) -> list[Decision]:
        out: list[Decision] = original(self, ev)
        if bad(ev):
            raise RuntimeError(f"poisoned handler for {type(ev).__name__}")
        return out

    monkeypatch.setattr(DispatchEngine, name, poisoned)


def test_an_event_that_raises_is_rolled_back_and_the_engine_goes_on(
        tmp_path: Path, database_url: str, region: Region, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, database_url)
    h = {"Authorization": f"Bearer {issue_tokens(settings)['dispatcher']}"}
    customers = region.customers["customer_id"]
    device = _devices(region)[3]
    _poison(monkeypatch, "_on_planned",
            lambda ev: isinstance(ev, PlannedOutageAnnounced) and ev.outage_id.endswith("POISON"))
    start = datetime.now(UTC) + timedelta(days=8)
    end = start + timedelta(hours=4)
    window = {"device_id": device, "start": start.isoformat(), "end": end.isoformat()}
    with TestClient(create_app(settings, region=region)) as client:
        assert client.post("/v1/calls", json={"call_id": "A1", "customer_id": str(customers.iloc[7])},
                           headers=h).status_code == 201
        r = client.post("/v1/planned-outages", json={"outage_id": "POISON", **window}, headers=h)
        assert r.status_code == 500 and "rolled back" in r.json()["error"]
        assert "poisoned handler" in r.json()["error"]
        assert client.get("/readyz").status_code == 200  # the engine thread goes on
        assert client.post("/v1/planned-outages", json={"outage_id": "PO-OK", **window},
                           headers=h).status_code == 201
        assert client.post("/v1/calls", json={"call_id": "A2", "customer_id": str(customers.iloc[300])},
                           headers=h).status_code == 201
        live = _state(client, h)
        status = client.get("/v1/status", headers=h).json()
    assert "planned:POISON" not in [i[0] for i in live[1]]  # its half-made effect is gone
    assert "planned:PO-OK" in [i[0] for i in live[1]]
    assert len(live[0]) == 2 and status["engine"]["refused"] == 1
    store = Store(settings.database_url)
    refused = store.refused_events()
    store.dispose()
    assert [stages.keys() for stages in refused.values()] == [{"event"}]
    with TestClient(create_app(settings, region=region)) as client:  # a restart comes up, same state
        assert client.get("/readyz").status_code == 200
        assert _state(client, h) == live


def test_a_log_holding_an_unmarked_poison_event_starts(
        tmp_path: Path, region: Region, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    h = {"Authorization": f"Bearer {issue_tokens(settings)['dispatcher']}"}
    all_devices = _devices(region)
    devices = [all_devices[5], all_devices[len(all_devices) // 2], all_devices[-5]]  # far apart
    with TestClient(create_app(settings, region=region)) as client:  # today's code logs them all
        for device in devices:
            assert client.post("/v1/device-reports", json={"device_id": device}, headers=h).status_code == 201
        caught_up(client, h)
    _poison(monkeypatch, "_on_device",
            lambda ev: isinstance(ev, DeviceOperated) and ev.device_id == devices[1])
    with caplog.at_level(logging.ERROR, logger="api.live"), \
            TestClient(create_app(settings, region=region)) as client:
        assert client.get("/readyz").status_code == 200
        first = _state(client, h)
    assert any("refused and rolled back" in r.getMessage() and "poisoned handler" in r.getMessage()
               for r in caplog.records)
    assert first[0] and len(first[1]) == 2  # the two good reports are taken in, the poisoned one is not
    with TestClient(create_app(settings, region=region)) as client:  # marked: skipped without a word
        assert _state(client, h) == first


def test_decisions_that_raise_are_rolled_back_without_a_settle_loop(
        tmp_path: Path, region: Region, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    h = {"Authorization": f"Bearer {issue_tokens(settings)['dispatcher']}"}
    customers = region.customers["customer_id"]
    broken = {"on": False}
    original = DispatchEngine.settle

    def settle(self: DispatchEngine, t_s: int) -> list[Decision]:
        out = original(self, t_s)
        if broken["on"]:
            raise ValueError("'D01-C01' is not in list")
        return out

    monkeypatch.setattr(DispatchEngine, "settle", settle)
    with TestClient(create_app(settings, region=region)) as client:
        broken["on"] = True
        assert client.post("/v1/plan/replan", headers=h).status_code == 202
        assert client.post("/v1/calls", json={"call_id": "B1", "customer_id": str(customers.iloc[9])},
                           headers=h).status_code == 201
        caught_up(client, h)
        events = client.get("/v1/status", headers=h).json()["store"]["events"]
        time.sleep(1.0)
        assert client.get("/v1/status", headers=h).json()["store"]["events"] == events  # no settle loop
        assert client.get("/readyz").status_code == 200
        orders = client.get("/v1/work-orders", headers=h).json()
        assert len(orders) == 1 and orders[0]["crew_id"] == ""  # taken in, not decided on
    broken["on"] = False
    with TestClient(create_app(settings, region=region)) as client:
        caught_up(client, h)
        for _ in range(200):  # the fixed engine decides again from the same log
            orders = client.get("/v1/work-orders", headers=h).json()
            if orders[0]["crew_id"]:
                break
            time.sleep(0.02)
        assert orders[0]["crew_id"]


def _crew_status(client: TestClient, h: dict[str, str], crew_id: str) -> str:
    caught_up(client, h)
    status: str = client.get(f"/v1/crews/{crew_id}", headers=h).json()["status"]
    return status


def _set_duty(client: TestClient, h: dict[str, str], crew_id: str, on: bool) -> None:
    version = client.get(f"/v1/crews/{crew_id}", headers=h).headers["ETag"]
    r = client.patch(f"/v1/crews/{crew_id}", json={"on_duty": on}, headers={**h, "If-Match": version})
    assert r.status_code == 200, r.text


def test_a_dispatchers_duty_change_stands_until_the_crews_shift_changes(tmp_path: Path,
                                                                        region: Region) -> None:
    """A crew a dispatcher sends home in its shift stays off, and one called in after its shift
    ended stays on, through the clock's ticks and a restart (the server used to put every crew
    back on its roster's duty at each); a shift that ends, ends. The storm clock starts seconds
    before the first shift (D01-C01's) ends; the second (D01-C02's) runs on."""
    settings = dataclasses.replace(make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"), tick_s=0.2)
    h = {"Authorization": f"Bearer {issue_tokens(settings)['dispatcher']}"}
    first_shift_ends = datetime.now(UTC) + timedelta(seconds=8)
    store = Store(settings.database_url)
    store.meta_setdefault("epoch", (first_shift_ends - timedelta(hours=16)).isoformat())
    store.dispose()
    with TestClient(create_app(settings, region=region)) as client:
        assert _crew_status(client, h, "D01-C01") == _crew_status(client, h, "D01-C02") == "idle"
        _set_duty(client, h, "D01-C02", False)
        time.sleep((first_shift_ends - datetime.now(UTC)).total_seconds() + 1)  # ticks meanwhile
        assert _crew_status(client, h, "D01-C01") == "off" and _crew_status(client, h, "D01-C02") == "off"
        _set_duty(client, h, "D01-C01", True)
        time.sleep(1)
        assert _crew_status(client, h, "D01-C01") == "idle" and _crew_status(client, h, "D01-C02") == "off"
    with TestClient(create_app(settings, region=region)) as client:
        assert _crew_status(client, h, "D01-C01") == "idle" and _crew_status(client, h, "D01-C02") == "off"
