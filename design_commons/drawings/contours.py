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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
class Packed:
    """Contours end to end, for arithmetic over all of them at once."""

    points: np.ndarray  # (n, 2) mm, every contour's points in turn
    starts: np.ndarray  # (m,) index of each contour's first point
    sizes: np.ndarray  # (m,) points of each contour
    closed: np.ndarray  # (m,) bool

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices ``(a, b)`` of every segment's ends, contour by contour (the closing one last), and
        each contour's segment count."""
        n = len(self.points)
        after = np.arange(1, n + 1)
        last = self.starts + self.sizes - 1
        valid = np.ones(n, dtype=bool)
        has = self.sizes > 0
        after[last[has & self.closed]] = self.starts[has & self.closed]
        valid[last[has & ~self.closed]] = False
        counts = np.where(self.closed, self.sizes, np.maximum(self.sizes - 1, 0))
        return np.flatnonzero(valid), after[valid], counts


#: Points per block of packed contours: arithmetic over a block needs several times its memory.
BLOCK_POINTS = 1 << 14


def pack(contours: list[Contour | None], consume: bool = False) -> list[Packed]:
    """The contours end to end in blocks of about BLOCK_POINTS points (a contour is never split).

    With ``consume``, each contour is let go of (its list slot set to None) once it is packed,
    so the points are held about once, not twice.
    """
    blocks: list[Packed] = []
    group: list[Contour] = []
    held = 0
    for i, contour in enumerate(contours):
        assert contour is not None
        group.append(contour)
        held += len(contour.points)
        if consume:
            contours[i] = None
        if held >= BLOCK_POINTS:
            blocks.append(_block(group))
            group, held = [], 0
    if group or not blocks:
        blocks.append(_block(group))
    return blocks


def _block(contours: list[Contour]) -> Packed:
    sizes = np.fromiter((len(c.points) for c in contours), dtype=np.int64, count=len(contours))
    points = np.concatenate([c.points for c in contours]) if contours else np.zeros((0, 2))
    closed = np.fromiter((c.closed for c in contours), dtype=bool, count=len(contours))
    return Packed(points, np.cumsum(sizes) - sizes, sizes, closed)


def contour_lengths(blocks: list[Packed]) -> list[float]:
    """Each contour's :attr:`Contour.length`, to the last bit (numpy sums each contour's segments)."""
    lengths: list[float] = []
    for block in blocks:
        lengths += _lengths(block)
    return lengths


def _lengths(packed: Packed) -> list[float]:
    a, b, counts = packed.segments()
    delta = packed.points[b] - packed.points[a]
    lengths = np.sqrt((delta * delta).sum(axis=1))  # as np.linalg.norm(..., axis=1)
    ends = np.cumsum(counts)
    return [float(lengths[end - count:end].sum()) for end, count in zip(ends.tolist(), counts.tolist(), strict=True)]


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


def chain_paths(paths: list[np.ndarray], tol: float, consume: bool = False) -> Chained:
    """Join ``paths`` (each ``(k, 2)`` mm, k >= 2) end to end into contours.

    With ``consume``, each path is let go of (its slot in ``paths`` set to None) once it is
    part of a contour, so the points are not held twice.

    Ends within ``tol`` mm are the same node. Returns closed contours for walks that come
    back to their start, open ones otherwise; every path is used exactly once. A loop stays
    closed when stray paths touch it; the strays are counted apart from the open pieces.
    The counts and the loose ends do not depend on how the walks were chosen.
    """
    if not paths:
        return Chained([], 0, np.zeros((0, 2)))
    # p[::k-1] is the first and last point of a path of k >= 2 points: a view, no copy
    ends = np.concatenate([p[:: len(p) - 1] for p in paths]).astype(float, copy=False)
    node = _cluster(ends, tol)
    start_node, end_node = node[0::2].tolist(), node[1::2].tolist()
    # nodes in the order they first appear among the ends, with how many ends each holds
    nodes, first = np.unique(node, return_index=True)
    appearance = np.argsort(first, kind="stable")
    degree = np.bincount(node)
    loose_at = first[appearance][degree[nodes[appearance]] == 1]  # the one end of each loose node
    loose = node[loose_at].tolist()
    if loose:
        incident: dict[int, list[int]] = defaultdict(list)  # node -> edges touching it
        for edge, (a, b) in enumerate(zip(start_node, end_node, strict=True)):
            incident[a].append(edge)
            incident[b].append(edge)
        pruned = np.array(_prune(loose, incident, start_node, end_node), dtype=bool)
    else:  # nothing hangs loose: every path is on a loop or between junctions
        pruned = np.zeros(len(paths), dtype=bool)
    component = _components(node)
    edge_component = component[node[0::2]]
    looped = np.isin(edge_component, edge_component[~pruned])
    core = np.flatnonzero(~pruned).tolist()
    stray = np.flatnonzero(pruned & looped).tolist()
    dangling = np.flatnonzero(pruned & ~looped).tolist()
    walker = _Walker(paths, start_node, end_node, consume)
    strays = walker.walk_all(stray)
    contours = walker.walk_all(core) + strays + walker.walk_all(dangling)
    open_at = loose_at[~np.isin(component[node[loose_at]], edge_component[~pruned])]
    return Chained(contours, len(np.unique(component[node[open_at]])), ends[loose_at], ends[open_at], len(strays))


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


