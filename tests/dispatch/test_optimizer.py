"""The optimizer policy in the engine: a crew on its way is diverted only when the plan gains
more than the threshold; a whole small storm runs to the end with every order closed after
its callbacks, and the live plan still agrees with the evaluator, duty limits included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dispatch.crews import Crew
from dispatch.demo import run_demo
from dispatch.engine import DispatchEngine
from dispatch.events import Assign, CallReceived, Divert, ShiftStarted
from dispatch.optimizer import OptimizerParams, RestorationOptimizer
from dispatch.orders import OrderStatus
from grid_model.region import Region
from grid_model.storm import Call
from routing.evaluate import evaluate
from routing.travel import RoadTravel
from tests.conftest import SMALL


def _far_and_near_customers(region: Region) -> tuple[str, str]:
    """The customers farthest from and nearest to the first depot."""
    d = region.depots[0]
    cust = region.customers
    net = region.network
    nodes = cust["node_idx"].to_numpy()
    dist = np.hypot(net.x_m[nodes] - d.x_m, net.y_m[nodes] - d.y_m)
    ids = cust["customer_id"]
    return str(ids.iat[int(np.argmax(dist))]), str(ids.iat[int(np.argmin(dist))])


@pytest.mark.parametrize(("min_gain", "diverted"), [(0, True), (10**12, False)])
def test_an_en_route_crew_is_diverted_only_above_the_gain_threshold(
        small_region: Region, travel: RoadTravel, min_gain: int, diverted: bool) -> None:
    d = small_region.depots[0]
    policy = RestorationOptimizer(OptimizerParams(divert_min_gain=min_gain, divert_for_customers=1))
    eng = DispatchEngine(small_region, [Crew("C1", d.depot_id, d.x_m, d.y_m, frozenset({"lv"}), 0, 16.0)],
                         policy, travel=travel)
    far, near = _far_and_near_customers(small_region)
    eng.handle(ShiftStarted(0, "C1"))
    out = eng.handle(CallReceived(100, Call("K1", 100, customer_id=far)))
    (go,) = [x for x in out if isinstance(x, Assign)]
    out = eng.handle(CallReceived(130, Call("K2", 130, customer_id=near)))
    divert = [x for x in out if isinstance(x, Divert)]
    first, second = eng.orders[go.order_id], eng.orders[f"W{2:06d}"]
    a, b = f"{first.order_id}-F1", f"{second.order_id}-F1"
    if diverted:
        (d,) = divert
        assert (d.crew_id, d.from_job_id, d.job_id, d.kind) == ("C1", a, b, "first_response")
        assert first.status == OrderStatus.NEW and second.status == OrderStatus.EN_ROUTE
        assert eng.log.diverted == 1 and policy.stats.diversions == 1
        assert policy.plan is not None and policy.plan.route("C1") == [b, a]
    else:
        assert not divert
        assert first.status == OrderStatus.EN_ROUTE and second.status == OrderStatus.NEW
        assert policy.plan is not None and policy.plan.route("C1") == [a, b]


def test_a_small_storm_runs_to_the_end_under_the_optimizer(
        small_region: Region, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_DISPATCH_CACHE", str(cache_dir))
    res = run_demo(seed=2, policy="optimizer", out_dir=tmp_path, region_params=SMALL, crew_scale=0.3,
                   progress=False)
    eng = res.engine
    k = res.kpis
    assert k["events_rejected"] == 0 and k["work_orders_open_at_end"] == 0
    dispatched = [o for o in eng.orders.values()
                  if o.status not in (OrderStatus.MERGED, OrderStatus.CANCELLED)]
    assert dispatched and all(o.status == OrderStatus.CLOSED for o in dispatched)
    for o in dispatched:
        steps = [s for _, s in o.history]
        assert steps[-3:] == [OrderStatus.REPAIRED, OrderStatus.CALLBACK_DONE, OrderStatus.CLOSED]
        times = [t for t, _ in o.history]
        assert times == sorted(times)
    assert k["callback_rate"] == 1.0 and k["callbacks_done"] == len(eng.callbacks.callbacks)
    assert k["repairs_by_unqualified_crew"] == 0 and k["hours_of_service_breaches"] == 0
    assert 0 < k["reached_by_first_responder_share"] < 1  # responders and repair crews both respond
    bad = [(t, o, etr, eng.orders[o].history) for t, o, etr in eng.etr_history if etr < t]
    assert eng.etr_history and not bad, bad[:3]
    policy = eng.policy
    assert isinstance(policy, RestorationOptimizer) and policy.plan is not None
    plan = policy.plan
    assert plan.problem.shift_work_s > 0  # strict: a job a crew cannot do on duty would raise
    assert evaluate(plan.problem, {c: plan.route(c) for c in plan.crew_ids}).cost == plan.cost
