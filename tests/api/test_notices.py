"""Customer notices through the API: webhook subscriptions, signed deliveries retried with the
same id, given up and put back in line, notices derived again after a crash before their
commit, planned-outage notices and the 7 days' rule, and the bad inputs."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.webhooks import sign
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from tests.api.conftest import Api, issue_tokens, make_settings
from tests.api.receiver import Receiver, receiver
from tests.api.test_orders import _crew_token, _order_for_call, _step

HOOK_SECRET = "hook-secret-0123456789abcdef"
ALL_KINDS = ["acknowledged", "etr_changed", "restored", "customer_side", "callback_due", "planned_outage",
             "planned_outage_changed", "planned_outage_cancelled"]


@pytest.fixture
def fast_api(tmp_path: Path, database_url: str, region: Region) -> Iterator[Api]:
    """The API with webhook retries 50 ms apart, given up after 3 attempts."""
    settings = make_settings(tmp_path, database_url, webhook_retry_base_s=0.05, webhook_max_attempts=3)
    tokens = issue_tokens(settings)
    with TestClient(create_app(settings, region=region)) as client:
        yield Api(client, tokens, region, settings)


def _subscribe(api: Api, url: str, kinds: list[str] = ALL_KINDS) -> str:
    r = api.client.post("/v1/subscriptions", json={"url": url, "kinds": kinds, "secret": HOOK_SECRET},
                        headers=api.as_("dispatcher"))
    assert r.status_code == 201, r.text
    assert "secret" not in r.json()
    return str(r.json()["subscription_id"])


def _until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def _settled(api: Api, sub: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The subscription's deliveries once none is pending (empty until then): a receiver holds a
    notice before its sender has written down the answer."""
    rows: list[dict[str, Any]] = api.client.get(f"/v1/subscriptions/{sub}/deliveries", headers=headers).json()
    return rows if all(r["status"] != "pending" for r in rows) else []


def _of_kind(rec: Receiver, kind: str) -> list[dict[str, Any]]:
    return [b for b in rec.taken().values() if b["kind"] == kind]


def test_a_caller_hears_a_signed_acknowledgement_then_restoration(fast_api: Api) -> None:
    api = fast_api
    with receiver() as rec:
        sub = _subscribe(api, rec.url)
        order = _order_for_call(api)
        customer = str(api.region.customers["customer_id"].iloc[7])
        (ack,) = _until(lambda: _of_kind(rec, "acknowledged"), "an acknowledgement")
        assert set(ack) == {"id", "kind", "time", "customer_ids", "order_id", "etr"}
        assert ack["customer_ids"] == [customer] and ack["order_id"] == order["order_id"]
        assert datetime.fromisoformat(ack["etr"]) > datetime.fromisoformat(ack["time"])
        (got,) = [r for r in rec.got if r.body["id"] == ack["id"]]
        assert got.headers["X-Signature"] == sign(HOOK_SECRET, got.raw)
        assert got.headers["X-Notice-Id"] == ack["id"] and got.headers["X-Delivery-Attempt"] == "1"
        oid, crew = order["order_id"], order["crew_id"]
        mine = _crew_token(api, crew)
        assert _step(api, oid, "on_site", mine).status_code == 200
        version = api.client.get(f"/v1/work-orders/{oid}", headers=mine).headers["ETag"]
        r = api.client.post(f"/v1/work-orders/{oid}/first-response", json={"findings": []},  # supply back
                            headers={**mine, "If-Match": version})
        assert r.status_code == 200
        (restored,) = _until(lambda: _of_kind(rec, "restored"), "a restoration notice")
        (due,) = _until(lambda: _of_kind(rec, "callback_due"), "a callback due")
        assert restored["customer_ids"] == due["customer_ids"] == [customer] and restored["etr"] is None
        assert due["callback_id"] in {c["callback_id"] for c in api.client.get(
            "/v1/callbacks", headers=api.as_("call_taker")).json()}
        rows = _until(lambda: _settled(api, sub, api.as_("dispatcher")), "every delivery settled")
        assert {r["notice_id"] for r in rows} == set(rec.taken())
        assert {r["status"] for r in rows} == {"delivered"}


