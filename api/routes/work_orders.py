"""Work orders: listed and read with their version, jobs and switching steps, stepped through
their life (``status``), a first responder's findings (``first-response``), the faults a repair
crew's patrol found (``faults-found``), and sent a chosen crew (``assignment``); every update
names the version it read (If-Match)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.auth import Principal
from api.deps import Dispatcher, IfMatch, Limit, Live, Offset, PathId, Who, allow
from api.errors import ERRORS, ApiError
from api.live import LiveDispatch
from api.schemas import AssignmentIn, FaultsFoundIn, FirstResponseIn, StatusChange, WorkOrderOut
from api.views import apply, crew_job, expect, find_crew, find_order, order_out
from dispatch.jobs import Job, JobKind
from dispatch.orders import OPEN, OrderStatus

router = APIRouter(tags=["work orders"])


@router.get("/v1/work-orders", response_model=list[WorkOrderOut], responses=ERRORS)
def list_orders(who: Who, lv: Live, status: OrderStatus | None = None, open_only: bool = False,
                limit: Limit = 500, offset: Offset = 0) -> list[WorkOrderOut]:
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


def _crew_and_job(lv: LiveDispatch, who: Principal, order_id: str, crew_id: str | None,
                  kind: JobKind | None) -> tuple[str, Job]:
    """The crew reporting (named, the token's own, or the order's lead) and its job on the
    order; 403 for another crew's, 409 when the crew is on no job of the order (or of the
    wrong kind)."""
    order = find_order(lv, order_id)
    crews = lv.engine.crews_of(order)
    crew = crew_id or (who.crew_id if who.role == "crew" else None) or (crews[0] if crews else None)
    if not crew:
        raise ApiError(422, "which crew?",
                       [{"field": "crew_id", "reason": "required: the order has no crew"}])
    if who.role == "crew" and crew != who.crew_id:
        raise ApiError(403, f"a crew token for {who.crew_id} cannot report for crew {crew}")
    find_crew(lv, crew)
    job = crew_job(lv, order, crew)
    if job is None:
        if who.role == "crew":
            raise ApiError(403, f"work order {order_id} is not crew {crew}'s")
        raise ApiError(409, f"crew {crew} is on no job of work order {order_id}")
    if kind is not None and job.kind != kind:
        raise ApiError(409, f"crew {crew} is on the {job.kind.value} job {job.job_id}: {_REPORT[job.kind]}")
    return crew, job


_REPORT = {JobKind.FIRST_RESPONSE: "report a first response with its findings (first-response)",
           JobKind.REPAIR: "report it repaired (status repaired) or the faults its patrol found "
                           "(faults-found)",
           JobKind.SWITCHING: "report the switch operated (status switched)"}


@router.post("/v1/work-orders/{order_id}/status", response_model=WorkOrderOut, responses=ERRORS)
def change_status(order_id: PathId, body: StatusChange, who: Who, lv: Live, response: Response,
                  if_match: IfMatch = None) -> WorkOrderOut:
    """A crew reports arriving at its job of the order (``on_site``), the repair of its
    repair job (``repaired``) or the switch of its switching job operated (``switched``); a
    dispatcher records the callbacks (``callback_done``) or cancels."""
    crew_steps = body.status in ("on_site", "repaired", "switched")
    allow(who, *(("crew", "dispatcher") if crew_steps else ("dispatcher",)))
    with lv.lock:
        find_order(lv, order_id)
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        payload: dict[str, Any]
        if body.status == "on_site":
            crew_id, job = _crew_and_job(lv, who, order_id, body.crew_id, None)
            kind, payload = "arrived", {"crew_id": crew_id, "job_id": job.job_id}
        elif body.status == "repaired":
            crew_id, job = _crew_and_job(lv, who, order_id, body.crew_id, JobKind.REPAIR)
            kind, payload = "repaired", {"crew_id": crew_id, "job_id": job.job_id,
                                         "restored_nodes": [job.node_idx]}
        elif body.status == "switched":
            crew_id, job = _crew_and_job(lv, who, order_id, body.crew_id, JobKind.SWITCHING)
            kind, payload = "switching_done", {"crew_id": crew_id, "job_id": job.job_id}
        elif body.status == "callback_done":
            kind, payload = "callback_done", {"order_id": order_id}
        else:
            kind, payload = "cancelled", {"order_id": order_id, "reason": body.reason}
    return _apply_and_answer(lv, kind, {**payload, "expect": expected}, order_id, response)


@router.post("/v1/work-orders/{order_id}/first-response", response_model=WorkOrderOut, responses=ERRORS)
def first_response(order_id: PathId, body: FirstResponseIn, who: Who, lv: Live, response: Response,
                   if_match: IfMatch = None) -> WorkOrderOut:
    """A first responder on site reports what it found: a cause upstream moves the order
    there; what it fixed or found customer-side needs nothing more; the rest becomes repair
    jobs; with nothing left the order is repaired."""
    allow(who, "crew", "dispatcher")
    with lv.lock:
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        crew_id, job = _crew_and_job(lv, who, order_id, body.crew_id, JobKind.FIRST_RESPONSE)
    findings = [{"element_id": f.element_id, "skill": f.skill, "repair_s": round(f.repair_min * 60),
                 "fixed": f.fixed, "customer_side": f.customer_side} for f in body.findings]
    payload = {"crew_id": crew_id, "job_id": job.job_id, "findings": findings, "expect": expected}
    return _apply_and_answer(lv, "first_response", payload, order_id, response)


@router.post("/v1/work-orders/{order_id}/faults-found", response_model=WorkOrderOut, responses=ERRORS)
def faults_found(order_id: PathId, body: FaultsFoundIn, who: Who, lv: Live, response: Response,
                 if_match: IfMatch = None) -> WorkOrderOut:
    """A crew on site of the repair of an operated MV device has patrolled the line below it:
    where the faults are. With full switching the control room switches around them (manual
    switches and ties too); the steps come back in the order's ``switching``."""
    allow(who, "crew", "dispatcher")
    with lv.lock:
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        crew_id, job = _crew_and_job(lv, who, order_id, body.crew_id, JobKind.REPAIR)
    payload = {"crew_id": crew_id, "job_id": job.job_id, "element_ids": list(body.element_ids),
               "expect": expected}
    return _apply_and_answer(lv, "fault_located", payload, order_id, response)


@router.post("/v1/work-orders/{order_id}/assignment", response_model=WorkOrderOut, responses=ERRORS)
def assign(order_id: PathId, body: AssignmentIn, who: Dispatcher, lv: Live, response: Response,
           if_match: IfMatch = None) -> WorkOrderOut:
    """A dispatcher sends a crew to a job of the order (the one named, else its first job
    waiting for a crew the crew can do), overriding the plan."""
    with lv.lock:
        find_order(lv, order_id)
        expected = expect(if_match, f"work order {order_id}", order_id=order_id)
        if body.crew_id not in lv.engine.crews:
            raise ApiError(404, f"no crew {body.crew_id!r}", [{"field": "crew_id", "reason": "unknown crew"}])
    payload = {"order_id": order_id, "crew_id": body.crew_id, "job_id": body.job_id or "", "expect": expected}
    return _apply_and_answer(lv, "assign", payload, order_id, response)
