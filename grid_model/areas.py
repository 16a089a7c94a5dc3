"""Service-area polygons of the embedded region: an urban district, county towns, rural
villages and a remote mountain district, each with the class that sets its arrival limit."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon

from grid_model.network import AREA_NAMES, AreaClass


@dataclass(frozen=True, slots=True)
class Seat:
    """A district or county seat: the centre of its area, in km from the region centre."""

    name: str
    name_en: str
    x_km: float
    y_km: float


URBAN_SEAT = Seat("柯城区", "Kecheng Qu", 0.0, 0.0)
TOWN_SEATS = (
    Seat("龙游县", "Longyou Xian", 26.0, -6.0),
    Seat("江山市", "Jiangshan Shi", -6.0, -28.0),
    Seat("常山县", "Changshan Xian", -26.0, -4.0),
)
RURAL_SEAT = Seat("衢江区", "Qujiang Qu", 14.0, 16.0)
REMOTE_SEAT = Seat("开化县", "Kaihua Xian", -28.0, 24.0)
URBAN_RADIUS_KM = 6.0
TOWN_RADIUS_KM = 2.6
TERRITORY_KM = (-40.0, -40.0, 40.0, 36.0)
REMOTE_RING_KM = ((-40.0, 12.0), (-14.0, 12.0), (-10.0, 24.0), (-18.0, 36.0), (-40.0, 36.0))


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float) -> Polygon:
    """An irregular round polygon, so districts do not look drawn with a compass."""
    angles = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    wobble = 1.0 + 0.12 * np.sin(3 * angles + rng.uniform(0, 6.3)) + rng.normal(0, 0.03, 48)
    return Polygon(np.column_stack([cx + r * wobble * np.cos(angles),
                                    cy + r * wobble * np.sin(angles)]))


def build_areas(rng: np.random.Generator, origin_m: tuple[float, float], crs: str) -> gpd.GeoDataFrame:
    """Area polygons in the projected CRS, with Chinese and romanised names and a class."""
    ox, oy = origin_m
    km = 1000.0
    urban = _blob(rng, 0.0, 0.0, URBAN_RADIUS_KM)
    towns = [_blob(rng, s.x_km, s.y_km, TOWN_RADIUS_KM) for s in TOWN_SEATS]
    remote = Polygon(REMOTE_RING_KM)
    territory = shapely.box(*TERRITORY_KM)
    rural = territory.difference(shapely.union_all([urban, remote, *towns]))
    remote = remote.difference(shapely.union_all(towns))
    rows = [
        (f"{URBAN_SEAT.name}城区", f"{URBAN_SEAT.name_en} urban", AreaClass.URBAN, urban),
        *[(f"{s.name}城区", f"{s.name_en} town", AreaClass.URBAN, t)
          for s, t in zip(TOWN_SEATS, towns, strict=True)],
        ("衢州农村", "Quzhou rural", AreaClass.RURAL, rural),
        (f"{REMOTE_SEAT.name}山区", f"{REMOTE_SEAT.name_en} mountains", AreaClass.REMOTE, remote),
    ]
    geoms = [affinity.affine_transform(g, [km, 0, 0, km, ox, oy]) for *_, g in rows]
    return gpd.GeoDataFrame(
        {
            "area_id": [f"A{i}" for i in range(len(rows))],
            "name": [r[0] for r in rows],
            "name_en": [r[1] for r in rows],
            "area_class": [AREA_NAMES[r[2]] for r in rows],
        },
        geometry=geoms,
        crs=crs,
    )


def area_class_at(areas: gpd.GeoDataFrame, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
    """Area class code of each point; points outside every polygon get rural."""
    out = np.full(len(x_m), AreaClass.RURAL, dtype=np.int8)
    for geom, cls in zip(areas.geometry, areas["area_class"], strict=True):
        inside = shapely.contains_xy(geom, x_m, y_m)
        out[inside] = AREA_NAMES.index(cls)
    return out


def territory_polygon(areas: gpd.GeoDataFrame) -> Polygon:
    """The whole service territory: the union of the area polygons."""
    return shapely.union_all(list(areas.geometry))
