"""Planned outages: calls from under one inside its window are attached to it, not dispatched."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Dispatcher, Live
from api.errors import ERRORS, ApiError
from api.schemas import PlannedOutageIn
from api.views import known_device

router = APIRouter(tags=["planned outages"])


@router.post("/v1/planned-outages", status_code=201, responses=ERRORS)
def add_planned(body: PlannedOutageIn, who: Dispatcher, lv: Live) -> dict[str, Any]:
    known_device(lv, body.device_id)
    start_s = int((body.start - lv.epoch).total_seconds())
    end_s = int((body.end - lv.epoch).total_seconds())
    outcome = lv.outcome("planned_outage", {"outage_id": body.outage_id, "device_id": body.device_id,
                                            "start_s": start_s, "end_s": end_s})
    if outcome.refused:
        raise ApiError(409, outcome.refused)
    return {"outage_id": body.outage_id, "device_id": body.device_id, "start_s": start_s, "end_s": end_s}
