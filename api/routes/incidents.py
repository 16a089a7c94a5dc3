"""Incidents (grouped calls and device reports) and device reports (SCADA, field reports)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from api.deps import Dispatcher, Live, Who
from api.errors import ERRORS
from api.schemas import DeviceReportIn
from api.views import known_device, verdict

router = APIRouter(tags=["incidents"])


@router.get("/v1/incidents", responses=ERRORS)
def list_incidents(who: Who, lv: Live, open_only: bool = True) -> list[dict[str, Any]]:
    net = lv.region.network
    with lv.lock:
        out = []
        for inc in lv.engine.predictor.incidents:
            if open_only and not inc.is_open:
                continue
            lon, lat = lv.to_wgs.transform(net.x_m[inc.node_idx], net.y_m[inc.node_idx])
            out.append({"incident_id": inc.incident_id, "kind": str(inc.kind), "open": inc.is_open,
                        "node_id": net.node_id[inc.node_idx], "lon": round(float(lon), 6),
                        "lat": round(float(lat), 6), "calls": len(inc.call_ids),
                        "first_report_s": inc.first_report_s,
                        "order_id": lv.engine.order_of_incident.get(inc.incident_id, "")})
        return out


@router.post("/v1/device-reports", status_code=201, responses=ERRORS)
async def device_report(body: DeviceReportIn, who: Dispatcher, lv: Live) -> dict[str, Any]:
    """A protective device reported open (SCADA, or a field report of a blown fuse): an
    incident at the device for certain. ``indicators``: the remote switches whose fault
    passage indicators saw the fault (with switching on, the faulted section is switched
    around at once); they must lie below the device on one path, else 409 naming the one."""
    known_device(lv, body.device_id)
    payload: dict[str, Any] = {"device_id": body.device_id}
    if body.indicators:
        payload["indicators"] = list(body.indicators)
    logged = await asyncio.wrap_future(lv.enqueue("device", payload, wait=bool(body.indicators)))
    if body.indicators:  # the engine may refuse them: wait for its verdict
        await asyncio.to_thread(verdict, logged)
    return {"device_id": body.device_id, "seq": logged.seq, "t_s": logged.t_s}
