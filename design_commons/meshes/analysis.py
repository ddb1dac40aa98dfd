"""Geometry and topology of a triangle soup in millimetres: weld, edges, bodies, volume, area.

Everything here is vectorised numpy (plus one ``scipy.sparse.csgraph`` call for bodies), because
it runs on every uploaded mesh and is benchmarked against the bare cost of reading and welding
(``benchmarks/mesh_validation.py``). The sorts dominate: the weld's ``argsort`` (of the 3MF's
own vertices when the reader gives them, else of every corner) and the edge pass's in-place
``np.sort`` of packed 64-bit keys, both stable (timsort), which the runs in these keys make
about twice as fast as quicksort. Temporaries are kept to slices or one packed array, since
peak memory is benchmarked too.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from design_commons.reports import UnreadableFile

#: Quantisation steps per axis when welding: coordinates become 21-bit integers across the
#: bounding box, so three of them pack into one int64 key (relative tolerance ~5e-7, above
#: float32 resolution, far below any printable feature).
WELD_BITS = 21
#: Coordinates past this (1,000 km) are corrupt data, and would overflow float32 products.
MAX_COORDINATE_MM = 1e9
#: From this size the surface measures run in a thread beside the weld and edge sorts.
THREAD_MIN_TRIANGLES = 50_000
_CHUNK = 1 << 13  # triangles per chunk, bounds the temporaries of the measures


@dataclass
class MeshAnalysis:
    """What :func:`analyse` measured. Lengths in mm, areas in mm^2, volumes in mm^3.

    ``normals`` is ``(n, 3)`` float32, the unit normal of each triangle from its winding
    (zero for a zero-area triangle); the canonical STL reuses it.
    """

    triangles: int
    vertices: int
    bodies: int
    boundary_edges: int
    non_manifold_edges: int
    misoriented_edges: int
    degenerate_faces: int
    duplicate_faces: int
    signed_volume_mm3: float
    area_mm2: float
    bbox_min_mm: np.ndarray
    bbox_max_mm: np.ndarray
    normals: np.ndarray
    #: Non-manifold edges where closed shells merely touch: an even number of faces, run
    #: half in each direction (two cubes sharing an edge give 4 faces, 2 each way).
    touching_edges: int = 0

    @property
    def bodies_touch(self) -> bool:
        """Closed shells touching along edges: every edge closes, some are shared by 4+ faces.

        The surface is closed (each edge is crossed as often one way as the other), so a
        slicer fills each shell and prints them as one joined part.
        """
        return (self.triangles > 0 and self.boundary_edges == 0 and self.duplicate_faces == 0
                and self.non_manifold_edges > 0 and self.touching_edges == self.non_manifold_edges)

    @property
    def watertight(self) -> bool:
        """Every undirected edge is shared by exactly two faces (after welding)."""
        return self.triangles > 0 and self.boundary_edges == 0 and self.non_manifold_edges == 0

    @property
    def winding_consistent(self) -> bool:
        """Every edge shared by two faces is traversed in opposite directions by them."""
        return self.misoriented_edges == 0

    @property
    def extent_mm(self) -> np.ndarray:
        """Bounding-box size ``(3,)`` in mm."""
        return self.bbox_max_mm - self.bbox_min_mm


def bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis minimum and maximum ``(3,)`` float64 of ``points`` ``(m, 3)``.

    Column by column: numpy's ``min(axis=0)`` over a 3-wide axis is ~20x slower.
    """
    lo = np.array([points[:, i].min() for i in range(3)], dtype=np.float64)
    hi = np.array([points[:, i].max() for i in range(3)], dtype=np.float64)
    return lo, hi


