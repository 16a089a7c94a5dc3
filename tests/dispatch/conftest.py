"""Fixtures of the dispatch tests: road travel on the small region."""

from __future__ import annotations

import pytest

from grid_model.region import Region
from routing.travel import RoadTravel


@pytest.fixture(scope="module")
def travel(small_region: Region) -> RoadTravel:
    return RoadTravel(small_region.roads)
