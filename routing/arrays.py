"""The one module that turns a ``Problem`` into the kernels' arrays and their state back into
routes. Kernels see namedtuples of C-contiguous int64/float64 arrays, never objects."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from routing.problem import Objective, Problem

SUFFIX_FIELDS = 7  # _kernels_route.SUFFIX_FIELDS (repeated: this module loads no kernels)

KernelData = namedtuple("KernelData", [
    "n_crews", "n_orders", "travel_kind", "x", "y", "seconds_per_metre", "matrix", "road_table",
    "point_node", "point_access", "crew_start", "crew_end", "crew_skills", "crew_capacity",
    "reported", "earliest", "deadline", "service", "customers", "priority", "demand", "order_skill",
    "horizon", "lateness_weight", "distance_objective", "closed_routes", "hard_windows",
    "shift_work",
])
# fin: finish time at each position; cpre: cost up to it; lpre: load up to it; aux: for the
# distance objective the latest start at each position that keeps the rest of the route
# feasible (aux[r, i]); for the dispatch objective, over the suffix of route r from position i
# (aux[r, 7 i + field], ``_kernels_route.suffix_aggregates`` names the fields): the cost per
# second of delaying / advancing it, how far it may be delayed / advanced with those rates
# exact, how far it may be delayed before the crew's end is broken, the union of its orders'
# skill masks and what they would cost unassigned (``tail_delta`` prices a shift of a route's
# tail in O(1) with them).
State = namedtuple("State", ["routes", "rlen", "route_of", "pos_of", "rcost", "fin", "cpre", "load",
                             "frozen", "aux", "lpre"])
Best = namedtuple("Best", ["routes", "rlen"])


def _c(a: np.ndarray, dtype: type) -> np.ndarray:
    """A C-contiguous, writeable array: numba types a read-only array apart, so a problem with
    one (a reader's ``broadcast_to``) would compile every kernel a second time."""
    out: np.ndarray = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def _i64(a: np.ndarray) -> np.ndarray:
    return _c(a, np.int64)


def kernel_data(p: Problem) -> KernelData:
    return KernelData(
        np.int64(p.n_crews), np.int64(p.n_orders), np.int64(int(p.travel_kind)),
        _c(p.x, np.float64), _c(p.y, np.float64),
        float(p.seconds_per_metre),
        _i64(p.matrix if p.matrix.size else np.zeros((1, 1))),
        _i64(p.road_table if p.road_table.size else np.zeros((1, 1))),
        _i64(p.point_node if p.point_node.size else np.zeros(1)),
        _i64(p.point_access_s if p.point_access_s.size else np.zeros(1)),
        _i64(p.crew_start_s), _i64(p.crew_end_s), _i64(p.crew_skills), _i64(p.crew_capacity),
        _i64(p.reported_s), _i64(p.earliest_s), _i64(p.deadline_s), _i64(p.service_s),
        _i64(p.customers), _i64(p.priority), _i64(p.demand), _i64(p.order_skill),
        np.int64(p.horizon_s), np.int64(p.lateness_weight),
        p.objective == Objective.DISTANCE, bool(p.closed_routes), bool(p.hard_windows),
        np.int64(p.shift_work_s),
    )


def route_capacity(p: Problem) -> int:
    """Longest route the state can hold: generous, but bounded so state stays small."""
    return int(min(p.n_orders + 1, max(256, 8 * -(-p.n_orders // p.n_crews) + 1)))


def blank_state(n_crews: int, n_orders: int, cap: int, frozen: np.ndarray) -> State:
    """A state with every route empty, room for ``n_orders`` orders and ``cap`` per route."""
    k = n_crews

    def grid() -> np.ndarray:
        return np.zeros((k, cap), dtype=np.int64)

    return State(np.full((k, cap), -1, dtype=np.int64), np.zeros(k, dtype=np.int64),
                 np.full(n_orders, -1, dtype=np.int64), np.zeros(n_orders, dtype=np.int64),
                 np.zeros(k, dtype=np.int64), grid(), grid(), np.zeros(k, dtype=np.int64),
                 _i64(frozen),
                 np.zeros((k, cap * SUFFIX_FIELDS), dtype=np.int64), grid())


def empty_state(p: Problem) -> State:
    frozen = p.frozen if p.frozen.size else np.zeros(p.n_crews, dtype=np.int64)
    return blank_state(p.n_crews, p.n_orders, route_capacity(p), frozen)


def state_from_routes(p: Problem, routes: dict[str, list[str]]) -> State:
    """Load a plan's routes (crew id -> order ids) into a fresh state."""
    s = empty_state(p)
    crew = {c: i for i, c in enumerate(p.crew_ids)}
    order = {o: j for j, o in enumerate(p.order_ids)}
    for crew_id, seq in routes.items():
        r = crew[crew_id]
        if len(seq) >= s.routes.shape[1]:
            raise ValueError(f"route of {crew_id} has {len(seq)} orders, more than the solver "
                             f"holds ({s.routes.shape[1] - 1})")
        for i, o in enumerate(seq):
            s.routes[r, i] = order[o]
        s.rlen[r] = len(seq)
    return s


def routes_from_arrays(p: Problem, routes: np.ndarray, rlen: np.ndarray) -> dict[str, list[str]]:
    return {c: [p.order_ids[j] for j in routes[r, : rlen[r]]] for r, c in enumerate(p.crew_ids)}
