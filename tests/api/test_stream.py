"""The change stream: a subscriber on a real server hears each applied event and the decisions
it led to, as server-sent events."""

from __future__ import annotations

import json
import time

import httpx2

from grid_model.region import Region


def test_a_call_and_the_crew_sent_for_it_arrive_on_the_stream(http_server: tuple[str, dict[str, str]],
                                                               region: Region) -> None:
    base, tokens = http_server
    headers = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    seen: list[dict] = []  # type: ignore[type-arg]
    with httpx2.Client(base_url=base, headers=headers, timeout=30) as client, \
            client.stream("GET", "/v1/events/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: hello"
        customer = str(region.customers["customer_id"].iloc[11])
        assert httpx2.post(f"{base}/v1/calls", json={"call_id": "S1", "customer_id": customer},
                           headers=headers).status_code == 201
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = next(lines)
            if line.startswith("data: ") and '"decisions"' in line:
                seen.append(json.loads(line[6:]))
                if any(d["type"] == "Assign" for m in seen for d in m["decisions"]):
                    break
    assert seen[0]["event"] == "call" and seen[0]["refused"] == ""
    assign = next(d for m in seen for d in m["decisions"] if d["type"] == "Assign")
    order = httpx2.get(f"{base}/v1/work-orders/{assign['order_id']}", headers=headers).json()
    assert order["crew_id"] == assign["crew_id"] and order["status"] == "en_route"
