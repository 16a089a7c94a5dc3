"""Stateful fuzzing of switching in the live service (``tests/api/fuzz_switching.py``): a short
run on each store, on a server that switches in full, breaks no promise (no 5xx, refusals that
say why and change nothing, safe switch states, steps that hang together, a restart rebuilding
the same steps and switch states); and the checker itself sees a tie closed onto a fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid_model.network import NodeKind
from grid_model.region import Region
from tests.api.fuzz import FuzzGrid, FuzzTally, postgres_stores, run_fuzz, sqlite_stores
from tests.api.fuzz_switching import SwitchGrid, SwitchingFuzz, SwitchWorld, switch_problems


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_random_switching_requests_break_no_promise(store: str, tmp_path: Path, region: Region,
                                                    request: pytest.FixtureRequest) -> None:
    stores = sqlite_stores(tmp_path, switching="full") if store == "sqlite" else \
        postgres_stores(tmp_path, request.getfixturevalue("postgres_server"), switching="full")
    grid = FuzzGrid.of(region)
    world = SwitchWorld(grid, stores, FuzzTally(strict=True), switching=SwitchGrid.of(grid))
    run_fuzz(world, seed_=18, runs=2, steps=70, machine=SwitchingFuzz)
    tally = world.tally
    done = {kind.split()[0] for kind in tally.answers if kind.endswith((" 200", " 201"))}
    overrides = {"step_hold", "race_hold", "step_release", "race_release", "step_move", "step_refused"}
    assert {"trip", "patrol"} <= done and done & overrides and tally.restarts >= 1, tally.answers


def test_the_checker_sees_a_tie_closed_onto_a_fault(region: Region) -> None:
    """A fault behind its tripped feeder breaker is safe; the tie at it closed feeds it from
    the neighbouring feeder (over the tie's capacity); with the breaker closed again, two
    feeders run in parallel."""
    grid = FuzzGrid.of(region)
    sw = SwitchGrid.of(grid)
    net = region.network
    tie = sw.layer.ties[0]
    breaker = next(n for n in net.path_up(tie.a) if net.kind[n] == NodeKind.FEEDER_HEAD)
    switches = {s: {"state": "closed"} for s in sw.points}
    switches |= {t.tie_id: {"state": "open"} for t in sw.layer.ties}
    switches[net.device_id[breaker]] = {"state": "open"}
    orders = [{"element_id": net.device_id[breaker], "status": "en_route"}]

    def problems() -> list[str]:
        return switch_problems(net, sw.layer, sw.points, grid.node_of, switches, orders, [tie.a])

    assert problems() == []
    switches[tie.tie_id] = {"state": "closed"}
    fed, over = problems()  # and it carries the whole feeder
    assert fed == f"fault at {net.node_id[tie.a]} is fed" and over.startswith(f"tie {tie.tie_id} carries")
    switches[net.device_id[breaker]] = {"state": "closed"}
    assert any("feeders in parallel" in p for p in problems())
