"""One page of the directory around a point, nearest first, with the exact number of labs in reach.

Reading every lab within the radius would make the directory's cost follow the size of its answer
(thousands of labs within 50 km of a big city). Instead:

1. :func:`spatial.split_circle` sorts the cells covering the circle into cells wholly inside it
   and cells on its edge (refined down to 0.01-degree cells).
2. Labs in the inside cells are counted per cell from the cell indexes alone; labs in the edge
   cells are read and measured (WGS-84 geodesic). The total is exact: counted + measured within.
3. With per-cell counts and distance bounds, a distance is known within which the first
   ``page * per_page`` labs certainly lie. Only the cells that reach nearer than that are read;
   a crowded cell is first split into its 100 children (counted from the index) so the distance
   tightens. The rows read follow the page and the edge, not the labs inside the circle.

Cell sets travel to the database as runs of consecutive ids (one per row of cells) joined as a
``VALUES`` list, so each run is one range scan of an index, on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from server.fablabs import spatial
from server.fablabs.models import Fablab, Machine

REFINE_ABOVE = 32  # a cell holding more labs than this is split into its children before its rows are read
MAX_CHILDREN = 20_000  # cells counted in one refinement at most; past it the crowded cells are read instead


@dataclass(frozen=True)
class Counted:
    """Cells (of mixed levels) with how many labs each holds and the bounds of their distance."""

    level: np.ndarray
    ids: np.ndarray
    count: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def empty(cls) -> Counted:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0), np.zeros(0))

    def __add__(self, other: Counted) -> Counted:
        return Counted(*(np.concatenate((a, b)) for a, b in zip(self.fields(), other.fields(), strict=True)))

    def fields(self) -> tuple[np.ndarray, ...]:
        return self.level, self.ids, self.count, self.lower, self.upper

    def select(self, mask: np.ndarray) -> Counted:
        return Counted(*(f[mask] for f in self.fields()))


def _statement(session: Session, column: str, cells: list[tuple[int, int]], columns: str, tail: str,
               process: str | None) -> str:
    """SQL over the labs whose ``column`` falls in the runs ``cells`` (integers, rendered inline)."""
    values = ", ".join(f"({lo}, {hi})" for lo, hi in cells)
    # SQLite would look the process up through its own index and scan every machine of that process for
    # each lab; a unary plus keeps it on the (fablab_id, key) index instead.
    process_column = "+m.process" if session.get_bind().dialect.name == "sqlite" else "m.process"
    where = (f" WHERE EXISTS (SELECT 1 FROM {Machine.__tablename__} m WHERE m.fablab_id = f.id "
             f"AND {process_column} = :process)") if process else ""
    return (f"WITH r(lo, hi) AS (VALUES {values}) SELECT {columns} FROM r JOIN {Fablab.__tablename__} f "
            f"ON f.{column} BETWEEN r.lo AND r.hi{where}{tail}")


def _params(process: str | None) -> dict[str, str]:
    return {"process": process} if process else {}


def count_cells(session: Session, cells: spatial.CellSet, process: str | None) -> Counted:
    """How many labs each of the cells holds (cells holding none are left out)."""
    if len(cells.ids) == 0:
        return Counted.empty()
    sql = _statement(session, cells.column, spatial.runs(cells.ids), f"f.{cells.column}, count(*)",
                     f" GROUP BY f.{cells.column}", process)
    got = session.execute(text(sql), _params(process)).all()
    if not got:
        return Counted.empty()
    table = np.array([tuple(r) for r in got], dtype=np.int64).reshape(len(got), 2)
    by_id = np.argsort(cells.ids)
    index = by_id[np.searchsorted(cells.ids, table[:, 0], sorter=by_id)]  # each counted cell's place in `cells`
    return Counted(np.full(len(got), cells.level, dtype=np.int64), table[:, 0], table[:, 1],
                   cells.lower[index], cells.upper[index])


def read_cells(session: Session, cells: Counted, process: str | None, latitude: float,
               longitude: float) -> tuple[np.ndarray, np.ndarray]:
    """The labs in ``cells``: ``(lab ids, geodesic distances in km)``, in no order."""
    ids, dist = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for level in np.unique(cells.level).tolist():
        column = spatial.LEVELS[level][0]
        sql = _statement(session, column, spatial.runs(cells.ids[cells.level == level]), "f.id, f.latitude, f.longitude", "",
                         process)
        got = session.execute(text(sql), _params(process)).all()
        if got:
            table = np.array([tuple(r) for r in got], dtype=float).reshape(len(got), 3)
            ids.append(table[:, 0].astype(np.int64))
            dist.append(spatial.distances_km(latitude, longitude, table[:, 1], table[:, 2]))
    return np.concatenate(ids), np.concatenate(dist)


def _certain_within(counted: Counted, measured: np.ndarray, wanted: int) -> float:
    """The least distance within which at least ``wanted`` labs certainly lie (inf if fewer are known)."""
    values = np.concatenate((measured, counted.upper))
    weights = np.concatenate((np.ones(len(measured), dtype=np.int64), counted.count))
    order = np.argsort(values, kind="stable")
    reached = np.searchsorted(np.cumsum(weights[order]), wanted)
    return float(values[order][reached]) if reached < len(values) else float("inf")


def _refine(session: Session, crowded: Counted, process: str | None, latitude: float, longitude: float,
            radius_km: float) -> Counted:
    """The crowded cells replaced by those of their children that reach into the circle, counted."""
    out = Counted.empty()
    for level in np.unique(crowded.level).tolist():
        ids = spatial.children(level, crowded.ids[crowded.level == level])
        out = out + count_cells(session, spatial.cells_near(latitude, longitude, radius_km, level - 1, ids), process)
    return out


def _crowded(cells: Counted, among: np.ndarray) -> np.ndarray:
    """Which of ``among`` to split: the crowded ones, unless that would mean counting too many children."""
    crowded = among & (cells.count > REFINE_ABOVE) & (cells.level > 0)
    return crowded if int(crowded.sum()) * 100 <= MAX_CHILDREN else np.zeros_like(crowded)


def page(session: Session, latitude: float, longitude: float, radius_km: float, process: str | None,
         first: int, stop: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Labs ranked ``first..stop-1`` by (distance, id) within the radius, their distances and the total."""
    cover = spatial.cover(latitude, longitude, radius_km)
    if cover.column is None:  # around a pole or most of the world: start from every 10-degree cell
        level = len(spatial.LEVELS) - 1
        ids = np.arange(int(round(180 / spatial.LEVELS[level][1])) * int(round(360 / spatial.LEVELS[level][1])))
    else:
        level, ids = spatial.level_of(cover.column), np.array(cover.cells)
    cells = spatial.cells_near(latitude, longitude, radius_km, level, ids)
    counted = count_cells(session, cells, process)
    # the edge: cells reaching across the circle; crowded ones are split, the rest read and measured
    edge = counted.select(counted.upper > radius_km)
    counted = counted.select(counted.upper <= radius_km)
    measured_ids, measured_dist = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    while len(edge.ids):
        crowded = _crowded(edge, np.ones(len(edge.ids), dtype=bool))
        ids, dist = read_cells(session, edge.select(~crowded), process, latitude, longitude)
        measured_ids.append(ids[dist <= radius_km])
        measured_dist.append(dist[dist <= radius_km])
        if not crowded.any():
            break
        finer = _refine(session, edge.select(crowded), process, latitude, longitude, radius_km)
        counted = counted + finer.select(finer.upper <= radius_km)
        edge = finer.select(finer.upper > radius_km)
    edge_ids, edge_dist = np.concatenate(measured_ids), np.concatenate(measured_dist)
    total = int(counted.count.sum()) + len(edge_ids)
    if first >= total:
        return np.zeros(0, dtype=np.int64), np.zeros(0), total
    # the page: only cells reaching nearer than the distance that certainly holds `stop` labs are read
    while True:
        reach = _certain_within(counted, edge_dist, stop)
        crowded = _crowded(counted, counted.lower <= reach)
        if not crowded.any():
            break
        counted = counted.select(~crowded) + _refine(session, counted.select(crowded), process, latitude, longitude,
                                                      radius_km)
    ids, dist = read_cells(session, counted.select(counted.lower <= reach), process, latitude, longitude)
    all_ids, all_dist = np.concatenate((edge_ids, ids)), np.concatenate((edge_dist, dist))
    order = np.lexsort((all_ids, all_dist))[first:stop]
    return all_ids[order], all_dist[order], total
