"""Stateful fuzzing of the dispatcher API: random sequences of legal requests against the app
served by uvicorn on loopback (its store on SQLite or PostgreSQL), with the live service's
promises checked after every step and restarts that must rebuild the same state.

``ApiFuzz`` is a Hypothesis ``RuleBasedStateMachine`` whose one rule draws an operation by its
weight (``OPERATIONS``) and carries it out with requests the state left by the last step allows,
read through the API (work orders with their jobs, crews, callbacks): calls (by customer number,
meter, address or position; some settled on the phone), SCADA device reports, a first
responder's findings (the site's own element, one upstream, one below, the customer's own
installation, a neighbour in the transformer area), arrivals and repairs reported by the crews
on the jobs (with their own tokens or a dispatcher's), assignments of idle, en-route and helping
crews, the sequence of issue 16 (a team sent to a feeder breaker, another order, a helper of the
team sent to it, a re-plan), cancellations, callbacks and their outcomes, planned outages,
crews' positions and duty, wrong requests (which must be refused and change nothing), reads of
the KPIs, plan and map, re-plans and restarts. Every choice is an index drawn from a fixed range
and taken modulo what the state offers, so the shape of the draws never depends on the server's
answers. Runs start at different points of the storm clock, some just before a shift change.

After every step: no answer was a 5xx, ``/readyz`` answers 200, the engine rolled nothing back
(anything it raises that is not a refusal is a bug) and took in every stored call, and the state
is whole (``state_problems``). A restart first lets the server start and end the shifts due by
the storm clock (its clock ticks once an hour here), waits until the engine is idle, reads the
state, stops the server, starts it again on the same store and reads it again: the two must be
equal. A webhook receiver subscribed to every notice kind runs through the whole run, restarts
included: at its end every notice committed has reached it, signed, a second time only with the
same body, and none was given up.

``FuzzTally`` counts what happened. In strict mode (the tests) the first problem fails the run;
otherwise (the benchmark) problems are counted and the run goes on.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from api.app import create_app
from api.auth import create_token
from api.live import LiveDispatch
from api.server_process import caught_up
from api.settings import Settings
from api.store import Store
from api.webhooks import sign
from dispatch.crews import Crew
from dispatch.notices import NoticeKind
from grid_model.network import Construction, DeviceKind, NodeKind
from grid_model.region import Region
from tests.api.conftest import _fresh_database, issue_tokens, make_settings, served
from tests.api.receiver import receiver

T = TypeVar("T")

ORDER_STATUSES = {"new", "assigned", "en_route", "on_site", "repaired", "callback_done", "closed", "merged",
                  "cancelled"}
WAITING = {"new", "assigned", "en_route"}
OPEN = WAITING | {"on_site"}
DONE = {"repaired", "callback_done", "closed"}
JOB_STATUSES = {"new", "en_route", "on_site", "done", "cancelled"}
LIVE_JOB = {"new", "en_route", "on_site"}
CREW_STATUSES = {"off", "idle", "en_route", "on_site"}
_LV_KINDS = (NodeKind.CUSTOMER, NodeKind.METER_BOX, NodeKind.SERVICE_DROP, NodeKind.LV_BRANCH)
# The machine's operations (its methods) and how often each is drawn. One rule draws them:
# Hypothesis draws its rules alike, and turns some off for a whole run (swarm testing), which
# against a server where little happens until crews arrive leaves most runs shallow. Calls come
# first: the run Hypothesis draws first (every choice its least) is all calls; reads come last,
# as Hypothesis draws the ends of a range more often than their share.
_WEIGHTS = {"calls": 16, "crews_work": 22, "device_report": 5, "assign": 9, "helper_reassigned": 3,
            "outage_grows": 3, "crews_home": 1, "restart": 3, "cancel": 5, "callback": 9, "planned_outage": 4,
            "crew_update": 8, "refused": 6, "replan": 4, "reads": 4}
OPERATIONS = tuple(op for op, weight in _WEIGHTS.items() for _ in range(weight))
HOOK_SECRET = "fuzz-hook-secret-0123456789"  # the run's webhook receiver checks every delivery with it
# How far into the storm each run's store starts (its clock's epoch set back so far), in turn:
# at the start, and just before each change of the roster's two 16-hour shifts (8 h, 16 h: the
# first shift's duty limit, 24 h), so that runs cross shift ends and duty limits.
CLOCK_STARTS = (timedelta(0), *(timedelta(hours=h, seconds=-15) for h in (8, 16, 24)))


# -- the grid the machine works on ------------------------------------------------------------
@dataclass(frozen=True)
class FuzzGrid:
    """A few feeders of the region where the machine makes its trouble, so that calls share
    causes and orders merge: two feeders large enough for a team (overhead, 300 customers or
    more), a cable feeder and three small ones; on each a handful of transformers, among them
    every transformer of a lateral fuse that has two to four (calls from two of them make the
    fuse's incident, which takes in theirs)."""

    region: Region
    customers: list[dict[str, Any]]  # customer_id, meter_id, address, address_en, lon, lat
    devices: list[str]  # protective devices above and below the chosen transformers
    team_breakers: list[str]  # breakers of the feeders large enough for a team
    planned_devices: list[str]  # fuses that planned outages open
    feeder_of: dict[str, int]  # device id -> its feeder's node
    node_of: dict[str, int]  # element id (device or node id) -> node
    drop_customer: dict[int, str]  # service drop -> a customer under it

    @classmethod
    def of(cls, region: Region, *, transformers_per_feeder: int = 6) -> FuzzGrid:
        net = region.network
        below = net.count_below(net.kind == NodeKind.CUSTOMER)
        feeders = [int(f) for f in net.nodes_of_kind(NodeKind.FEEDER_HEAD)]
        overhead = sorted((f for f in feeders if net.construction[f] != Construction.CABLE),
                          key=lambda f: -int(below[f]))
        cable = [f for f in feeders if net.construction[f] == Construction.CABLE]
        big = [f for f in overhead if below[f] >= 300][:2]
        hot = [*big, cable[0], *overhead[-3:]]
        transformers: list[int] = []
        for f in hot:
            sl = net.subtree(f)
            xs = [i for i in range(sl.start, sl.stop) if net.kind[i] == NodeKind.TRANSFORMER]
            lateral = next((xs_below for i in range(sl.start + 1, sl.stop)
                            if net.kind[i] == NodeKind.MV_NODE and net.device[i] == DeviceKind.FUSE
                            and 2 <= len(xs_below := [x for x in xs if net.is_ancestor(i, x)]) <= 4), [])
            step = max(1, len(xs) // transformers_per_feeder)
            spread = [x for x in xs[::step] if x not in lateral]
            transformers += lateral + spread[:transformers_per_feeder - len(lateral)]
        devices: set[int] = set()
        for x in transformers:
            devices.update(n for n in net.path_up(x) if net.device[n] != DeviceKind.NONE)
            sl = net.subtree(x)
            devices.update(i for i in range(sl.start, sl.stop) if net.device[i] != DeviceKind.NONE)
        cust = region.customers
        rows = cust[cust["node_idx"].map(lambda n: any(net.is_ancestor(x, int(n)) for x in transformers))]
        columns = ["customer_id", "meter_id", "address", "address_en", "lon", "lat"]
        customers = rows[columns].to_dict("records")
        device_ids = [net.device_id[n] for n in sorted(devices)]
        node_of = net.index_of()
        node_of.update({d: i for i, d in enumerate(net.device_id) if d})
        return cls(region=region, customers=[{k: str(v) if k not in ("lon", "lat") else float(v)
                                              for k, v in c.items()} for c in customers],
                   devices=device_ids, team_breakers=[net.device_id[f] for f in big],
                   planned_devices=[d for d in device_ids if net.device[node_of[d]] == DeviceKind.FUSE],
                   feeder_of={d: _feeder(region, node_of[d]) for d in device_ids}, node_of=node_of,
                   drop_customer=_drop_customers(region))

    def covers(self, above: str, below: str) -> bool:
        """Whether element ``above`` is element ``below`` or upstream of it."""
        return self.region.network.is_ancestor(self.node_of[above], self.node_of[below])

    def element(self, node: int) -> str:
        net = self.region.network
        return net.device_id[node] if net.device[node] != DeviceKind.NONE else net.node_id[node]

    def skill(self, node: int) -> str:
        """The skill a repair of ``node`` needs (as the engine classes a site)."""
        net = self.region.network
        if net.kind[node] in _LV_KINDS:
            return "lv"
        if net.kind[node] == NodeKind.TRANSFORMER or net.construction[node] != Construction.CABLE:
            return "mv"
        return "cable"

    def callers_around(self, element_id: str, transformers: int) -> list[str]:
        """Customers under the nearest MV device above ``element_id`` with two transformers or
        more: under each of ``transformers`` of them, one customer per service drop (up to
        four), enough for calls to show those transformers and the device out."""
        net = self.region.network
        node = self.node_of[element_id]
        device = next((n for n in net.path_up(node)[1:] if net.device[n] != DeviceKind.NONE
                       and net.kind[n] <= NodeKind.MV_NODE and self._transformers(n) >= 2), None)
        if device is None:
            return []
        out: list[str] = []
        for x in [x for x in range(*net.subtree(device).indices(net.n_nodes))
                  if net.kind[x] == NodeKind.TRANSFORMER][:transformers]:
            sl = net.subtree(x)
            drops = [d for d in range(sl.start, sl.stop) if net.kind[d] == NodeKind.SERVICE_DROP][:4]
            out += [self.drop_customer[d] for d in drops if d in self.drop_customer]
        return out

    def _transformers(self, node: int) -> int:
        net = self.region.network
        sl = net.subtree(node)
        return int((net.kind[sl] == NodeKind.TRANSFORMER).sum())

    def neighbours(self, element_id: str) -> dict[str, list[int]]:
        """Where a first responder at ``element_id`` may plausibly find faults: the site itself,
        elements upstream of it (on its supply path), below it, customers below it, and the
        rest of its transformer area."""
        net = self.region.network
        node = self.node_of[element_id]
        sl = net.subtree(node)
        below = range(sl.start + 1, sl.stop)
        area = next((n for n in net.path_up(node) if net.kind[n] == NodeKind.TRANSFORMER), None)
        area_nodes = range(area + 1, area + int(net.size[area])) if area is not None else range(0)
        return {"own": [node],
                "upstream": [n for n in net.path_up(node)[1:] if net.kind[n] > NodeKind.SUBSTATION],
                "below": [n for n in below if net.kind[n] != NodeKind.CUSTOMER][:50],
                "customer": [n for n in below if net.kind[n] == NodeKind.CUSTOMER][:50],
                "area": [n for n in area_nodes if net.kind[n] != NodeKind.CUSTOMER][:50]}


def _drop_customers(region: Region) -> dict[int, str]:
    """A customer under each service drop (customer, meter box, drop: two steps up)."""
    parent = region.network.parent
    out: dict[int, str] = {}
    for node, customer_id in zip(region.customers["node_idx"], region.customers["customer_id"], strict=True):
        out.setdefault(int(parent[parent[int(node)]]), str(customer_id))
    return out


def _feeder(region: Region, node: int) -> int:
    net = region.network
    return next(n for n in net.path_up(node) if net.kind[n] == NodeKind.FEEDER_HEAD)


# -- what a run found ----------------------------------------------------------------------------
class FuzzProblemError(AssertionError):
    """A broken promise found by the fuzzer (strict mode)."""


@dataclass
class FuzzTally:
    """What a fuzz run did and found. ``answers`` counts each operation's status codes
    (``"assign 409"``); problems are counted by kind (``5xx``, ``engine`` for an engine that
    died, rolled an event back or left a stored call out, ``restart`` for a state a restart did
    not rebuild, ``state`` for a broken invariant, ``answer`` for a legal request refused (or a
    wrong one taken), ``refusal`` for a refused request that changed something) and the first
    few kept; ``cut_short`` counts runs Hypothesis stopped as flaky (see ``run_fuzz``). A strict
    run's error lists the operations that led to it."""

    strict: bool
    runs: int = 0
    cut_short: int = 0
    operations: int = 0
    restarts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=30))

    def answered(self, kind: str, status: int, request: str = "") -> None:
        self.operations += 1
        self.answers[f"{kind} {status}"] += 1
        self.recent.append(f"{kind}: {request} -> {status}")

    def problem(self, kind: str, detail: str) -> None:
        self.found[kind] += 1
        if len(self.problems) < 50:
            self.problems.append(f"{kind}: {detail}")
        if self.strict:
            steps = "\n".join(self.recent)
            raise FuzzProblemError(f"{kind}: {detail}\nthe last operations:\n{steps}")


