"""Work orders and crews through the API: an order's life (a first responder sent, on site, its
findings; a repair crew sent, on site, repaired; every caller called back), versions that refuse
stale updates, a dispatcher's reassignment, and who may do what."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from api.auth import create_token
from api.store import Store
from tests.api.conftest import Api


def _order_for_call(api: Api, k: int = 7) -> dict[str, Any]:
    cust = str(api.region.customers["customer_id"].iloc[k])
    assert api.client.post("/v1/calls", json={"call_id": f"C{k}", "customer_id": cust},
                           headers=api.as_("call_taker")).status_code == 201
    for _ in range(200):
        orders = api.client.get("/v1/work-orders", headers=api.as_("viewer")).json()
        if orders and orders[-1]["crew_id"]:
            return orders[-1]  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("no crew was sent")


def _crew_token(api: Api, crew_id: str) -> dict[str, str]:
    store = Store(api.settings.database_url)
    token = create_token(store, api.settings.secret, "crew", crew_id)
    store.dispose()
    return {"Authorization": f"Bearer {token}"}


def _step(api: Api, order_id: str, status: str, headers: dict[str, str], version: str | None = None,
          **extra: Any) -> Any:
    if version is None:
        version = api.client.get(f"/v1/work-orders/{order_id}", headers=headers).headers["ETag"]
    return api.client.post(f"/v1/work-orders/{order_id}/status", json={"status": status, **extra},
                           headers={**headers, "If-Match": version})


def _wait_for(api: Api, oid: str, ready: Any) -> dict[str, Any]:
    for _ in range(300):
        order = api.client.get(f"/v1/work-orders/{oid}", headers=api.as_("viewer")).json()
        if ready(order):
            return order  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"work order {oid} never got there")


def test_a_first_responder_and_a_repair_crew_work_an_order_through_its_life(api: Api) -> None:
    order = _order_for_call(api)
    oid, responder = order["order_id"], order["crew_id"]
    assert order["status"] == "en_route" and order["etr_s"] is not None and order["origin"] == "call"
    assert order["confidence"] == 0.5  # a lone caller: their own installation, or their drop
    (fr,) = order["jobs"]
    assert fr["kind"] == "first_response" and fr["crew_id"] == responder
    mine = _crew_token(api, responder)
    r = _step(api, oid, "on_site", mine)
    assert r.status_code == 200 and r.json()["status"] == "on_site" and r.json()["arrived_s"] is not None
    crew_view = api.client.get(f"/v1/crews/{responder}", headers=mine).json()
    assert crew_view["status"] == "on_site" and crew_view["order_id"] == oid
    assert crew_view["job_id"] == fr["job_id"]
    r = _step(api, oid, "repaired", mine)
    assert r.status_code == 409 and "first-response" in r.json()["error"]
    version = api.client.get(f"/v1/work-orders/{oid}", headers=mine).headers["ETag"]
    finding = {"element_id": order["element_id"], "skill": "lv", "repair_min": 60}
    r = api.client.post(f"/v1/work-orders/{oid}/first-response", json={"findings": [finding]},
                        headers={**mine, "If-Match": version})
    assert r.status_code == 200, r.text
    repair = next(j for j in r.json()["jobs"] if j["kind"] == "repair")
    assert (repair["skill"], repair["service_s"]) == ("lv", 3600)
    order = _wait_for(api, oid, lambda o: any(j["kind"] == "repair" and j["crew_id"] for j in o["jobs"]))
    crew = next(j["crew_id"] for j in order["jobs"] if j["kind"] == "repair")
    theirs = _crew_token(api, crew)
    assert _step(api, oid, "on_site", theirs).status_code == 200
    r = _step(api, oid, "repaired", theirs)
    assert r.status_code == 200 and r.json()["status"] == "repaired" and r.json()["confidence"] == 1.0
    assert api.client.get(f"/v1/crews/{crew}", headers=theirs).json()["status"] == "idle"
    due = api.client.get("/v1/callbacks", headers=api.as_("call_taker")).json()
    (cb,) = [c for c in due if c["order_id"] == oid]
    r = api.client.post(f"/v1/callbacks/{cb['callback_id']}/outcome", json={"outcome": "restored"},
                        headers=api.as_("call_taker"))
    assert r.status_code == 200 and r.json()["outcome"] == "restored"
    assert api.client.get(f"/v1/work-orders/{oid}", headers=mine).json()["status"] == "closed"
    r = api.client.post(f"/v1/callbacks/{cb['callback_id']}/outcome", json={"outcome": "restored"},
                        headers=api.as_("call_taker"))
    assert r.status_code == 409 and "done" in r.json()["error"]
    assert api.client.post(f"/v1/callbacks/{cb['callback_id']}/outcome", json={"outcome": "restored"},
                           headers=api.as_("viewer")).status_code == 403
    kpis = api.client.get("/v1/kpis", headers=api.as_("viewer")).json()
    assert kpis["work_orders_by_status"]["closed"] == 1 and kpis["work_orders_open"] == 0
    assert kpis["first_responses_done"] == 1 and kpis["callbacks_done"] == 1


def test_a_customer_side_fault_closes_with_advice_and_the_dispatcher_records_the_callback(api: Api) -> None:
    order = _order_for_call(api, k=3)
    oid, crew = order["order_id"], order["crew_id"]
    h = api.as_("dispatcher")
    assert _step(api, oid, "on_site", h).status_code == 200
    version = api.client.get(f"/v1/work-orders/{oid}", headers=h).headers["ETag"]
    cust = str(api.region.customers["customer_id"].iloc[3])
    body = {"crew_id": crew, "findings": [{"element_id": cust, "customer_side": True}]}
    r = api.client.post(f"/v1/work-orders/{oid}/first-response", json=body,
                        headers={**h, "If-Match": version})
    assert r.status_code == 200 and r.json()["status"] == "repaired" and r.json()["customer_side"]
    r = _step(api, oid, "callback_done", h)
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_a_first_response_report_that_makes_no_sense_is_refused(api: Api) -> None:
    order = _order_for_call(api, k=5)
    oid = order["order_id"]
    h = api.as_("dispatcher")
    assert _step(api, oid, "on_site", h).status_code == 200
    version = api.client.get(f"/v1/work-orders/{oid}", headers=h).headers["ETag"]
    for finding, status, where in [({"element_id": "NOWHERE", "skill": "lv"}, 409, "unknown element"),
                                   ({"element_id": order["element_id"]}, 422, "findings"),
                                   ({"element_id": order["element_id"], "skill": "hv"}, 422, "findings"),
                                   ({"element_id": order["element_id"], "skill": "lv", "repair_min": -1}, 422,
                                    "findings")]:
        r = api.client.post(f"/v1/work-orders/{oid}/first-response", json={"findings": [finding]},
                            headers={**h, "If-Match": version})
        assert r.status_code == status, (finding, r.text)
        assert where in (r.json()["error"] if status == 409 else r.json()["fields"][0]["field"])
    assert api.client.get(f"/v1/work-orders/{oid}", headers=h).json()["status"] == "on_site"


def test_a_stale_or_missing_version_changes_nothing(api: Api) -> None:
    order = _order_for_call(api)
    oid = order["order_id"]
    h = api.as_("dispatcher")
    old = api.client.get(f"/v1/work-orders/{oid}", headers=h).headers["ETag"]
    assert _step(api, oid, "on_site", h, version=old).status_code == 200
    r = _step(api, oid, "on_site", h, version=old)
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "If-Match"
    assert api.client.get(f"/v1/work-orders/{oid}", headers=h).json()["status"] == "on_site"
    r = api.client.post(f"/v1/work-orders/{oid}/status", json={"status": "repaired"}, headers=h)
    assert r.status_code == 428


def test_impossible_steps_are_refused_and_change_nothing(api: Api) -> None:
    order = _order_for_call(api)
    oid = order["order_id"]
    h = api.as_("dispatcher")
    r = _step(api, oid, "repaired", h)  # a first response is not repaired: it reports findings
    assert r.status_code == 409 and "first_response" in r.json()["error"]
    r = _step(api, oid, "callback_done", h)
    assert r.status_code == 409
    assert api.client.get(f"/v1/work-orders/{oid}", headers=h).json()["status"] == "en_route"
    assert _step(api, "W999999", "on_site", h, version='"x"').status_code == 404
    r = api.client.post(f"/v1/work-orders/{oid}/status", json={"status": "flying"},
                        headers={**h, "If-Match": "x"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "status"


def test_a_dispatcher_reassigns_an_order_and_the_first_crew_is_called_back(api: Api) -> None:
    order = _order_for_call(api)
    oid, first = order["order_id"], order["crew_id"]
    h = api.as_("dispatcher")
    crews = api.client.get("/v1/crews?status=idle", headers=h).json()
    other = next(c["crew_id"] for c in crews if order["skill"] in c["skills"] and c["crew_id"] != first)
    version = api.client.get(f"/v1/work-orders/{oid}", headers=h).headers["ETag"]
    r = api.client.post(f"/v1/work-orders/{oid}/assignment", json={"crew_id": other},
                        headers={**h, "If-Match": version})
    assert r.status_code == 200 and r.json()["crew_id"] == other and r.json()["status"] == "en_route"
    assert api.client.get(f"/v1/crews/{first}", headers=h).json()["status"] in ("idle", "en_route")
    assert api.client.get(f"/v1/crews/{other}", headers=h).json()["order_id"] == oid
    # the first crew's token no longer speaks for this order
    r = _step(api, oid, "on_site", _crew_token(api, first))
    assert r.status_code == 403
    r = api.client.post(f"/v1/work-orders/{oid}/assignment", json={"crew_id": "nobody"},
                        headers={**h, "If-Match": r.headers.get("ETag", version)})
    assert r.status_code in (404, 409)


def test_roles_are_enforced(api: Api) -> None:
    order = _order_for_call(api)
    oid = order["order_id"]
    assert api.client.get("/v1/work-orders").status_code == 401
    bad = {"Authorization": "Bearer odk_not-a-token"}
    assert api.client.get("/v1/work-orders", headers=bad).status_code == 401
    assert api.client.post("/v1/calls", json={"call_id": "X", "customer_id": "1"},
                           headers=api.as_("viewer")).status_code == 403
    assert api.client.post("/v1/calls", json={"call_id": "X", "customer_id": "1"},
                           headers=api.as_("crew")).status_code == 403
    assert _step(api, oid, "cancelled", api.as_("call_taker")).status_code == 403
    assert _step(api, oid, "cancelled", api.as_("crew")).status_code == 403
    assert api.client.post("/v1/plan/replan", headers=api.as_("viewer")).status_code == 403
    # a crew token cannot move another crew, nor report on an order that is not its own
    version = api.client.get("/v1/crews/D01-C02", headers=api.as_("crew")).headers["ETag"]
    r = api.client.patch("/v1/crews/D01-C02", json={"lon": 118.9, "lat": 28.95},
                         headers={**api.as_("crew"), "If-Match": version})
    assert r.status_code == 403
    if order["crew_id"] != "D01-C01":
        assert _step(api, oid, "on_site", api.as_("crew")).status_code == 403
    assert api.client.post("/v1/plan/replan", headers=api.as_("dispatcher")).status_code == 202


def test_crew_position_and_duty_updates(api: Api) -> None:
    h = api.as_("crew")  # D01-C01
    version = api.client.get("/v1/crews/D01-C01", headers=h).headers["ETag"]
    lon, lat = api.region.customers[["lon", "lat"]].iloc[0]
    r = api.client.patch("/v1/crews/D01-C01", json={"lon": float(lon), "lat": float(lat)},
                         headers={**h, "If-Match": version})
    assert r.status_code == 200
    assert abs(r.json()["lon"] - lon) < 1e-5 and abs(r.json()["lat"] - lat) < 1e-5
    r = api.client.patch("/v1/crews/D01-C01", json={"on_duty": False},
                         headers={**h, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.json()["status"] == "off"
    r = api.client.patch("/v1/crews/D01-C01", json={"lon": 2.35, "lat": 48.86},
                         headers={**h, "If-Match": r.headers["ETag"]})
    assert r.status_code == 422
    r = api.client.patch("/v1/crews/D01-C01", json={}, headers={**h, "If-Match": "x"})
    assert r.status_code == 422
    assert api.client.get("/v1/crews/NOPE", headers=h).status_code == 404


def test_customer_outage_and_plan(api: Api) -> None:
    order = _order_for_call(api)
    cust = str(api.region.customers["customer_id"].iloc[7])
    r = api.client.get(f"/v1/customers/{cust}/outage", headers=api.as_("viewer")).json()
    assert r["out"] is True and r["etr_s"] == order["etr_s"] and r["etr"].endswith("+00:00")
    assert api.client.get("/v1/customers/nobody/outage", headers=api.as_("viewer")).status_code == 404
    plan = api.client.get("/v1/plan", headers=api.as_("viewer")).json()
    assert plan["policy"] == "optimizer" and order["jobs"][0]["job_id"] in plan["routes"][order["crew_id"]]
    incidents = api.client.get("/v1/incidents", headers=api.as_("viewer")).json()
    assert [i["order_id"] for i in incidents] == [order["order_id"]]


def test_crew_updates_take_strict_types(api: Api) -> None:
    h = api.as_("crew")
    version = api.client.get("/v1/crews/D01-C01", headers=h).headers["ETag"]
    for body, field in (({"on_duty": "yes"}, "on_duty"), ({"on_duty": 1}, "on_duty"),
                        ({"lon": "118.9", "lat": 28.95}, "lon")):
        r = api.client.patch("/v1/crews/D01-C01", json=body, headers={**h, "If-Match": version})
        assert r.status_code == 422 and field in {f["field"] for f in r.json()["fields"]}, body
    assert api.client.get("/v1/crews/D01-C01", headers=h).json()["status"] != "off"


def test_planned_outage_ids_are_unique_and_apart_from_incident_ids(api: Api) -> None:
    order = _order_for_call(api)  # incident I000001
    h = api.as_("dispatcher")
    device = next(d for d in api.region.network.device_id if d)
    start = datetime.now(UTC) + timedelta(days=8)
    body = {"outage_id": order["incident_id"], "device_id": device, "start": start.isoformat(),
            "end": (start + timedelta(hours=6)).isoformat()}
    r = api.client.post("/v1/planned-outages", json=body, headers=h)
    assert r.status_code == 201 and r.json()["outage_id"] == order["incident_id"]
    again = api.client.post("/v1/planned-outages", json=body, headers=h)
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    incidents = {i["incident_id"]: i for i in api.client.get("/v1/incidents", headers=h).json()}
    assert incidents[order["incident_id"]]["kind"] != "planned"  # the incident is still itself
    assert incidents[order["incident_id"]]["order_id"] == order["order_id"]
    oid, crew = order["order_id"], order["crew_id"]
    mine = _crew_token(api, crew)
    assert _step(api, oid, "on_site", mine).status_code == 200
    version = api.client.get(f"/v1/work-orders/{oid}", headers=mine).headers["ETag"]
    r = api.client.post(f"/v1/work-orders/{oid}/first-response", json={"findings": []},  # supply back
                        headers={**mine, "If-Match": version})
    assert r.status_code == 200 and r.json()["status"] == "repaired"
    assert _step(api, oid, "callback_done", h).status_code == 200
    still_open = {i["incident_id"] for i in api.client.get("/v1/incidents", headers=h).json()}
    assert order["incident_id"] not in still_open  # it closes
    status = api.client.get("/v1/status", headers=h).json()
    assert status["engine"]["refused"] == 1  # the reuse, refused once
    for when in ({"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-02T00:00:00+14:00"},
                 {"start": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                  "end": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
                 {"start": 1, "end": 2}):
        r = api.client.post("/v1/planned-outages", json={"outage_id": "PO-2", "device_id": device, **when},
                            headers=h)
        assert r.status_code == 422, when


def test_a_requoted_etr_leaves_the_order_version_alone(api: Api) -> None:
    """The crew on its way reports a position farther off and the plan is rebuilt: the order's
    ETR moves, but not its version, so a dispatcher's If-Match taken before still holds (every
    re-plan re-quotes ETRs, and used to turn dispatchers' versions stale)."""
    order = _order_for_call(api)
    oid, crew_id = order["order_id"], order["crew_id"]
    h = api.as_("dispatcher")
    before = api.client.get(f"/v1/work-orders/{oid}", headers=h)
    crew = api.client.get(f"/v1/crews/{crew_id}", headers=h)
    far = api.region.customers[["lon", "lat"]].iloc[-1]
    r = api.client.patch(f"/v1/crews/{crew_id}", json={"lon": float(far["lon"]), "lat": float(far["lat"])},
                         headers={**h, "If-Match": crew.headers["ETag"]})
    assert r.status_code == 200
    assert api.client.post("/v1/plan/replan", headers=h).status_code == 202
    after = _wait_for(api, oid, lambda o: o["etr_s"] != before.json()["etr_s"])
    assert after["status"] == "en_route"
    assert api.client.get(f"/v1/work-orders/{oid}", headers=h).headers["ETag"] == before.headers["ETag"]
    assert _step(api, oid, "on_site", h, version=before.headers["ETag"]).status_code == 200