def weld(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Merge coincident points: quantise to a 2^21 grid over the box, sort the packed keys.

    ``points`` is ``(m, 3)`` float32 or float64 in mm, ``lo``/``hi`` its bounds. Returns
    ``(index, count, step)``: ``index`` ``(m,)`` int64 gives each point's welded vertex id
    (ids are in sorted key order), ``count`` the number of distinct vertices, ``step`` the
    grid step in mm (the weld tolerance).
    """
    m = len(points)
    if m == 0:
        return np.zeros(0, dtype=np.int64), 0, 0.0
    span = float((hi - lo).max())
    step = span / ((1 << WELD_BITS) - 2) if span > 0 else 1.0
    scale = 1.0 / step
    key = np.empty(m, dtype=np.int64)
    lane = np.empty(m, dtype=points.dtype)
    whole = np.empty(m, dtype=np.int32)
    for axis in range(3):
        # Arithmetic in the points' own dtype: float64 scalars would upcast every element.
        np.subtract(points[:, axis], points.dtype.type(lo[axis]), out=lane)
        lane *= points.dtype.type(scale)
        lane += points.dtype.type(0.5)  # floor(x + 0.5) by truncation: values are >= 0
        np.copyto(whole, lane, casting="unsafe")
        if axis:
            key <<= WELD_BITS
            key |= whole
        else:
            key[:] = whole
    del whole
    del lane
    order = np.argsort(key, kind="stable")  # timsort: keys of neighbouring points come in runs
    ordered = key[order]
    del key
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del ordered
    ids = np.cumsum(new, dtype=np.int64)
    ids -= 1
    count = int(ids[-1]) + 1
    index = np.empty(m, dtype=np.int64)
    index[order] = ids
    return index, count, step


def _edge_topology(faces: np.ndarray, n_vertices: int) -> tuple[int, int, int, int, list[np.ndarray]]:
    """Classify the edges of ``faces`` ``(k, 3)`` int32 or int64 (no collapsed face among them).

    Returns ``(boundary, non_manifold, misoriented, touching, edges)`` where ``touching`` counts
    the non-manifold edges that closed shells share (see :attr:`MeshAnalysis.touching_edges`)
    and ``edges`` holds the ``(e,)``
    arrays ``[low, high]`` of the distinct undirected edges' vertex ids, sorted (a list the body
    count empties as it goes). Works column by column and in slices so that the packed keys
    are the only full-size temporary.
    """
    index = faces.dtype
    if len(faces) == 0:
        return 0, 0, 0, 0, [np.zeros(0, dtype=index), np.zeros(0, dtype=index)]
    # One packed key per directed edge: undirected edge id, and a low bit for the direction.
    packed = np.empty(faces.shape, dtype=np.int64)
    for corner in range(3):
        start, end = faces[:, corner], faces[:, (corner + 1) % 3]
        column = packed[:, corner]
        np.minimum(start, end, out=column)
        column *= n_vertices
        column += np.maximum(start, end)
        column <<= 1
        column |= start > end
    keys = packed.reshape(-1)
    del packed
    keys.sort(kind="stable")  # timsort: several times faster here, the keys come in runs
    m = len(keys)
    # first[i]: key i starts an undirected edge (two sentinels after the end); same[i]: keys i
    # and i + 1 are one directed edge twice. Keys differ above the direction bit iff xor > 1.
    first = np.ones(m + 2, dtype=bool)
    same = np.zeros(m, dtype=bool)
    for begin in range(0, m - 1, _CHUNK):
        stop = min(begin + _CHUNK, m - 1)
        differ = keys[begin + 1:stop + 1] ^ keys[begin:stop]
        np.greater(differ, 1, out=first[begin + 1:stop + 1])
        np.equal(differ, 0, out=same[begin:stop])
    single = first[:m] & first[1:m + 1]
    boundary = int(np.count_nonzero(single))
    del single
    paired = first[:m] & ~first[1:m + 1]
    non_manifold = int(np.count_nonzero(paired & ~first[2:m + 2]))
    # Two faces sharing an edge in the same direction give two identical directed keys.
    misoriented = int(np.count_nonzero(paired & first[2:m + 2] & same))
    del paired, same
    starts = first[:m]
    # Only meshes with non-manifold edges pay for the run lengths (clean ones are benchmarked).
    touching = _touching_edges(keys, starts) if non_manifold else 0
    low = np.empty(m - int(np.count_nonzero(~starts)), dtype=index)
    high = np.empty(len(low), dtype=index)
    filled = 0
    for begin in range(0, m, _CHUNK):
        unique = keys[begin:begin + _CHUNK][starts[begin:begin + _CHUNK]]
        unique >>= 1
        np.floor_divide(unique, n_vertices, out=low[filled:filled + len(unique)], casting="unsafe")
        np.remainder(unique, n_vertices, out=high[filled:filled + len(unique)], casting="unsafe")
        filled += len(unique)
    return boundary, non_manifold, misoriented, touching, [low, high]


def _touching_edges(keys: np.ndarray, starts: np.ndarray) -> int:
    """Undirected edges of 4, 6 ... faces crossed as often in each direction (sorted ``keys``)."""
    begins = np.flatnonzero(starts)
    uses = np.diff(np.append(begins, len(keys)))
    forward = np.add.reduceat(keys & 1, begins)
    return int(np.count_nonzero((uses > 2) & (uses == 2 * forward)))


def _count_bodies(edges: list[np.ndarray], n_vertices: int, isolated_possible: bool) -> int:
    """Connected components of the vertex graph; vertices on no edge are not bodies.

    ``edges`` is ``[low, high]`` from :func:`_edge_topology` (sorted by ``low``); it is emptied.
    A vertex can only be on no edge when some face collapsed (``isolated_possible``).
    """
    rows, cols = edges
    edges.clear()
    if len(rows) == 0:
        return 0
    used = np.zeros(n_vertices if isolated_possible else 0, dtype=bool)
    if isolated_possible:
        used[rows] = True
    indptr = np.zeros(n_vertices + 1, dtype=rows.dtype)
    np.cumsum(np.bincount(rows, minlength=n_vertices), out=indptr[1:])
    del rows
    # float64 data, which the graph routines would otherwise convert to.
    graph = csr_matrix((np.ones(len(cols), dtype=np.float64), cols, indptr), shape=(n_vertices, n_vertices))
    n_components, _ = connected_components(graph, directed=False)
    if not isolated_possible:
        return int(n_components)
    used[cols] = True
    return int(n_components) - (n_vertices - int(np.count_nonzero(used)))


def _duplicate_faces(faces: np.ndarray, n_vertices: int) -> int:
    """Faces ``(k, 3)`` that repeat another face's three vertices, in any order."""
    if len(faces) < 2:
        return 0
    ordered = np.sort(faces, axis=1).astype(np.int64, copy=False)
    if n_vertices < (1 << WELD_BITS):
        keys = (ordered[:, 0] << (2 * WELD_BITS)) | (ordered[:, 1] << WELD_BITS) | ordered[:, 2]
        keys.sort()
        return int(np.count_nonzero(keys[1:] == keys[:-1]))
    return len(ordered) - len(np.unique(ordered, axis=0))


