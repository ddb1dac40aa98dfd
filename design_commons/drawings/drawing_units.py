"""The length unit of a DXF drawing: $INSUNITS when the file sets it, else the designer's word."""
from __future__ import annotations

from dataclasses import dataclass

from ezdxf.document import Drawing

from design_commons.drawings.reading import header_declares
from design_commons.units import MM_PER_UNIT

#: $INSUNITS code -> (short name, millimetres per unit). 0 means unitless (not set).
INSUNITS: dict[int, tuple[str, float]] = {
    1: ("in", 25.4),
    2: ("ft", 304.8),
    3: ("mi", 1_609_344.0),
    4: ("mm", 1.0),
    5: ("cm", 10.0),
    6: ("m", 1000.0),
    7: ("km", 1_000_000.0),
    8: ("uin", 25.4e-6),
    9: ("mil", 0.0254),
    10: ("yd", 914.4),
    11: ("angstrom", 1e-7),
    12: ("nm", 1e-6),
    13: ("um", 0.001),
    14: ("dm", 100.0),
    15: ("dam", 10_000.0),
    16: ("hm", 100_000.0),
    17: ("Gm", 1e12),
    18: ("au", 1.495978707e14),
    19: ("ly", 9.4607304725808e18),
    20: ("pc", 3.0856775814913673e19),
    21: ("us_ft", 304.8006096),
    22: ("us_in", 25.4000508),
    23: ("us_yd", 914.4018288),
    24: ("us_mi", 1_609_347.2186944),
}

IMPERIAL = {"in", "ft", "mi", "uin", "mil", "yd", "us_ft", "us_in", "us_yd", "us_mi"}

UNIT_WORDS: dict[str, str] = {
    "mm": "millimetres",
    "cm": "centimetres",
    "m": "metres",
    "in": "inches",
    "ft": "feet",
    "um": "micrometres",
    "dm": "decimetres",
    "km": "kilometres",
    "yd": "yards",
    "mi": "miles",
    "mil": "mils",
}


def unit_words(name: str) -> str:
    """Plain words for a unit name: ``"mm"`` -> ``"millimetres"``."""
    return UNIT_WORDS.get(name, name)


@dataclass(frozen=True)
class DrawingUnits:
    """The unit the drawing's numbers are read in."""

    name: str  # short name, e.g. "mm", "in"
    mm_per_unit: float
    from_file: bool  # True: $INSUNITS; False: the unit the designer stated
    insunits: int | None  # the raw $INSUNITS value, None when the file does not set it
    measurement: int | None  # $MEASUREMENT: 0 imperial, 1 metric; None when not in the file

    @property
    def conflict(self) -> str | None:
        """A sentence when $MEASUREMENT disagrees with $INSUNITS, else None."""
        if not self.from_file or self.measurement not in (0, 1):
            return None
        imperial = self.name in IMPERIAL
        if imperial == (self.measurement == 0):
            return None
        system = "imperial" if self.measurement == 0 else "metric"
        return (
            f"The drawing declares {unit_words(self.name)} ($INSUNITS = {self.insunits}) but its "
            f"measurement system ($MEASUREMENT) is {system}; {unit_words(self.name)} were used."
        )


def resolve_units(doc: Drawing, data: bytes, stated_unit: str) -> DrawingUnits:
    """Units from $INSUNITS when the file sets a known non-zero code, else ``stated_unit``.

    ``stated_unit`` is a short name from :mod:`design_commons.units` (``"mm"`` by default).
    """
    return units_from(_header_int(doc, data, "$INSUNITS"), _header_int(doc, data, "$MEASUREMENT"), stated_unit)


def units_from(insunits: int | None, measurement: int | None, stated_unit: str) -> DrawingUnits:
    """The units of a drawing whose header declares these $INSUNITS and $MEASUREMENT (None: not declared)."""
    if insunits in INSUNITS:
        name, factor = INSUNITS[insunits]
        return DrawingUnits(name, factor, True, insunits, measurement)
    return DrawingUnits(stated_unit, MM_PER_UNIT[stated_unit], False, insunits, measurement)


def _header_int(doc: Drawing, data: bytes, name: str) -> int | None:
    if not header_declares(data, name):
        return None
    try:
        value = doc.header.get(name)
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
