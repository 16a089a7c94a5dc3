"""Tight-window variants of VRPLIB VRPTW instances, for tuning the routing core where windows
are narrow (Gehring-Homberger R2_10_1 and R2_10_5, every window 120 and 240 wide) without
tuning on those benchmark instances: every customer's window is cut to ``width``, around its
centre where it was narrow (under half the depot's horizon), else around a random time that a
direct visit from the depot can make. Capacities, positions and service stay."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np


def _sections(lines: list[str]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    current = None
    for ln in lines:
        if ln.strip().endswith("SECTION"):
            current = ln.strip()
            out[current] = []
        elif current and ln.split():
            out[current].append(ln.split())
    return out


def tighten(src: Path, dst: Path, width: int) -> Path:
    """Write ``src`` with every customer's window cut to ``width`` (the instance's time units)
    to ``dst``; the random times are drawn from the instance's name, so a variant is the same
    on every machine. Returns ``dst``."""
    lines = src.read_text().splitlines()
    sec = _sections(lines)
    xy = {int(r[0]): (float(r[1]), float(r[2])) for r in sec["NODE_COORD_SECTION"]}
    tw = {int(r[0]): (int(r[1]), int(r[2])) for r in sec["TIME_WINDOW_SECTION"]}
    service = next(int(ln.split(":")[1]) for ln in lines if ln.startswith("SERVICE_TIME"))
    depot = min(tw)
    due = tw[depot][1]
    rng = np.random.default_rng(zlib.crc32(src.stem.encode()))
    new = {depot: tw[depot]}
    for i, (early, late) in tw.items():
        if i == depot:
            continue
        reach = math.dist(xy[depot], xy[i])
        lo, hi = math.ceil(reach), math.floor(due - service - reach)
        centre = (early + late) / 2 if late - early < due / 2 else rng.uniform(lo, hi)
        start = max(0, round(float(centre) - width / 2))
        end = min(start + width, hi)
        new[i] = (min(start, end), end)
    out, current = [], None
    for ln in lines:
        parts = ln.split()
        if ln.strip().endswith("SECTION"):
            current = ln.strip()
        elif current == "TIME_WINDOW_SECTION" and len(parts) == 3:
            i = int(parts[0])
            ln = f"{i} {new[i][0]} {new[i][1]}"
        elif ln.startswith("NAME"):
            ln = f"{ln}_w{width}"
        out.append(ln)
    dst.write_text("\n".join(out) + "\n")
    return dst
