"""Numba shortest paths agree with networkx's Dijkstra; snapping finds the nearest node."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from routing.travel import RoadTravel


def _random_graph(seed: int) -> nx.Graph:
    rng = np.random.default_rng(seed)
    g = nx.connected_watts_strogatz_graph(60, 4, 0.3, seed=seed)
    for v in g.nodes:
        g.nodes[v]["x"], g.nodes[v]["y"] = rng.uniform(0, 5000, 2)
    for a, b in g.edges:
        g.edges[a, b]["travel_s"] = float(rng.uniform(10, 300))
    return g


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_pairs_table_matches_networkx(seed: int) -> None:
    g = _random_graph(seed)
    travel = RoadTravel(g)
    expected = dict(nx.all_pairs_dijkstra_path_length(g, weight="travel_s"))
    for i, a in enumerate(travel.csr.node_ids):
        for j, b in enumerate(travel.csr.node_ids):
            assert travel.table_s[i, j] == pytest.approx(expected[a][b], rel=1e-6)


def test_snap_and_point_to_point_travel() -> None:
    g = _random_graph(4)
    travel = RoadTravel(g, access_speed_kmh=18.0, access_detour=1.0)
    x, y = g.nodes[7]["x"] + 30.0, g.nodes[7]["y"] + 40.0
    node, access = travel.snap(x, y)
    assert travel.csr.node_ids[int(node[0])] == 7 or access[0] <= 50.0 / 5.0
    b_node, b_access = travel.snap(g.nodes[20]["x"], g.nodes[20]["y"])
    secs = travel.between_snapped(node, access, int(b_node[0]), float(b_access[0]))
    road = nx.dijkstra_path_length(g, travel.csr.node_ids[int(node[0])], 20, weight="travel_s")
    assert secs[0] == pytest.approx(road + access[0], rel=1e-5)


def test_disconnected_graph_and_negative_weight_are_refused() -> None:
    g = _random_graph(5)
    g.add_node("island", x=0.0, y=0.0)
    with pytest.raises(ValueError, match="not connected"):
        RoadTravel(g)
    g = _random_graph(5)
    a, b = next(iter(g.edges))
    g.edges[a, b]["travel_s"] = -1.0
    with pytest.raises(ValueError, match="negative travel_s"):
        RoadTravel(g)


def test_problem_on_roads_prices_legs_from_the_table() -> None:
    from routing.evaluate import travel_between
    from routing.io import problem_from_dict
    from routing.solver import MaxIterations, solve
    from routing.travel import with_road_travel

    g = _random_graph(6)
    pts = [(g.nodes[v]["x"], g.nodes[v]["y"]) for v in (1, 9, 17, 33, 41)]
    inst = {"name": "roads", "horizon": 50000, "lateness_weight": 100,
            "travel": {"kind": "euclidean", "speed_kmh": 30.0},
            "crews": [{"id": "C1", "x": pts[0][0], "y": pts[0][1], "start": 0, "end": 50000,
                       "skills": ["lv"]}],
            "orders": [{"id": f"W{i}", "x": x, "y": y, "reported": 0, "deadline": 3600,
                        "service": 600, "skill": "lv", "customers": 5, "priority": 1}
                       for i, (x, y) in enumerate(pts[1:])]}
    travel = RoadTravel(g)
    p = with_road_travel(problem_from_dict(inst), travel)
    road = nx.dijkstra_path_length(g, 1, 9, weight="travel_s")
    assert travel_between(p, 0, 1) == pytest.approx(road, abs=1.0)
    result = solve(p, MaxIterations(200), seed=0)
    assert not result.plan.unassigned
