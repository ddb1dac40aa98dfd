"""Wavefront OBJ: vertices and faces only, from the uploaded bytes alone.

``mtllib`` and every other reference to another file is ignored: a validator must never open a
path named by an untrusted file. Indices may be negative (relative to the vertices read so
far); faces with more than three corners become fans; faces with fewer are skipped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from design_commons.limits import Limits
from design_commons.meshes.polygons import check_counts, fan_triangles
from design_commons.reports import LimitExceeded, UnreadableFile


@dataclass
class ObjMesh:
    """Triangles ``(n, 3, 3)`` float32 in the file's unit and the faces skipped (< 3 corners)."""

    triangles: np.ndarray
    skipped_faces: int


def read_obj(data: bytes, limits: Limits) -> ObjMesh:
    """Read an OBJ file's bytes. :class:`LimitExceeded` / :class:`UnreadableFile` on bad input."""
    # Upper bounds from line starts, before anything is built.
    check_counts(data.count(b"v ") + data.count(b"v\t"), data.count(b"f ") + data.count(b"f\t"), limits, "OBJ file")
    coordinates: list[float] = []
    polygons: list[list[int]] = []
    skipped = 0
    triangles = 0
    # A trailing backslash continues a line (long faces are written that way).
    text = data.replace(b"\\\r\n", b" ").replace(b"\\\n", b" ")
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        keyword = parts[0]
        try:
            if keyword == b"v":
                if len(parts) < 4:
                    raise UnreadableFile(f"line {number}: a vertex needs three coordinates")
                coordinates.extend((float(parts[1]), float(parts[2]), float(parts[3])))
            elif keyword == b"f":
                seen = len(coordinates) // 3
                polygon = [_index(token, seen) for token in parts[1:]]
                if len(polygon) < 3:
                    skipped += 1
                    continue
                triangles += len(polygon) - 2
                if triangles > limits.max_triangles:
                    raise LimitExceeded(f"The OBJ faces make more than {limits.max_triangles:,} triangles.")
                polygons.append(polygon)
        except ValueError as exc:
            raise UnreadableFile(f"line {number} is malformed: {line[:60]!r}") from exc
    vertices = np.array(coordinates, dtype=np.float64).reshape(-1, 3)
    return ObjMesh(fan_triangles(vertices, polygons, limits), skipped)


def _index(token: bytes, seen: int) -> int:
    """0-based vertex index of a face token ``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``."""
    value = int(token.split(b"/", 1)[0])
    if value == 0:
        raise ValueError("OBJ indices start at 1")
    return seen + value if value < 0 else value - 1
