"""Random event sequences through the engine, under both groupings: calls, last gasps and meters
back, clock ticks, crews on shift doing their jobs (findings at the site, fixed or not, the
customer's own, or upstream), callback outcomes, cancellations and SCADA trips above a few
transformers' customers. After every event the orders and callbacks must agree with the
predictor; at the end, with every order finished or cancelled, every callback is due, and once
they are answered every repaired order is closed."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dispatch.crews import Crew, CrewRole
from dispatch.engine import ENGINE_GROUPING, DispatchEngine
from dispatch.events import (
    AmiMessage,
    CallbackMade,
    CallReceived,
    ClockTick,
    CrewArrived,
    DeviceOperated,
    Event,
    EventError,
    Finding,
    FirstResponseDone,
    OrderCancelled,
    RepairFinished,
    ShiftEnded,
    ShiftStarted,
)
from dispatch.jobs import JobKind
from dispatch.orders import OPEN, WAITING, OrderStatus
from dispatch.policy import NearestAvailableCrew
from dispatch.roster import CrewStatus
from grid_model.network import DeviceKind, NodeKind
from grid_model.predict import IncidentKind, PredictionParams
from grid_model.priors import DEFAULT_PRIORS
from grid_model.region import Region
from grid_model.storm import Call
from routing.travel import RoadTravel

RUNS = 100
STEPS = 120
OPS = {"call": 4, "gasp": 1, "restore": 2, "tick": 1, "shift": 1, "crew": 4, "callback": 2,
       "cancel": 1, "scada": 1}
GROUPINGS = {"rollup": ENGINE_GROUPING,
             "posterior": PredictionParams(DEFAULT_PRIORS, estimate=False, up_odds=100.0)}


def _customer_groups(region: Region) -> list[list[tuple[str, str, int]]]:
    """(customer, meter, node) under each transformer serving two to eight customers."""
    net, cust = region.network, region.customers
    out = []
    for x in net.nodes_of_kind(NodeKind.TRANSFORMER):
        sl = net.subtree(int(x))
        c = cust[(cust.node_idx >= sl.start) & (cust.node_idx < sl.stop)]
        if 2 <= len(c) <= 8:
            out.append(list(zip(c.customer_id, c.meter_id, c.node_idx.astype(int), strict=True)))
    return out


def _engine(region: Region, travel: RoadTravel, grouping: PredictionParams) -> DispatchEngine:
    d = region.depots[0]
    crews = [Crew("FR1", d.depot_id, d.x_m, d.y_m, frozenset({"lv"}), 0, 16.0, role=CrewRole.FIRST_RESPONDER),
             Crew("R1", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv", "cable"}), 0, 16.0),
             Crew("R2", d.depot_id, d.x_m, d.y_m, frozenset({"lv", "mv", "cable"}), 0, 16.0)]
    return DispatchEngine(region, crews, NearestAvailableCrew(), travel=travel, grouping=grouping)


def _crew_moves(eng: DispatchEngine, rng: np.random.Generator, t: int) -> Event | None:
    """A crew on a job arrives, or finishes what it is on site for."""
    moving = (CrewStatus.EN_ROUTE, CrewStatus.ON_SITE)
    busy = [s for s in eng.crews.values() if s.job_id and s.status in moving]
    if not busy:
        return None
    st = busy[int(rng.integers(len(busy)))]
    job = eng.jobs[st.job_id]
    if st.status == CrewStatus.EN_ROUTE:
        return CrewArrived(t, st.crew_id, job.job_id)
    if job.kind == JobKind.REPAIR:
        return RepairFinished(t, st.crew_id, job.job_id, ())
    node, r = job.node_idx, rng.random()
    if r < 0.6:  # upstream on the supply path, or at the site
        ups = [n for n in eng.net.path_up(node)[1:6] if eng.net.kind[n] >= NodeKind.TRANSFORMER]
        node = ups[int(rng.integers(len(ups)))] if r < 0.2 and ups else node
        element, _, skill = eng._site(node)
        fixed = bool(rng.random() < 0.4)
        repair_s = 600 if fixed else int(rng.integers(600, 3600))
        return FirstResponseDone(t, st.crew_id, job.job_id, (Finding(element, skill, repair_s, fixed=fixed),))
    if r < 0.7:
        own = Finding(eng._site(node)[0], "", 0, customer_side=True)
        return FirstResponseDone(t, st.crew_id, job.job_id, (own,))
    return FirstResponseDone(t, st.crew_id, job.job_id, ())


def _check(eng: DispatchEngine, ev: Event) -> None:
    """The orders follow the open incidents; each customer has one callback not yet due at
    most, held dark by an open order; a located call leaves its caller one; a repaired order
    whose callbacks are done is closed."""
    p = eng.predictor
    for inc in p.incidents:
        if inc.is_open and inc.kind != IncidentKind.PLANNED:
            order = eng.orders[eng.order_of_incident[inc.incident_id]]
            assert order.status in OPEN and order.node_idx == inc.node_idx, (ev, inc.incident_id)
    waiting = [cb for cb in eng.callbacks.callbacks.values()
               if cb.due_s is None and cb.order_id in eng.orders]
    assert max(Counter(cb.customer_id for cb in waiting).values(), default=0) <= 1, ev
    assert all(eng.holder(cb.node_idx) is not None for cb in waiting), ev
    if isinstance(ev, CallReceived):
        res = eng.resolver.resolve(ev.call)
        assert any(cb.customer_id == eng.customer_id(res.node_idx) for cb in waiting), ev
    for order_id, order in eng.orders.items():
        assert not (order.status == OrderStatus.REPAIRED and eng.callbacks.all_done(order_id)), (ev, order_id)


def _run(eng: DispatchEngine, pool: list[tuple[str, str, int]], rng: np.random.Generator) -> None:
    net = eng.net
    devices = sorted({n for _, _, v in pool for n in net.path_up(v)[:12] if net.device[n] != DeviceKind.NONE})
    names, weights = list(OPS), np.array(list(OPS.values()), float)
    t = 0

    def apply(ev: Event) -> None:
        try:
            eng.handle(ev)
        except EventError:
            return  # refused: nothing changed
        _check(eng, ev)

    for step in range(STEPS):
        t += int(rng.integers(30, 700))
        op = str(rng.choice(names, p=weights / weights.sum())) if step else "call"
        customer, meter, _ = pool[int(rng.integers(len(pool)))]
        ev: Event | None = None
        if op == "call":
            ev = CallReceived(t, Call(f"K{step}", t, customer_id=customer))
        elif op in ("gasp", "restore"):
            ev = AmiMessage(t, meter, "last_gasp" if op == "gasp" else "restore")
        elif op == "shift":
            off = [c for c, st in eng.crews.items() if st.status == CrewStatus.OFF]
            ev = ShiftStarted(t, off[0]) if off else None
        elif op == "crew":
            ev = _crew_moves(eng, rng, t)
        elif op == "callback":
            due = [cb for cb in eng.callbacks.callbacks.values()
                   if cb.due_s is not None and cb.outcome is None]
            if due:
                cb = due[int(rng.integers(len(due)))]
                ev = CallbackMade(t, cb.callback_id, str(rng.choice(["restored", "still_dark", "no_answer"])))
        elif op == "cancel":
            waiting = [o.order_id for o in eng.orders.values() if o.status in WAITING]
            ev = OrderCancelled(t, waiting[int(rng.integers(len(waiting)))], "duplicate") if waiting else None
        elif op == "scada":
            ev = DeviceOperated(t, net.device_id[devices[int(rng.integers(len(devices)))]])
        apply(ev or ClockTick(t))
    for crew_id, st in eng.crews.items():
        if st.status == CrewStatus.OFF:
            t += 1
            apply(ShiftStarted(t, crew_id))
    for _ in range(600):
        if not any(o.status in OPEN for o in eng.orders.values()):
            break
        t += 60
        ev = _crew_moves(eng, rng, t)
        if ev is None:
            idle = [o for o in eng.orders.values() if o.status in WAITING and eng._worked_job(o) is None]
            spent = [c for c, st in eng.crews.items() if st.status == CrewStatus.IDLE and st.duty_end_s <= t]
            if idle and rng.random() < 0.3:
                ev = OrderCancelled(t, idle[0].order_id, "duplicate")
            for crew_id in spent:  # past their shift's end: a fresh shift
                apply(ShiftEnded(t, crew_id))
                apply(ShiftStarted(t + 1, crew_id))
        apply(ev or ClockTick(t))
    assert not any(o.status in OPEN for o in eng.orders.values())
    assert all(cb.due_s is not None for cb in eng.callbacks.callbacks.values())
    for cb in list(eng.callbacks.callbacks.values()):
        if cb.outcome is None:
            t += 1
            apply(CallbackMade(t, cb.callback_id, "restored"))
    assert all(o.status != OrderStatus.REPAIRED for o in eng.orders.values())


@pytest.mark.parametrize("grouping", list(GROUPINGS))
def test_random_event_sequences_keep_orders_and_callbacks_consistent(
        small_region: Region, travel: RoadTravel, grouping: str) -> None:
    groups = _customer_groups(small_region)
    for seed in range(RUNS):
        rng = np.random.default_rng([seed, len(grouping)])
        g0 = int(rng.integers(len(groups) - 3))
        pool = [c for g in groups[g0:g0 + 3] for c in g]
        _run(_engine(small_region, travel, GROUPINGS[grouping]), pool, rng)
