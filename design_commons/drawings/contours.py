"""Chain open paths whose ends meet (within a tolerance) into contours, closed or open.

Paths are the edges of a graph whose nodes are clusters of path ends. First the graph is
pruned from its loose ends (nodes of degree 1) inward: what is pruned is a tree hanging off
the rest, and cannot be part of any loop. A pruned tree that hangs off a loop is a *stray*
(a leader line, a dimension's extension line touching the outline); one that touches no loop
is an *open contour*. What is left is walked edge by edge, so a chain of LINEs that returns to
its start becomes one closed contour even when a stray touches it. Where paths branch (three
or more ends meet, e.g. two parts sharing an edge), some walks run from junction to junction:
open, but not dangling.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

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
    open_pieces: int  # connected runs of paths with loose ends that touch no closed loop
    loose_ends: np.ndarray  # (n, 2) mm: ends that touch no other path (strays' tips too)
    open_ends: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2) mm: of open pieces
    strays: int = 0  # open runs hanging off a closed loop (leader lines and the like)


def join_tolerance(extent_mm: float) -> float:
    """Distance in mm under which path ends count as touching, for a drawing ``extent_mm`` across.

    0.01 mm for usual parts, 1e-5 of the size for huge drawings, 1e-3 of it for tiny ones.
    """
    return max(min(JOIN_MM, 1e-3 * extent_mm), JOIN_REL * extent_mm, 1e-9)


def chain_paths(paths: list[np.ndarray], tol: float) -> Chained:
    """Join ``paths`` (each ``(k, 2)`` mm, k >= 2) end to end into contours.

    Ends within ``tol`` mm are the same node. Returns closed contours for walks that come
    back to their start, open ones otherwise; every path is used exactly once. A loop stays
    closed when stray paths touch it; the strays are counted apart from the open pieces.
    The counts and the loose ends do not depend on how the walks were chosen.
    """
    if not paths:
        return Chained([], 0, np.zeros((0, 2)))
    ends = np.array([[p[0], p[-1]] for p in paths], dtype=float).reshape(-1, 2)
    node = _cluster(ends, tol)
    start_node, end_node = node[0::2].tolist(), node[1::2].tolist()
    incident: dict[int, list[int]] = defaultdict(list)  # node -> edges touching it
    for edge, (a, b) in enumerate(zip(start_node, end_node, strict=True)):
        incident[a].append(edge)
        incident[b].append(edge)
    loose = [n for n, edges in incident.items() if len(edges) == 1]
    pruned = _prune(loose, incident, start_node, end_node)
    component = _components(start_node, end_node)
    looped = {component[start_node[e]] for e in range(len(paths)) if not pruned[e]}
    core = [e for e in range(len(paths)) if not pruned[e]]
    stray = [e for e in range(len(paths)) if pruned[e] and component[start_node[e]] in looped]
    dangling = [e for e in range(len(paths)) if pruned[e] and component[start_node[e]] not in looped]
    walker = _Walker(paths, start_node, end_node)
    strays = walker.walk_all(stray)
    contours = walker.walk_all(core) + strays + walker.walk_all(dangling)
    open_loose = [n for n in loose if component[n] not in looped]
    return Chained(contours, len({component[n] for n in open_loose}), _end_points(loose, walker, incident),
                   _end_points(open_loose, walker, incident), len(strays))


def _prune(loose: list[int], incident: dict[int, list[int]], start_node: list[int],
           end_node: list[int]) -> list[bool]:
    """Mark the edges of trees hanging off the graph, peeling degree-1 nodes from ``loose`` inward."""
    pruned = [False] * len(start_node)
    degree = {n: len(edges) for n, edges in incident.items()}
    queue = list(loose)
    while queue:
        n = queue.pop()
        if degree[n] != 1:
            continue
        edge = next(e for e in incident[n] if not pruned[e])
        pruned[edge] = True
        other = end_node[edge] if start_node[edge] == n else start_node[edge]
        degree[n] -= 1
        degree[other] -= 1
        if degree[other] == 1:
            queue.append(other)
    return pruned


def _components(start_node: list[int], end_node: list[int]) -> dict[int, int]:
    """A component label for every node of the path graph."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(start_node, end_node, strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return {n: find(n) for n in parent}


def _end_points(nodes: list[int], walker: _Walker, incident: dict[int, list[int]]) -> np.ndarray:
    points = np.zeros((len(nodes), 2))
    for i, n in enumerate(nodes):
        edge = incident[n][0]
        path = walker.paths[edge]
        points[i] = path[0] if walker.start_node[edge] == n else path[-1]
    return points


class _Walker:
    """Walks subsets of the path graph's edges into contours."""

    def __init__(self, paths: list[np.ndarray], start_node: list[int], end_node: list[int]) -> None:
        self.paths = paths
        self.start_node = start_node
        self.end_node = end_node

    def walk_all(self, edges: list[int]) -> list[Contour]:
        """Contours using each of ``edges`` once: from odd-degree nodes first, then the loops left."""
        incident: dict[int, list[int]] = defaultdict(list)
        for edge in edges:
            incident[self.start_node[edge]].append(edge)
            incident[self.end_node[edge]].append(edge)
        degree = {n: len(e) for n, e in incident.items()}
        # Walk from loose ends first so open chains run end to end, then close the remaining loops.
        order = sorted(incident, key=lambda n: degree[n] % 2 == 0)
        used: set[int] = set()
        contours: list[Contour] = []
        for start in order:
            while True:
                walk = self._walk(start, incident, used)
                if not walk:
                    break
                contours.extend(walk)
        return contours

    def _walk(self, start: int, incident: dict[int, list[int]], used: set[int]) -> list[Contour]:
        """Follow unused edges from node ``start`` until stuck; empty when none is left there.

        Each time the walk comes back to a node it passed, the loop since then is cut out as a
        closed contour, so a loop with a branch on it stays closed; the rest is one open contour.
        """
        contours: list[Contour] = []
        pieces: list[np.ndarray] = []  # oriented paths, each starting where the last ended
        nodes = [start]  # nodes[i] is where pieces[i] starts
        seen = {start: 0}
        current = start
        while True:
            edges = incident[current]
            while edges and edges[-1] in used:
                edges.pop()
            if not edges:
                break
            edge = edges.pop()
            used.add(edge)
            if self.start_node[edge] == current:
                piece, current = self.paths[edge], self.end_node[edge]
            else:
                piece, current = self.paths[edge][::-1], self.start_node[edge]
            pieces.append(piece)
            back = seen.get(current)
            if back is None:
                seen[current] = len(nodes)
                nodes.append(current)
                continue
            loop = _joined(pieces[back:])
            if len(loop) > 3:
                contours.append(Contour(loop[:-1], True))
            else:  # a segment there and back (a line drawn twice) encloses nothing
                contours.append(Contour(loop, False))
            for node in nodes[back + 1:]:
                del seen[node]
            del pieces[back:], nodes[back + 1:]
        if pieces:
            contours.append(Contour(_joined(pieces), False))
        return contours


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    """One polyline from paths that each start where the previous one ends."""
    return np.vstack([pieces[0], *(piece[1:] for piece in pieces[1:])])


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
