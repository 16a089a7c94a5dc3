"""The pages (the dispatcher's map, the API docs) and the map's layers: the offline base layer,
the dark areas, the switches and ties with their state, and the critical customers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import Live, Run, Who
from api.errors import ERRORS
from api.map_layers import base_layer, outage_areas, switch_states
from dispatch.orders import OPEN

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter(tags=["map"])


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The map (``static/index.html``); it asks for a token unless anonymous reading is on."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
def docs() -> FileResponse:
    """The interactive API docs, from the vendored Swagger UI (works offline)."""
    return FileResponse(STATIC / "docs.html", media_type="text/html")


@router.get("/v1/map/base", responses=ERRORS)
def map_base(who: Who, run: Run, lv: Live) -> dict[str, Any]:
    """The offline base layer: area polygons and roads as GeoJSON (WGS84), and the depots."""
    if run.base is None:
        run.base = base_layer(lv.region)
    return run.base


@router.get("/v1/map/outages", responses=ERRORS)
def map_outages(who: Who, lv: Live) -> dict[str, Any]:
    """The dark areas: for each open work order, the hull of the customers behind it."""
    with lv.lock:
        open_orders = [(o.order_id, o.node_idx) for o in lv.engine.orders.values() if o.status in OPEN]
    return outage_areas(lv.region, open_orders)


@router.get("/v1/map/switches", responses=ERRORS)
def map_switches(who: Who, lv: Live) -> dict[str, Any]:
    """The switches and ties as the control room believes them now (empty with switching off):
    open or closed, and whether off their normal state."""
    with lv.lock:
        if lv.switches is None or lv.engine.switchboard is None:
            return {"type": "FeatureCollection", "features": []}
        open_nodes, tie_load = lv.engine.switch_state()
    return switch_states(lv.region, lv.switches, open_nodes, tie_load)


CELL_DEG = 0.05  # life-support registrants are shown to non-dispatchers per cell of about 5 km


@router.get("/v1/map/critical", responses=ERRORS)
def map_critical(who: Who, run: Run, lv: Live) -> list[dict[str, Any]]:
    """Critical customers (hospitals, life support): where, and whether an open order covers
    them (their supply is out). Dispatchers see each one; other roles see hospitals, and
    life-support registrants only as counts per grid cell (at the cell's centre, no ids)."""
    with lv.lock:
        rows = [{"customer_id": r.customer_id, "critical": r.critical, "lon": float(r.lon),
                 "lat": float(r.lat), "out": lv.engine.customer_etr(r.customer_id) is not None, "count": 1}
                for r in run.critical]
    if who.role == "dispatcher":
        return rows
    cells: dict[tuple[str, int, int, bool], dict[str, Any]] = {}
    shown = []
    for row in rows:
        if row["critical"] == "hospital":
            shown.append(row)
            continue
        i, j = int(row["lon"] // CELL_DEG), int(row["lat"] // CELL_DEG)
        cell = cells.setdefault((row["critical"], i, j, row["out"]), {
            "customer_id": "", "critical": row["critical"], "lon": round((i + 0.5) * CELL_DEG, 6),
            "lat": round((j + 0.5) * CELL_DEG, 6), "out": row["out"], "count": 0})
        cell["count"] += 1
    return shown + list(cells.values())
