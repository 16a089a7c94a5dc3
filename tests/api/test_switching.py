"""Switching through the API, on a server that switches (``--switching full``): a feeder
breaker's SCADA trip with its fault indicators switches the faulted section around at once
(remote steps); the repair crew's patrol report brings the manual steps and ties, as switching
jobs the crews report done; a dispatcher holds, releases and moves steps (a move that would
close onto the fault is refused, 409, and changes nothing); the work-order, crew and plan views
and the map show the steps and the switch states; wrong requests are refused naming what is
wrong."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from grid_model.network import DeviceKind, NodeKind
from grid_model.region import Region
from grid_model.switches import SwitchKind, place_switches
from grid_model.switching import plan_switching
from tests.api.conftest import Api, issue_tokens, make_settings


@pytest.fixture
def api_switching(tmp_path: Path, database_url: str, region: Region) -> Iterator[Api]:
    settings = make_settings(tmp_path, database_url, switching="full")
    tokens = issue_tokens(settings)
    with TestClient(create_app(settings, region=region)) as client:
        yield Api(client, tokens, region, settings)


def breaker_fault(region: Region) -> tuple[str, str, list[str]]:
    """A feeder-breaker fault whose full plan closes a tie after opening a manual switch: the
    breaker's device id, the faulted element, and the remote switches between them (what
    SCADA's fault indicators report)."""
    net = region.network
    layer = place_switches(net)
    best, gain = -1, 0
    for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
        device = int(net.device_ancestor[f])
        if net.device[device] != DeviceKind.BREAKER:
            continue
        state = np.zeros(net.n_nodes, dtype=bool)
        state[device] = True
        plan = plan_switching(net, layer, f, open_nodes=state)
        manual = any(s.tie is not None and s.phase == "restore" and any(
            not plan.steps[a].remote and plan.steps[a].action == "open" for a in s.after) for s in plan.steps)
        if manual and plan.customers_restored > gain:
            best, gain = f, plan.customers_restored
    assert best >= 0
    device = int(net.device_ancestor[best])
    path = [n for n in net.path_up(best) if n != device and net.is_ancestor(device, n)]
    flagged = [layer.switch_id[n] for n in reversed(path) if layer.switch[n] == SwitchKind.REMOTE]
    return net.device_id[device], net.device_id[best] or net.node_id[best], flagged


def _until(api: Api, path: str, ready: Callable[[Any], bool]) -> Any:
    for _ in range(500):
        body = api.client.get(path, headers=api.as_("viewer")).json()
        if ready(body):
            return body
        time.sleep(0.02)
    raise AssertionError(f"{path} never got there")


def _post(api: Api, path: str, body: dict[str, Any] | None, version: str, role: str = "dispatcher") -> Any:
    return api.client.post(path, json=body, headers={**api.as_(role), "If-Match": f'"{version}"'})


def _sequence(steps: list[dict[str, Any]]) -> dict[int, tuple[Any, ...]]:
    """What a dispatcher's move or hold changes in each step: its place (the steps it waits
    for) and its hold. The live engine sends crews meanwhile, so crew, job, status and version
    may change between two reads without any dispatcher's request."""
    return {s["step_id"]: (s["plan"], s["phase"], s["action"], s["element_id"], tuple(s["after"]), s["held"],
                           s["hold_reason"]) for s in steps}


def _report(api: Api, oid: str, what: str, body: dict[str, Any]) -> Any:
    """A dispatcher's report on the order (``status`` or ``faults-found``), naming its version."""
    version = api.client.get(f"/v1/work-orders/{oid}", headers=api.as_("viewer")).headers["ETag"].strip('"')
    return _post(api, f"/v1/work-orders/{oid}/{what}", body, version)


