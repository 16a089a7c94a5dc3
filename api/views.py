"""How the engine's objects look through the API: work orders, crews and calls as response
models, with the version (ETag) an update must name, and the lookups that answer 404 or 422."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import shapely

from api.errors import ApiError
from api.schemas import CallOut, CrewOut, StepOut, WorkOrderOut
from dispatch.jobs import LIVE_JOB, Job, JobKind
from dispatch.orders import WorkOrder
from dispatch.switchboard import PlannedStep
from grid_model.resolve import CallResolver
from grid_model.storm import Call

if TYPE_CHECKING:
    from api.live import LiveDispatch, Logged, Outcome


def version_of(doc: dict[str, Any]) -> str:
    """A short hash of a representation: its version (ETag)."""
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def order_out(lv: LiveDispatch, o: WorkOrder) -> WorkOrderOut:
    """An order with its jobs; ``crew_id`` leads its first job under way, ``assists`` are the
    other crews on its live jobs; ``arrived_s`` is when the first crew reached it."""
    lon, lat = lv.to_wgs.transform(o.x_m, o.y_m)
    jobs = [lv.engine.jobs[j] for j in o.jobs]
    crews = lv.engine.crews_of(o)
    board = lv.engine.switchboard
    steps = [step_out(lv, ps) for ps in board.steps_of(o.order_id)] if board is not None else []
    doc: dict[str, Any] = {
        "order_id": o.order_id, "incident_id": o.incident_id, "status": o.status.value,
        "element_id": o.element_id, "lon": round(float(lon), 6), "lat": round(float(lat), 6),
        "area": o.area, "skill": o.skill, "customers": o.customers, "critical": o.critical,
        "first_report_s": o.first_report_s, "deadline_s": o.deadline_s,
        "crew_id": crews[0] if crews else "", "assists": crews[1:], "merged_into": o.merged_into,
        "arrived_s": o.reached_s, "repaired_s": o.repaired_s, "etr_s": lv.engine.etr.get(o.order_id),
        "confidence": lv.engine.confidence(o),
        "origin": o.origin.value, "customer_side": o.customer_side,
        "jobs": [{"job_id": j.job_id, "kind": j.kind.value, "status": j.status.value,
                  "element_id": j.element_id, "skill": j.skill, "service_s": j.service_s,
                  "crew_id": j.crew_id, "helpers": list(j.helpers), "step_id": _step_id(lv, j)}
                 for j in jobs],
        "switching": [step.model_dump() for step in steps]}
    # The version leaves the ETR and the prediction's confidence out: every re-plan re-quotes
    # the one, every call moves the other, and neither is a change a dispatcher's If-Match
    # should be refused for.
    return WorkOrderOut(**doc, version=version_of({k: v for k, v in doc.items()
                                                   if k not in ("etr_s", "confidence")}))


def _step_id(lv: LiveDispatch, job: Job) -> int | None:
    ps = lv.engine.step_of_job(job.job_id) if job.kind == JobKind.SWITCHING else None
    return ps.step_id if ps is not None else None


def _step_doc(lv: LiveDispatch, ps: PlannedStep) -> dict[str, Any]:
    net = lv.region.network
    lon, lat = lv.to_wgs.transform(net.x_m[ps.step.node], net.y_m[ps.step.node])
    job = lv.engine.jobs.get(ps.job_id) if ps.job_id else None
    step = ps.step
    return {"step_id": ps.step_id, "order_id": ps.order_id, "plan": ps.plan_no, "phase": step.phase.value,
            "action": step.action.value, "element_id": step.element_id, "remote": step.remote,
            "status": ps.status.value, "held": bool(ps.hold), "hold_reason": ps.hold, "after": list(ps.after),
            "restores": step.restores, "job_id": ps.job_id,
            "crew_id": job.crew_id if job is not None and job.status in LIVE_JOB else "",
            "lon": round(float(lon), 6), "lat": round(float(lat), 6)}


def step_out(lv: LiveDispatch, ps: PlannedStep) -> StepOut:
    """A switching step with its version (what a hold, release or move names in If-Match)."""
    doc = _step_doc(lv, ps)
    return StepOut(**doc, version=version_of(doc))


def find_step(lv: LiveDispatch, step_id: int) -> PlannedStep:
    """The step, or 404 (also when switching is off)."""
    board = lv.engine.switchboard
    if board is None:
        raise ApiError(404, f"no switching step {step_id}: switching is off on this server")
    if not 0 <= step_id < len(board.steps):
        raise ApiError(404, f"no switching step {step_id}")
    return board.steps[step_id]


def step_version(lv: LiveDispatch, step_id: int) -> str:
    board = lv.engine.switchboard
    if board is None or not 0 <= step_id < len(board.steps):
        return "none"
    return version_of(_step_doc(lv, board.steps[step_id]))


def crew_job(lv: LiveDispatch, order: WorkOrder, crew_id: str) -> Job | None:
    """The job the crew is on, if it is one of ``order``'s (or of the order it merged into)."""
    state = lv.engine.crews.get(crew_id)
    job = lv.engine.jobs.get(state.job_id) if state is not None and state.job_id else None
    if job is None:
        return None
    head = order
    while head.merged_into:
        head = lv.engine.orders[head.merged_into]
    return job if job.order_id in (order.order_id, head.order_id) else None


