"""A self-contained HTML map of a run (inline SVG, nothing fetched): area polygons, roads,
substations, depots, work orders coloured by arrival against their limit, crew routes."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from dispatch.engine import DispatchEngine
from dispatch.orders import FOLDED
from grid_model.network import NodeKind
from grid_model.region import Region

_AREA_FILL = {"urban": "#f3e3c7", "rural": "#e4efd9", "remote": "#d9e2ec"}
_WIDTH = 1100


class _Frame:
    """Projected metres to SVG pixels (y flipped)."""

    def __init__(self, region: Region) -> None:
        minx, miny, maxx, maxy = region.areas.total_bounds
        self.minx, self.maxy = minx, maxy
        self.k = _WIDTH / (maxx - minx)
        self.height = int((maxy - miny) * self.k)

    def px(self, x: float, y: float) -> tuple[float, float]:
        return round((x - self.minx) * self.k, 1), round((self.maxy - y) * self.k, 1)

    def xy(self, x: float, y: float) -> str:
        """``"px,py"``, as SVG point lists want it."""
        a, b = self.px(x, y)
        return f"{a},{b}"


def _polygons(geom: Polygon | MultiPolygon) -> list[Polygon]:
    return list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]


def render_map(region: Region, engine: DispatchEngine, kpis: dict[str, object], path: Path) -> None:
    f = _Frame(region)
    parts: list[str] = []
    for geom, cls, name in zip(region.areas.geometry, region.areas["area_class"],
                               region.areas["name"], strict=True):
        for poly in _polygons(geom):
            pts = " ".join(f.xy(x, y) for x, y in poly.exterior.coords)
            parts.append(f'<polygon points="{pts}" fill="{_AREA_FILL[cls]}" stroke="#999" '
                         f'stroke-width="0.6"><title>{html.escape(name)} ({cls})</title></polygon>')
    g = region.roads
    for a, b, data in g.edges(data=True):
        arterial = data["road_class"] == "arterial"
        (x1, y1), (x2, y2) = (f.px(g.nodes[v]["x"], g.nodes[v]["y"]) for v in (a, b))
        parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
                     f'stroke="{"#b07a3a" if arterial else "#cfcfcf"}" '
                     f'stroke-width="{1.4 if arterial else 0.4}"/>')
    for state in engine.crews.values():
        if not state.visits:
            continue
        stops = [f.xy(state.crew.x_m, state.crew.y_m)]
        stops += [f.xy(engine.jobs[j].x_m, engine.jobs[j].y_m) for j in state.visits]
        parts.append(f'<polyline points="{" ".join(stops)}" fill="none" stroke="#3867d6" '
                     f'stroke-opacity="0.18" stroke-width="0.6"><title>crew {state.crew.crew_id}: '
                     f'{len(state.visits)} jobs</title></polyline>')
    for o in engine.orders.values():
        if o.status in FOLDED:
            continue
        if o.reached_s is None:
            color = "#c0392b"
        elif o.reached_s <= o.deadline_s:
            color = "#27ae60"
        else:
            color = "#e67e22"
        r = 1.2 + 0.8 * np.log10(1 + o.customers)
        cx, cy = f.px(o.x_m, o.y_m)
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r:.1f}" fill="{color}" fill-opacity="0.75">'
                     f'<title>{o.order_id} {html.escape(o.element_id)}: {o.customers} customers, '
                     f'{o.area}</title></circle>')
    net = region.network
    for s in net.nodes_of_kind(NodeKind.SUBSTATION):
        sx, sy = f.px(net.x_m[s], net.y_m[s])
        parts.append(f'<rect x="{sx - 4:.1f}" y="{sy - 4:.1f}" width="8" height="8" '
                     f'fill="#2d3436"><title>{net.node_id[s]}</title></rect>')
    for d in region.depots:
        dx, dy = f.px(d.x_m, d.y_m)
        parts.append(f'<polygon points="{dx},{dy - 6} {dx - 5},{dy + 4} {dx + 5},{dy + 4}" '
                     f'fill="#8e44ad"><title>{html.escape(d.name)}</title></polygon>')
    summary = " · ".join(f"{k}: {v}" for k, v in kpis.items() if not isinstance(v, dict))
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>outage-dispatch: {html.escape(region.name)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:16px}} .k span{{display:inline-block;margin-right:12px}}
.legend span{{margin-right:14px}}</style></head><body>
<h2>Storm run on {html.escape(region.name)}: policy {html.escape(str(kpis.get("policy")))}</h2>
<p class="legend"><span style="color:#27ae60">● reached within limit</span>
<span style="color:#e67e22">● reached late</span><span style="color:#c0392b">● not reached</span>
<span style="color:#3867d6">— crew route</span><span>■ substation</span>
<span style="color:#8e44ad">▲ service station</span></p>
<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{f.height}"
 viewBox="0 0 {_WIDTH} {f.height}" style="border:1px solid #ccc;background:#fff">
{chr(10).join(parts)}
</svg>
<p class="k">{html.escape(summary)}</p>
</body></html>
"""
    path.write_text(doc, encoding="utf-8")