def test_a_trip_and_a_patrol_switch_the_section_around_and_the_dispatcher_steers_the_steps(
        api_switching: Api) -> None:
    api = api_switching
    device_id, fault, flagged = breaker_fault(api.region)
    h = api.as_("dispatcher")
    r = api.client.post("/v1/device-reports", json={"device_id": device_id, "indicators": ["SW-NOWHERE"]},
                        headers=h)
    assert r.status_code == 409 and "no remote switch 'SW-NOWHERE'" in r.json()["error"]
    assert api.client.get("/v1/work-orders", headers=h).json() == []  # refused whole: nothing changed
    r = api.client.post("/v1/device-reports", json={"device_id": device_id, "indicators": flagged}, headers=h)
    assert r.status_code == 201, r.text
    order = _until(api, "/v1/work-orders", lambda os: os and any(j["crew_id"] for j in os[0]["jobs"]))[0]
    oid = order["order_id"]
    assert order["origin"] == "scada" and order["confidence"] == 1.0  # the breaker told it opened
    steps = order["switching"]
    assert steps and all(s["order_id"] == oid for s in steps)
    assert all(s["status"] == "done" and s["remote"] for s in steps if s["phase"] != "normal")
    assert all(s["status"] == "waiting" for s in steps if s["phase"] == "normal")
    shown = {f["properties"]["switch_id"]: f["properties"]
             for f in api.client.get("/v1/map/switches", headers=h).json()["features"]}
    opened = [s["element_id"] for s in steps if s["action"] == "open" and s["status"] == "done"]
    assert opened and all(shown[e]["state"] == "open" and shown[e]["off_normal"] for e in opened)

    repair = next(j for j in order["jobs"] if j["kind"] == "repair")
    crew = repair["crew_id"]
    assert _report(api, oid, "status", {"status": "on_site", "crew_id": crew}).status_code == 200
    r = _report(api, oid, "faults-found", {"crew_id": crew, "element_ids": ["NOWHERE"]})
    assert r.status_code == 409 and "'NOWHERE' is not an element below" in r.json()["error"]
    r = _report(api, oid, "faults-found", {"crew_id": crew, "element_ids": [fault]})
    assert r.status_code == 200, r.text
    manual = [s for s in r.json()["switching"] if not s["remote"] and s["phase"] != "normal"]
    assert manual and any(s["job_id"] for s in manual)
    jobs = {j["job_id"]: j for j in r.json()["jobs"]}
    assert all(jobs[s["job_id"]]["kind"] == "switching" and jobs[s["job_id"]]["step_id"] == s["step_id"]
               for s in manual if s["job_id"])

    # a restore step cannot go before the isolate step it waits for: it would close onto the fault
    # (or, done before the isolate step's neighbours, join the tie's feeders of two substations)
    status = {s["step_id"]: s["status"] for s in r.json()["switching"]}
    restore, isolate = next((s, a) for s in r.json()["switching"] if s["phase"] == "restore"
                            for a in s["after"] if status[a] != "done")
    before = _sequence(api.client.get(f"/v1/switching?order_id={oid}", headers=h).json())
    r = _post(api, f"/v1/switching/{restore['step_id']}/move", {"before": isolate}, restore["version"])
    error = r.json()["error"]
    assert r.status_code == 409 and "is unsafe" in error and ("is fed" in error or "in parallel" in error)
    assert _sequence(api.client.get(f"/v1/switching?order_id={oid}", headers=h).json()) == before

    # hold a step a crew is sent to: the crew is called back; released, it is sent again
    sent = _until(api, f"/v1/switching?order_id={oid}&status=due",
                  lambda ss: any(s["crew_id"] and not s["remote"] for s in ss))
    step = next(s for s in sent if s["crew_id"] and not s["remote"])
    r = _post(api, f"/v1/switching/{step['step_id']}/hold", {"reason": "line crew working at the switch"},
              step["version"])
    assert r.status_code == 200, r.text
    held = r.json()
    assert held["held"] and held["hold_reason"] == "line crew working at the switch"
    assert held["status"] == "waiting" and held["crew_id"] == ""
    r = _post(api, f"/v1/switching/{step['step_id']}/hold", {}, step["version"])
    assert r.status_code == 409 and "has changed since version" in r.json()["error"]
    r = _post(api, f"/v1/switching/{step['step_id']}/release", None, held["version"])
    assert r.status_code == 200 and not r.json()["held"]
    again = _until(api, f"/v1/switching/{step['step_id']}", lambda s: s["crew_id"])
    assert again["job_id"] != step["job_id"]

    # the crew sent to it reports the switch operated; every view shows the step
    crew_view = api.client.get(f"/v1/crews/{again['crew_id']}", headers=h).json()
    assert again["step_id"] in [s["step_id"] for s in crew_view["switching"]]
    plan = api.client.get("/v1/plan", headers=h).json()
    assert plan["switching"] == "full"
    assert plan["switching_steps"][again["job_id"]]["step_id"] == again["step_id"]
    r = _report(api, oid, "status", {"status": "switched", "crew_id": again["crew_id"]})
    assert r.status_code == 409 and "must be on site" in r.json()["error"]
    assert _report(api, oid, "status", {"status": "on_site", "crew_id": again["crew_id"]}).status_code == 200
    r = _report(api, oid, "status", {"status": "switched", "crew_id": again["crew_id"]})
    assert r.status_code == 200, r.text
    assert api.client.get(f"/v1/switching/{step['step_id']}", headers=h).json()["status"] == "done"