@dataclass(frozen=True)
class FuzzWorld:
    """What every run of the machine shares: the grid, a fresh store for each run, the tally."""

    grid: FuzzGrid
    new_store: Callable[[], Settings]
    tally: FuzzTally


def sqlite_stores(root: Path, **options: object) -> Callable[[], Settings]:
    """Settings for a fresh SQLite store (its own data folder under ``root``) at each call;
    ``options`` are further settings (``switching="full"``)."""
    def new() -> Settings:
        data_dir = Path(tempfile.mkdtemp(prefix="fuzz-", dir=root))
        return make_settings(data_dir, f"sqlite:///{data_dir / 'store.db'}", **options)
    return new


def postgres_stores(root: Path, server_url: str, **options: object) -> Callable[[], Settings]:
    """Settings for a fresh database on the PostgreSQL server at ``server_url`` at each call."""
    def new() -> Settings:
        return make_settings(Path(tempfile.mkdtemp(prefix="fuzz-", dir=root)), _fresh_database(server_url),
                             **options)
    return new


# -- the invariants ------------------------------------------------------------------------------
def _owner(orders: dict[str, dict[str, Any]], listing: list[str]) -> str:
    """Of the orders listing one job, the one that holds it: the others merged into it (a job
    moves with a merge and stays listed where it came from)."""
    def chain(oid: str) -> set[str]:
        out = set()
        while orders[oid]["merged_into"]:
            oid = orders[oid]["merged_into"]
            out.add(oid)
        return out
    holders = [o for o in listing if not chain(o) & set(listing)]
    return holders[0] if len(holders) == 1 else ""


