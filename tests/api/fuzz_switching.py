"""Stateful fuzzing of the live service's switching (issue 17, section 5): random sequences of
legal requests against a server that switches in full (``--switching full``), on SQLite or
PostgreSQL, with the promises of switching checked after every step.

``SwitchingFuzz`` extends ``tests.api.fuzz.ApiFuzz`` (its server, restarts, webhook receiver,
tally and ``state_problems`` all stay) with the operations of a control room that switches:
SCADA trips whose fault passage indicators name the remote switches that saw the fault current
(all of those between the device and a fault the machine chose on the feeders with ties), the
repair crew's patrol reporting the faults it found (``faults-found``), crews reporting switching
steps done (``switched``), dispatchers holding, releasing and moving steps and reporting a step
that did not hold (``refused``), each naming the step's version, now and then right after another
dispatcher changed the step (a stale version, which must be refused), reads of the steps, and
requests the state does not allow (indicators off the device's path, a patrol's fault outside
its line, a switch reported by a crew not at one). The ordinary calls, crews' reports,
assignments, cancellations and restarts of ``ApiFuzz`` go on among them, so that switching has
work to share and orders merge under it.

Every fault the machine reports is consistent with the ones before (a device trips only for a
fault it feeds as the map shows the state, naming every remote switch between them; a patrol
reports every fault the trips put below its repair and not yet repaired), so that what the
server believes can be held to them. After every step, beyond
``ApiFuzz``'s checks: every refusal (4xx) says why, and a switching one names the step, switch,
element or crew at fault; the switch states the map shows (with the devices of the open orders)
feed no known fault, put no two feeders in parallel and load no tie past its capacity
(``grid_model.switches.state_problems``); the steps hang together (one waiting or due belongs to
an open order, none is due while held or before the steps it waits for, a manual step due has
its live switching job, a step done or dropped has none live); the work orders list the same
steps; a step's version changes when what it shows does, and only then. A refused request
changes no step and no
switch; a restart rebuilds the same steps and switch states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2
import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from grid_model.network import DeviceKind, NodeKind
from grid_model.switches import SwitchKind, SwitchLayer, Tie, energised, state_problems
from grid_model.switching import SwitchingError, plan_switching
from tests.api.fuzz import LIVE_JOB, OPEN, WAITING, ApiFuzz, FuzzGrid, FuzzWorld

# The machine's operations and how often each is drawn (see ``tests.api.fuzz._WEIGHTS``): trips
# come first (the run Hypothesis draws first is all trips), reads last.
_WEIGHTS = {"trip": 8, "crews_work": 30, "steer": 14, "assign_switching": 6, "calls": 5, "device_report": 2,
            "assign": 3,
            "wrong_switching": 5, "restart": 2, "cancel": 3, "callback": 4, "crew_update": 2, "refused": 2,
            "outage_grows": 2, "helper_reassigned": 1, "replan": 2, "step_reads": 3, "reads": 2}
OPERATIONS = tuple(op for op, weight in _WEIGHTS.items() for _ in range(weight))
LIVE_STEP = ("waiting", "due")


# -- the faults the machine makes ---------------------------------------------------------------
@dataclass(frozen=True)
class SwitchFault:
    """A fault on an MV node cleared by a breaker or recloser, and the remote switches between
    them (top first): the fault passage indicators a SCADA trip reports for it."""

    node: int
    element_id: str
    device: int
    device_id: str
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class SwitchGrid:
    """The region's switches and ties (the server's layer) and the faults the machine trips:
    on each feeder with a tie, the fault whose full plan brings back the most customers over a
    tie, one in another section, and one a recloser clears (whose order folds into the
    breaker's when that trips too)."""

    layer: SwitchLayer
    faults: tuple[SwitchFault, ...]
    remote: dict[str, int]  # remote switch id -> node
    points: dict[str, int]  # switch id (switch point) -> node

    @classmethod
    def of(cls, grid: FuzzGrid, *, feeders: int = 6) -> SwitchGrid:
        region = grid.region
        net = region.network
        layer = region.switch_layer()
        chosen: dict[int, list[tuple[int, int, int]]] = {}
        for f in np.flatnonzero(net.kind == NodeKind.MV_NODE).tolist():
            device = int(net.device_ancestor[f])
            if net.device[device] not in (DeviceKind.BREAKER, DeviceKind.RECLOSER):
                continue
            state = np.zeros(net.n_nodes, dtype=bool)
            state[device] = True
            try:
                plan = plan_switching(net, layer, f, open_nodes=state)
            except SwitchingError:
                continue
            ties = any(s.tie is not None for s in plan.steps)
            manual = any(not s.remote for s in plan.steps)
            if ties or manual:
                top = plan.isolating[0] if plan.isolating else device
                value = plan.customers_restored * (1 + ties)
                chosen.setdefault(int(net.feeder_idx[f]), []).append((value, f, top))
        faults: list[SwitchFault] = []
        for _, options in sorted(chosen.items(), key=lambda kv: -max(kv[1])[0])[:feeders]:
            options.sort(reverse=True)
            reclosers = [o for o in options if net.device[net.device_ancestor[o[1]]] == DeviceKind.RECLOSER]
            picks = [options[0], *[o for o in options[1:] if o[2] != options[0][2]][:1], *reclosers[:1]]
            for _, f, _ in picks:
                device = int(net.device_ancestor[f])
                path = [n for n in reversed(net.path_up(f)) if n != device and net.is_ancestor(device, n)]
                flagged = tuple(layer.switch_id[n] for n in path if layer.switch[n] == SwitchKind.REMOTE)
                faults.append(SwitchFault(f, grid.element(f), device, net.device_id[device], flagged))
        points = {layer.switch_id[n]: n for n in layer.switch_points().tolist()}
        remote = {s: n for s, n in points.items() if layer.switch[n] == SwitchKind.REMOTE}
        return cls(layer=layer, faults=tuple(faults), remote=remote, points=points)

    def section(self, net: Any, top: int) -> tuple[int, ...]:
        """The MV nodes from ``top`` down to the next remote switches (where a fault that a
        trip's deepest indicator, or the device without one, saw may lie)."""
        sl = net.subtree(top)
        out, until = [], -1
        for n in range(sl.start, sl.stop):
            if n < until:
                continue
            if n != top and self.layer.switch[n] == SwitchKind.REMOTE:
                until = n + int(net.size[n])
                continue
            if net.kind[n] <= NodeKind.TRANSFORMER:
                out.append(n)
        return tuple(out)


@dataclass
class Fault:
    """A fault the machine has made (where a trip's fault lies), live while a repair job of
    the device that cleared it is (by job id: jobs keep theirs through merges, and the
    engine takes that repair for the fault's); the patrol of a repair above it reports it."""

    node: int
    jobs: set[str] = field(default_factory=set)

    def live(self, jobs: dict[str, dict[str, Any]]) -> bool:
        return any(j in jobs and jobs[j]["status"] in LIVE_JOB for j in self.jobs)


@dataclass(frozen=True)
class SwitchWorld(FuzzWorld):
    """A fuzz world with the switches the machine trips (stores must switch in full)."""

    switching: SwitchGrid | None = None


def believed_state(net: Any, layer: SwitchLayer, points: dict[str, int], node_of: dict[str, int],
                   switches: dict[str, dict[str, Any]], orders: list[dict[str, Any]]
                   ) -> tuple[npt.NDArray[np.bool_], list[Tie]]:
    """The MV state the map shows (``switches``: switch id -> its properties), with the MV
    devices of the open ``orders`` open where no switch shows them: the open nodes and the
    closed ties."""
    open_nodes = np.zeros(net.n_nodes, dtype=bool)
    for o in orders:
        node = node_of[o["element_id"]]
        if o["status"] in OPEN and net.kind[node] <= NodeKind.MV_NODE \
                and layer.switch[node] == SwitchKind.NONE:
            open_nodes[node] = True
    for switch_id, node in points.items():
        open_nodes[node] = switches[switch_id]["state"] == "open"
    return open_nodes, [t for t in layer.ties if switches[t.tie_id]["state"] == "closed"]


def switch_problems(net: Any, layer: SwitchLayer, points: dict[str, int], node_of: dict[str, int],
                    switches: dict[str, dict[str, Any]], orders: list[dict[str, Any]],
                    faults: list[int]) -> list[str]:
    """What is unsafe in the state the map shows (``believed_state``): a known fault (node of
    ``faults``) fed, two feeders in parallel, a tie past its capacity."""
    open_nodes, closed = believed_state(net, layer, points, node_of, switches, orders)
    return state_problems(net, layer, open_nodes, closed, faults)


# -- the machine ---------------------------------------------------------------------------------
class SwitchingFuzz(ApiFuzz):
    """``ApiFuzz`` with switching (see the module docstring)."""

    def __init__(self, world: FuzzWorld) -> None:
        assert isinstance(world, SwitchWorld) and world.switching is not None
        self.sw = world.switching
        self.net = world.grid.region.network
        self.steps: dict[int, dict[str, Any]] = {}
        self.switches: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.patrolled: set[str] = set()
        self.versions: dict[tuple[int, str], str] = {}  # (step, version) -> what it showed
        self.shown: dict[tuple[int, str], str] = {}  # (step, what it showed) -> its version
        super().__init__(world)

    # -- requests --------------------------------------------------------------------------
    def _send(self, kind: str, method: str, path: str, ok: Any, *, role: str = "dispatcher",
              crew_id: str = "", version: str | None = None, body: dict[str, Any] | None = None,
              names: tuple[str, ...] = ()) -> httpx2.Response:
        """``ApiFuzz._send``, and a refusal must say why (``error``), naming one of ``names``."""
        r = super()._send(kind, method, path, ok, role=role, crew_id=crew_id, version=version, body=body)
        if 400 <= r.status_code < 500:
            error = r.json().get("error", "") if r.headers.get("content-type", "").startswith(
                "application/json") else ""
            if not error:
                self.tally.problem("refusal", f"{kind} {method} {path} {body} -> {r.status_code} without a "
                                              f"reason: {r.text[:300]}")
            elif names and not any(n in error for n in names):
                self.tally.problem("refusal", f"{kind} {method} {path} {body} -> {r.status_code}: "
                                              f"{error!r} names none of {names}")
        return r

    # -- reading the state -----------------------------------------------------------------
    def _read(self) -> None:
        super()._read()
        self.steps = {s["step_id"]: s for s in self._get("/v1/switching")}
        self.switches = {f["properties"]["switch_id"]: f["properties"]
                         for f in self._get("/v1/map/switches")["features"]}

    def _view(self) -> dict[str, Any]:
        return {**super()._view(), "steps": self.steps, "switches": self.switches}

    def _snapshot(self) -> dict[str, Any]:
        """``ApiFuzz._snapshot`` with the steps and the switch states."""
        return {**super()._snapshot(), "steps": {s["step_id"]: s for s in self._get("/v1/switching")},
                "switches": {f["properties"]["switch_id"]: f["properties"]
                             for f in self._get("/v1/map/switches")["features"]}}

    # -- operations ------------------------------------------------------------------------
    @rule(op=st.sampled_from(OPERATIONS), data=st.data())
    def step(self, op: str, data: st.DataObject) -> None:
        """One operation, drawn by its weight in ``OPERATIONS``."""
        getattr(self, op)(data)

    def _fed_through(self, device: int, node: int) -> bool:
        """Whether a fault at ``node`` would trip ``device`` now, as the map shows the state:
        it has supply through the device (closed, and nothing open between them)."""
        open_nodes, closed = believed_state(self.net, self.sw.layer, self.sw.points, self.grid.node_of,
                                            self.switches, list(self.orders.values()))
        between = [n for n in self.net.path_up(node) if self.net.is_ancestor(device, n)]
        return not open_nodes[between].any() and bool(energised(self.net, open_nodes, closed)[node])

    def trip(self, data: st.DataObject) -> None:
        """SCADA reports a breaker or recloser open for one of the machine's faults that it
        feeds now (a fault behind an open switch trips nothing), with the fault passage
        indicators of every remote switch between them."""
        fault = self._pick(data, [f for f in self.sw.faults if self._fed_through(f.device, f.node)])
        if fault is None:
            return
        body = {"device_id": fault.device_id, "indicators": list(fault.indicators)}
        r = self._send("trip", "POST", "/v1/device-reports", (201,), body=body)
        if r.status_code == 201:
            self._tripped(fault.device, fault.node)

    def device_report(self, data: st.DataObject) -> None:
        """SCADA reports a protective device open without indicators: a fault in the device's
        own section (down to the first remote switches), here half way down it."""
        device_id = self._pick(data, self.grid.devices)
        assert device_id is not None
        node = self.grid.node_of[device_id]
        section = self.sw.section(self.net, node) if self.net.kind[node] <= NodeKind.MV_NODE else ()
        fed = bool(section) and self._fed_through(node, section[len(section) // 2])
        r = self._send("device_report", "POST", "/v1/device-reports", (201,), body={"device_id": device_id})
        if r.status_code == 201 and fed:  # else a report of a device open already, or of no fault we know
            self._tripped(node, section[len(section) // 2])

    def _tripped(self, device: int, node: int) -> None:
        """A fault at ``node`` tripped ``device``: live while a repair of the device is."""
        self._settle()
        self._read()
        device_id = self.net.device_id[device]
        jobs = {j for j, job in self.jobs.items()
                if job["kind"] == "repair" and job["element_id"] == device_id and job["status"] in LIVE_JOB}
        self.faults.append(Fault(node, jobs))

    def _crew_groups(self) -> tuple[list[str], ...]:
        """Crews on switching jobs and on the repairs of the trips, each group drawn as often as
        those on site and on their way."""
        switching = [c for c, crew in self.crews.items()
                     if crew["job_id"] and self.jobs[crew["job_id"]]["kind"] == "switching"]
        tripped = self._tripped_repairs()
        repairing = [c for c, crew in self.crews.items() if crew["job_id"] in tripped]
        return switching, repairing, *super()._crew_groups()

    def _report_work(self, data: st.DataObject, crew_id: str, job: dict[str, Any]) -> None:
        """A crew on site of a switching job reports the switch operated; one on a repair its
        patrol (every fault the trips put below it not yet repaired) or, most often only once
        its order's switching is done, the repair; a first responder its findings."""
        if job["kind"] == "switching":
            self._crew_report(data, "switched", crew_id, "status", {"status": "switched"})
        elif job["kind"] == "repair":
            found = self._found_below(job)
            order = self.orders[self.crews[crew_id]["order_id"]]
            switching_left = any(s["status"] in LIVE_STEP and s["phase"] != "normal"
                                 for s in order["switching"])
            if found and job["job_id"] not in self.patrolled and self._chance(data, 90):
                self._patrol(data, crew_id, job, found)
            elif not switching_left or self._chance(data, 30):
                self._crew_report(data, "repaired", crew_id, "status", {"status": "repaired"})
        else:
            super()._report_work(data, crew_id, job)

    def _tripped_repairs(self) -> set[str]:
        """The live repair jobs the machine's faults wait for."""
        return {j for f in self.faults for j in f.jobs
                if j in self.jobs and self.jobs[j]["status"] in LIVE_JOB}

    def assign_switching(self, data: st.DataObject) -> None:
        """A dispatcher sends an idle or en-route crew to a switching job, or to the repair of a
        trip, waiting for one (409 when it lacks the skill or the hours)."""
        tripped = self._tripped_repairs()
        waiting = [j for j in self.jobs.values()
                   if (j["kind"] == "switching" or j["job_id"] in tripped) and j["status"] == "new"]
        job = self._pick(data, waiting)
        if job is None:
            return
        free = self._crews("idle", "en_route")
        able = [c for c in free if job["skill"] in self.crews[c]["skills"]]
        crew_id = self._pick(data, able if able and self._chance(data, 85) else free)
        if crew_id is None:
            return
        order_id = next(o for o, order in self.orders.items()
                        if order["status"] != "merged"
                        and any(j["job_id"] == job["job_id"] for j in order["jobs"]))
        self._send("assign_switching", "POST", f"/v1/work-orders/{order_id}/assignment", (200, 409),
                   version=self._version(f"/v1/work-orders/{order_id}"),
                   body={"crew_id": crew_id, "job_id": job["job_id"]}, names=(crew_id, job["job_id"]))

    def _found_below(self, job: dict[str, Any]) -> list[int]:
        """The live faults below a repair job's element: what its patrol finds."""
        node = self.grid.node_of[job["element_id"]]
        if self.net.kind[node] > NodeKind.MV_NODE:
            return []
        return sorted({f.node for f in self.faults
                       if f.live(self.jobs) and self.net.is_ancestor(node, f.node)})

    def _patrol(self, data: st.DataObject, crew_id: str, job: dict[str, Any], found: list[int]) -> None:
        """The repair crew reports every live fault below its device (a patrol that missed
        one would have the control room switch onto it): they stay live while its repair
        does too."""
        r = self._crew_report(data, "patrol", crew_id, "faults-found",
                              {"element_ids": [self.grid.element(n) for n in found]})
        if r.status_code == 200:
            self.patrolled.add(job["job_id"])
            self.faults += [Fault(n, {job["job_id"]}) for n in found]

    def cancel(self, data: st.DataObject) -> None:
        """A dispatcher cancels an order no crew has reached: refused (409, naming the switches)
        while its switching is not back to normal, or when a crew reached it."""
        waiting = [o for o, order in self.orders.items() if order["status"] in WAITING]
        others = [o for o in self.orders if o not in waiting]
        order_id = self._pick(data, others if self._chance(data, 20) else waiting)
        if order_id is None:
            return
        pending = [s["element_id"] for s in self.orders[order_id]["switching"] if s["status"] in LIVE_STEP]
        ok = (200,) if order_id in waiting and not pending else (409,)
        self._send("cancel", "POST", f"/v1/work-orders/{order_id}/status", ok,
                   version=self._version(f"/v1/work-orders/{order_id}"),
                   body={"status": "cancelled", "reason": "duplicate"}, names=(order_id,))

    def steer(self, data: st.DataObject) -> None:
        """A dispatcher holds, releases or moves a step, or reports one carried out that did
        not hold, naming the version read; now and then another dispatcher holds or releases
        the step first, so that the version named is stale (409 unless the step reads as it
        did). Now and then a step the override does not apply to (409)."""
        if not self.steps:
            return
        what = str(self._pick(data, ("hold", "hold", "release", "move", "move", "move", "refused")))
        everything = list(self.steps.values())
        live = [s for s in everything if s["status"] in LIVE_STEP]
        likely = {"hold": live, "release": [s for s in live if s["held"]], "move": live,
                  "refused": [s for s in everything if s["status"] == "done"]}[what]
        step = self._pick(data, everything if self._chance(data, 15) or not likely else likely)
        assert step is not None
        sid, version = step["step_id"], step["version"]
        body: dict[str, Any] | None = None
        if what == "hold":
            body = {"reason": "line crew working near the switch"}
        elif what == "refused":
            body = {"reason": "tripped on a fault nobody knew of"}
        elif what == "move":
            mates = [s for s in live if s["order_id"] == step["order_id"] and s["step_id"] != sid]
            target = self._pick(data, everything if self._chance(data, 15) or not mates else mates)
            assert target is not None
            before = target["step_id"] if self._chance(data, 95) else len(self.steps) + 7
            body = {"before": before}
        if what != "refused" and self._chance(data, 30):  # another dispatcher gets there first
            first = "release" if step["held"] else "hold"
            self._send(f"race_{first}", "POST", f"/v1/switching/{sid}/{first}", self._allowed(first, step),
                       version=f'"{version}"', body={"reason": "racing"} if first == "hold" else None,
                       names=(f"step {sid}",))
            self._settle()
            self._read()
        now = self.steps[sid]
        ok = self._allowed(what, now, body) if now["version"] == version else (409,)
        if what == "move" and body is not None and body["before"] not in self.steps:
            ok = (404,)  # the step named in the body is looked up before the version
        names: tuple[str, ...] = (f"step {sid}",)
        if what == "move" and body is not None:
            names += (f"step {body['before']}", f"steps {sid} and")
        r = self._send(f"step_{what}", "POST", f"/v1/switching/{sid}/{what}", ok, version=f'"{version}"',
                       body=body, names=names)
        if r.status_code == 409 and now["version"] != version and "has changed since version" not in r.text:
            self.tally.problem("answer", f"step {sid}: a stale version refused for another reason: "
                                         f"{r.text[:300]}")
        if r.status_code == 200:
            out = r.json()
            if r.headers.get("ETag") != f'"{out["version"]}"':
                self.tally.problem("answer", f"step {sid}: ETag {r.headers.get('ETag')} for version "
                                             f"{out['version']}")

    def _allowed(self, what: str, s: dict[str, Any], body: dict[str, Any] | None = None) -> tuple[int, ...]:
        """The answers an override of step ``s`` (as last read) may get."""
        at_switch = bool(s["job_id"]) and self.jobs.get(s["job_id"], {}).get("status") == "on_site" \
            and s["status"] == "due"
        closed = s["status"] not in LIVE_STEP
        if what == "refused":
            return (200, 409) if s["status"] == "done" else (409,)
        if closed or at_switch:
            return (404, 409) if what == "move" else (409,)
        if what == "hold":
            return (200,)
        if what == "release":
            return (200,) if s["held"] else (409,)
        assert body is not None
        other = self.steps.get(body["before"])
        if other is None:
            return (404,)
        if other["status"] not in LIVE_STEP or other["order_id"] != s["order_id"] \
                or other["step_id"] == s["step_id"] \
                or (other["phase"] == "normal") != (s["phase"] == "normal"):
            return (409,)
        return (200, 409)  # 409: unsafe, or it would wait for itself

    def wrong_switching(self, data: st.DataObject) -> None:
        """Switching reports the state does not allow, each refused (409) naming what is wrong:
        a trip's indicator that is no remote switch, or lies outside what the device feeds; a
        patrol's fault outside its line; a switch reported operated by a crew on its way to it,
        or on another kind of job."""
        wrong: list[tuple[str, Any]] = []
        fault = self._pick(data, self.sw.faults)
        if fault is not None:
            outside = [s for s, n in self.sw.remote.items() if not self.net.is_ancestor(fault.device, n)]
            wrong.append(("indicator_nowhere", (fault, "SW-NOWHERE")))
            if outside:
                wrong.append(("indicator_outside", (fault, self._pick(data, outside))))
        for c, crew in self.crews.items():
            job = self.jobs.get(crew["job_id"])
            if job is None:
                continue
            if crew["status"] == "on_site" and job["kind"] == "repair" \
                    and self.net.kind[self.grid.node_of[job["element_id"]]] <= NodeKind.MV_NODE:
                wrong.append(("patrol_outside", (c, job)))
            if (crew["status"] == "en_route") == (job["kind"] == "switching"):
                wrong.append(("switched_wrongly", (c, job)))
        choice = self._pick(data, wrong)
        if choice is None:
            return
        kind, what = choice
        if kind.startswith("indicator"):
            fault, bad = what
            body = {"device_id": fault.device_id, "indicators": [*fault.indicators, bad]}
            self._send(kind, "POST", "/v1/device-reports", (409,), body=body, names=(bad,))
        elif kind == "patrol_outside":
            crew_id, job = what
            node = self.grid.node_of[job["element_id"]]
            heads = [n for n in self.net.nodes_of_kind(NodeKind.FEEDER_HEAD).tolist()
                     if not self.net.is_ancestor(node, n)]
            element = self.grid.element(int(self._pick(data, heads) or 0))
            self._crew_report(data, kind, crew_id, "faults-found", {"element_ids": [element]}, (409,),
                              names=(element,))
        else:
            crew_id, job = what
            self._crew_report(data, kind, crew_id, "status", {"status": "switched"}, (409,),
                              names=(crew_id,))

    def step_reads(self, data: st.DataObject) -> None:
        """What the control room's screens read of switching: the steps filtered by order and
        status (the full list filtered), a step (its ETag its version, the version the hash
        of what it shows), a crew with the steps on its route, the plan."""
        if not self.steps:
            return
        step = self._pick(data, list(self.steps.values()))
        assert step is not None
        status = self._pick(data, ("waiting", "due", "done", "dropped"))
        by_order = self._get(f"/v1/switching?order_id={step['order_id']}")
        by_status = self._get(f"/v1/switching?status={status}")
        self.tally.answered("step_reads", 200)
        if by_order != [s for s in self.steps.values() if s["order_id"] == step["order_id"]]:
            self.tally.problem("answer", f"/v1/switching?order_id={step['order_id']}: not the list filtered")
        if by_status != [s for s in self.steps.values() if s["status"] == status]:
            self.tally.problem("answer", f"/v1/switching?status={status} is not the list filtered")
        r = self.http.get(f"/v1/switching/{step['step_id']}", headers=self._as("viewer"))
        one = r.json()
        if r.status_code != 200 or one != step or r.headers.get("ETag") != f'"{step["version"]}"':
            self.tally.problem("answer", f"/v1/switching/{step['step_id']} -> {r.status_code} {one} "
                                         f"(ETag {r.headers.get('ETag')}), listed as {step}")
        if step["crew_id"]:
            crew = self._get(f"/v1/crews/{step['crew_id']}")
            if step["step_id"] not in [s["step_id"] for s in crew["switching"]]:
                self.tally.problem("answer", f"crew {step['crew_id']} on step {step['step_id']}'s job "
                                             f"does not list it")
        plan = self._get("/v1/plan")
        for job_id, shown in plan.get("switching_steps", {}).items():
            if job_id in self.jobs and self.jobs[job_id]["step_id"] != shown["step_id"]:
                self.tally.problem("answer", f"the plan names step {shown['step_id']} for {job_id}, the "
                                             f"order {self.jobs[job_id]['step_id']}")

    # -- after every step ------------------------------------------------------------------
    @invariant()
    def whole(self) -> None:
        """``ApiFuzz.whole``, and the switch states are safe and the steps hang together."""
        super().whole()
        for problem in self._switching_problems():
            self.tally.problem("switching", problem)

    def _switching_problems(self) -> list[str]:
        out: list[str] = []
        faults = sorted({f.node for f in self.faults if f.live(self.jobs)})
        out += switch_problems(self.net, self.sw.layer, self.sw.points, self.grid.node_of, self.switches,
                               list(self.orders.values()), faults)
        listed: dict[str, list[dict[str, Any]]] = {}
        for s in self.steps.values():
            sid, status = s["step_id"], s["status"]
            listed.setdefault(s["order_id"], []).append(s)
            order = self.orders.get(s["order_id"])
            if order is None:
                out.append(f"step {sid}: unknown order {s['order_id']}")
                continue
            if status in LIVE_STEP and order["status"] not in OPEN:
                out.append(f"step {sid} ({s['action']} {s['element_id']}) is {status}, its order "
                           f"{s['order_id']} {order['status']}")
            if status == "due" and s["held"]:
                out.append(f"step {sid} is due while held")
            early = [a for a in s["after"] if self.steps[a]["status"] in LIVE_STEP]
            if status == "due" and early:
                out.append(f"step {sid} ({s['action']} {s['element_id']}) is due before steps {early} it "
                           f"waits for")
            job = self.jobs.get(s["job_id"]) if s["job_id"] else None
            if status == "due" and not s["remote"] and (job is None or job["status"] not in LIVE_JOB):
                out.append(f"step {sid} ({s['action']} {s['element_id']}) is due without a live switching "
                           f"job ({s['job_id'] or 'none'})")
            if status not in LIVE_STEP and job is not None and job["status"] in LIVE_JOB:
                out.append(f"step {sid} is {status} but its job {s['job_id']} is {job['status']}")
            if job is not None and (job["kind"] != "switching" or job["step_id"] != sid):
                out.append(f"step {sid}: its job {s['job_id']} is a {job['kind']} job of step "
                           f"{job['step_id']}")
            shown = json.dumps({k: v for k, v in s.items() if k != "version"}, sort_keys=True)
            if self.versions.setdefault((sid, s["version"]), shown) != shown:
                out.append(f"step {sid}: version {s['version']} shows {shown}, before "
                           f"{self.versions[sid, s['version']]}")
            if self.shown.setdefault((sid, shown), s["version"]) != s["version"]:
                out.append(f"step {sid}: version {s['version']} for what version "
                           f"{self.shown[sid, shown]} showed")
        for o in self.orders.values():
            if o["status"] != "merged" and o["switching"] != listed.get(o["order_id"], []):
                out.append(f"order {o['order_id']} lists steps {[s['step_id'] for s in o['switching']]}, the "
                           f"switching list {[s['step_id'] for s in listed.get(o['order_id'], [])]}")
        return out
