"""Granular neighbour lists: nearest by travel, and under hard windows by time as well."""

from __future__ import annotations

import dataclasses

from routing._kernels_neighbours import nearest_lists
from routing.arrays import kernel_data
from routing.io import problem_from_dict
from routing.problem import Problem


def _three_orders() -> Problem:
    """A at the crew's yard; B 10 s from A but open only hours later; C 300 s from A with a
    window that fits right after it (10 m/s, no detour)."""
    def order(oid: str, x: float, earliest: int, deadline: int) -> dict[str, object]:
        return {"id": oid, "x": x, "y": 0.0, "reported": 0, "earliest": earliest, "deadline": deadline,
                "service": 60, "skill": "lv", "customers": 1, "priority": 1}

    return problem_from_dict({
        "name": "three", "horizon": 30000, "lateness_weight": 100,
        "travel": {"kind": "euclidean", "speed_kmh": 36.0, "detour": 1.0},
        "crews": [{"id": "C0", "x": 0.0, "y": 0.0, "start": 0, "end": 30000, "skills": ["lv"]}],
        "orders": [order("A", 0.0, 0, 600), order("B", 100.0, 20000, 21000), order("C", 3000.0, 0, 2000)]})


def test_soft_windows_list_neighbours_by_round_trip() -> None:
    nb, cn = nearest_lists(kernel_data(_three_orders()), 2, 1)
    assert nb[0].tolist() == [1, 2]
    assert cn.tolist() == [[0], [0], [0]]


def test_hard_windows_put_a_near_order_that_opens_hours_later_behind_a_farther_one() -> None:
    p = dataclasses.replace(_three_orders(), hard_windows=True)
    nb, _ = nearest_lists(kernel_data(p), 2, 1)
    assert nb[0].tolist() == [2, 1]


def test_grid_lists_are_the_brute_force_lists_ties_included() -> None:
    """Euclidean travel, soft windows: ``nearest_lists`` takes the grid; on points of a coarse
    lattice (many equal distances) its lists are those of the scan of every order."""
    import numpy as np

    from routing._kernels_neighbours import nearest_rows

    rng = np.random.default_rng(0)
    for n in (40, 700):
        orders = [{"id": f"W{j}", "x": float(rng.integers(0, 20)) * 100.0,
                   "y": float(rng.integers(0, 20)) * 100.0, "reported": 0, "deadline": 900,
                   "service": 60, "skill": "lv" if j % 7 else "mv", "customers": 1, "priority": 1}
                  for j in range(n)]
        p = problem_from_dict({
            "name": "lattice", "horizon": 9000, "travel": {"kind": "euclidean", "speed_kmh": 30.0},
            "crews": [{"id": "C", "x": 0.0, "y": 0.0, "start": 0, "end": 9000, "skills": ["lv", "mv"]}],
            "orders": orders})
        d = kernel_data(p)
        for k in (1, 5, 30):
            nb, cn = nearest_lists(d, k, 1)
            nb2, cn2 = np.empty_like(nb), np.empty_like(cn)
            nearest_rows(d, np.arange(p.n_orders), nb2, cn2)
            assert np.array_equal(nb, nb2) and np.array_equal(cn, cn2)