def state_problems(orders: list[dict[str, Any]], crews: list[dict[str, Any]], callbacks: list[dict[str, Any]],
                   covers: Callable[[str, str], bool] | None = None) -> list[str]:
    """What is wrong with a state read through the API (empty when nothing): statuses outside
    their lifecycles; a crew whose job does not count it in its team, or a team member whose
    crew is elsewhere; a job waiting with a crew, or under way without one; a crew without the
    skill of its job; an order whose status disagrees with its jobs (live jobs after it was
    repaired, cancelled or closed; en route without a crew on its way, or the other way round)
    or that is worked or repaired but was never reached; an open order without an ETR or a
    closed one with one; an order merged into one that does not cover its site (``covers(a,
    b)``: element ``a`` is ``b`` or above it); a closed order with a callback not made, or a
    repaired one with every callback made; a callback due while its order is still open, or with
    an outcome it cannot have; two callbacks owed to one customer about one order."""
    out: list[str] = []
    by_id = {o["order_id"]: o for o in orders}
    crew_of = {c["crew_id"]: c for c in crews}
    jobs: dict[str, dict[str, Any]] = {}
    listed: dict[str, list[str]] = {}
    for o in orders:
        oid, status = o["order_id"], o["status"]
        if status not in ORDER_STATUSES:
            out.append(f"order {oid}: status {status!r}")
        head = o["merged_into"]
        if (status == "merged") != bool(head) or (head and head not in by_id):
            out.append(f"order {oid}: {status} and merged into {o['merged_into']!r}")
        if (status in DONE) != (o["repaired_s"] is not None):
            out.append(f"order {oid}: {status} with repaired_s {o['repaired_s']}")
        if (status == "on_site" or status in DONE) and o["arrived_s"] is None:
            out.append(f"order {oid}: {status}, never reached")
        if (status in OPEN) != (o["etr_s"] is not None):
            out.append(f"order {oid}: {status} with ETR {o['etr_s']}")
        if head in by_id and covers is not None and not covers(by_id[head]["element_id"], o["element_id"]):
            out.append(f"order {oid} at {o['element_id']}: merged into {head}, which does not cover it")
        for j in o["jobs"]:
            if j["job_id"] in jobs and jobs[j["job_id"]] != j:
                out.append(f"job {j['job_id']} differs between orders {listed[j['job_id']]} and {oid}")
            jobs[j["job_id"]] = j
            listed.setdefault(j["job_id"], []).append(oid)
    teams: dict[str, str] = {}
    for job_id, j in jobs.items():
        team = [j["crew_id"], *j["helpers"]] if j["crew_id"] else list(j["helpers"])
        if j["status"] not in JOB_STATUSES:
            out.append(f"job {job_id}: status {j['status']!r}")
        if len(set(team)) != len(team) or (j["helpers"] and not j["crew_id"]):
            out.append(f"job {job_id}: lead {j['crew_id']!r}, helpers {j['helpers']}")
        if (j["status"] in ("en_route", "on_site")) != bool(team):
            out.append(f"job {job_id}: {j['status']} with team {team}")
        on_site = [c for c in team if c in crew_of and crew_of[c]["status"] == "on_site"]
        if (j["status"] == "on_site") != bool(on_site) and team:
            out.append(f"job {job_id}: {j['status']} with {on_site or 'no crew'} on site")
        for c in team:
            if c in teams:
                out.append(f"crew {c} is on the teams of {teams[c]} and {job_id}")
            teams[c] = job_id
            crew = crew_of.get(c)
            if crew is None or crew["job_id"] != job_id:
                out.append(f"job {job_id}: team member {c} is on {crew['job_id'] if crew else 'no roster'!r}")
            elif j["skill"] and j["skill"] not in crew["skills"]:
                out.append(f"job {job_id}: crew {c} lacks the skill {j['skill']}")
        if not _owner(by_id, listed[job_id]):
            out.append(f"job {job_id}: listed by {listed[job_id]}, held by none of them alone")
    for c in crews:
        cid, status, job_id = c["crew_id"], c["status"], c["job_id"]
        if status not in CREW_STATUSES or (status in ("en_route", "on_site")) != bool(job_id):
            out.append(f"crew {cid}: {status} on job {job_id!r}")
        if job_id and teams.get(cid) != job_id:
            out.append(f"crew {cid}: on {job_id}, which is not in any job's team with it")
        holder = _owner(by_id, listed[job_id]) if job_id in listed else ""
        if job_id and c["order_id"] != holder:
            out.append(f"crew {cid}: on {job_id} of {c['order_id']!r}, held by {holder!r}")
        if status == "on_site" and job_id in jobs and jobs[job_id]["status"] != "on_site":
            out.append(f"crew {cid}: on site of {job_id}, which is {jobs[job_id]['status']}")
    owed: dict[str, list[dict[str, Any]]] = {}
    for cb in callbacks:
        if any(other["customer_id"] == cb["customer_id"] for other in owed.get(cb["order_id"], [])):
            out.append(f"callback {cb['callback_id']}: a second one to {cb['customer_id']} about that order")
        owed.setdefault(cb["order_id"], []).append(cb)
        if cb["order_id"] not in by_id and not cb["order_id"].startswith("planned:"):
            out.append(f"callback {cb['callback_id']}: unknown order {cb['order_id']}")
        if cb["outcome"] not in (None, "restored", "still_dark") or (cb["outcome"] and cb["due_s"] is None):
            out.append(f"callback {cb['callback_id']}: outcome {cb['outcome']!r}, due {cb['due_s']}")
        order = by_id.get(cb["order_id"])
        if cb["due_s"] is not None and order is not None and order["status"] in OPEN | {"merged"}:
            out.append(f"callback {cb['callback_id']}: due while its order is {order['status']}")
    for o in orders:
        oid, status = o["order_id"], o["status"]
        if status == "merged":
            continue
        own = [jobs[j["job_id"]] for j in o["jobs"]]
        live = [j["job_id"] for j in own if j["status"] in LIVE_JOB]
        if status not in OPEN and live:
            out.append(f"order {oid}: {status} with live jobs {live}")
        moving = any(j["status"] == "en_route" for j in own)
        if status in WAITING and (status == "en_route") != moving:
            out.append(f"order {oid}: {status} with jobs {[(j['job_id'], j['status']) for j in own]}")
        made = all(cb["outcome"] is not None for cb in owed.get(oid, []))
        if (status == "closed" and not made) or (status == "repaired" and made):
            out.append(f"order {oid}: {status} with its callbacks {'' if made else 'not '}all made")
    return out