def test_a_failing_receiver_gets_the_same_notice_again_until_it_takes_it(fast_api: Api) -> None:
    api = fast_api
    tries: dict[str, int] = {}

    def second_time_lucky(body: dict[str, Any]) -> int:
        tries[body["id"]] = tries.get(body["id"], 0) + 1
        return 200 if tries[body["id"]] >= 2 else 503

    with receiver(second_time_lucky) as rec:
        sub = _subscribe(api, rec.url, ["acknowledged"])
        _order_for_call(api)
        (ack,) = _until(lambda: _of_kind(rec, "acknowledged"), "an acknowledgement")
        attempts = [r.headers["X-Delivery-Attempt"] for r in rec.got if r.body["id"] == ack["id"]]
        assert attempts == ["1", "2"]
        assert len({r.raw for r in rec.got}) == 1  # the same body, byte for byte
        (row,) = _until(lambda: _settled(api, sub, api.as_("dispatcher")), "the delivery settled")
        assert row["status"] == "delivered" and row["attempts"] == 2 and row["last_error"] == ""


def test_a_receiver_that_never_takes_it_is_given_up_and_can_be_retried(fast_api: Api) -> None:
    api = fast_api
    answer = {"status": 500}
    with receiver(lambda body: answer["status"]) as rec:
        sub = _subscribe(api, rec.url, ["acknowledged"])
        _order_for_call(api)
        h = api.as_("dispatcher")
        path = f"/v1/subscriptions/{sub}/deliveries"
        (row,) = _until(lambda: api.client.get(f"{path}?status=failed", headers=h).json(), "given up")
        assert row["attempts"] == 3 and row["last_error"] == "HTTP 500" and not rec.taken()
        assert api.client.get("/v1/subscriptions", headers=h).json()[0]["deliveries"] == \
            {"pending": 0, "delivered": 0, "failed": 1, "dropped": 0}
        assert 'notice_deliveries{status="failed"} 1.0' in api.client.get("/metrics").text  # to alert on
        answer["status"] = 204
        assert api.client.post(f"/v1/subscriptions/{sub}/retry", headers=h).json()["requeued"] == 1
        _until(lambda: rec.taken(), "delivered after the retry")
        assert _until(lambda: _settled(api, sub, h), "the delivery settled")[0]["status"] == "delivered"
        assert len(rec.got) == 4 and len({r.headers["X-Notice-Id"] for r in rec.got}) == 1


def test_a_stopped_subscription_gets_nothing_more_and_drops_what_it_had_pending(fast_api: Api
                                                                                ) -> None:
    api = fast_api
    h = api.as_("dispatcher")
    with receiver(lambda body: 503) as rec:
        sub = _subscribe(api, rec.url, ["acknowledged"])
        _order_for_call(api)
        _until(lambda: rec.got, "a first attempt")
        assert api.client.delete(f"/v1/subscriptions/{sub}", headers=h).json()["active"] is False
        assert api.client.delete(f"/v1/subscriptions/{sub}", headers=h).status_code == 409
        (row,) = api.client.get(f"/v1/subscriptions/{sub}/deliveries", headers=h).json()
        assert row["status"] in ("dropped", "failed")  # failed if it was given up first
        assert api.client.post(f"/v1/subscriptions/{sub}/retry", headers=h).status_code == 409
        tried = len(rec.got)
        _order_for_call(api, 9)
        time.sleep(0.5)
        assert len(rec.got) == tried
        assert api.client.get("/v1/subscriptions", headers=h).json()[0]["deliveries"]["pending"] == 0


