"""benchmarks.rebound: a recorded row's bound is computed again on the same instance, and its
gaps recounted from the recorded costs."""

from __future__ import annotations

import pytest

from benchmarks.rebound import instance_of, rebound_row
from routing.bound import bound_with, lower_bound, plain_lead_trail
from routing.io import problem_from_dict


def test_a_family_row_gets_the_bound_of_its_instance_and_its_gaps_recounted() -> None:
    row = {"family": "grid-16h", "orders": 60, "crews": 6, "seed": 3,
           "lower_bound": {"cost": 0, "runtime_s": 0.1},
           "first_plan": {"cost": 0, "gap_to_bound": 9.0},
           "ours": {"cost": 0, "gap_to_bound": 9.0, "iterations": 5},
           "ortools": {"cost": 0, "found_plan": False, "gap_to_bound": None},
           "rule_of_thumb": {"cost": 7}}
    p = problem_from_dict(instance_of(row))
    bound, plain = lower_bound(p), bound_with(p, *plain_lead_trail(p))
    assert bound > plain > 0
    row["lower_bound"]["cost"] = plain  # measured with the bound before the leads and trails
    row["first_plan"]["cost"], row["ours"]["cost"] = round(bound * 1.25), round(bound * 1.1)
    rebound_row(row, "2026-11-29")
    assert row["lower_bound"]["cost"] == bound
    assert (row["lower_bound"]["previous"], row["lower_bound"]["recomputed"]) == (plain, "2026-11-29")
    assert row["first_plan"]["gap_to_bound"] == round(round(bound * 1.25) / bound - 1, 4)
    assert row["ours"]["gap_to_bound"] == round(round(bound * 1.1) / bound - 1, 4)
    assert row["ortools"]["gap_to_bound"] is None and row["rule_of_thumb"] == {"cost": 7}
    rebound_row(row, "2026-11-30")  # again: the first bound recorded stays the previous one
    assert row["lower_bound"]["previous"] == plain


def test_a_row_whose_instance_is_not_the_one_rebuilt_is_refused() -> None:
    """A generator changed since the run: the bound would be set against another instance's cost."""
    row = {"family": "grid-16h", "orders": 60, "crews": 6, "seed": 3,
           "lower_bound": {"cost": 12345, "runtime_s": 0.1}, "ours": {"cost": 20000, "gap_to_bound": 0.6}}
    with pytest.raises(ValueError, match="not the one measured"):
        rebound_row(row, "2026-11-29")
    assert row["lower_bound"]["cost"] == 12345
