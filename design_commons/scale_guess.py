"""Which unit a file's numbers were probably in, when the size they give is implausible.

Every candidate unit (mm, cm, m, in, um) is tried against the part sizes the processes make.
A unit is *plausible* when the part it gives fits some process's size range and its score is
high enough. The score is how often CAD and mesh tools export in that unit (a prior) times
how typical the resulting size is (a log-normal around a 100 mm part, one decade ~ 1.3
spreads). A guess is offered only when one plausible unit scores well above every other
plausible one; otherwise the report lists the plausible readings, or says none is.

The priors are why a 4.57 m part drawn in mm is not "probably micrometres": a 4.57 mm
trinket exported in micrometres is far rarer than a design drawn full size by mistake.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from design_commons.units import MM_PER_UNIT

#: Largest side in mm of the parts each process makes (smallest useful, largest machines).
PART_SIZE_MM: dict[str, tuple[float, float]] = {
    "fdm": (1.0, 1000.0),
    "sla": (1.0, 500.0),
    "sls": (1.0, 700.0),
    "cnc_milling": (1.0, 2500.0),
    "laser_cutting": (2.0, 3000.0),
    "laser_engraving": (2.0, 1500.0),
    "cnc_routing": (2.0, 5000.0),
    "vinyl_cutting": (2.0, 2000.0),
}
#: How often designs arrive in each unit, relative to millimetres.
UNIT_PRIOR: dict[str, float] = {"mm": 1.0, "in": 0.3, "m": 0.3, "cm": 0.15, "um": 0.1}
TYPICAL_PART_MM = 100.0
SPREAD_DECADES = 0.75
#: Below this score a reading is not plausible even when its size fits a process.
PLAUSIBLE_SCORE = 0.05
#: A guess stands out when it scores this many times more than any other plausible reading.
STANDS_OUT = 2.0


@dataclass(frozen=True)
class ScaleGuess:
    """The plausible readings of an implausible size.

    ``readings`` are ``(unit, largest side in mm)``, best first; ``probable`` is the unit
    that stands out among them, or None (none plausible, or several alike).
    """

    readings: list[tuple[str, float]]
    probable: str | None


def size_range(processes: list[str] | tuple[str, ...]) -> tuple[float, float]:
    """Smallest and largest part side in mm that any of ``processes`` makes."""
    ranges = [PART_SIZE_MM[p] for p in processes]
    return min(low for low, _ in ranges), max(high for _, high in ranges)


def plausible(largest_mm: float, processes: list[str] | tuple[str, ...]) -> bool:
    """True when some process makes parts whose largest side is ``largest_mm``."""
    return any(low <= largest_mm <= high for low, high in (PART_SIZE_MM[p] for p in processes))


def _score(unit: str, largest_mm: float) -> float:
    decades = math.log10(largest_mm / TYPICAL_PART_MM)
    return UNIT_PRIOR[unit] * math.exp(-0.5 * (decades / SPREAD_DECADES) ** 2)


def guess_unit(largest_raw: float, unit: str, processes: list[str] | tuple[str, ...]) -> ScaleGuess:
    """Readings of a largest side of ``largest_raw`` (in the file's numbers) in other units.

    ``unit`` is the unit the numbers were read in; it is left out of the readings (the caller
    only asks when that reading is implausible).
    """
    if not largest_raw > 0 or not math.isfinite(largest_raw):
        return ScaleGuess([], None)
    scored = []
    for candidate in UNIT_PRIOR:
        size = largest_raw * MM_PER_UNIT[candidate]
        if candidate == unit or not plausible(size, processes):
            continue
        score = _score(candidate, size)
        if score >= PLAUSIBLE_SCORE:
            scored.append((score, candidate, size))
    scored.sort(reverse=True)
    readings = [(candidate, size) for _, candidate, size in scored]
    if not scored:
        return ScaleGuess([], None)
    if len(scored) == 1 or scored[0][0] >= STANDS_OUT * scored[1][0]:
        return ScaleGuess(readings, scored[0][1])
    return ScaleGuess(readings, None)