def test_a_slow_subscriber_holds_up_no_other(fast_api: Api) -> None:
    api = fast_api

    def slow(body: dict[str, Any]) -> int:
        time.sleep(3)
        return 200

    with receiver(slow) as lagging, receiver() as quick:
        _subscribe(api, lagging.url, ["acknowledged"])
        _subscribe(api, quick.url, ["acknowledged"])
        t0 = time.monotonic()
        for k in (3, 5, 9):
            _order_for_call(api, k)
        _until(lambda: len(quick.taken()) == 3, "the quick receiver has all three", timeout_s=2.0)
        assert time.monotonic() - t0 < 3.0 and len(lagging.taken()) < 3


def test_a_webhook_to_a_private_address_is_refused(tmp_path: Path, region: Region) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", webhook_allow_private=False)
    tokens = issue_tokens(settings)
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    with TestClient(create_app(settings, region=region)) as client:
        for url in ("http://127.0.0.1:9000/hook", "http://169.254.169.254/latest/meta-data",
                    "http://10.0.0.7/", "http://[::1]/hook", "http://localhost/hook"):
            hook = {"url": url, "kinds": ["restored"], "secret": HOOK_SECRET}
            r = client.post("/v1/subscriptions", json=hook, headers=h)
            assert r.status_code == 422 and r.json()["fields"][0]["field"] == "url", (url, r.text)
        public = {"url": "https://93.184.216.34/hook", "kinds": ["restored"], "secret": HOOK_SECRET}
        assert client.post("/v1/subscriptions", json=public, headers=h).status_code == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://gateway.example/hook"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https:///no-host"}, "url"),
    ({"url": "https://user:pw@gateway.example/hook"}, "url"),
    ({"kinds": []}, "kinds"),
    ({"kinds": ["acknowledged", "acknowledged"]}, "body"),
    ({"kinds": ["sms_everyone"]}, "kinds"),
    ({"secret": "short"}, "secret"),
    ({"extra": 1}, "extra"),
])
def test_a_bad_subscription_is_refused_with_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    good = {"url": "https://gateway.example/hook", "kinds": ["restored"], "secret": HOOK_SECRET}
    r = api.client.post("/v1/subscriptions", json={**good, **body}, headers=api.as_("dispatcher"))
    assert r.status_code == 422, r.text
    assert any(field in f["field"] for f in r.json()["fields"]), r.json()
    assert api.client.get("/v1/subscriptions", headers=api.as_("dispatcher")).json() == []


def test_only_dispatchers_manage_subscriptions(api: Api) -> None:
    good = {"url": "https://gateway.example/hook", "kinds": ["restored"], "secret": HOOK_SECRET}
    for role in ("viewer", "call_taker", "crew"):
        assert api.client.post("/v1/subscriptions", json=good, headers=api.as_(role)).status_code == 403
        assert api.client.get("/v1/subscriptions", headers=api.as_(role)).status_code == 403
    h = api.as_("dispatcher")
    for method, path in (("GET", "/v1/subscriptions/sub-nope/deliveries"),
                         ("DELETE", "/v1/subscriptions/sub-nope"),
                         ("POST", "/v1/subscriptions/sub-nope/retry")):
        assert api.client.request(method, path, headers=h).status_code == 404


def _fuse_below(region: Region) -> tuple[str, list[str]]:
    net = region.network
    fuse = next(i for i in net.nodes_of_kind(NodeKind.MV_NODE).tolist() if net.device[i] == DeviceKind.FUSE)
    sl = net.subtree(fuse)
    cust = region.customers
    below = cust.loc[(cust["node_idx"] >= sl.start) & (cust["node_idx"] < sl.stop), "customer_id"]
    return net.device_id[fuse], sorted(below.astype(str))


