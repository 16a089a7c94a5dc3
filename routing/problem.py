"""The immutable array ``Problem`` the solvers work on, validated on construction.

Points are the crews' start points first, then the orders, in file order. Times are integer
seconds from the problem's epoch (for VRPTW files: tenths of a distance unit, the DIMACS
convention). Travel is euclidean (``round(detour * metres / speed)``), DIMACS-truncated
euclidean, a full matrix, or a road table (snapped road nodes plus access seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class TravelKind(IntEnum):
    MATRIX = 0
    EUCLIDEAN = 1
    DIMACS = 2
    ROAD = 3


class Objective(IntEnum):
    """``DISPATCH``: customer-weighted completion plus lateness (docs/formats.md).
    ``DISTANCE``: total travel (VRPTW literature)."""

    DISPATCH = 0
    DISTANCE = 1


class ProblemError(ValueError):
    """An instance that cannot be solved as given; the message names the field and item."""


def _empty_i64() -> I64:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Problem:
    """A dispatch snapshot as C-contiguous arrays; see ``routing.io`` to build one from a file."""

    name: str
    crew_ids: tuple[str, ...]
    order_ids: tuple[str, ...]
    skill_names: tuple[str, ...]
    x: F64
    y: F64
    crew_start_s: I64
    crew_end_s: I64
    crew_skills: I64
    crew_capacity: I64
    reported_s: I64
    earliest_s: I64
    deadline_s: I64
    service_s: I64
    customers: I64
    priority: I64
    demand: I64
    order_skill: I64
    horizon_s: int
    lateness_weight: int
    travel_kind: TravelKind = TravelKind.EUCLIDEAN
    seconds_per_metre: float = 1.0
    matrix: I64 = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    road_table: I64 = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    point_node: I64 = field(default_factory=_empty_i64)
    point_access_s: I64 = field(default_factory=_empty_i64)
    objective: Objective = Objective.DISPATCH
    closed_routes: bool = False
    hard_windows: bool = False
    # Hours of service: with shift_work_s > 0 a crew may start an order only if it can work
    # min(service, shift_work_s) of it before its end (a longer job is handed over at the end).
    shift_work_s: int = 0
    frozen: I64 = field(default_factory=_empty_i64)

    @property
    def n_crews(self) -> int:
        return len(self.crew_ids)

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    def __post_init__(self) -> None:
        k, n = self.n_crews, self.n_orders
        if k == 0:
            raise ProblemError("crews: at least one crew is needed")
        for name in ("crew_start_s", "crew_end_s", "crew_skills", "crew_capacity"):
            _check_len(name, getattr(self, name), k)
        for name in ("reported_s", "earliest_s", "deadline_s", "service_s", "customers",
                     "priority", "demand", "order_skill"):
            _check_len(name, getattr(self, name), n)
        _check_len("x", self.x, k + n)
        _check_len("y", self.y, k + n)
        if self.travel_kind == TravelKind.MATRIX and self.matrix.shape != (k + n, k + n):
            raise ProblemError(f"travel.seconds: matrix is {self.matrix.shape[0]}x"
                               f"{self.matrix.shape[1] if self.matrix.ndim == 2 else 0}, "
                               f"expected {k + n}x{k + n} (crews then orders)")
        if self.travel_kind == TravelKind.ROAD:
            _check_len("point_node", self.point_node, k + n)
            _check_len("point_access_s", self.point_access_s, k + n)
        bad = np.flatnonzero(self.service_s < 0)
        if len(bad):
            raise ProblemError(f"orders[{bad[0]}] ({self.order_ids[bad[0]]}): service must be >= 0, "
                               f"got {self.service_s[bad[0]]}")
        bad = np.flatnonzero(self.crew_end_s < self.crew_start_s)
        if len(bad):
            raise ProblemError(f"crews[{bad[0]}] ({self.crew_ids[bad[0]]}): end is before start")
        for name in ("customers", "priority", "demand"):
            arr = getattr(self, name)
            bad = np.flatnonzero(arr < 0)
            if len(bad):
                raise ProblemError(f"orders[{bad[0]}] ({self.order_ids[bad[0]]}): {name} must be "
                                   f">= 0, got {arr[bad[0]]}")
        if self.frozen.size and self.frozen.shape != (k,):
            raise ProblemError(f"frozen: expected one count per crew ({k}), got {self.frozen.shape}")


def _check_len(name: str, arr: np.ndarray, n: int) -> None:
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ProblemError(f"{name}: expected {n} values, got shape {arr.shape}")


def skill_bits(skill_names: tuple[str, ...], wanted: Sequence[str] | str, where: str) -> int:
    """Bit mask of ``wanted`` skills; unknown names raise ``ProblemError`` naming ``where``."""
    names = [wanted] if isinstance(wanted, str) else wanted
    mask = 0
    for s in names:
        if s not in skill_names:
            raise ProblemError(f"{where}: unknown skill {s!r} (known: {', '.join(skill_names)})")
        mask |= 1 << skill_names.index(s)
    return mask
