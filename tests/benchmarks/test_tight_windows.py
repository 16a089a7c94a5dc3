"""Tight-window variants of the tuning instances: every window is the width asked for (or
narrower where a direct visit could not make more), narrow windows keep their centre, the
variant is the same on every run, and every customer can still be served on a route of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.tight_windows import tighten
from routing.io import read_vrptw

TUNING = Path(__file__).parents[2] / "data" / "vrptw-hg1000-tuning"


@pytest.mark.parametrize("name", ["R2_10_6", "RC2_10_8"])
def test_windows_are_cut_to_the_width_and_a_direct_visit_still_fits(name: str, tmp_path: Path) -> None:
    src = read_vrptw(TUNING / f"{name}.vrp", "vrplib")
    tight = read_vrptw(tighten(TUNING / f"{name}.vrp", tmp_path / "a.vrp", 120), "vrplib")
    assert tight.name == f"{name}_w120"
    width = tight.deadline_s - tight.earliest_s
    assert width.max() == 1200 and np.mean(width == 1200) > 0.95 and width.min() >= 0
    # where the window was narrow already, the new one keeps its centre (to the rounding)
    was_narrow = src.deadline_s - src.earliest_s < src.crew_end_s[0] / 2
    assert was_narrow.any()
    kept = was_narrow & (width == 1200)
    moved = (tight.earliest_s + tight.deadline_s - src.earliest_s - src.deadline_s)[kept] / 2
    assert np.all(np.abs(moved) <= 5)
    # a crew going straight from the depot arrives by the deadline and is back by the depot's end
    k = tight.n_crews
    reach = np.floor(np.hypot(tight.x[k:] - tight.x[0], tight.y[k:] - tight.y[0]) * 10.0)
    start = np.maximum(tight.earliest_s, reach)
    assert np.all(start <= tight.deadline_s)
    assert np.all(start + tight.service_s + reach <= tight.crew_end_s[0])
    # the same variant on every run
    again = read_vrptw(tighten(TUNING / f"{name}.vrp", tmp_path / "b.vrp", 120), "vrplib")
    assert np.array_equal(again.earliest_s, tight.earliest_s)