def test_planned_outages_keep_the_notice_rule_and_tell_every_customer_below(fast_api: Api) -> None:
    api = fast_api
    h = api.as_("dispatcher")
    device, below = _fuse_below(api.region)
    now = datetime.now(UTC)

    def window(start: datetime, hours: float = 4) -> dict[str, str]:
        return {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}

    refused = [({"outage_id": "P1", "device_id": device, **window(now + timedelta(days=6))}, "start",
                "7 days' notice"),
               ({"outage_id": "P1", "device_id": device, **window(now - timedelta(hours=1)), "urgent": True,
                 "reason": "pole"}, "start", "in the past"),
               ({"outage_id": "P1", "device_id": device, **window(now + timedelta(hours=2)), "urgent": True},
                "body", "needs a reason"),
               ({"outage_id": "P1", "device_id": device, **window(now + timedelta(days=8)), "urgent": "yes",
                 "reason": "x"}, "urgent", "")]
    with receiver() as rec:
        _subscribe(api, rec.url)
        for body, field, words in refused:
            r = api.client.post("/v1/planned-outages", json=body, headers=h)
            assert r.status_code == 422 and words in json.dumps(r.json()), r.text
            assert any(field in f["field"] for f in r.json()["fields"]), r.json()
        assert api.client.get("/v1/planned-outages", headers=h).json() == []
        ok = {"outage_id": "P1", "device_id": device, **window(now + timedelta(days=8))}
        assert api.client.post("/v1/planned-outages", json=ok, headers=h).status_code == 201
        urgent = {"outage_id": "P2", "device_id": device, **window(now + timedelta(hours=3)), "urgent": True,
                  "reason": "a cracked crossarm"}
        assert api.client.post("/v1/planned-outages", json=urgent, headers=h).status_code == 201
        listed = {p["outage_id"]: p for p in api.client.get("/v1/planned-outages", headers=h).json()}
        assert listed["P2"]["urgent"] and listed["P2"]["reason"] == "a cracked crossarm"
        assert listed["P2"]["notice_days"] < 1 <= 7 < listed["P1"]["notice_days"]
        assert listed["P1"]["customers"] == len(below) and listed["P1"]["status"] == "announced"
        moved = api.client.put("/v1/planned-outages/P1", json=window(now + timedelta(days=9), 6), headers=h)
        assert moved.status_code == 200 and moved.json()["changes"] == 1
        earlier = api.client.put("/v1/planned-outages/P1", json=window(now + timedelta(days=2)), headers=h)
        assert earlier.status_code == 422 and "notice" in earlier.json()["error"]
        assert api.client.post("/v1/planned-outages/P1/cancel", json={"reason": "storm"},
                               headers=h).json()["status"] == "cancelled"
        assert api.client.post("/v1/planned-outages/P1/cancel", json={}, headers=h).status_code == 409
        assert api.client.put("/v1/planned-outages/P9", json=window(now + timedelta(days=9)),
                              headers=h).status_code == 404
        for kind in ("planned_outage_changed", "planned_outage_cancelled"):
            told = _until(lambda kind=kind: len(_of_kind(rec, kind)) == len(below) and _of_kind(rec, kind),
                          kind)
            assert sorted(b["customer_ids"][0] for b in told) == below
            assert {b["order_id"] for b in told} == {"P1"}
        _until(lambda: len(_of_kind(rec, "planned_outage")) == 2 * len(below), "both announcements")
        (changed, *_) = _of_kind(rec, "planned_outage_changed")
        assert datetime.fromisoformat(changed["start"]) == datetime.fromisoformat(
            moved.json()["start"]) and set(changed) >= {"id", "kind", "time", "order_id", "etr", "start"}
    kpis = api.client.get("/v1/kpis", headers=h).json()
    assert kpis["planned_outages"] == 2 and kpis["planned_outages_urgent"] == 1


