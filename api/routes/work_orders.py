"""Work orders: listed and read with their version, stepped through their life (``status``) and
sent a chosen crew (``assignment``); every update names the version it read (If-Match)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response

from api.deps import Dispatcher, IfMatch, Live, PathId, Who, allow
from api.errors import ERRORS, ApiError
from api.live import LiveDispatch
from api.schemas import AssignmentIn, StatusChange, WorkOrderOut
from api.views import apply, expect, find_order, order_out
from dispatch.orders import OPEN, OrderStatus

router = APIRouter(tags=["work orders"])


@router.get("/v1/work-orders", response_model=list[WorkOrderOut], responses=ERRORS)
def list_orders(who: Who, lv: Live, status: OrderStatus | None = None, open_only: bool = False,
                limit: Annotated[int, "max rows"] = 500, offset: int = 0) -> list[WorkOrderOut]:
    if not 1 <= limit <= 10_000 or offset < 0:
        raise ApiError(422, "limit must be 1..10000 and offset 0 or more",
                       [{"field": "limit", "reason": "out of range"}])
    with lv.lock:
        orders = [o for o in lv.engine.orders.values()
                  if (status is None or o.status == status) and (not open_only or o.status in OPEN)]
        return [order_out(lv, o) for o in orders[offset:offset + limit]]


@router.get("/v1/work-orders/{order_id}", response_model=WorkOrderOut, responses=ERRORS)
def get_order(order_id: PathId, who: Who, lv: Live, response: Response) -> WorkOrderOut:
    with lv.lock:
        out = order_out(lv, find_order(lv, order_id))
    response.headers["ETag"] = f'"{out.version}"'
    return out


def _apply_and_answer(lv: LiveDispatch, kind: str, payload: dict[str, Any], order_id: str,
                      response: Response) -> WorkOrderOut:
    apply(lv, kind, payload)
    with lv.lock:
        out = order_out(lv, find_order(lv, order_id))
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.post("/v1/work-orders/{order_id}/status", response_model=WorkOrderOut, responses=ERRORS)
def change_status(order_id: PathId, body: StatusChange, who: Who, lv: Live, response: Response,
                  if_match: IfMatch = None) -> WorkOrderOut:
    """A crew reports arrival (``on_site``) or the repair (``repaired``) of its own order;
    a dispatcher records the callback (``callback_done``) or cancels."""
    crew_steps = body.status in ("on_site", "repaired")
    allow(who, *(("crew", "dispatcher") if crew_steps else ("dispatcher",)))
    with lv.lock:
        order = find_order(lv, order_id)
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        crew_id = body.crew_id or (who.crew_id if who.role == "crew" else None) or order.crew_id
        if who.role == "crew" and crew_id != who.crew_id:
            raise ApiError(403, f"a crew token for {who.crew_id} cannot report for crew {crew_id}")
        if who.role == "crew" and who.crew_id not in order.team:
            raise ApiError(403, f"work order {order_id} is not crew {who.crew_id}'s")
        node = order.node_idx
    if crew_steps and not crew_id:
        raise ApiError(422, "which crew?",
                       [{"field": "crew_id", "reason": "required: the order has no crew"}])
    steps: dict[str, tuple[str, dict[str, Any]]] = {
        "on_site": ("arrived", {"crew_id": crew_id, "order_id": order_id}),
        "repaired": ("repaired", {"crew_id": crew_id, "order_id": order_id, "restored_nodes": [node]}),
        "callback_done": ("callback_done", {"order_id": order_id}),
        "cancelled": ("cancelled", {"order_id": order_id, "reason": body.reason}),
    }
    kind, payload = steps[body.status]
    return _apply_and_answer(lv, kind, {**payload, "expect": expected}, order_id, response)


@router.post("/v1/work-orders/{order_id}/assignment", response_model=WorkOrderOut, responses=ERRORS)
def assign(order_id: PathId, body: AssignmentIn, who: Dispatcher, lv: Live, response: Response,
           if_match: IfMatch = None) -> WorkOrderOut:
    """A dispatcher sends a crew to a waiting order, overriding the plan."""
    with lv.lock:
        find_order(lv, order_id)
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        if body.crew_id not in lv.engine.crews:
            raise ApiError(404, f"no crew {body.crew_id!r}", [{"field": "crew_id", "reason": "unknown crew"}])
    payload = {"order_id": order_id, "crew_id": body.crew_id, "expect": expected}
    return _apply_and_answer(lv, "assign", payload, order_id, response)
