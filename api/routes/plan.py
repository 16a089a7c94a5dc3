"""The plan (every crew's route of jobs, the switching step of each switching job on them, and
every open order's ETR) and re-plan requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Dispatcher, Live, Who
from api.errors import ERRORS

router = APIRouter(tags=["plan"])


@router.get("/v1/plan", responses=ERRORS)
def get_plan(who: Who, lv: Live) -> dict[str, Any]:
    with lv.lock:
        plan = getattr(lv.engine.policy, "plan", None)
        routes = {c: plan.route(c) for c in lv.engine.crews} if plan is not None else {
            c: [s.job_id] for c, s in lv.engine.crews.items() if s.job_id}
        steps = {j: lv.engine.step_of_job(j) for r in routes.values() for j in r}
        return {"policy": lv.engine.policy.name, "version": lv.engine.policy.plan_version,
                "routes": {c: r for c, r in routes.items() if r}, "etr_s": dict(lv.engine.etr),
                "switching": lv.settings.switching,
                "switching_steps": {j: {"step_id": ps.step_id, "action": ps.step.action.value,
                                        "element_id": ps.step.element_id}
                                    for j, ps in steps.items() if ps is not None}}


@router.post("/v1/plan/replan", status_code=202, responses=ERRORS)
def replan(who: Dispatcher, lv: Live) -> dict[str, Any]:
    """Ask for a new plan from the current state at once."""
    return {"queued": lv.submit("replan", {}).seq}