def _fixed(crew: dict[str, Any]) -> dict[str, Any]:
    """A crew as read, without the position of one on its way (it moves with the clock)."""
    return {k: v for k, v in crew.items() if crew["status"] != "en_route" or k not in ("lon", "lat")}


def differences(before: dict[str, Any], after: dict[str, Any], *, limit: int = 5) -> list[str]:
    """The first items (by section and key) that differ between two snapshots."""
    out = []
    for section in sorted(before.keys() | after.keys()):
        a, b = before.get(section, {}), after.get(section, {})
        for key in sorted(a.keys() | b.keys(), key=str):
            if a.get(key) != b.get(key):
                out.append(f"{section} {key}: {a.get(key)} != {b.get(key)}")
                if len(out) >= limit:
                    return out
    return out


# -- the server ----------------------------------------------------------------------------------
class FuzzServer:
    """The app over one store, served by uvicorn on loopback in this process; a restart stops
    it (its engine and store closed, the writer lock released) and serves a new app on the same
    store."""

    def __init__(self, settings: Settings, region: Region) -> None:
        self.settings = settings
        self.region = region
        self._stack: contextlib.ExitStack | None = None
        self._app: FastAPI | None = None

    def start(self) -> str:
        """Serve the app; its base URL. ``RuntimeError`` when it does not start."""
        stack = contextlib.ExitStack()
        self._app = create_app(self.settings, region=self.region)
        base = stack.enter_context(served(self._app))
        self._stack = stack
        return base

    def _live(self) -> LiveDispatch:
        assert self._app is not None and self._app.state.api.running is not None
        live: LiveDispatch = self._app.state.api.running.live
        return live

    def shift_change_near(self, within_s: int) -> bool:
        """Whether a shift of the roster starts or ends within ``within_s`` by the storm clock."""
        def on(crew: Crew, t: int) -> bool:
            shift = crew.shift_at(t)
            return shift is not None and shift[0] <= t

        live = self._live()
        now = live.now_s()
        return any(on(c, now) != on(c, now + within_s) for c in live.crews)

    def apply_roster(self) -> None:
        """Start and end the shifts due by the storm clock, as the server's clock does at each
        tick (the machine's server ticks once an hour) and at start-up."""
        self._live().shift_changes()

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


