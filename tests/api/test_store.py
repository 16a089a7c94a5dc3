"""Durability: a new server over the same store rebuilds the same engine state; settings
refuse a missing or default secret outside development mode; tokens are stored hashed; a store
upgraded to the notices owes none for its history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.outbox import Outbox
from api.server_process import caught_up
from api.settings import DEV_SECRET, Settings, SettingsError
from api.store import PendingEvent, Store
from grid_model.region import Region
from tests.api.conftest import Api, issue_tokens, make_settings


def test_a_restarted_server_rebuilds_the_same_state(tmp_path: Path, database_url: str,
                                                    region: Region) -> None:
    settings = make_settings(tmp_path, database_url)
    tokens = issue_tokens(settings)
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    customers = region.customers["customer_id"]
    with TestClient(create_app(settings, region=region)) as client:
        for k in range(0, 400, 7):
            assert client.post("/v1/calls", json={"call_id": f"R{k}", "customer_id": str(customers.iloc[k])},
                               headers=h).status_code == 201
        client.post("/v1/calls", json={"call_id": "R-lost", "address": "nowhere 1"}, headers=h)
        order = client.get("/v1/work-orders?open_only=true", headers=h).json()[0]
        client.post(f"/v1/work-orders/{order['order_id']}/status", json={"status": "on_site"},
                    headers={**h, "If-Match": order["version"]})
        before_status = caught_up(client, h)
        before = client.get("/v1/work-orders", headers=h).json()
        crews_before = client.get("/v1/crews", headers=h).json()
    with TestClient(create_app(settings, region=region)) as client:
        after_status = caught_up(client, h)
        after = client.get("/v1/work-orders", headers=h).json()
        crews_after = client.get("/v1/crews", headers=h).json()
    assert before_status["store"]["calls"] == 58 + 1
    assert after_status["engine"]["calls_unlocated"] == before_status["engine"]["calls_unlocated"] == 1
    assert after_status["engine"]["calls_grouped"] == before_status["engine"]["calls_grouped"]
    assert [(o["order_id"], o["status"], o["crew_id"], o["version"]) for o in after] == \
        [(o["order_id"], o["status"], o["crew_id"], o["version"]) for o in before]
    assert [(c["crew_id"], c["status"], c["order_id"]) for c in crews_after] == \
        [(c["crew_id"], c["status"], c["order_id"]) for c in crews_before]


def test_settings_refuse_a_missing_or_default_secret_outside_development(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(SettingsError, match="no secret"):
        Settings(tmp_path, url, "").check()
    with pytest.raises(SettingsError, match="development default"):
        Settings(tmp_path, url, DEV_SECRET).check()
    Settings(tmp_path, url, DEV_SECRET, dev_mode=True).check()
    Settings(tmp_path, url, "a-real-secret-of-some-length-0123456789").check()


def test_token_create_prints_a_token_and_stores_only_its_hash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTAGE_DISPATCH_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["token", "create", "--role", "dispatcher", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("odk_") and len(token) > 40
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(tmp_path / "outage-dispatch.db")
    rows = db.execute("SELECT token_hash, role FROM api_keys").fetchall()
    assert len(rows) == 1 and rows[0][1] == "dispatcher" and token not in rows[0][0]
    assert main(["token", "create", "--role", "crew", "--data-dir", str(tmp_path)]) == 2
    assert "needs --crew" in capsys.readouterr().err


def test_health_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    customer = str(api.region.customers["customer_id"].iloc[3])
    api.client.post("/v1/calls", json={"call_id": "M1", "customer_id": customer},
                    headers=api.as_("call_taker"))
    text = api.client.get("/metrics").text
    assert 'calls_received_total{status="located"} 1.0' in text
    assert "http_request_seconds_bucket" in text and "work_orders_open" in text


def test_a_revoked_token_is_refused(tmp_path: Path, region: Region, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'outage-dispatch.db'}", token_cache_s=0.0)
    monkeypatch.setenv("OUTAGE_DISPATCH_SECRET", settings.secret)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    token = issue_tokens(settings)["viewer"]
    h = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, region=region)) as client:
        assert client.get("/v1/kpis", headers=h).status_code == 200
        assert main(["token", "revoke", token, "--data-dir", str(tmp_path)]) == 0
        assert "revoked" in capsys.readouterr().out
        assert client.get("/v1/kpis", headers=h).status_code == 401
        assert main(["token", "revoke", token, "--data-dir", str(tmp_path)]) == 2
        assert "no live token" in capsys.readouterr().err


def test_a_store_from_before_the_notices_owes_none_for_its_history(database_url: str) -> None:
    """Upgrading a store logged before customer notices existed: the notice watermark starts at
    its last event, so no notice is derived for what happened before."""
    store = Store(database_url)
    store.migrate("0002")
    store.append_batch([PendingEvent(5 * k, "tick", {}, "2026-11-28T00:00:00+00:00") for k in range(3)])
    store.migrate()
    assert Outbox(store).watermark() == 3
    store.dispose()
