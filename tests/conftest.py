"""Shared fixtures: a small seeded region (scale 0.05) built once per session, in a temp cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.generate import RegionParams
from grid_model.region import Region, load_region

SMALL = RegionParams(seed=11, scale=0.05)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("region-cache")


@pytest.fixture(scope="session")
def small_region(cache_dir: Path) -> Region:
    return load_region(SMALL, cache_dir=cache_dir)
