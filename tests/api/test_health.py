"""Readiness tells the truth: /readyz fails with the reason when an engine thread has stopped,
when the engine is behind the log by more than the allowed lag, and when the store cannot
write (a full disk); /metrics exposes the lag and the refused events. A store error logs no
personal data."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from api.app import create_app
from api.state import AppState
from grid_model.region import Region
from tests.api.conftest import Api, issue_tokens, make_settings


def _app_state(client: TestClient) -> AppState:
    state: AppState = client.app.state.api  # type: ignore[attr-defined]
    assert state.running is not None
    return state


def test_readyz_fails_when_the_engine_thread_is_dead(api: Api) -> None:
    assert api.client.get("/readyz").status_code == 200
    live = _app_state(api.client).running.live  # type: ignore[union-attr]
    live._queue.put(None)  # the engine thread ends as it would on stop
    for _ in range(100):
        r = api.client.get("/readyz")
        if r.status_code == 503:
            break
        time.sleep(0.02)
    assert r.status_code == 503 and "engine threads stopped: live-_run" in r.json()["error"]


def test_readyz_fails_when_the_engine_is_behind(tmp_path: Path, region: Region) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", ready_max_lag_s=0.2)
    h = {"Authorization": f"Bearer {issue_tokens(settings)['call_taker']}"}
    with TestClient(create_app(settings, region=region)) as client:
        live = _app_state(client).running.live  # type: ignore[union-attr]
        with live.lock:  # the engine thread waits for it: logged events pile up
            customer = str(region.customers["customer_id"].iloc[5])
            assert client.post("/v1/calls", json={"call_id": "L1", "customer_id": customer},
                               headers=h).status_code == 201
            time.sleep(0.4)
            r = client.get("/readyz")
            assert r.status_code == 503 and "behind the log" in r.json()["error"]
        for _ in range(300):  # the engine catches up (its first plan may take a few seconds)
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200, client.get("/readyz").json()
        assert "engine_lag_seconds 0.0" in client.get("/metrics").text
        assert "engine_events_refused 0.0" in client.get("/metrics").text


def _fill_the_disk(client: TestClient) -> None:
    """SQLite refuses to grow the database past its current size: every write that needs a
    page fails with 'database or disk is full', as on a full disk."""
    store = _app_state(client).running.store  # type: ignore[union-attr]
    with store.engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    def cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(store.engine, "connect", cap)
    store.engine.dispose()


def test_readyz_fails_when_the_store_cannot_write_and_the_log_names_no_caller(
        tmp_path: Path, region: Region, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    h = {"Authorization": f"Bearer {issue_tokens(settings)['call_taker']}"}
    address = "Room 301, Unit 2, Building 2, No. 44 Ningyuan Lu, Kenghua Jiedao, Kecheng Qu"
    with TestClient(create_app(settings, region=region)) as client:
        assert client.get("/readyz").status_code == 200
        _fill_the_disk(client)
        with caplog.at_level(logging.DEBUG):
            for k in range(50):  # enough calls to need a new page
                r = client.post("/v1/calls", json={"call_id": f"D{k}", "address": f"{address} {k}",
                                                   "customer_id": f"330100{k:04d}"}, headers=h)
                if r.status_code == 503:
                    break
            assert r.status_code == 503 and r.json()["error"].startswith("the store is unavailable")
            ready = client.get("/readyz")
    assert ready.status_code == 503 and "database or disk is full" in ready.json()["error"]
    logged = "\n".join(rec.getMessage() + str(rec.exc_info or "") for rec in caplog.records)
    assert "store error" in logged and "Ningyuan" not in logged and "330100" not in logged
