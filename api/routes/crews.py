"""Crews: listed and read with their version and planned route; a crew's GPS fix and duty
changes (its own crew only, or a dispatcher's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import IfMatch, Live, PathId, Run, Who, allow
from api.errors import ERRORS, ApiError
from api.schemas import CrewOut, CrewUpdate
from api.views import apply, crew_out, expect, find_crew, in_territory

router = APIRouter(tags=["crews"])


@router.get("/v1/crews", response_model=list[CrewOut], responses=ERRORS)
def list_crews(who: Who, lv: Live, status: str | None = None) -> list[CrewOut]:
    with lv.lock:
        return [crew_out(lv, c) for c, s in lv.engine.crews.items() if status is None or s.status == status]


@router.get("/v1/crews/{crew_id}", response_model=CrewOut, responses=ERRORS)
def get_crew(crew_id: PathId, who: Who, lv: Live, response: Response) -> CrewOut:
    with lv.lock:
        find_crew(lv, crew_id)
        out = crew_out(lv, crew_id)
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.patch("/v1/crews/{crew_id}", response_model=CrewOut, responses=ERRORS)
def update_crew(crew_id: PathId, body: CrewUpdate, who: Who, run: Run, lv: Live, response: Response,
                if_match: IfMatch = None) -> CrewOut:
    """A crew's GPS fix or duty change (its own crew only), or a dispatcher's."""
    allow(who, "crew", "dispatcher")
    if who.role == "crew" and who.crew_id != crew_id:
        raise ApiError(403, f"a crew token for {who.crew_id} cannot update crew {crew_id}")
    with lv.lock:
        find_crew(lv, crew_id)
        expected = expect(if_match, f"crew {crew_id}", crew_id=crew_id)
        status = lv.engine.crews[crew_id].status
    steps: list[tuple[str, dict[str, Any]]] = []
    if body.lon is not None and body.lat is not None:
        x, y = in_territory(lv, run.territory, body.lon, body.lat)
        steps.append(("position", {"crew_id": crew_id, "x_m": x, "y_m": y}))
    if body.on_duty is True and status == "off":
        steps.append(("shift_start", {"crew_id": crew_id}))
    elif body.on_duty is False and status != "off":
        steps.append(("shift_end", {"crew_id": crew_id}))
    for kind, payload in steps:
        apply(lv, kind, {**payload, "expect": expected})
    with lv.lock:
        out = crew_out(lv, crew_id)
    response.headers["ETag"] = f'"{out.version}"'
    return out
