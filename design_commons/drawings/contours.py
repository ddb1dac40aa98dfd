"""Chain open paths whose ends meet (within a tolerance) into contours, closed or open.

Paths are the edges of a graph whose nodes are clusters of path ends. Each connected run is
walked edge by edge, starting from loose ends (nodes of odd degree) first, so a chain of
LINEs that returns to its start becomes one closed contour and a broken chain one open
contour that ends at its loose ends. Where paths branch (three or more ends meet, e.g. two
parts sharing an edge), some walks run from junction to junction: open, but not dangling.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

#: Ends closer than this (in mm, or 1e-5 of the drawing's size when larger) are joined.
JOIN_MM = 0.01
JOIN_REL = 1e-5


@dataclass
class Contour:
    """One cut path: ``points`` ``(k, 2)`` in mm; a closed contour does not repeat its first point."""

    points: np.ndarray
    closed: bool

    @property
    def length(self) -> float:
        """Length along the path in mm, the closing segment included when closed."""
        pts = np.vstack([self.points, self.points[:1]]) if self.closed else self.points
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


@dataclass
class Chained:
    """Contours made from open paths, and where they fail to close."""

    contours: list[Contour]
    open_pieces: int  # connected runs of paths with at least one loose end
    loose_ends: np.ndarray  # (n, 2) mm: ends that touch no other path


def join_tolerance(extent_mm: float) -> float:
    """Distance in mm under which path ends count as touching, for a drawing ``extent_mm`` across.

    0.01 mm for usual parts, 1e-5 of the size for huge drawings, 1e-3 of it for tiny ones.
    """
    return max(min(JOIN_MM, 1e-3 * extent_mm), JOIN_REL * extent_mm, 1e-9)


def chain_paths(paths: list[np.ndarray], tol: float) -> Chained:
    """Join ``paths`` (each ``(k, 2)`` mm, k >= 2) end to end into contours.

    Ends within ``tol`` mm are the same node. Returns closed contours for walks that come
    back to their start, open ones otherwise; every path is used exactly once. The count of
    open pieces and the loose ends do not depend on how the walks were chosen.
    """
    if not paths:
        return Chained([], 0, np.zeros((0, 2)))
    ends = np.array([[p[0], p[-1]] for p in paths], dtype=float).reshape(-1, 2)
    node = _cluster(ends, tol)
    start_node, end_node = node[0::2], node[1::2]
    incident: dict[int, list[int]] = defaultdict(list)  # node -> edges touching it
    for edge, (a, b) in enumerate(zip(start_node.tolist(), end_node.tolist(), strict=True)):
        incident[a].append(edge)
        incident[b].append(edge)
    degree = {n: len(edges) for n, edges in incident.items()}
    incident_all = {n: list(edges) for n, edges in incident.items()}  # _walk consumes `incident`
    # Walk from loose ends first so open chains run end to end, then close the remaining loops.
    order = sorted(incident, key=lambda n: degree[n] % 2 == 0)
    used = np.zeros(len(paths), dtype=bool)
    contours: list[Contour] = []
    for start in order:
        while True:
            walk = _walk(start, incident, used, paths, start_node, end_node)
            if walk is None:
                break
            contours.append(walk)
    loose = [n for n, d in degree.items() if d == 1]
    ends = np.zeros((len(loose), 2))
    for i, n in enumerate(loose):
        edge = incident_all[n][0]
        ends[i] = paths[edge][0] if start_node[edge] == n else paths[edge][-1]
    return Chained(contours, _open_pieces(start_node, end_node, set(loose)), ends)


def _open_pieces(start_node: np.ndarray, end_node: np.ndarray, loose: set[int]) -> int:
    """Connected components of the path graph that hold a loose end."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(start_node.tolist(), end_node.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return len({find(n) for n in loose})


def _walk(
    start: int,
    incident: dict[int, list[int]],
    used: np.ndarray,
    paths: list[np.ndarray],
    start_node: np.ndarray,
    end_node: np.ndarray,
) -> Contour | None:
    """Follow unused edges from node ``start`` until stuck; None when none is left there."""
    pieces: list[np.ndarray] = []
    current = start
    while True:
        edges = incident[current]
        while edges and used[edges[-1]]:
            edges.pop()
        if not edges:
            break
        edge = edges.pop()
        used[edge] = True
        if start_node[edge] == current:
            piece, current = paths[edge], int(end_node[edge])
        else:
            piece, current = paths[edge][::-1], int(start_node[edge])
        pieces.append(piece if not pieces else piece[1:])
    if not pieces:
        return None
    points = np.vstack(pieces)
    closed = current == start and len(points) > 2
    if closed:
        points = points[:-1]
    return Contour(points, closed)


def _cluster(points: np.ndarray, tol: float) -> np.ndarray:
    """Label ``points`` ``(n, 2)`` so that points within about ``tol`` share a label."""
    cells = np.floor(points / tol).astype(np.int64)
    keys, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    centre = np.zeros((len(keys), 2))
    np.add.at(centre, inverse, points)
    centre /= np.bincount(inverse, minlength=len(keys))[:, None]
    index = {(int(x), int(y)): i for i, (x, y) in enumerate(keys.tolist())}
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (x, y) in enumerate(keys.tolist()):
        for dx, dy in ((1, -1), (1, 0), (1, 1), (0, 1)):
            j = index.get((x + dx, y + dy))
            if j is not None and np.hypot(*(centre[i] - centre[j])) <= tol:
                a, b = find(i), find(j)
                if a != b:
                    parent[b] = a
    roots = np.array([find(i) for i in range(len(keys))], dtype=np.int64)
    return np.asarray(roots[inverse], dtype=np.int64)


def smallest_gap(ends: np.ndarray, limit: int = 2000) -> float | None:
    """Smallest distance in mm between two loose ends (``(n, 2)`` mm), if few enough to compare."""
    n = len(ends)
    if n < 2 or n > limit:
        return None
    distance = np.linalg.norm(ends[:, None, :] - ends[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    return float(distance.min())