def find_order(lv: LiveDispatch, order_id: str) -> WorkOrder:
    order = lv.engine.orders.get(order_id)
    if order is None:
        raise ApiError(404, f"no work order {order_id!r}")
    return order


def _crew_doc(lv: LiveDispatch, crew_id: str) -> dict[str, Any]:
    """What a crew's version covers (not its position or route, which move all the time)."""
    s = lv.engine.crews[crew_id]
    job = lv.engine.jobs.get(s.job_id) if s.job_id else None
    return {"crew_id": crew_id, "depot_id": s.crew.depot_id, "skills": sorted(s.crew.skills),
            "status": s.status.value, "role": s.role.value, "order_id": job.order_id if job else "",
            "job_id": s.job_id, "shift_end_s": s.duty_end_s}


def crew_version(lv: LiveDispatch, crew_id: str) -> str:
    return version_of(_crew_doc(lv, crew_id))


def crew_out(lv: LiveDispatch, crew_id: str) -> CrewOut:
    s = lv.engine.crews[crew_id]
    x, y = lv.engine.position(crew_id, lv.now_s())
    lon, lat = lv.to_wgs.transform(x, y)
    plan = getattr(lv.engine.policy, "plan", None)
    route = plan.route(crew_id) if plan is not None else ([s.job_id] if s.job_id else [])
    doc = _crew_doc(lv, crew_id)
    jobs = ([s.job_id] if s.job_id else []) + [j for j in route if j != s.job_id]
    steps = [step_out(lv, ps) for j in jobs if (ps := lv.engine.step_of_job(j)) is not None]
    return CrewOut(**doc, lon=round(float(lon), 6), lat=round(float(lat), 6), route=list(route),
                   switching=steps, version=version_of(doc))


def find_crew(lv: LiveDispatch, crew_id: str) -> None:
    if crew_id not in lv.engine.crews:
        raise ApiError(404, f"no crew {crew_id!r}")


def call_out(resolver: CallResolver, lv: LiveDispatch, row: dict[str, Any]) -> tuple[CallOut, bool]:
    """A stored call as answered, and whether its caller was found on the grid."""
    res = resolver.resolve(Call(row["call_id"], row["t_s"], customer_id=row["customer_id"],
                                meter_id=row["meter_id"], address=row["address"],
                                lon=row["lon"], lat=row["lat"]))
    node = lv.region.network.node_id[res.node_idx] if res.located else ""
    return CallOut(call_id=row["call_id"], time=row["time"], received_at=row["received_at"],
                   t_s=row["t_s"], customer_id=row["customer_id"], meter_id=row["meter_id"],
                   address=row["address"], lon=row["lon"], lat=row["lat"],
                   status="located" if res.located else "unlocated", reason=res.reason,
                   node_id=node), res.located


def in_territory(lv: LiveDispatch, territory: Any, lon: float, lat: float) -> tuple[float, float]:
    """The position in the region's metres; 422 naming lon and lat when it lies outside the
    service territory (with its margin)."""
    x, y = lv.to_utm.transform(lon, lat)
    if not territory.contains(shapely.Point(x, y)):
        raise ApiError(422, "position outside the service territory",
                       [{"field": "lon", "reason": "outside the service territory"},
                        {"field": "lat", "reason": "outside the service territory"}])
    return float(x), float(y)


def known_device(lv: LiveDispatch, device_id: str) -> None:
    """404 naming ``device_id`` when the grid has no such protective device."""
    if not lv.engine.knows_device(device_id):
        raise ApiError(404, f"no device {device_id!r}", [{"field": "device_id", "reason": "unknown device"}])


def expect(if_match: str | None, what: str, **target: str) -> dict[str, str]:
    """The version an update expects of its order (``order_id=``) or crew (``crew_id=``), to
    log with the event: the engine thread checks it right before applying the event, so a
    check and its update are one step. 428 without If-Match."""
    if if_match is None:
        raise ApiError(428, f"updating {what} needs If-Match with its version (ETag)",
                       [{"field": "If-Match", "reason": "missing"}])
    return {**target, "version": if_match.strip('"')}


def apply(lv: LiveDispatch, kind: str, payload: dict[str, Any]) -> Outcome:
    """Log an event and wait until the engine has applied it; its refusal as an error (see
    ``verdict``)."""
    return verdict(lv.submit(kind, payload, wait=True))


def verdict(logged: Logged, timeout_s: float = 60.0) -> Outcome:
    """What the engine made of a logged event, its refusal as an error: 409 for a step the
    state does not allow or a stale If-Match, 500 when applying it raised (it was rolled back),
    503 when the engine has not got to it in time."""
    assert logged.outcome is not None, "the event was logged without waiting for its outcome"
    try:
        outcome = logged.outcome.result(timeout=timeout_s)
    except TimeoutError:
        raise ApiError(503, "the engine is behind: the request is logged and will be applied, but its "
                            "outcome is not known yet", headers={"Retry-After": "5"}) from None
    if outcome.failed:
        raise ApiError(500, f"the engine failed on this request; it was rolled back and nothing changed "
                            f"({outcome.refused})")
    if outcome.stale:
        raise ApiError(409, outcome.refused, [{"field": "If-Match",
                                               "reason": f"stale: current version is {outcome.stale}"}])
    if outcome.refused:
        raise ApiError(409, outcome.refused)
    return outcome
