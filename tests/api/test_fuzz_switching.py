"""Stateful fuzzing of switching in the live service (``tests/api/fuzz_switching.py``): a short
run on each store, on a server that switches in full, breaks no promise (no 5xx, refusals that
say why and change nothing, safe switch states, steps that hang together, a restart rebuilding
the same steps and switch states); and the checker itself sees a tie closed onto a fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.region import Region
from tests.api.fuzz import FuzzGrid, FuzzTally, postgres_stores, run_fuzz, sqlite_stores
from tests.api.fuzz_switching import SwitchGrid, SwitchingFuzz, SwitchWorld


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_random_switching_requests_break_no_promise(store: str, tmp_path: Path, region: Region,
                                                    request: pytest.FixtureRequest) -> None:
    stores = sqlite_stores(tmp_path, switching="full") if store == "sqlite" else \
        postgres_stores(tmp_path, request.getfixturevalue("postgres_server"), switching="full")
    grid = FuzzGrid.of(region)
    world = SwitchWorld(grid, stores, FuzzTally(strict=True), switching=SwitchGrid.of(grid))
    run_fuzz(world, seed_=17, runs=2, steps=40, machine=SwitchingFuzz)
    tally = world.tally
    done = {kind.split()[0] for kind in tally.answers if kind.endswith((" 200", " 201"))}
    assert {"trip", "patrol", "switched"} <= done, tally.answers
    assert tally.restarts >= 1, tally.answers
