"""Call intake: stored before the answer, once per call id, unlocated calls kept, and every bad
request answered with the field and the reason."""

from __future__ import annotations

import time

from tests.api.conftest import Api


def _customer(api: Api, k: int = 5) -> str:
    return str(api.region.customers["customer_id"].iloc[k])


def test_a_located_call_is_stored_and_read_back_by_any_role(api: Api) -> None:
    r = api.client.post("/v1/calls", json={"call_id": "K1", "time": "2026-08-12T06:00:00+08:00",
                                           "customer_id": _customer(api)}, headers=api.as_("call_taker"))
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "located" and body["node_id"] == _customer(api)
    assert body["time"] == "2026-08-11T22:00:00+00:00"
    for role in ("viewer", "crew", "dispatcher", "call_taker"):
        got = api.client.get("/v1/calls/K1", headers=api.as_(role))
        assert got.status_code == 200 and got.json()["call_id"] == "K1"


def test_a_resent_call_is_acknowledged_and_stored_once(api: Api) -> None:
    body = {"call_id": "K2", "customer_id": _customer(api)}
    first = api.client.post("/v1/calls", json=body, headers=api.as_("call_taker"))
    again = api.client.post("/v1/calls", json=body, headers=api.as_("call_taker"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["received_at"] == first.json()["received_at"]
    # with an Idempotency-Key the retry is recognised even if its body changed
    k1 = api.client.post("/v1/calls", json={"call_id": "K3", "customer_id": _customer(api)},
                         headers={**api.as_("call_taker"), "Idempotency-Key": "abc"})
    k2 = api.client.post("/v1/calls", json={"call_id": "K3-retry", "customer_id": _customer(api)},
                         headers={**api.as_("call_taker"), "Idempotency-Key": "abc"})
    assert (k1.status_code, k2.status_code) == (201, 200) and k2.json()["call_id"] == "K3"
    assert api.client.get("/v1/calls/K3-retry", headers=api.as_("viewer")).status_code == 404
    status = _settled(api)
    assert status["store"]["calls"] == 2


def _settled(api: Api) -> dict:  # type: ignore[type-arg]
    for _ in range(200):
        status = api.client.get("/v1/status", headers=api.as_("viewer")).json()
        if status["engine"]["applied_seq"] == status["store"]["last_seq"]:
            return status  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("engine did not catch up")


def test_unlocated_calls_are_kept_with_the_reason(api: Api) -> None:
    r = api.client.post("/v1/calls", json={"call_id": "K4", "address": "no such road 99"},
                        headers=api.as_("call_taker"))
    assert r.status_code == 202
    assert r.json()["status"] == "unlocated" and "no known road" in r.json()["reason"]
    r = api.client.post("/v1/calls", json={"call_id": "K5", "customer_id": "0000000"},
                        headers=api.as_("call_taker"))
    assert r.status_code == 202 and "unknown customer number" in r.json()["reason"]
    status = _settled(api)
    assert status["engine"]["calls_unlocated"] == 2 and status["store"]["calls"] == 2


def test_bad_calls_name_the_field_and_store_nothing(api: Api) -> None:
    h = api.as_("call_taker")
    cases = [
        ({"customer_id": "1"}, "call_id"),
        ({"call_id": "K6"}, "body"),
        ({"call_id": "K6", "lon": 118.9}, "body"),
        ({"call_id": "K6", "lon": "east", "lat": 28.9}, "lon"),
        ({"call_id": "K6", "lon": 200, "lat": 28.9}, "lon"),
        ({"call_id": "K 6", "customer_id": "1"}, "call_id"),
        ({"call_id": "K6", "customer_id": "1", "time": "yesterday"}, "time"),
        ({"call_id": "K6", "customer_id": "1", "time": "2026-08-12T06:00:00"}, "time"),
        ({"call_id": "K6", "customer_id": "1", "colour": "red"}, "colour"),
        # control characters, times outside 2000..a year ahead, and numbers for times are refused
        ({"call_id": "K6", "address": "No. 44\x00 Ningyuan Lu"}, "address"),
        ({"call_id": "K6", "customer_id": "33\x1b[2J01"}, "customer_id"),
        ({"call_id": "K6", "customer_id": "1", "time": "9999-12-31T23:59:59-23:00"}, "time"),
        ({"call_id": "K6", "customer_id": "1", "time": "0001-01-01T00:00:00+14:00"}, "time"),
        ({"call_id": "K6", "customer_id": "1", "time": "1999-12-31T23:00:00+00:00"}, "time"),
        ({"call_id": "K6", "customer_id": "1", "time": 123}, "time"),
        ({"call_id": "K6", "lon": "118.9", "lat": 28.9}, "lon"),
    ]
    for body, field in cases:
        r = api.client.post("/v1/calls", json=body, headers=h)
        assert r.status_code == 422, body
        assert field in {f["field"] for f in r.json()["fields"]}, (body, r.json())
    r = api.client.post("/v1/calls", json={"call_id": "K6", "lon": 2.35, "lat": 48.86}, headers=h)
    assert r.status_code == 422 and r.json()["error"] == "position outside the service territory"
    r = api.client.post("/v1/calls", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422
    r = api.client.post("/v1/calls", json={"call_id": "K7", "address": "x" * 70_000}, headers=h)
    assert r.status_code == 413 and "over" in r.json()["error"]
    chunked = (b'{"call_id": "K8", "address": "' + b"x" * 1000 + b'"}' for _ in range(70))  # no length
    r = api.client.post("/v1/calls", content=chunked, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413 and "over" in r.json()["error"]
    assert api.client.get("/v1/calls/K%00", headers=h).status_code == 422
    assert api.client.get("/v1/calls/K6", headers=h).status_code == 404
    assert _settled(api)["store"]["calls"] == 0
