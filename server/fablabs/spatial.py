"""The spatial prefilter and exact ranking behind "labs near a point".

Every lab stores the id of the grid cell it falls in at three sizes (0.1, 1 and 10 degrees),
each indexed. A query covers its search circle's bounding box with the finest grid that
needs at most :data:`MAX_CELLS` cells, so the database returns only the labs in those cells;
the candidates are then measured exactly (WGS-84 geodesics, pyproj's vectorised ``Geod``)
and cut to the radius. The cost follows the labs near the point, not all labs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
LEVELS: tuple[tuple[str, float], ...] = (("cell_fine", 0.1), ("cell_mid", 1.0), ("cell_coarse", 10.0))
MAX_CELLS = 400  # a 50 km circle needs ~150 of the 0.1-degree cells; far fewer rows read than with 1-degree cells
KM_PER_DEG_LAT_MIN = 110.574  # the shortest degree of latitude (at the equator)
KM_PER_DEG_LON_EQ = 111.319  # a degree of longitude on the equator
EARTH_HALF_CIRCUMFERENCE_KM = 20_037.5


def _columns(size: float) -> int:
    return int(round(360 / size))


def cell(latitude: float, longitude: float, size: float) -> int:
    """The id of the grid cell of ``size`` degrees holding the point."""
    ncols = _columns(size)
    row = min(int(math.floor((latitude + 90.0) / size)), int(round(180 / size)) - 1)
    col = int(math.floor(((longitude + 180.0) % 360.0) / size)) % ncols
    return row * ncols + col


def cells_of(latitude: float, longitude: float) -> dict[str, int]:
    """The lab's cell ids at every level, as model column values."""
    return {column: cell(latitude, longitude, size) for column, size in LEVELS}


@dataclass(frozen=True)
class Cover:
    """Cells covering a search circle: filter ``column IN cells``; ``column`` None means no prefilter."""

    column: str | None
    cells: tuple[int, ...]


def cover(latitude: float, longitude: float, radius_km: float) -> Cover:
    """Cells whose union holds every point within ``radius_km`` of the origin (a conservative box)."""
    margin = 1.01
    dlat = radius_km / KM_PER_DEG_LAT_MIN * margin
    lat_lo, lat_hi = max(-90.0, latitude - dlat), min(90.0, latitude + dlat)
    widest = max(abs(lat_lo), abs(lat_hi))
    if widest >= 89.9:
        return Cover(None, ())
    dlon = radius_km / (KM_PER_DEG_LON_EQ * math.cos(math.radians(widest))) * margin
    if dlon >= 180.0:
        lon_ranges = [(-180.0, 180.0)]
    else:
        lo, hi = longitude - dlon, longitude + dlon
        lon_ranges = [(lo, hi)]
    for column, size in LEVELS:
        rows = range(int(math.floor((lat_lo + 90) / size)), min(int(math.floor((lat_hi + 90) / size)),
                                                                 int(round(180 / size)) - 1) + 1)
        ncols = _columns(size)
        cols: set[int] = set()
        for lo, hi in lon_ranges:
            start, stop = int(math.floor((lo + 180) / size)), int(math.floor((hi + 180) / size))
            if stop - start + 1 >= ncols:
                cols = set(range(ncols))
                break
            cols.update(c % ncols for c in range(start, stop + 1))
        if len(rows) * len(cols) <= MAX_CELLS:
            return Cover(column, tuple(r * ncols + c for r in rows for c in sorted(cols)))
    return Cover(None, ())


def distances_km(latitude: float, longitude: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Geodesic distances (WGS-84, Karney) from the origin to each point, in km; shape ``(n,)``."""
    if len(lats) == 0:
        return np.zeros(0)
    n = len(lats)
    _, _, metres = GEOD.inv(np.full(n, longitude), np.full(n, latitude), np.asarray(lons, float), np.asarray(lats, float))
    return np.asarray(metres) / 1000.0
