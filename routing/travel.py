"""Travel times between points: straight line with a detour factor, or over a road graph.

``RoadTravel`` snaps points to their nearest road node, walks to it at an access speed, and
looks the rest up in an all-pairs table computed once by the numba Dijkstra kernel.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt

from routing._kernels_paths import many_to_many, nearest_points
from routing.problem import Problem, TravelKind


@dataclass(frozen=True, slots=True)
class CsrGraph:
    """A road graph as CSR arrays; ``node_ids[i]`` is the networkx node of row i."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    node_ids: tuple[object, ...]


def csr_from_graph(graph: nx.Graph, *, weight: str = "travel_s") -> CsrGraph:
    """CSR arrays of an undirected networkx graph whose nodes carry ``x`` and ``y``."""
    nodes = list(graph.nodes)
    pos = {v: i for i, v in enumerate(nodes)}
    rows: list[list[tuple[int, float]]] = [[] for _ in nodes]
    for a, b, data in graph.edges(data=True):
        w = float(data[weight])
        if w < 0:
            raise ValueError(f"edge ({a}, {b}) has negative {weight} {w}")
        rows[pos[a]].append((pos[b], w))
        rows[pos[b]].append((pos[a], w))
    indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    flat = [e for r in rows for e in r]
    return CsrGraph(
        indptr=indptr,
        indices=np.array([e[0] for e in flat], dtype=np.int64),
        weights=np.array([e[1] for e in flat], dtype=np.float64),
        x_m=np.array([graph.nodes[v]["x"] for v in nodes], dtype=np.float64),
        y_m=np.array([graph.nodes[v]["y"] for v in nodes], dtype=np.float64),
        node_ids=tuple(nodes),
    )


class RoadTravel:
    """Travel seconds over a road graph, from an all-pairs table of its nodes."""

    def __init__(self, graph: nx.Graph, *, access_speed_kmh: float = 20.0,
                 access_detour: float = 1.3) -> None:
        self.csr = csr_from_graph(graph)
        self.access_s_per_m = access_detour / (access_speed_kmh / 3.6)
        t0 = time.perf_counter()
        sources = np.arange(len(self.csr.node_ids), dtype=np.int64)
        table = many_to_many(self.csr.indptr, self.csr.indices, self.csr.weights, sources)
        if np.isinf(table).any():
            raise ValueError("road graph is not connected")
        self.table_s = table.astype(np.float32)
        self.table_int_s = np.ascontiguousarray(np.rint(table).astype(np.int64))
        self.build_seconds = time.perf_counter() - t0

    def snap(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Nearest road node of each point, and the access time to reach it in seconds."""
        qx = np.atleast_1d(np.asarray(x_m, dtype=np.float64))
        qy = np.atleast_1d(np.asarray(y_m, dtype=np.float64))
        idx, dist = nearest_points(self.csr.x_m, self.csr.y_m, qx, qy)
        return idx, dist * self.access_s_per_m

    def between_snapped(self, a_node: npt.ArrayLike, a_access_s: npt.ArrayLike,
                        b_node: int, b_access_s: float) -> np.ndarray:
        """Seconds from each snapped point a to one snapped point b (vectorised over a)."""
        a = np.asarray(a_node, dtype=np.int64)
        return self.table_s[a, b_node].astype(np.float64) + np.asarray(a_access_s) + b_access_s


def with_road_travel(problem: Problem, travel: RoadTravel) -> Problem:
    """The same problem with travel over the road graph: each point snapped to its nearest
    road node, plus walking access; no point-to-point matrix is ever built."""
    nodes, access = travel.snap(problem.x, problem.y)
    return dataclasses.replace(
        problem, travel_kind=TravelKind.ROAD,
        road_table=travel.table_int_s,
        point_node=np.ascontiguousarray(nodes, dtype=np.int64),
        point_access_s=np.ascontiguousarray(np.rint(access), dtype=np.int64))
