"""Length units a designer may state, and their size in millimetres."""
from __future__ import annotations

MM_PER_UNIT: dict[str, float] = {
    "mm": 1.0,
    "cm": 10.0,
    "m": 1000.0,
    "in": 25.4,
    "um": 0.001,
    "ft": 304.8,
}

UNIT_ALIASES: dict[str, str] = {
    "millimeter": "mm",
    "millimetre": "mm",
    "centimeter": "cm",
    "centimetre": "cm",
    "meter": "m",
    "metre": "m",
    "inch": "in",
    "micron": "um",
    "micrometer": "um",
    "foot": "ft",
    "feet": "ft",
}

#: The units a caller may state for a file (API.md).
STATED_UNITS = ("mm", "cm", "m", "in")


def normalise_unit(name: str) -> str:
    """Return the short unit name for ``name`` (``"inch"`` -> ``"in"``); ValueError if unknown."""
    key = name.strip().lower()
    key = UNIT_ALIASES.get(key, key)
    if key not in MM_PER_UNIT:
        raise ValueError(f"unknown unit {name!r}; use one of {', '.join(STATED_UNITS)}")
    return key


def to_mm(value: float, unit: str) -> float:
    """Convert a length in ``unit`` to millimetres."""
    return value * MM_PER_UNIT[normalise_unit(unit)]
