"""The spatial prefilter and exact ranking behind "labs near a point".

Every lab stores the id of the grid cell it falls in at four nested sizes (0.01, 0.1, 1 and 10
degrees), each indexed. A query covers its search circle's bounding box with the finest grid that
needs at most :data:`MAX_CELLS` cells, so the database returns only the labs in those cells;
the candidates are then measured exactly (WGS-84 geodesics, pyproj's vectorised ``Geod``)
and cut to the radius. The cost follows the labs near the point, not all labs.

For the directory, :func:`distance_bounds` gives each cell the least and greatest distance any
point in it can have from the query point: cells wholly inside the circle can have their labs
counted from an index alone, and the nearest labs found without reading the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
LEVELS: tuple[tuple[str, float], ...] = (("cell_micro", 0.01), ("cell_fine", 0.1), ("cell_mid", 1.0), ("cell_coarse", 10.0))
MICRO_PER_DEGREE = 100  # cells of the finest level per degree; every coarser level is 10x the one before
MAX_CELLS = 400  # a 50 km circle needs ~150 of the 0.1-degree cells; far fewer rows read than with 1-degree cells
KM_PER_DEG_LAT_MIN = 110.574  # the shortest degree of latitude (at the equator)
KM_PER_DEG_LON_EQ = 111.319  # a degree of longitude on the equator
EARTH_HALF_CIRCUMFERENCE_KM = 20_037.5


def _columns(size: float) -> int:
    return int(round(360 / size))


def cells_of(latitude: float, longitude: float) -> dict[str, int]:
    """The lab's cell ids at every level, as model column values.

    All levels derive from one integer row and column of the finest grid, so a cell always lies
    wholly inside its parent cell (floating-point division at each size could disagree at edges).
    """
    rows = 180 * MICRO_PER_DEGREE
    cols = 360 * MICRO_PER_DEGREE
    row = min(int(math.floor((latitude + 90.0) * MICRO_PER_DEGREE)), rows - 1)
    col = int(math.floor(((longitude + 180.0) % 360.0) * MICRO_PER_DEGREE)) % cols
    out = {}
    for level, (column, _) in enumerate(LEVELS):
        scale = 10 ** level
        out[column] = (row // scale) * (cols // scale) + col // scale
    return out


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


# --- the directory's split of a search circle ---------------------------------------------------------------------

EARTH_MEAN_RADIUS_KM = 6371.0088
# A great circle on the mean sphere is within 0.56% of the WGS-84 geodesic between the same points (a test holds
# this), so spherical bounds widened by this factor are bounds of the geodesic distance.
SPHERE_MARGIN = 0.0075


def great_circle_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle (haversine) distances on the mean sphere, in km, element-wise: cheap bounds, not answers."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return np.asarray(2 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _grid(level: int) -> tuple[float, int]:
    size = LEVELS[level][1]
    return size, _columns(size)


def children(level: int, ids: np.ndarray) -> np.ndarray:
    """The ids, at ``level - 1``, of the 10 x 10 cells inside each cell of ``ids`` (at ``level``)."""
    _, ncols = _grid(level)
    _, child_cols = _grid(level - 1)
    rows, cols = np.divmod(np.asarray(ids, dtype=np.int64), ncols)
    sub = np.arange(10, dtype=np.int64)
    child_rows = (rows[:, None, None] * 10 + sub[None, :, None])
    child_cols_ = (cols[:, None, None] * 10 + sub[None, None, :])
    return (child_rows * child_cols + child_cols_).reshape(-1)


def distance_bounds(latitude: float, longitude: float, level: int,
                    ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (km) of the geodesic distance from the point to anywhere in each cell.

    On a sphere the farthest point of a latitude-longitude box is one of its corners (distance grows
    along a parallel with the longitude gap, and along a meridian has a single minimum), so the upper
    bound is the farthest corner; the lower bound is the distance to the cell's centre less the
    centre's distance to its corners (the triangle inequality). Both are widened by :data:`SPHERE_MARGIN`.
    """
    size, ncols = _grid(level)
    rows, cols = np.divmod(np.asarray(ids, dtype=np.int64), ncols)
    south = rows * size - 90.0
    north = np.minimum(south + size, 90.0)
    west = cols * size - 180.0
    east = west + size
    corners = [great_circle_km(latitude, longitude, la, lo) for la in (south, north) for lo in (west, east)]
    upper = np.maximum.reduce(corners) * (1 + SPHERE_MARGIN)
    mid_lat, mid_lon = (south + north) / 2, west + size / 2
    centre = great_circle_km(latitude, longitude, mid_lat, mid_lon)
    half_diagonal = np.maximum(great_circle_km(mid_lat, mid_lon, south, west), great_circle_km(mid_lat, mid_lon, north, west))
    lower = np.maximum(centre - half_diagonal, 0.0) * (1 - SPHERE_MARGIN)
    return lower, upper


@dataclass(frozen=True)
class CellSet:
    """Cells of one level with the bounds of their distance from the query point (km)."""

    level: int
    ids: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def column(self) -> str:
        return LEVELS[self.level][0]


def level_of(column: str) -> int:
    return [name for name, _ in LEVELS].index(column)


def cells_near(latitude: float, longitude: float, radius_km: float, level: int, ids: np.ndarray) -> CellSet:
    """The cells of ``ids`` (at ``level``) that may hold points within the radius, with their bounds."""
    ids = np.asarray(ids, dtype=np.int64)
    lower, upper = distance_bounds(latitude, longitude, level, ids)
    keep = lower <= radius_km
    return CellSet(level, ids[keep], lower[keep], upper[keep])


def runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Sorted cell ids as ``(first, last)`` runs of consecutive ids (a row of cells is one run)."""
    if len(ids) == 0:
        return []
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    breaks = np.nonzero(np.diff(ids) != 1)[0]
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ids) - 1]))
    return list(zip(ids[starts].tolist(), ids[ends].tolist(), strict=True))
