"""Postal addresses as callers give them, reduced to a comparable key.

Callers drop the district, use full-width digits, write 幢 or 座 for 栋, 弄 for a lane
number, 户 for 室, or read out the romanised form. Both scripts reduce to
``AddressKey(road, number, building, unit, room)``; the road is matched against the
region's known roads, so free text around it does not matter.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

_ZH_PART = re.compile(r"(\d+)\s*(号楼|号|弄|栋|幢|座|单元|室|户)")
_EN_PART = re.compile(
    r"(room|rm|unit|building|bldg|no\.?|number|#)\s*(\d+)", re.IGNORECASE
)
_SPACES = re.compile(r"[\s,，、.。·]+")
_DIGIT = re.compile(r"\d")


class AddressKey(NamedTuple):
    """What identifies one customer's premises inside a region (a named tuple: built per
    address and hashed in C, and equal to the plain tuple of its fields)."""

    road: str
    number: int
    building: int = 0
    unit: int = 0
    room: int = 0


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), lower case, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def parse_chinese(text: str, roads: frozenset[str]) -> AddressKey | None:
    """Key of a Chinese address, or None when no known road or no house number is found.

    ``88弄3号502室`` reads as lane 88, building 3, room 502; ``3号楼`` is building 3.
    """
    flat = normalise(text).replace(" ", "")
    first_digit = _DIGIT.search(flat)
    place = flat[: first_digit.start()] if first_digit else flat
    road = _longest_road_in(place, roads)
    if road is None:
        return None
    number = building = unit = room = 0
    for value, marker in _ZH_PART.findall(flat[len(place):]):
        v = int(value)
        if marker in ("号", "弄") and not number:
            number = v
        elif marker in ("号", "号楼", "栋", "幢", "座"):
            building = v
        elif marker == "单元":
            unit = v
        else:
            room = v
    if not number:
        return None
    return AddressKey(road, number, building, unit, room)


def parse_romanised(text: str, roads_en: frozenset[str]) -> AddressKey | None:
    """Key of a romanised address (``Room 502, Building 3, No. 88 Jingui Lu, ...``)."""
    flat = normalise(text)
    road = _longest_road_in(flat, roads_en)
    if road is None:
        return None
    parts = {"number": 0, "building": 0, "unit": 0, "room": 0}
    for label, value in _EN_PART.findall(flat):
        label = label.lower().rstrip(".")
        key = {"rm": "room", "bldg": "building", "no": "number", "#": "number"}.get(label, label)
        parts[key] = int(value)
    if not parts["number"]:
        return None
    return AddressKey(road, **parts)


def _longest_road_in(text: str, roads: frozenset[str]) -> str | None:
    """The longest known road in ``text``: first as a suffix (callers name the road last
    before the number), then anywhere."""
    longest = min(len(text), 12)
    for n in _lengths(roads):
        if 1 < n <= longest and text[-n:] in roads:
            return text[-n:]
    found = [r for r in roads if r in text]
    return max(found, key=len) if found else None


@functools.lru_cache(maxsize=8)
def _lengths(roads: frozenset[str]) -> tuple[int, ...]:
    """The lengths of the known roads, longest first: the only suffix lengths worth a look-up."""
    return tuple(sorted({len(r) for r in roads}, reverse=True))