def test_switching_requests_the_server_cannot_take_are_refused_naming_why(api_switching: Api) -> None:
    api = api_switching
    h = api.as_("dispatcher")
    assert api.client.get("/v1/switching", headers=h).json() == []
    r = api.client.get("/v1/switching/7", headers=h)
    assert r.status_code == 404 and "no switching step 7" in r.json()["error"]
    assert api.client.post("/v1/switching/7/hold", json={}, headers=h).status_code == 404
    assert api.client.post("/v1/switching/x/hold", json={}, headers=h).status_code == 422
    device_id, _, flagged = breaker_fault(api.region)
    assert api.client.post("/v1/device-reports", json={"device_id": device_id, "indicators": flagged},
                           headers=h).status_code == 201
    steps = _until(api, "/v1/switching", lambda ss: bool(ss))
    done = next(s for s in steps if s["status"] == "done")
    waiting = next(s for s in steps if s["status"] == "waiting")
    assert api.client.post(f"/v1/switching/{done['step_id']}/hold", json={}, headers=h).status_code == 428
    r = _post(api, f"/v1/switching/{done['step_id']}/hold", {}, done["version"])
    assert r.status_code == 409 and "is done" in r.json()["error"]
    r = _post(api, f"/v1/switching/{waiting['step_id']}/release", None, waiting["version"])
    assert r.status_code == 409 and "is not held" in r.json()["error"]
    r = _post(api, f"/v1/switching/{waiting['step_id']}/hold", {}, waiting["version"], role="viewer")
    assert r.status_code == 403
    r = _post(api, f"/v1/switching/{waiting['step_id']}/move", {"before": -1}, waiting["version"])
    assert r.status_code == 422
    r = _post(api, f"/v1/switching/{waiting['step_id']}/move", {"before": 999}, waiting["version"])
    assert r.status_code == 404
    r = _post(api, f"/v1/switching/{waiting['step_id']}/refused", {"reason": "tripped"}, waiting["version"])
    assert r.status_code == 409 and "only a step carried out" in r.json()["error"]


def test_a_server_without_switching_has_no_steps(api: Api) -> None:
    h = api.as_("dispatcher")
    assert api.client.get("/v1/switching", headers=h).json() == []
    r = api.client.get("/v1/switching/0", headers=h)
    assert r.status_code == 404 and "switching is off" in r.json()["error"]
    assert api.client.get("/v1/map/switches", headers=h).json()["features"] == []


def test_a_store_is_served_with_the_switching_its_log_was_written_with(tmp_path: Path,
                                                                      region: Region) -> None:
    """The log folds the same way only with the same switching: another choice is refused at
    start, naming the one to use."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", switching="full")
    issue_tokens(settings)
    with TestClient(create_app(settings, region=region)) as client:
        assert client.get("/readyz").status_code == 200
    with pytest.raises(ValueError, match="written with switching full; serve it with --switching full"), \
            TestClient(create_app(dataclasses.replace(settings, switching="off"), region=region)):
        pass


def test_a_customer_brought_back_by_switching_is_no_longer_told_of_an_outage(api_switching: Api) -> None:
    """Per section: after the trip's remote switching, a customer above the isolated section is
    back (no outage, no ETR), one inside it still waits for the repair's ETR."""
    api = api_switching
    net = api.region.network
    device_id, _, flagged = breaker_fault(api.region)
    h = api.as_("dispatcher")
    assert api.client.post("/v1/device-reports", json={"device_id": device_id, "indicators": flagged},
                           headers=h).status_code == 201
    order = _until(api, "/v1/work-orders", lambda os: os and os[0]["etr_s"] is not None)[0]
    opened = next(s["element_id"] for s in order["switching"]
                  if s["action"] == "open" and s["status"] == "done")
    cut = place_switches(net).switch_id.index(opened)
    breaker = net.device_id.index(device_id)
    customers = api.region.customers
    below = [(str(c), int(n)) for c, n in zip(customers["customer_id"], customers["node_idx"], strict=True)
             if net.is_ancestor(breaker, int(n))]
    back = next(c for c, n in below if not net.is_ancestor(cut, n))
    dark = next(c for c, n in below if net.is_ancestor(cut, n))
    assert api.client.get(f"/v1/customers/{back}/outage", headers=h).json() == {
        "customer_id": back, "out": False, "etr_s": None, "etr": None}
    outage = api.client.get(f"/v1/customers/{dark}/outage", headers=h).json()
    assert outage["out"] and outage["etr_s"] == order["etr_s"]
