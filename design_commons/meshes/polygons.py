"""Indexed polygons to triangles, for the formats that store faces as vertex-index lists.

OBJ, OFF and PLY faces may have any number of corners; each is split into a fan from its first
corner, which is exact for the convex polygons these formats almost always hold.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from design_commons.limits import Limits
from design_commons.reports import LimitExceeded, UnreadableFile


def check_counts(vertices: int, faces: int, limits: Limits, what: str) -> None:
    """Refuse counts past the limits (before anything is allocated). Each face is >= 1 triangle."""
    if vertices > limits.max_vertices:
        raise LimitExceeded(f"The {what} announces {vertices:,} vertices; the limit is {limits.max_vertices:,}.")
    if faces > limits.max_triangles:
        raise LimitExceeded(f"The {what} announces {faces:,} faces; the limit is {limits.max_triangles:,}.")


def fan_triangles(vertices: np.ndarray, polygons: Sequence[Sequence[int]], limits: Limits) -> np.ndarray:
    """Triangles ``(n, 3, 3)`` float32 from ``vertices`` ``(m, 3)`` and polygons of >= 3 indices.

    Raises :class:`LimitExceeded` past ``limits.max_triangles`` (before allocating) and
    :class:`UnreadableFile` for an index outside ``0..m-1``.
    """
    by_size: dict[int, list[Sequence[int]]] = {}
    total = 0
    for polygon in polygons:
        by_size.setdefault(len(polygon), []).append(polygon)
        total += len(polygon) - 2
    if total > limits.max_triangles:
        raise LimitExceeded(f"The faces make {total:,} triangles; the limit is {limits.max_triangles:,}.")
    chunks: list[np.ndarray] = []
    for size, group in by_size.items():
        indices = np.array(group, dtype=np.int64).reshape(len(group), size)
        fan = np.empty((len(group), size - 2, 3), dtype=np.int64)
        fan[:, :, 0] = indices[:, :1]
        fan[:, :, 1] = indices[:, 1:-1]
        fan[:, :, 2] = indices[:, 2:]
        chunks.append(fan.reshape(-1, 3))
    if not chunks:
        return np.zeros((0, 3, 3), dtype=np.float32)
    faces = np.concatenate(chunks)
    return index_triangles(vertices, faces)


def index_triangles(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``vertices[faces]`` as float32 ``(k, 3, 3)``, after checking every index is in range."""
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise UnreadableFile(
            f"a face points at a vertex that does not exist (the file has {len(vertices):,} vertices)"
        )
    if not np.isfinite(vertices).all():
        raise UnreadableFile("some vertex coordinates are not finite numbers")
    return vertices.astype(np.float32)[faces]