def test_notices_lost_before_their_commit_are_derived_again_at_restart(tmp_path: Path,
                                                                       region: Region) -> None:
    """A server killed after an event's commit but before its notices' commit: simulated by
    removing the committed notices and the watermark; the restart derives the same notices
    (same ids, same bodies) from the log and delivers them."""
    db = tmp_path / "store.db"
    settings = make_settings(tmp_path, f"sqlite:///{db}", webhook_retry_base_s=0.05)
    tokens = issue_tokens(settings)
    customers = region.customers["customer_id"].astype(str).tolist()
    with receiver() as rec:
        with TestClient(create_app(settings, region=region)) as client:
            h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
            hook = {"url": rec.url, "kinds": ALL_KINDS, "secret": HOOK_SECRET}
            assert client.post("/v1/subscriptions", json=hook, headers=h).status_code == 201
            for k in (3, 40, 90):
                assert client.post("/v1/calls", json={"call_id": f"K{k}", "customer_id": customers[k]},
                                   headers=h).status_code == 201
            first = _until(lambda: len(_of_kind(rec, "acknowledged")) == 3 and rec.taken(), "three acks")
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("DELETE FROM deliveries")
            conn.execute("DELETE FROM notices")
            conn.execute("DELETE FROM meta WHERE key = 'notices_seq'")
        conn.close()
        rec.got.clear()
        with TestClient(create_app(settings, region=region)):
            again = _until(lambda: set(first) <= set(rec.taken()) and rec.taken(), "the same notices again")
    assert {k: again[k] for k in first} == first


def test_notices_after_the_watermark_are_derived_again_and_only_those(tmp_path: Path,
                                                                      region: Region) -> None:
    """A crash after the notices of some events were committed but not those of later ones:
    the restart derives and delivers exactly the later ones again, with the same ids and bodies."""
    db = tmp_path / "store.db"
    settings = make_settings(tmp_path, f"sqlite:///{db}", webhook_retry_base_s=0.05)
    tokens = issue_tokens(settings)
    customers = region.customers["customer_id"].astype(str).tolist()
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    with receiver() as rec:
        with TestClient(create_app(settings, region=region)) as client:
            hook = {"url": rec.url, "kinds": ALL_KINDS, "secret": HOOK_SECRET}
            assert client.post("/v1/subscriptions", json=hook, headers=h).status_code == 201
            for k in (3, 40, 90):
                assert client.post("/v1/calls", json={"call_id": f"K{k}", "customer_id": customers[k]},
                                   headers=h).status_code == 201
            first = _until(lambda: len(_of_kind(rec, "acknowledged")) == 3 and rec.taken(), "three acks")
        seqs = sorted({int(nid.split("-")[0]) for nid in first})
        keep = seqs[len(seqs) // 2 - 1]
        lost = {nid for nid in first if int(nid.split("-")[0]) > keep}
        assert lost and len(lost) < len(first)
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("DELETE FROM deliveries WHERE notice_id IN "
                         "(SELECT notice_id FROM notices WHERE seq > ?)", (keep,))
            conn.execute("DELETE FROM notices WHERE seq > ?", (keep,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'notices_seq'", (str(keep),))
        conn.close()
        rec.got.clear()
        with TestClient(create_app(settings, region=region)):
            again = _until(lambda: lost <= set(rec.taken()) and rec.taken(), "the lost notices again")
    assert {k: again[k] for k in lost} == {k: first[k] for k in lost}
    assert not set(again) & (set(first) - lost)  # what was committed is not sent twice


@pytest.mark.parametrize("path", ["/v1/callbacks", "/v1/work-orders", "/v1/subscriptions/sub-1/deliveries"])
@pytest.mark.parametrize(("query", "field"), [("limit=0", "query.limit"), ("limit=10001", "query.limit"),
                                              ("offset=-1", "query.offset"), ("limit=ten", "query.limit")])
def test_every_list_refuses_a_bad_page_the_same_way(api: Api, path: str, query: str, field: str) -> None:
    r = api.client.get(f"{path}?{query}", headers=api.as_("dispatcher"))
    assert r.status_code == 422
    assert r.json()["error"] == "invalid request"
    assert [f["field"] for f in r.json()["fields"]] == [field]


def test_callbacks_outcome_of_no_callback_is_not_found(api: Api) -> None:
    assert api.client.post("/v1/callbacks/nobody/outcome", json={"outcome": "restored"},
                           headers=api.as_("call_taker")).status_code == 404
