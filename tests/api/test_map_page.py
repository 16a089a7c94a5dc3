"""The dispatcher's map in a real browser (headless Chromium driven by Playwright): the orders
and crews drawn match the API's counts, a dispatcher reassigns an order through the page and
the API shows it, the labels switch to Chinese; on a server that switches, the switches and ties
are drawn with their state, a dispatcher holds and releases a switching step from the page, and
a move the server refuses as unsafe is shown with its reason;
with ``serve --demo`` an anonymous visitor watches the default storm read-only. Screenshots are
kept as test artifacts."""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from api.app import create_app
from api.server_process import free_port, server_env, start_server
from grid_model.region import Region
from tests.api.conftest import issue_tokens, make_settings, served
from tests.api.test_switching import breaker_fault

ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _storm(base: str, token: str, region: Region) -> list[dict]:  # type: ignore[type-arg]
    """Calls from customers under different transformers; returns the open orders once every
    one has a crew."""
    h = {"Authorization": f"Bearer {token}"}
    customers = region.customers["customer_id"]
    for k in range(8):
        httpx2.post(f"{base}/v1/calls", json={"call_id": f"P{k}", "customer_id": str(customers.iloc[97 * k])},
                    headers=h).raise_for_status()
    for _ in range(200):
        orders = httpx2.get(f"{base}/v1/work-orders?open_only=true", headers=h).json()
        if orders and all(o["crew_id"] for o in orders):
            return orders  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("orders did not get crews")


def _need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise AssertionError("Chromium is missing (make test installs Debian's chromium package)")
        pytest.skip("Chromium is not installed here (make test installs Debian's chromium package)")
    return CHROMIUM


