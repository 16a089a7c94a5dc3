"""Planned outages: calls from under one inside its window are attached to it, not dispatched.
Their ids are the dispatcher's, unique among planned outages (409 on reuse) and kept apart from
incident ids (the engine knows them as ``planned:<id>``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Dispatcher, Live
from api.errors import ERRORS
from api.live import PLANNED_PREFIX
from api.schemas import PlannedOutageIn
from api.views import apply, known_device

router = APIRouter(tags=["planned outages"])


@router.post("/v1/planned-outages", status_code=201, responses=ERRORS)
def add_planned(body: PlannedOutageIn, who: Dispatcher, lv: Live) -> dict[str, Any]:
    known_device(lv, body.device_id)
    start_s = int((body.start - lv.epoch).total_seconds())
    end_s = int((body.end - lv.epoch).total_seconds())
    apply(lv, "planned_outage", {"outage_id": PLANNED_PREFIX + body.outage_id, "device_id": body.device_id,
                                 "start_s": start_s, "end_s": end_s})
    return {"outage_id": body.outage_id, "device_id": body.device_id, "start_s": start_s, "end_s": end_s}
