"""Switching: the steps of the work orders' switching plans (isolate the faulted section,
restore the healthy ones, back to normal after the repair), a dispatcher's hold, release and
move of a step (refused with the reason, 409, when unsafe), and a step that did not hold in the
field. Every override names the step's version (If-Match)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response

from api.deps import Dispatcher, IfMatch, Live, Who
from api.errors import ERRORS, ApiError
from api.live import LiveDispatch
from api.schemas import StepHoldIn, StepMoveIn, StepOut, StepRefusedIn
from api.views import apply, expect, find_step, step_out
from dispatch.switchboard import StepStatus

router = APIRouter(tags=["switching"])


@router.get("/v1/switching", response_model=list[StepOut], responses=ERRORS)
def list_steps(who: Who, lv: Live, order_id: str | None = None,
               status: Literal["waiting", "due", "done", "dropped"] | None = None) -> list[StepOut]:
    """The steps of every switching plan (empty when switching is off), in the order they
    were planned; ``order_id`` and ``status`` filter."""
    with lv.lock:
        board = lv.engine.switchboard
        if board is None:
            return []
        steps = board.steps_of(order_id) if order_id is not None else board.steps
        return [step_out(lv, ps) for ps in steps if status is None or ps.status == status]


@router.get("/v1/switching/{step_id}", response_model=StepOut, responses=ERRORS)
def get_step(step_id: int, who: Who, lv: Live, response: Response) -> StepOut:
    with lv.lock:
        out = step_out(lv, find_step(lv, step_id))
    response.headers["ETag"] = f'"{out.version}"'
    return out


def _override(lv: LiveDispatch, kind: str, step_id: int, if_match: str | None, payload: dict[str, Any],
              response: Response) -> StepOut:
    with lv.lock:
        find_step(lv, step_id)
        expected = expect(if_match, f"switching step {step_id}", step_id=str(step_id))
    apply(lv, kind, {"step_id": step_id, **payload, "expect": expected})
    with lv.lock:
        out = step_out(lv, find_step(lv, step_id))
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.post("/v1/switching/{step_id}/hold", response_model=StepOut, responses=ERRORS)
def hold(step_id: int, body: StepHoldIn, who: Dispatcher, lv: Live, response: Response,
         if_match: IfMatch = None) -> StepOut:
    """Hold a step: it, and the steps after it, wait until released; a crew on its way to it
    is called back (409 when a crew is at the switch carrying it out, or it is done)."""
    return _override(lv, "step_hold", step_id, if_match, {"reason": body.reason}, response)


@router.post("/v1/switching/{step_id}/release", response_model=StepOut, responses=ERRORS)
def release(step_id: int, who: Dispatcher, lv: Live, response: Response, if_match: IfMatch = None) -> StepOut:
    """Release a held step: it comes due when the steps it waits for are done."""
    return _override(lv, "step_release", step_id, if_match, {}, response)


@router.post("/v1/switching/{step_id}/move", response_model=StepOut, responses=ERRORS)
def move(step_id: int, body: StepMoveIn, who: Dispatcher, lv: Live, response: Response,
         if_match: IfMatch = None) -> StepOut:
    """Carry the step out before step ``before`` of the same work order. 409 with the reason
    when that would close onto a known fault, parallel two feeders or load a tie past its
    capacity (nothing changes), or the other step is done or under way."""
    with lv.lock:
        find_step(lv, body.before)
    return _override(lv, "step_move", step_id, if_match, {"before": body.before}, response)


@router.post("/v1/switching/{step_id}/refused", response_model=StepOut, responses=ERRORS)
def refused(step_id: int, body: StepRefusedIn, who: Dispatcher, lv: Live, response: Response,
            if_match: IfMatch = None) -> StepOut:
    """A step carried out did not hold (the device tripped on a fault nobody knew of, or the
    field refused it): the switch is as before it; the steps after it are dropped, or, for a
    return to normal, a first responder goes to find the fault and the step waits."""
    with lv.lock:
        ps = find_step(lv, step_id)
        if ps.status != StepStatus.DONE:
            raise ApiError(409, f"switching step {step_id} is {ps.status.value}: only a step carried out can "
                                f"fail to hold")
        payload = {"element_id": ps.step.element_id, "action": ps.step.action.value, "reason": body.reason}
    return _override(lv, "switch_refused", step_id, if_match, payload, response)