def _wait_until(page: Any, expression: str, timeout: float = 30_000) -> None:
    """Poll ``expression`` in the page until it is true (Playwright's own wait_for_function
    evaluates strings with eval, which the server's Content-Security-Policy forbids)."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout / 1000:.0f} s: {expression}")
        time.sleep(0.1)


ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@contextmanager
def _page(locale: str) -> Iterator[tuple[Any, list[str]]]:
    """A page in headless Chromium for a browser set to ``locale``, and the script errors it
    raises (a Content-Security-Policy violation counts as one)."""
    chromium = _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=locale)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            yield page, errors
        finally:
            browser.close()


def test_the_map_shows_what_the_api_holds_and_reassigns_through_it(
        http_server: tuple[str, dict[str, str]], region: Region) -> None:
    _need_chromium()
    base, tokens = http_server
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    orders = _storm(base, tokens["dispatcher"], region)
    on_duty = [c for c in httpx2.get(f"{base}/v1/crews", headers=h).json() if c["status"] != "off"]
    with _page("en-US") as (page, errors):
        page.goto(base + "/")
        page.fill("#token", "not-a-token")
        page.click("#login-form button")
        page.wait_for_selector("#login-error:has-text('not accepted')")
        page.fill("#token", tokens["dispatcher"])
        page.click("#login-form button")
        _wait_until(page, f"document.querySelectorAll('path.order-marker').length === {len(orders)}"
                          f" && document.querySelectorAll('path.outage-area').length === {len(orders)}")
        assert page.locator("path.crew-marker").count() == len(on_duty)
        assert page.locator("path.outage-area").count() == len(orders)  # one dark area per open order
        assert page.text_content("#count-orders") == str(len(orders))
        assert page.text_content("#count-crews") == str(len(on_duty))
        assert page.locator("#breach li").count() == min(10, sum(1 for o in orders if o["arrived_s"] is None))
        # pick the order closest to its limit and send another crew through the page
        order_id = page.get_attribute("#breach li >> nth=0", "data-order")
        page.click("#breach li >> nth=0")
        page.wait_for_selector("#reassign:not([hidden])")
        shown = next(o for o in orders if o["order_id"] == order_id)
        assert f"cause predicted with: {math.floor(100 * shown['confidence'] + 0.5)} %" in \
            page.text_content("#order-detail")
        crew_id = page.eval_on_selector("#crew-select", "s => s.value")
        assert crew_id
        page.click("#reassign button")
        page.wait_for_selector(f"#reassign-result:has-text('{crew_id}')")
        after = httpx2.get(f"{base}/v1/work-orders/{order_id}", headers=h).json()
        assert after["crew_id"] == crew_id and after["status"] == "en_route"
        page.click("#lang")
        assert page.text_content("#count-orders") == str(len(orders))
        assert "未完成工单" in page.text_content("#kpis")
        page.click("#lang")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map.png"))
    assert errors == []


def test_the_map_draws_the_switch_states_and_a_dispatcher_holds_a_step_from_it(
        tmp_path: Path, region: Region) -> None:
    _need_chromium()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", switching="full")
    tokens = issue_tokens(settings)
    h = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    device_id, fault, flagged = breaker_fault(region)
    with served(create_app(settings, region=region)) as base:
        httpx2.post(f"{base}/v1/device-reports", json={"device_id": device_id, "indicators": flagged},
                    headers=h).raise_for_status()
        for _ in range(200):
            orders = httpx2.get(f"{base}/v1/work-orders?open_only=true", headers=h).json()
            if orders and orders[0]["switching"]:
                break
            time.sleep(0.05)
        (order,) = orders
        shown = httpx2.get(f"{base}/v1/map/switches", headers=h).json()["features"]
        off_normal = sum(f["geometry"]["type"] == "Point" and f["properties"]["off_normal"] for f in shown)
        points = sum(f["geometry"]["type"] == "Point" for f in shown)
        assert off_normal >= 1
        step = next(s for s in order["switching"] if s["status"] == "waiting")
        with _page("en-US") as (page, errors):
            page.goto(base + "/")
            page.fill("#token", tokens["dispatcher"])
            page.click("#login-form button")
            _wait_until(page, f"document.querySelectorAll('path.switch-marker').length === {points}")
            assert page.locator("path.switch-marker.off-normal").count() == off_normal
            assert page.locator("path.tie-line").count() == len(shown) - points
            page.click("path.order-marker")
            page.wait_for_selector(f"#steps li[data-step='{step['step_id']}'] button:has-text('Hold')")
            page.click(f"#steps li[data-step='{step['step_id']}'] button.hold")
            page.wait_for_selector(f"#steps li.held[data-step='{step['step_id']}']")
            assert httpx2.get(f"{base}/v1/switching/{step['step_id']}", headers=h).json()["held"]
            page.click(f"#steps li[data-step='{step['step_id']}'] button.hold:has-text('Release')")
            page.wait_for_selector(f"#steps li[data-step='{step['step_id']}']:not(.held)")
            assert not httpx2.get(f"{base}/v1/switching/{step['step_id']}", headers=h).json()["held"]
            # the repair crew's patrol brings the manual steps; one moved before the isolation it
            # waits for is refused by the server, and the page says why
            oid = order["order_id"]
            crew = next(j["crew_id"] for j in order["jobs"] if j["kind"] == "repair")
            for what, body in (("status", {"status": "on_site", "crew_id": crew}),
                               ("faults-found", {"crew_id": crew, "element_ids": [fault]})):
                version = httpx2.get(f"{base}/v1/work-orders/{oid}", headers=h).headers["ETag"]
                httpx2.post(f"{base}/v1/work-orders/{oid}/{what}", json=body,
                            headers={**h, "If-Match": version}).raise_for_status()
            steps = httpx2.get(f"{base}/v1/work-orders/{oid}", headers=h).json()["switching"]
            status = {s["step_id"]: s["status"] for s in steps}
            restore = next(s for s in steps
                           if s["phase"] == "restore" and any(status[a] != "done" for a in s["after"]))
            page.click("path.order-marker")
            page.wait_for_selector(f"#steps li[data-step='{restore['step_id']}'] button.move")
            page.click(f"#steps li[data-step='{restore['step_id']}'] button.move")
            page.wait_for_selector("#reassign-result:has-text('is unsafe')")
            after = httpx2.get(f"{base}/v1/switching/{restore['step_id']}", headers=h).json()["after"]
            assert after == restore["after"]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "map-switching.png"))
        assert errors == []


def test_demo_mode_plays_the_storm_for_an_anonymous_reader(tmp_path: Path) -> None:
    _need_chromium()
    env = server_env("")
    env.pop("OUTAGE_DISPATCH_SECRET")
    port = free_port()
    proc = start_server(tmp_path / "demo", port, env, "--demo", "--demo-speed", "300", "--scale", "0.1")
    base = f"http://127.0.0.1:{port}"
    try:
        assert "demo mode (development use only)" in (tmp_path / "demo" / "server.log").read_text()
        assert httpx2.post(f"{base}/v1/calls", json={"call_id": "X", "customer_id": "1"}).status_code == 403
        with _page("zh-CN") as (page, errors):
            page.goto(base + "/")
            page.wait_for_selector("#app:not([hidden])")
            assert "只读" in page.text_content("#who")  # read-only, in Chinese for a zh browser
            _wait_until(page, "document.querySelectorAll('path.order-marker').length > 0", timeout=60_000)
            for _ in range(40):  # the storm moves on: compare a moment when page and API agree
                drawn = page.locator("path.order-marker").count()
                api_open = len(httpx2.get(f"{base}/v1/work-orders?open_only=true").json())
                if drawn == api_open == int(page.text_content("#count-orders") or -1):
                    break
                time.sleep(0.25)
            else:
                raise AssertionError(f"page shows {drawn} orders, the API {api_open}")
            page.click("#breach li >> nth=0")
            assert page.locator("#reassign").is_hidden()  # a reader cannot send crews
            assert page.locator("path.switch-marker").count() > 0  # the demo switches (full)
            assert page.locator("#steps button").count() == 0  # a reader cannot hold steps
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "map-demo.png"))
        assert errors == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_api_docs_work_offline(http_server: tuple[str, dict[str, str]]) -> None:
    """/docs draws every operation from the vendored Swagger UI with nothing fetched elsewhere."""
    _need_chromium()
    base, _ = http_server
    elsewhere: list[str] = []
    with _page("en-US") as (page, errors):
        page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        page.goto(base + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = httpx2.get(f"{base}/openapi.json").json()["paths"]
        assert page.locator(".opblock").count() == sum(len(ops) for ops in paths.values())
    assert errors == [] and elsewhere == []