def _components(node: np.ndarray) -> np.ndarray:
    """A component label for every node of the path graph whose edges join ``node[0::2]`` to ``node[1::2]``."""
    size = int(node.max()) + 1
    graph = coo_matrix((np.ones(len(node) // 2), (node[0::2], node[1::2])), shape=(size, size))
    return connected_components(graph, directed=False)[1]


class _Walker:
    """Walks subsets of the path graph's edges into contours."""

    def __init__(self, paths: list[np.ndarray], start_node: list[int], end_node: list[int],
                 consume: bool = False) -> None:
        self.paths = paths
        self.start_node = start_node
        self.end_node = end_node
        self.consume = consume

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
            if self.consume:
                self.paths[edge] = None  # type: ignore[call-overload]
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
    return np.concatenate([pieces[0], *(piece[1:] for piece in pieces[1:])])  # all (k, 2): no atleast_2d per piece


def _cluster(points: np.ndarray, tol: float) -> np.ndarray:
    """Label ``points`` ``(n, 2)`` so that points within about ``tol`` share a label.

    Points fall into square cells of side ``tol``; neighbouring cells whose centres (the mean
    of their points) lie within ``tol`` are joined, and the labels are the connected groups.
    """
    cells = np.floor(points / tol).astype(np.int64)
    keys, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    centre = np.zeros((len(keys), 2))
    np.add.at(centre, inverse, points)
    centre /= np.bincount(inverse, minlength=len(keys))[:, None]
    # keys are sorted row by row, so their ranks (x, y) make sorted integer codes
    xs, ys = np.unique(keys[:, 0]), np.unique(keys[:, 1])
    width = len(ys) + 1
    codes = np.searchsorted(xs, keys[:, 0]) * width + np.searchsorted(ys, keys[:, 1])
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for dx, dy in ((1, -1), (1, 0), (1, 1), (0, 1)):
        i, j = _cells_at(keys, xs, ys, codes, width, dx, dy)
        delta = centre[i] - centre[j]
        close = np.hypot(delta[:, 0], delta[:, 1]) <= tol
        first.append(i[close])
        second.append(j[close])
    a, b = np.concatenate(first), np.concatenate(second)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(keys), len(keys)))
    labels = connected_components(graph, directed=False)[1]
    return np.asarray(labels[inverse], dtype=np.int64)


def _cells_at(keys: np.ndarray, xs: np.ndarray, ys: np.ndarray, codes: np.ndarray, width: int,
              dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of cells where cell j is cell i moved by (dx, dy)."""
    tx, ty = keys[:, 0] + dx, keys[:, 1] + dy
    rx = np.minimum(np.searchsorted(xs, tx), len(xs) - 1)
    ry = np.minimum(np.searchsorted(ys, ty), len(ys) - 1)
    target = rx * width + ry
    j = np.minimum(np.searchsorted(codes, target), len(codes) - 1)
    found = (xs[rx] == tx) & (ys[ry] == ty) & (codes[j] == target)
    return np.flatnonzero(found), j[found]


def smallest_gap(ends: np.ndarray, limit: int = 2000) -> float | None:
    """Smallest distance in mm between two loose ends (``(n, 2)`` mm), if few enough to compare."""
    n = len(ends)
    if n < 2 or n > limit:
        return None
    distance = np.linalg.norm(ends[:, None, :] - ends[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    return float(distance.min())