# -- the machine ---------------------------------------------------------------------------------
class ApiFuzz(RuleBasedStateMachine):
    """Random legal requests and the checks after each (see the module docstring)."""

    def __init__(self, world: FuzzWorld) -> None:
        super().__init__()
        self.grid, self.tally = world.grid, world.tally
        self.settings = world.new_store()
        self.tokens = issue_tokens(self.settings)
        store = Store(self.settings.database_url)
        into_storm = CLOCK_STARTS[self.tally.runs % len(CLOCK_STARTS)]
        store.meta_setdefault("epoch", (datetime.now(UTC) - into_storm).isoformat())
        store.dispose()
        self.tally.runs += 1
        self.server = FuzzServer(self.settings, self.grid.region)
        self.http = httpx2.Client(base_url=self.server.start(), timeout=90)
        self._receiving = contextlib.ExitStack()
        self.receiver = self._receiving.enter_context(receiver())
        self._send("subscribe", "POST", "/v1/subscriptions", (201,),
                   body={"url": self.receiver.url, "kinds": [k.value for k in NoticeKind],
                         "secret": HOOK_SECRET})
        self.filed = 0
        self.planned: list[str] = []
        self.planned_windows: dict[str, tuple[datetime, datetime]] = {}
        self.callers: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.crews: dict[str, dict[str, Any]] = {}
        self.callbacks: list[dict[str, Any]] = []
        self._known = False
        self._settle()
        self._read()
        store = Store(self.settings.database_url)
        self.crew_tokens = {c: create_token(store, self.settings.secret, "crew", c) for c in self.crews}
        store.dispose()

    def teardown(self) -> None:
        try:
            self._notices_delivered()
        finally:
            self.http.close()
            self.server.stop()
            self._receiving.close()

    def _notices_delivered(self) -> None:
        """Every notice committed reached the receiver, signed, a second time only with the same
        body; none was given up."""
        deadline = time.monotonic() + 30
        while True:
            (sub,) = self.http.get("/v1/subscriptions", headers=self._as("dispatcher")).json()
            if sub["deliveries"]["pending"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        counts = sub["deliveries"]
        with self.receiver.lock:
            got = list(self.receiver.got)
        first: dict[str, bytes] = {}
        for r in got:
            if r.headers.get("X-Signature") != sign(HOOK_SECRET, r.raw):
                self.tally.problem("notices", f"notice {r.body['id']}: bad signature")
            if first.setdefault(r.body["id"], r.raw) != r.raw:
                self.tally.problem("notices", f"notice {r.body['id']} delivered twice with different bodies")
        if counts["pending"] or counts["failed"] or counts["delivered"] != len(first):
            self.tally.problem("notices", f"deliveries {counts}, the receiver took {len(first)} notices")

    # -- requests --------------------------------------------------------------------------
    def _as(self, role: str, crew_id: str = "") -> dict[str, str]:
        token = self.crew_tokens[crew_id] if role == "crew" else self.tokens[role]
        return {"Authorization": f"Bearer {token}"}

    def _send(self, kind: str, method: str, path: str, ok: Sequence[int], *, role: str = "dispatcher",
              crew_id: str = "", version: str | None = None,
              body: dict[str, Any] | None = None) -> httpx2.Response:
        """One operation: a 5xx, or an answer outside ``ok``, is a problem; so is a change by a
        request refused (or a read) sent while the state last read was the server's."""
        headers = self._as(role, crew_id)
        if version is not None:
            headers["If-Match"] = version
        try:
            r = self.http.request(method, path, headers=headers, json=body)
        except httpx2.TimeoutException:
            self.tally.answered(kind, 0, f"{method} {path} {body}")
            self.tally.problem("engine", f"{kind} {method} {path} {body}: no answer in 90 s")
            return httpx2.Response(599)
        self.tally.answered(kind, r.status_code, f"{method} {path} {body}")
        if r.status_code >= 500:
            self.tally.problem("5xx", f"{kind} {method} {path} {body} -> {r.status_code} {r.text[:500]}")
        elif r.status_code not in ok:
            self.tally.problem("answer", f"{kind} {method} {path} {body} -> {r.status_code} {r.text[:500]}")
        if r.status_code < 400 and method != "GET":
            self._known = False  # taken: the state last read is out of date
        elif r.status_code < 500 and self._known:
            before = self._view()
            self._settle()
            self._read()
            for diff in differences(before, self._view()):
                self.tally.problem("refusal", f"{kind} {method} {path} {body} -> {r.status_code}: {diff}")
        return r

    def _get(self, path: str) -> Any:
        r = self.http.get(path, headers=self._as("viewer"))
        if r.status_code != 200:
            self.tally.problem("5xx" if r.status_code >= 500 else "answer", f"GET {path} -> {r.status_code} "
                                                                           f"{r.text[:500]}")
        return r.json()

    def _version(self, path: str) -> str:
        return self.http.get(path, headers=self._as("viewer")).headers.get("ETag", '"none"')

    # -- reading the state -----------------------------------------------------------------
    def _settle(self) -> None:
        """Wait until the engine has applied the whole log and logged nothing more for a
        moment (a burst of events is followed by the point where the engine decides)."""
        last = -1
        while True:
            status = caught_up(self.http, self._as("viewer"))
            if status["store"]["last_seq"] == last:
                return
            last = status["store"]["last_seq"]
            time.sleep(0.03)

    def _read(self) -> None:
        """Read orders (and their jobs), crews and callbacks; they are what the server holds
        (``_known``) until a request is taken."""
        self.orders = {o["order_id"]: o for o in self._get("/v1/work-orders?limit=10000")}
        self.crews = {c["crew_id"]: c for c in self._get("/v1/crews")}
        self.callbacks = self._get("/v1/callbacks?due=false&limit=10000")
        self.jobs = {j["job_id"]: j for o in self.orders.values() for j in o["jobs"]}
        self._known = True

    def _view(self) -> dict[str, Any]:
        """The state last read, as a refusal must leave it (where an en-route crew is depends
        on the clock)."""
        return {"orders": self.orders, "crews": {c: _fixed(crew) for c, crew in self.crews.items()},
                "callbacks": {c["callback_id"]: c for c in self.callbacks}}

    def _snapshot(self) -> dict[str, Any]:
        """The state a restart must rebuild: orders, jobs, crews (where an en-route crew is
        depends on the clock), callbacks, incidents, the plan, the KPIs (but the deliveries of
        notices, which go on meanwhile) and the engine's counts."""
        status = self._get("/v1/status")
        return {"orders": {o["order_id"]: o for o in self._get("/v1/work-orders?limit=10000")},
                "crews": {c["crew_id"]: _fixed(c) for c in self._get("/v1/crews")},
                "callbacks": {c["callback_id"]: c for c in self._get("/v1/callbacks?due=false&limit=10000")},
                "incidents": {i["incident_id"]: i for i in self._get("/v1/incidents?open_only=false")},
                "plan": self._get("/v1/plan"),
                # webhook deliveries go on through a restart: their progress is no engine state
                "kpis": {k: v for k, v in self._get("/v1/kpis").items() if k != "notice_deliveries"},
                "engine": {**status["engine"], "last_seq": status["store"]["last_seq"]}}

    # -- drawing choices -------------------------------------------------------------------
    @staticmethod
    def _pick(data: st.DataObject, options: Sequence[T]) -> T | None:
        """One of ``options`` (None when there are none), drawn as an index of fixed range."""
        k = data.draw(st.integers(0, 1 << 16))
        return options[k % len(options)] if options else None

    @staticmethod
    def _chance(data: st.DataObject, percent: int) -> bool:
        return data.draw(st.integers(0, 99)) < percent

    def _crews(self, *statuses: str) -> list[str]:
        return [c for c, crew in self.crews.items() if crew["status"] in statuses]

    def _waiting_jobs(self) -> dict[str, list[str]]:
        """Open orders with jobs waiting for a crew, and those jobs."""
        waiting = {o: [j["job_id"] for j in order["jobs"] if j["status"] in ("new", "en_route")]
                   for o, order in self.orders.items() if order["status"] in OPEN}
        return {o: jobs for o, jobs in waiting.items() if jobs}

    # -- operations ------------------------------------------------------------------------
    @rule(op=st.sampled_from(OPERATIONS), data=st.data())
    def step(self, op: str, data: st.DataObject) -> None:
        """One operation, drawn by its weight in ``OPERATIONS``; one the state does not allow
        yet (no crew on a job, no callback owed) does nothing."""
        getattr(self, op)(data)

    def calls(self, data: st.DataObject) -> None:
        """One to three trouble calls, now and then from someone who called before, each
        located by customer number, meter, address (as written in either script) or a phone's
        position; some settled on the phone (the customer's own breaker)."""
        for _ in range(data.draw(st.integers(1, 3))):
            again = self._chance(data, 25) and bool(self.callers)
            who = self._pick(data, self.callers if again else self.grid.customers)
            how = self._pick(data, ("customer_id", "meter_id", "address", "address_en", "position"))
            assert who is not None and how is not None
            self.filed += 1
            body: dict[str, Any] = {"call_id": f"K{self.filed}"}
            if how == "position":
                body["lon"], body["lat"] = who["lon"], who["lat"]
            else:
                body["address" if how == "address_en" else how] = who[how]
            if self._chance(data, 15):
                body["triage"] = "customer_reset"
            self.callers.append(who)
            role = "call_taker" if self._chance(data, 50) else "dispatcher"
            self._send("call", "POST", "/v1/calls", (201, 202) if how == "position" else (201,), role=role,
                       body=body)

    def device_report(self, data: st.DataObject) -> None:
        """SCADA reports a protective device open."""
        self._send("device_report", "POST", "/v1/device-reports", (201,),
                   body={"device_id": self._pick(data, self.grid.devices)})

    def crews_work(self, data: st.DataObject) -> None:
        """One to three reports of crews on jobs: a crew on its way arrives; a crew on site of
        a first response reports what it found (nothing: the supply is back; or up to three
        plausible findings around its site, fixed on the spot or not); a crew on site of a
        repair reports it done."""
        for k in range(data.draw(st.integers(1, 3))):
            if k:
                self._settle()
                self._read()
            groups = [group for group in self._crew_groups() if group]
            crew_id = self._pick(data, self._pick(data, groups) or [])
            if crew_id is None:
                return
            job = self.jobs[self.crews[crew_id]["job_id"]]
            if self.crews[crew_id]["status"] == "en_route":
                self._crew_report(data, "on_site", crew_id, "status", {"status": "on_site"})
            else:
                self._report_work(data, crew_id, job)

    def _crew_groups(self) -> tuple[list[str], ...]:
        """The groups of crews ``crews_work`` draws from, each as often as the others."""
        return self._crews("on_site"), self._crews("en_route")

    def _report_work(self, data: st.DataObject, crew_id: str, job: dict[str, Any]) -> None:
        """A crew on site reports its job: a repair done, a first response's findings."""
        if job["kind"] == "repair":
            self._crew_report(data, "repaired", crew_id, "status", {"status": "repaired"})
        else:
            self._crew_report(data, "first_response", crew_id, "first-response",
                              {"findings": self._findings(data, job)})

    def _crew_report(self, data: st.DataObject, kind: str, crew_id: str, path: str,
                     body: dict[str, Any], ok: Sequence[int] = (200,), **send: Any) -> httpx2.Response:
        """A report by the crew on a job, with its own token or through a dispatcher, on the
        job's order or, now and then, on an order merged into it (as a crew that set off for
        that one would); ``ok`` and ``send`` go on to ``_send``."""
        order_id = self.crews[crew_id]["order_id"]
        merged = [o for o, order in self.orders.items() if order["merged_into"] == order_id]
        if merged and self._chance(data, 30):
            order_id = str(self._pick(data, merged))
        url = f"/v1/work-orders/{order_id}/{path}"
        version = self._version(f"/v1/work-orders/{order_id}")
        if self._chance(data, 50):
            return self._send(kind, "POST", url, ok, role="crew", crew_id=crew_id, version=version, body=body,
                              **send)
        return self._send(kind, "POST", url, ok, version=version, body={**body, "crew_id": crew_id}, **send)

    def _findings(self, data: st.DataObject, job: dict[str, Any]) -> list[dict[str, Any]]:
        """Up to three findings a responder at the job's site could plausibly report."""
        around = self.grid.neighbours(job["element_id"])
        findings: list[dict[str, Any]] = []
        for _ in range(data.draw(st.integers(0, 3))):
            where = self._pick(data, [k for k, nodes in around.items() if nodes])
            node = self._pick(data, around[str(where)])
            repair_min = self._pick(data, (10, 45, 120, 300, 720))
            fixed = self._chance(data, 30)
            assert node is not None
            if where == "customer":
                findings.append({"element_id": self.grid.element(node), "customer_side": True})
            else:
                findings.append({"element_id": self.grid.element(node), "skill": self.grid.skill(node),
                                 "repair_min": repair_min, "fixed": fixed})
        return findings

    def _assign(self, kind: str, order_id: str, crew_id: str, job_id: str | None) -> None:
        body: dict[str, Any] = {"crew_id": crew_id, **({"job_id": job_id} if job_id else {})}
        self._send(kind, "POST", f"/v1/work-orders/{order_id}/assignment", (200, 409),
                   version=self._version(f"/v1/work-orders/{order_id}"), body=body)

    def assign(self, data: st.DataObject) -> None:
        """A dispatcher sends a crew (helping a team on its way, on its way elsewhere, or idle)
        to an open order, to the job named or the first one waiting that it can do. Refused
        (409) when the crew lacks the skill or the hours, or is on that job already."""
        waiting = self._waiting_jobs()
        if not waiting or not self._crews("idle", "en_route"):
            return
        order_id = self._pick(data, list(waiting))
        helpers = [c for j in self.jobs.values() if j["status"] in LIVE_JOB for c in j["helpers"]
                   if self.crews[c]["status"] == "en_route"]
        groups = [group for group in (helpers, self._crews("en_route"), self._crews("idle")) if group]
        crew_id = self._pick(data, self._pick(data, groups) or [])
        job_id = self._pick(data, waiting[str(order_id)]) if self._chance(data, 50) else None
        assert order_id is not None and crew_id is not None
        self._assign("assign", order_id, crew_id, job_id)

    def outage_grows(self, data: st.DataObject) -> None:
        """Calls show that an outage above work under way is larger: from customers (each under
        their own service drop) of two or three transformers under the nearest MV device above
        a site where a crew is working, so that the device's incident forms and takes in the
        order being worked."""
        working = sorted({self.crews[c]["order_id"] for c in self._crews("on_site")})
        order_id = self._pick(data, working)
        if order_id is None:
            return
        for customer_id in self.grid.callers_around(self.orders[order_id]["element_id"],
                                                    data.draw(st.integers(2, 3))):
            self.filed += 1
            self._send("outage_grows", "POST", "/v1/calls", (201,), role="call_taker",
                       body={"call_id": f"K{self.filed}", "customer_id": customer_id})

    def crews_home(self, data: st.DataObject) -> None:
        """Crews are short: a dispatcher sends every idle crew off duty (new work waits)."""
        for crew_id in self._crews("idle"):
            self._send("duty", "PATCH", f"/v1/crews/{crew_id}", (200,),
                       version=self._version(f"/v1/crews/{crew_id}"), body={"on_duty": False})

    def helper_reassigned(self, data: st.DataObject) -> None:
        """Issue 16's sequence: SCADA reports a large feeder's breaker open (its repair gets a
        team), then a device on another feeder; a helper of the team is sent to the second
        order; a re-plan follows."""
        breaker = self._pick(data, self.grid.team_breakers)
        assert breaker is not None
        other = self._pick(data, [d for d in self.grid.devices
                                  if self.grid.feeder_of[d] != self.grid.feeder_of[breaker]])
        self._send("helper_reassigned", "POST", "/v1/device-reports", (201,), body={"device_id": breaker})
        self._send("helper_reassigned", "POST", "/v1/device-reports", (201,), body={"device_id": other})
        self._settle()
        self._read()
        team = next((j for j in self.jobs.values() if j["element_id"] == breaker and j["helpers"]
                     and j["status"] in LIVE_JOB), None)
        target = next((o for o, order in self.orders.items() if order["element_id"] == other
                       and order["status"] in OPEN), None)
        helper = self._pick(data, team["helpers"] if team else [])
        if helper is not None and target is not None:
            self._assign("helper_reassigned", target, helper, None)
        self._send("helper_reassigned", "POST", "/v1/plan/replan", (202,))

    def cancel(self, data: st.DataObject) -> None:
        """A dispatcher cancels an order no crew has reached (now and then one that was, or one
        with a crew at work on a job it took in with a merged order: 409)."""
        waiting = [o for o, order in self.orders.items() if order["status"] in WAITING
                   and not any(j["status"] == "on_site" for j in order["jobs"])]
        others = [o for o in self.orders if o not in waiting]
        order_id = self._pick(data, others if self._chance(data, 20) else waiting)
        if order_id is not None:
            self._send("cancel", "POST", f"/v1/work-orders/{order_id}/status",
                       (200,) if order_id in waiting else (409,),
                       version=self._version(f"/v1/work-orders/{order_id}"),
                       body={"status": "cancelled", "reason": "duplicate"})

    def callback(self, data: st.DataObject) -> None:
        """A call-taker calls a customer back: restored, still dark (work reopens) or no
        answer; now and then a callback not due or done already (409). Or a dispatcher records
        every due callback of a repaired order at once (``callback_done``; 409 when none is
        due)."""
        if not self.callbacks:
            return
        repaired = [o for o, order in self.orders.items() if order["status"] == "repaired"]
        due = [c for c in self.callbacks if c["due_s"] is not None and c["outcome"] is None]
        if self._chance(data, 20) and repaired:
            order_id = self._pick(data, repaired)
            ok = (200,) if any(c["order_id"] == order_id for c in due) else (409,)
            self._send("callback_done", "POST", f"/v1/work-orders/{order_id}/status", ok,
                       version=self._version(f"/v1/work-orders/{order_id}"), body={"status": "callback_done"})
            return
        rest = [c for c in self.callbacks if c not in due]
        callback = self._pick(data, rest if self._chance(data, 15) else due)
        outcome = self._pick(data, ("restored", "restored", "still_dark", "no_answer"))
        role = "call_taker" if self._chance(data, 50) else "dispatcher"
        if callback is not None:
            self._send("callback", "POST", f"/v1/callbacks/{callback['callback_id']}/outcome",
                       (200,) if callback in due else (409,), role=role, body={"outcome": outcome})

    def planned_outage(self, data: st.DataObject) -> None:
        """An urgent planned outage starting in seconds and ending within minutes (its callers
        are called back then); now and then one reusing an id (409), one at short notice not
        marked urgent (422), a move of one's end, or calling one off before it starts."""
        now = datetime.now(UTC)
        what = self._pick(data, ("new", "new", "reuse", "short", "move", "cancel"))
        if what in ("reuse", "move", "cancel") and not self.planned:
            what = "new"
        if what == "move":
            outage_id = self._pick(data, self.planned)
            start, end = self.planned_windows[str(outage_id)]
            later = timedelta(seconds=data.draw(st.integers(30, 600)))
            new_end = max(end, now + timedelta(seconds=60)) + later
            urgent = later.seconds % 2 == 0  # drawn from the same draw: the draws' shape stays as it was
            body = {"start": start.isoformat(), "end": new_end.isoformat(), "urgent": urgent,
                    "reason": "fuzz" if urgent else ""}
            # 200 only when urgent (it ends later within the notice period); 409: over meanwhile
            # (or its end passed between the check and the engine); 422: its start passed
            codes = (200, 409, 422) if urgent else (409, 422)
            r = self._send("planned_outage", "PUT", f"/v1/planned-outages/{outage_id}", codes, body=body)
            if r.status_code == 200:
                self.planned_windows[str(outage_id)] = (start, new_end)
            return
        if what == "cancel":
            outage_id = self._pick(data, self.planned)
            self._send("planned_outage", "POST", f"/v1/planned-outages/{outage_id}/cancel", (200, 409),
                       body={"reason": "fuzz"})
            return
        outage_id = self._pick(data, self.planned) if what == "reuse" else f"PO{len(self.planned) + 1}"
        start = now + timedelta(seconds=15)
        end = start + timedelta(seconds=data.draw(st.integers(30, 900)))
        body = {"outage_id": outage_id, "device_id": self._pick(data, self.grid.planned_devices),
                "start": start.isoformat(), "end": end.isoformat(), "urgent": what != "short",
                "reason": "fuzz: urgent repair" if what != "short" else ""}
        if what == "new":
            self.planned.append(str(outage_id))
            self.planned_windows[str(outage_id)] = (start, end)
        codes = {"new": (201,), "reuse": (409,), "short": (422,)}[str(what)]
        self._send("planned_outage", "POST", "/v1/planned-outages", codes, body=body)

    def crew_update(self, data: st.DataObject) -> None:
        """A crew's GPS fix somewhere in the feeders' streets, its duty (off: a job it is on is
        handed back; or on), or both at once; with its own token or a dispatcher's."""
        crew_id = self._pick(data, list(self.crews))
        where = self._pick(data, self.grid.customers)
        what = self._pick(data, ("position", "position", "duty", "position_and_duty"))
        assert crew_id is not None and where is not None and what is not None
        body: dict[str, Any] = {}
        if what != "duty":
            body.update(lon=where["lon"], lat=where["lat"])
        if what != "position":
            body.update(on_duty=self.crews[crew_id]["status"] == "off")
        role = "crew" if self._chance(data, 50) else "dispatcher"
        self._send(what, "PATCH", f"/v1/crews/{crew_id}", (200,), role=role, crew_id=crew_id,
                   version=self._version(f"/v1/crews/{crew_id}"), body=body)

    def refused(self, data: st.DataObject) -> None:
        """A well-formed request the state does not allow, of a kind crews and dispatchers get
        wrong: a crew arriving twice, reporting a repair before arriving or on a first
        response, findings before arriving or on another feeder, a report on an order the crew
        is not on; a busy or off-duty crew sent, a job of another order named, an update
        naming an old version. Each is refused (409) and changes nothing (``_send`` checks)."""
        wrong: list[tuple[str, str, dict[str, Any]]] = []
        for c, crew in self.crews.items():
            order_id, job = crew["order_id"], self.jobs.get(crew["job_id"])
            status = f"/v1/work-orders/{order_id}/status"
            if crew["status"] == "on_site":
                wrong.append(("arrive_twice", status, {"status": "on_site", "crew_id": c}))
            if job is not None and (crew["status"] == "en_route") == (job["kind"] == "repair"):
                wrong.append(("repaired_wrongly", status, {"status": "repaired", "crew_id": c}))
            if job is not None and job["kind"] == "first_response":
                far = [b for b in self.grid.team_breakers if not self.grid.region.network.is_ancestor(
                    self.grid.node_of[b], self.grid.node_of[job["element_id"]])]
                own = {"element_id": job["element_id"], "skill": "lv", "repair_min": 30}
                findings = [own] if crew["status"] == "en_route" else [own, {**own, "element_id": far[0]}]
                wrong.append(("findings_wrongly", f"/v1/work-orders/{order_id}/first-response",
                              {"crew_id": c, "findings": findings}))
            others = [o for o, order in self.orders.items() if order["status"] in OPEN and o != order_id]
            if crew["status"] == "en_route" and others:
                wrong.append(("not_on_order", f"/v1/work-orders/{others[0]}/status",
                              {"status": "on_site", "crew_id": c}))
        waiting = self._waiting_jobs()
        for order_id in list(waiting)[:3]:
            assignment = f"/v1/work-orders/{order_id}/assignment"
            wrong += [("send_busy", assignment, {"crew_id": c}) for c in self._crews("on_site", "off")[:5]]
            elsewhere = [j for o, js in waiting.items() if o != order_id for j in js]
            idle = self._crews("idle")
            if elsewhere and idle:
                wrong.append(("other_orders_job", assignment, {"crew_id": idle[0], "job_id": elsewhere[0]}))
            wrong.append(("old_version", f"/v1/work-orders/{order_id}/status", {"status": "cancelled"}))
        choice = self._pick(data, wrong)
        if choice is None:
            return
        kind, path, body = choice
        order_id = path.split("/")[3]
        old = '"0000000000000000"'
        version = old if kind == "old_version" else self._version(f"/v1/work-orders/{order_id}")
        self._send(kind, "POST", path, (409,), version=version, body=body)

    def reads(self, data: st.DataObject) -> None:
        """What dispatchers' screens, the map and customers read: the KPIs, the plan, the dark
        areas, critical customers (as a dispatcher and as a viewer), incidents, a caller's outage
        and ETR, a call, the lists filtered."""
        who = self._pick(data, self.callers or self.grid.customers)
        status = self._pick(data, sorted(ORDER_STATUSES))
        crew_status = self._pick(data, sorted(CREW_STATUSES))
        assert who is not None
        paths = ["/v1/kpis", "/v1/plan", "/v1/map/outages", "/v1/map/critical", "/v1/incidents",
                 f"/v1/customers/{who['customer_id']}/outage", f"/v1/crews?status={crew_status}",
                 f"/v1/work-orders?status={status}&open_only=true", "/v1/callbacks", "/v1/status"]
        if self.filed:
            paths.append(f"/v1/calls/K{data.draw(st.integers(1, self.filed))}")
        path = self._pick(data, paths)
        role = "dispatcher" if self._chance(data, 50) else "viewer"
        self._send("read", "GET", str(path), (200,), role=role)

    def replan(self, data: st.DataObject) -> None:
        self._send("replan", "POST", "/v1/plan/replan", (202,))

    def restart(self, data: st.DataObject) -> None:
        """Stop the server and start it again on the same store: the state read through the
        API must be the same before and after. The shifts due are started and ended first, as
        the server's clock would have (past any shift change due within the seconds a restart
        takes), so that the start-up finds none due."""
        while self.server.shift_change_near(5):
            time.sleep(1)
        self.server.apply_roster()
        self._settle()
        before = self._snapshot()
        self.http.close()
        self.server.stop()
        self._known = False
        self.tally.answered("restart", 0)
        self.tally.restarts += 1
        try:
            self.http = httpx2.Client(base_url=self.server.start(), timeout=90)
        except RuntimeError as exc:
            self.tally.problem("engine", f"the server did not start again on its store: {exc}")
            raise
        self._settle()
        for diff in differences(before, self._snapshot()):
            self.tally.problem("restart", diff)

    # -- after every step ------------------------------------------------------------------
    @invariant()
    def whole(self) -> None:
        """The engine is alive and took everything in, nothing was rolled back, the state is
        whole and the KPIs count what the lists hold."""
        try:
            self._settle()
        except RuntimeError as exc:
            self.tally.problem("engine", str(exc))
            return
        ready = self.http.get("/readyz")
        if ready.status_code != 200:
            self.tally.problem("engine", f"/readyz {ready.status_code}: {ready.text[:300]}")
        rolled_back = next((float(line.split()[1]) for line in self.http.get("/metrics").text.splitlines()
                            if line.startswith("engine_events_rolled_back ")), 0.0)
        if rolled_back:
            self.tally.problem("engine", f"{rolled_back:g} events rolled back: the engine raised on them")
        status = self._get("/v1/status")
        if status["engine"]["calls"] != status["store"]["calls"]:
            stored, taken = status["store"]["calls"], status["engine"]["calls"]
            self.tally.problem("engine", f"{stored} calls stored, {taken} taken in")
        self._read()
        for problem in state_problems(list(self.orders.values()), list(self.crews.values()), self.callbacks,
                                      self.grid.covers):
            self.tally.problem("state", problem)
        kpis = self._get("/v1/kpis")
        counted = {"work_orders_by_status": Counter(o["status"] for o in self.orders.values()),
                   "crews_by_status": Counter(c["status"] for c in self.crews.values()),
                   "callbacks_owed": len(self.callbacks),
                   "callbacks_done": sum(cb["outcome"] is not None for cb in self.callbacks)}
        for key, value in counted.items():
            shown = {k: v for k, v in kpis[key].items() if v} if isinstance(value, Counter) else kpis[key]
            if shown != value:
                self.tally.problem("state", f"KPI {key} is {shown}, the lists count {value}")


def run_fuzz(world: FuzzWorld, *, seed_: int, runs: int, steps: int,
             machine: type[ApiFuzz] | None = None) -> None:
    """``runs`` runs of up to ``steps`` operations each, each on a fresh store, the choices
    drawn from ``seed_``; in strict mode the first problem raises (the run's steps printed).
    How many choices an operation draws depends on the server's state (a crew sent or not yet),
    which timing can change between runs; Hypothesis then reports a choice prefix it saw before
    continuing differently as a flaky strategy and stops. That is no finding about the service:
    the run it cut short counts (``cut_short``) and the remaining runs go on with the next seed.
    ``machine`` is the machine's class (``ApiFuzz`` unless told: a subclass adds operations and
    checks, ``tests/api/fuzz_switching.py``)."""
    base = machine or ApiFuzz

    class InWorld(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__(world)

    first, attempt = world.tally.runs, 0
    while world.tally.runs - first < runs:
        started = world.tally.runs
        try:
            run_state_machine_as_test(seed(seed_ * 1_000 + attempt)(InWorld), settings=settings(
                max_examples=runs - (started - first), stateful_step_count=steps, deadline=None,
                database=None, phases=(Phase.generate,), suppress_health_check=list(HealthCheck)))
            return
        except FlakyStrategyDefinition:
            world.tally.cut_short += 1
        attempt += 1
