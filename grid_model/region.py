"""The embedded region as one object, and its on-disk cache.

The cache is a pickle behind a header with a format version and a SHA-256 of the payload,
so a truncated or corrupt file is detected and rebuilt with a warning instead of a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from grid_model.network import AREA_NAMES, Network, NodeKind

if TYPE_CHECKING:
    from grid_model.generate import RegionParams
    from grid_model.switches import SwitchLayer

log = logging.getLogger(__name__)

CACHE_FORMAT = 3
_MAGIC = b"OUTAGE-DISPATCH-REGION"


@dataclass(frozen=True, slots=True)
class Depot:
    """A service station (供电服务站) where crews start their shifts."""

    depot_id: str
    name: str
    x_m: float
    y_m: float
    area: int


@dataclass(frozen=True, slots=True)
class Staging:
    """Crews staged at a depot for a storm: its share of the roster, and their skills (empty:
    drawn from the depot's area mix)."""

    depot: Depot
    crews: float
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Region:
    """A service territory: its network, customers, areas, roads and service stations, and
    the switches and ties its source names (an imported grid's own; ``None``: none named, the
    placement rule of ``grid_model.switches`` gives them)."""

    name: str
    seed: int
    scale: float
    crs: str
    origin_m: tuple[float, float]
    network: Network
    customers: pd.DataFrame
    areas: gpd.GeoDataFrame
    roads: nx.Graph
    depots: tuple[Depot, ...]
    feeders: pd.DataFrame
    switches: SwitchLayer | None = None

    def switch_layer(self) -> SwitchLayer:
        """The switches and ties to switch with: the source's own, else the placement rule's."""
        from grid_model.switches import place_switches

        return self.switches if self.switches is not None else place_switches(self.network)

    def critical_node_mask(self) -> np.ndarray:
        """True at the network node of every critical customer (hospital, life support)."""
        mask = np.zeros(self.network.n_nodes, dtype=bool)
        nodes = self.customers["node_idx"].to_numpy()
        mask[nodes[(self.customers["critical"] != "").to_numpy()]] = True
        return mask

    def summary(self) -> dict[str, int]:
        """The counts the README quotes."""
        kind = self.network.kind
        crit = self.customers["critical"]
        return {
            "substations": int((kind == NodeKind.SUBSTATION).sum()),
            "feeders": int((kind == NodeKind.FEEDER_HEAD).sum()),
            "mv_nodes": int((kind == NodeKind.MV_NODE).sum()),
            "transformers": int((kind == NodeKind.TRANSFORMER).sum()),
            "lv_branches": int((kind == NodeKind.LV_BRANCH).sum()),
            "service_drops": int((kind == NodeKind.SERVICE_DROP).sum()),
            "meter_boxes": int((kind == NodeKind.METER_BOX).sum()),
            "customers": len(self.customers),
            "critical_customers": int((crit != "").sum()),
            "hospitals": int((crit == "hospital").sum()),
            "reclosers": int(self.feeders["reclosers"].sum()),
            "road_nodes": self.roads.number_of_nodes(),
            "road_edges": self.roads.number_of_edges(),
            "depots": len(self.depots),
            **{f"customers_{a}": int((self.customers["area"] == i).sum())
               for i, a in enumerate(AREA_NAMES)},
        }


def default_cache_dir() -> Path:
    """``$OUTAGE_DISPATCH_CACHE``, else ``$XDG_CACHE_HOME/outage-dispatch``, else ~/.cache/..."""
    env = os.environ.get("OUTAGE_DISPATCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outage-dispatch"


_GENERATOR_MODULES = ("areas.py", "generate.py", "names.py", "network.py", "region.py", "roads.py")


def generator_fingerprint() -> str:
    """Hash of the generator's source, so a changed generator never reads an old cache."""
    h = hashlib.sha256()
    for name in _GENERATOR_MODULES:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:12]


def cache_path(params: RegionParams, cache_dir: Path | None = None) -> Path:
    folder = cache_dir or default_cache_dir()
    return folder / (f"region-seed{params.seed}-scale{params.scale:g}-"
                     f"v{CACHE_FORMAT}-{generator_fingerprint()}.pkl")


def save_region(region: Region, path: Path) -> None:
    """Write atomically: a crash mid-write leaves the old cache or none, never half a file."""
    payload = pickle.dumps(region, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(_MAGIC + b" " + str(CACHE_FORMAT).encode() + b" " + digest + b"\n")
        fh.write(payload)
    os.replace(tmp, path)


class CacheError(Exception):
    """The region cache is unreadable, from another format version, or corrupt."""


def read_region(path: Path) -> Region:
    """Read a cached region; raises ``CacheError`` saying why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc.strerror}") from exc
    header, _, payload = data.partition(b"\n")
    parts = header.split(b" ")
    if len(parts) != 3 or parts[0] != _MAGIC:
        raise CacheError(f"{path} is not a region cache (bad header)")
    if parts[1] != str(CACHE_FORMAT).encode():
        raise CacheError(f"{path} has cache format {parts[1].decode(errors='replace')}, "
                         f"expected {CACHE_FORMAT}")
    if hashlib.sha256(payload).hexdigest().encode() != parts[2]:
        raise CacheError(f"{path} is corrupt (checksum mismatch)")
    try:
        region = pickle.loads(payload)
    except Exception as exc:  # a payload that passes the checksum but not unpickling
        raise CacheError(f"{path} cannot be unpickled: {exc}") from exc
    if not isinstance(region, Region):
        raise CacheError(f"{path} holds {type(region).__name__}, not a Region")
    return region


def load_region(params: RegionParams | None = None, *, cache_dir: Path | None = None,
                use_cache: bool = True) -> Region:
    """The region for ``params``: from the cache when valid, else generated and cached."""
    from grid_model.generate import RegionParams, generate_region

    p = params or RegionParams()
    path = cache_path(p, cache_dir)
    if use_cache and path.exists():
        try:
            return read_region(path)
        except CacheError as exc:
            log.warning("region cache unusable, rebuilding: %s", exc)
    region = generate_region(p)
    if use_cache:
        try:
            save_region(region, path)
        except OSError as exc:
            log.warning("could not write region cache %s: %s", path, exc)
    return region
