"""Does a part fit a machine? The one rule, used by the hub's matching and by the lab's agent.

Meshes: the part's bounding box (x, y, z in mm) fits the build volume in some axis-aligned
orientation, i.e. its sides sorted are each no longer than the volume's sides sorted (the same as
trying all six permutations). Drawings (sheet processes): the sheet (``sheet_mm``, else the
drawing's x, y extent) lies on the bed turned 90 degrees or not, and the stated stock is no thicker
than the machine cuts (the volume's z). A part whose size is unknown does not fit: a lab is never
offered, nor accepts, what it cannot be shown to hold.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from design_commons.validation import DRAWING_PROCESSES

#: Processes that cut sheets laid on a bed: the machine's z is the thickest stock it cuts.
SHEET_PROCESSES = frozenset(DRAWING_PROCESSES)


class Misfit(StrEnum):
    """Why a part does not fit (the hub's candidate reasons use these words)."""

    TOO_SMALL = "too_small"  # the machine is too small for the part or the sheet (or the size is unknown)
    TOO_THICK = "too_thick"  # the stock is thicker than the machine cuts


def _sides(values: Sequence[Any] | None, n: int) -> tuple[float, ...] | None:
    if not values or len(values) < n:
        return None
    try:
        sides = tuple(float(v) for v in values[:n])
    except (TypeError, ValueError):
        return None
    return sides if all(math.isfinite(s) and s >= 0 for s in sides) else None


def sheet_of(requirements: Mapping[str, Any]) -> tuple[float, float] | None:
    """The sheet a drawing needs (x, y in mm): ``sheet_mm``, else the x, y of ``bbox_mm``; None if unknown."""
    sheet = _sides(requirements.get("sheet_mm"), 2) or _sides(requirements.get("bbox_mm"), 2)
    return (sheet[0], sheet[1]) if sheet else None


def fits(requirements: Mapping[str, Any], volume_mm: Sequence[float], process: str,
         thickness_mm: float | None = None) -> Misfit | None:
    """None when the part fits a machine of ``process`` with build volume ``volume_mm`` (x, y, z in mm).

    ``requirements`` is a file's derived requirements (``bbox_mm``, ``sheet_mm``); ``thickness_mm`` the
    stock asked for (an order's, or the file's ``thickness_mm``). Returns the reason it does not fit.
    """
    x, y, z = (float(v) for v in volume_mm)
    if process in SHEET_PROCESSES:
        sheet = sheet_of(requirements)
        if sheet is None:
            return Misfit.TOO_SMALL
        w, h = sheet
        if not ((w <= x and h <= y) or (h <= x and w <= y)):
            return Misfit.TOO_SMALL
        stock = thickness_mm if thickness_mm is not None else requirements.get("thickness_mm")
        if stock is not None and float(stock) > z:
            return Misfit.TOO_THICK
        return None
    part = _sides(requirements.get("bbox_mm"), 3)
    if part is None:
        return Misfit.TOO_SMALL
    ok = all(p <= m for p, m in zip(sorted(part), sorted((x, y, z)), strict=True))
    return None if ok else Misfit.TOO_SMALL
