"""Object File Format (OFF, with its COFF/NOFF/STOFF variants): ASCII only.

Tolerates ``#`` comments anywhere, blank lines, irregular whitespace, counts written on the
header line (even glued to it, as ``OFF8 6 12``) and per-face colours after the indices.
"""
from __future__ import annotations

import re

import numpy as np

from design_commons.limits import Limits
from design_commons.meshes.polygons import check_counts, fan_triangles
from design_commons.reports import UnreadableFile

_HEADER = re.compile(rb"\A(?:ST)?C?N?4?n?OFF")


def read_off(data: bytes, limits: Limits) -> np.ndarray:
    """Triangles ``(n, 3, 3)`` float32 in the file's unit from OFF bytes."""
    lines = [line.split(b"#", 1)[0].split() for line in data.splitlines()]
    rows = [tokens for tokens in lines if tokens]
    if not rows:
        raise UnreadableFile("the file is empty")
    header = _HEADER.match(rows[0][0])
    if header is None:
        raise UnreadableFile("it does not start with an OFF header")
    if b"BINARY" in (token.upper() for token in rows[0]):
        raise UnreadableFile("binary OFF is not supported; export it as ASCII OFF or STL")
    rest = rows[0][0][header.end():]
    counts_row = ([rest] if rest else []) + rows[0][1:]
    position = 1
    if not counts_row:
        if len(rows) < 2:
            raise UnreadableFile("the vertex and face counts are missing")
        counts_row = rows[1]
        position = 2
    try:
        n_vertices, n_faces = int(counts_row[0]), int(counts_row[1])
    except (IndexError, ValueError) as exc:
        raise UnreadableFile("the vertex and face counts are missing or not integers") from exc
    if n_vertices < 0 or n_faces < 0:
        raise UnreadableFile("the vertex and face counts are negative")
    check_counts(n_vertices, n_faces, limits, "OFF file")
    if len(rows) < position + n_vertices + n_faces:
        raise UnreadableFile(
            f"it announces {n_vertices:,} vertices and {n_faces:,} faces but has fewer lines (truncated)"
        )
    try:
        vertices = np.array([row[:3] for row in rows[position:position + n_vertices]], dtype=np.float64)
        polygons = []
        for row in rows[position + n_vertices:position + n_vertices + n_faces]:
            size = int(row[0])
            if size < 3 or len(row) < size + 1:
                raise UnreadableFile(f"a face lists {size} corners; it needs at least 3, all present")
            polygons.append([int(token) for token in row[1:size + 1]])
    except ValueError as exc:
        raise UnreadableFile("a vertex or face line is malformed") from exc
    if vertices.size and vertices.shape[1] != 3:
        raise UnreadableFile("a vertex line has fewer than three coordinates")
    return fan_triangles(vertices.reshape(-1, 3), polygons, limits)
