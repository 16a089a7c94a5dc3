"""benchmarks.rebound: a recorded row's bound is computed again on the same instance, and its
gaps recounted from the recorded costs."""

from __future__ import annotations

from benchmarks.rebound import instance_of, rebound_row
from routing.bound import lower_bound
from routing.io import problem_from_dict


def test_a_family_row_gets_the_bound_of_its_instance_and_its_gaps_recounted() -> None:
    row = {"family": "grid-16h", "orders": 60, "crews": 6, "seed": 3,
           "lower_bound": {"cost": 1, "runtime_s": 0.1},
           "first_plan": {"cost": 0, "gap_to_bound": 9.0},
           "ours": {"cost": 0, "gap_to_bound": 9.0, "iterations": 5},
           "ortools": {"cost": 0, "found_plan": False, "gap_to_bound": None},
           "rule_of_thumb": {"cost": 7}}
    bound = lower_bound(problem_from_dict(instance_of(row)))
    assert bound > 0
    row["first_plan"]["cost"], row["ours"]["cost"] = round(bound * 1.25), round(bound * 1.1)
    rebound_row(row, "2026-11-29")
    assert row["lower_bound"]["cost"] == bound
    assert (row["lower_bound"]["previous"], row["lower_bound"]["recomputed"]) == (1, "2026-11-29")
    assert row["first_plan"]["gap_to_bound"] == round(round(bound * 1.25) / bound - 1, 4)
    assert row["ours"]["gap_to_bound"] == round(round(bound * 1.1) / bound - 1, 4)
    assert row["ortools"]["gap_to_bound"] is None and row["rule_of_thumb"] == {"cost": 7}
    rebound_row(row, "2026-11-30")  # again: the first bound recorded stays the previous one
    assert row["lower_bound"]["previous"] == 1