def _surface_measures(
    triangles: np.ndarray, centre: np.ndarray, zero_area: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Area, signed volume, unit normals ``(n, 3)`` float32 and zero-area mask ``(n,)``.

    Per-triangle products are computed in float32 around ``centre`` (the bounding-box middle,
    so no precision goes to the offset) and summed in float64. ``zero_area`` is the threshold
    on twice the area (the cross product's length), in mm^2.
    """
    n = len(triangles)
    normals = np.empty((n, 3), dtype=np.float32)
    flat = np.empty(n, dtype=bool)
    area = 0.0
    volume = 0.0
    middle = centre.astype(np.float32)
    for begin in range(0, n, _CHUNK):
        chunk = triangles[begin:begin + _CHUNK].astype(np.float32, copy=True)
        chunk -= middle
        a = chunk[:, 0]
        e1 = chunk[:, 1] - a
        e2 = chunk[:, 2] - a
        cross = np.cross(e1, e2)
        length = np.sqrt(np.einsum("ij,ij->i", cross, cross))
        area += float(length.sum(dtype=np.float64)) / 2.0
        volume += float(np.einsum("ij,ij->i", a, cross).sum(dtype=np.float64)) / 6.0
        end = begin + len(chunk)
        small = np.less_equal(length, zero_area, out=flat[begin:end])
        length[small] = 1.0
        np.divide(cross, length[:, None], out=normals[begin:end])
        normals[begin:end][small] = 0.0
    return area, volume, normals, flat


class _Done:
    """The result of a call made inline, shaped like a finished future."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


def _run(function: Callable[..., Any], threaded: bool, *args: Any) -> Any:
    """Call ``function`` in a worker thread (numpy releases the GIL) or inline."""
    if not threaded:
        return _Done(function(*args))
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function, *args)
    finally:
        pool.shutdown(wait=False)  # the submitted call still runs to its end


def _used_points(points: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``points`` and ``corners`` without the points no corner uses (the same arrays if none)."""
    used = np.zeros(len(points), dtype=bool)
    used[corners.reshape(-1)] = True
    if used.all():
        return points, corners
    renumber = np.cumsum(used, dtype=np.int64) - 1
    return points[used], renumber[corners].astype(corners.dtype)


def analyse(triangles: np.ndarray, indexed: list[tuple[np.ndarray, np.ndarray]] | None = None) -> MeshAnalysis:
    """Measure ``triangles`` ``(n, 3, 3)`` (float32 or float64, in mm).

    Welds coincident vertices first, so topology reflects the surface as a slicer sees it.
    Degenerate faces are those of zero area or that collapse (two corners merge) once welded;
    collapsed faces are left out of the edge and body analysis. ``indexed``, when the reader
    has it, is a list holding the same surface as ``(points (m, 3), corners (n, 3) int)`` with
    ``points[corners] == triangles``: the weld then sorts ``m`` points instead of ``3 n``, with
    the same result. The list is emptied, so that the index is freed once welded. Raises
    :class:`UnreadableFile` for coordinates beyond :data:`MAX_COORDINATE_MM` (corrupt data).
    """
    n = len(triangles)
    if n == 0:
        zero = np.zeros(3)
        return MeshAnalysis(0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, zero, zero.copy(), np.zeros((0, 3), np.float32))
    if indexed:
        points, corners = _used_points(*indexed.pop())
    else:
        points, corners = triangles.reshape(-1, 3), None
    lo, hi = bounds(points)
    if max(float(np.abs(lo).max()), float(np.abs(hi).max())) > MAX_COORDINATE_MM:
        raise UnreadableFile(f"some coordinates are beyond {MAX_COORDINATE_MM:.0e} mm, far outside any part")
    span = float((hi - lo).max())
    step = span / ((1 << WELD_BITS) - 2) if span > 0 else 1.0
    measures = _run(_surface_measures, n >= THREAD_MIN_TRIANGLES, triangles, (lo + hi) / 2.0, step * step)
    index, n_vertices, step = weld(points, lo, hi)
    del points
    compact = index.astype(np.int32 if n_vertices < (1 << 31) else np.int64)
    del index
    faces = compact.reshape(n, 3) if corners is None else compact[corners]
    del compact, corners
    collapsed = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    n_collapsed = int(np.count_nonzero(collapsed))
    if n_collapsed:
        faces = faces[~collapsed]
    boundary, non_manifold, misoriented, touching, edges = _edge_topology(faces, n_vertices)
    # A duplicate face always makes its edges non-manifold, so skip the sort on clean meshes.
    duplicates = _duplicate_faces(faces, n_vertices) if non_manifold else 0
    del faces
    bodies = _count_bodies(edges, n_vertices, n_collapsed > 0)
    del edges
    area, volume, normals, flat = measures.result()
    degenerate = int(np.count_nonzero(collapsed | flat))
    return MeshAnalysis(
        triangles=n,
        vertices=n_vertices,
        bodies=bodies,
        boundary_edges=boundary,
        non_manifold_edges=non_manifold,
        misoriented_edges=misoriented,
        degenerate_faces=degenerate,
        duplicate_faces=duplicates,
        signed_volume_mm3=volume,
        area_mm2=area,
        bbox_min_mm=lo,
        bbox_max_mm=hi,
        normals=normals,
        touching_edges=touching,
    )
