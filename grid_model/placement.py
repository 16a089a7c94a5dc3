"""Where the reading per customer (``grid_model.dark``) puts each reporting node: at the highest
element on its chain below which the customers are dark with a posterior of at least a half (the
chain's lowest element when none is), a lone reporter where ``lone_causes`` puts it. Shared by the
batch (``grid_model.incidents``) and the live predictor's regrouping
(``OutagePredictor.regroup``), so that both group the same reports alike."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

import numpy as np
import numpy.typing as npt

from grid_model.dark import DarkReading, read_dark
from grid_model.feeder_factor import FeederCalls, applies, feeder_log_odds
from grid_model.network import Network
from grid_model.posterior import MapState


def feeder_odds(state: MapState, calls: FeederCalls) -> npt.NDArray[np.float64] | None:
    """Per node, the log-odds of its kind's prior times its feeder's calls intensity
    (``grid_model.feeder_factor``); None where the estimated call rate is too low for it, no one
    calls, or the grid has no feeders. ``calls``: the calling nodes of the reports ``state``
    holds, per feeder."""
    intensity = calls.intensity() if applies(state.priors.call_rate) else None
    if intensity is None:
        return None
    return feeder_log_odds(state.tree, state.priors.prior, calls.feeder, intensity)


def read_reports(state: MapState, calls: FeederCalls) -> DarkReading:
    """The reading per customer of the reports ``state`` holds, with the feeders' factor where
    it applies (``feeder_odds``)."""
    return read_dark(state, feeder_odds(state, calls))


def lone_causes(state: MapState, size: npt.NDArray[np.int64], place: dict[int, int]) -> dict[int, int]:
    """Where the lone reporters go (each the only reporting node at the element the reading put it
    at, ``place``): to the MAP's cause (customer-side, often, where the reading names the drop whose
    customer is likelier dark than not), when that lies at or below the element, or above it when
    every reporting node below that cause is a lone one with the same cause (a few lone callers
    the MAP puts under one fuse), so that no incident holds another's customers."""
    units = Counter(place.values())
    causes: dict[int, int] = {}
    above: dict[int, list[int]] = {}
    for node, element in place.items():
        if units[element] == 1:
            chain = state.chain(node)
            top = state.top(chain)
            if chain.index(top) <= chain.index(element):
                causes[node] = top
            else:
                above.setdefault(top, []).append(node)
    reporting = sorted(place)
    for top, nodes in above.items():
        lo, hi = bisect_left(reporting, top), bisect_left(reporting, top + int(size[top]))
        if hi - lo == len(nodes):  # every reporting node below ``top`` is one of these
            causes.update(dict.fromkeys(nodes, top))
    return causes


def place_reports(state: MapState, net: Network, reading: DarkReading, nodes: list[int]) -> dict[int, int]:
    """Per reporting node (``nodes``, every node with a report in ``state``), the element whose
    incident it belongs to."""
    tree = state.tree
    place: dict[int, int] = {}
    for node in nodes:
        chain = tree.chain(node)
        place[node] = next((v for v in reversed(chain) if v in reading.named), chain[0])
    place.update(lone_causes(state, net.size, place))
    return place
