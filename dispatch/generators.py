"""Mobile generator trucks: a second resource for critical customers ("特事特办"). Each
critical customer behind a new order gets the nearest idle truck ahead of the repair; the
truck supplies it from hook-up until no open order covers it any more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dispatch.events import EventError, GeneratorReleased, SendGenerator
from grid_model.network import Network
from grid_model.region import Region
from routing.travel import RoadTravel


@dataclass(frozen=True, slots=True)
class GeneratorTruck:
    """A mobile generator that can supply one critical customer until the repair is done."""

    truck_id: str
    depot_id: str
    x_m: float
    y_m: float


def generator_fleet(region: Region, *, per_depot: int = 1) -> list[GeneratorTruck]:
    """``per_depot`` trucks at every service station."""
    return [GeneratorTruck(f"{d.depot_id}-G{k + 1}", d.depot_id, d.x_m, d.y_m)
            for d in region.depots for k in range(per_depot)]


@dataclass(slots=True)
class TruckState:
    """Idle where it last was, on its way to a critical customer, or connected there."""

    truck: GeneratorTruck
    x_m: float
    y_m: float
    status: str = "idle"
    node_idx: int = -1
    order_id: str = ""


class GeneratorFleet:
    """Where every truck is and whom it supplies."""

    def __init__(self, trucks: list[GeneratorTruck], network: Network, travel: RoadTravel) -> None:
        self.trucks = {g.truck_id: TruckState(g, g.x_m, g.y_m) for g in trucks}
        self.net = network
        self.travel = travel
        self._at: dict[int, str] = {}

    @property
    def serving(self) -> bool:
        return bool(self._at)

    def send(self, order_id: str, nodes: list[int], t_s: int) -> list[SendGenerator]:
        """The nearest idle truck to each critical customer at ``nodes`` not yet served."""
        out = []
        for node in nodes:
            idle = [k for k, s in self.trucks.items() if s.status == "idle"]
            if not idle:
                break
            if node in self._at:
                continue
            at_nodes, at_access = self.travel.snap([self.trucks[k].x_m for k in idle],
                                                   [self.trucks[k].y_m for k in idle])
            b_node, b_access = self.travel.snap(self.net.x_m[node], self.net.y_m[node])
            travel = self.travel.between_snapped(at_nodes, at_access, int(b_node[0]), float(b_access[0]))
            k = int(np.argmin(travel))
            state = self.trucks[idle[k]]
            state.status, state.node_idx, state.order_id = "en_route", node, order_id
            self._at[node] = state.truck.truck_id
            out.append(SendGenerator(t_s, state.truck.truck_id, order_id, node, round(float(travel[k]))))
        return out

    def connect(self, truck_id: str) -> None:
        """The truck has arrived and supplies its customer."""
        state = self.trucks.get(truck_id)
        if state is None:
            raise EventError(f"unknown generator truck {truck_id!r}")
        if state.status != "en_route":
            raise EventError(f"generator truck {truck_id} connected but is {state.status}")
        state.status = "connected"
        state.x_m, state.y_m = float(self.net.x_m[state.node_idx]), float(self.net.y_m[state.node_idx])

    def release(self, covered: Callable[[int], bool], t_s: int) -> list[GeneratorReleased]:
        """Trucks whose customer ``covered`` no longer holds for are free again; one still on
        its way turns back and is counted where it set out from."""
        out = []
        for node, truck_id in list(self._at.items()):
            if covered(node):
                continue
            state = self.trucks[truck_id]
            del self._at[node]
            state.status, state.node_idx, state.order_id = "idle", -1, ""
            out.append(GeneratorReleased(t_s, truck_id, node))
        return out
