"""Mesh validation: read STL, 3MF, OBJ, PLY and OFF, measure the surface, write the canonical STL.

``validate_mesh(data, fmt, unit, limits)`` is called by :func:`design_commons.validation.validate`.
Readers give triangles ``(n, 3, 3)`` in the file's unit and refuse counts past ``limits``
before allocating; the analysis runs on triangles in mm; a file that does not fail gets a
canonical binary STL in mm (what a lab receives).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.meshes.analysis import MeshAnalysis, analyse
from design_commons.meshes.checks import UNIT_NAMES, add_mesh_issues, is_inverted, mesh_metrics, number
from design_commons.meshes.obj import read_obj
from design_commons.meshes.off import read_off
from design_commons.meshes.ply import read_ply
from design_commons.meshes.stl import read_stl, write_binary_stl
from design_commons.meshes.threemf import read_3mf
from design_commons.reports import Report, Status, UnreadableFile
from design_commons.units import MM_PER_UNIT, normalise_unit
from design_commons.validation import MESH_PROCESSES, Validation

__all__ = ["MeshSource", "MeshAnalysis", "PREVIEW_MAX_TRIANGLES", "analyse", "read_mesh",
           "validate_mesh", "write_binary_stl"]

#: Thumbnails do not need more triangles than this; larger meshes are subsampled evenly.
PREVIEW_MAX_TRIANGLES = 200_000


@dataclass
class MeshSource:
    """What a reader found: triangles ``(n, 3, 3)`` float32 in ``unit`` (None: as stated).

    ``facts`` are format-specific metrics (3MF objects and build items, OBJ skipped faces).
    ``indexed`` optionally gives the same surface as ``(points (m, 3) float32, corners (n, 3)
    int32)`` with ``points[corners] == triangles``, which lets the analysis weld fewer points.
    """

    triangles: np.ndarray
    unit: str | None = None
    facts: dict[str, Any] | None = None
    indexed: tuple[np.ndarray, np.ndarray] | None = None


def read_mesh(data: bytes, fmt: str, limits: Limits = DEFAULT_LIMITS) -> MeshSource:
    """Read mesh bytes of format ``fmt`` (``stl``, ``3mf``, ``obj``, ``ply``, ``off``).

    Raises :class:`~design_commons.reports.LimitExceeded` or
    :class:`~design_commons.reports.UnreadableFile`.
    """
    if fmt == "stl":
        return MeshSource(read_stl(data, limits))
    if fmt == "3mf":
        model = read_3mf(data, limits)
        return MeshSource(model.triangles, model.unit,
                          {"objects": model.objects, "build_items": model.build_items}, model.indexed)
    if fmt == "obj":
        obj = read_obj(data, limits)
        return MeshSource(obj.triangles, None, {"skipped_faces": obj.skipped_faces})
    if fmt == "ply":
        return MeshSource(read_ply(data, limits))
    if fmt == "off":
        return MeshSource(read_off(data, limits))
    raise UnreadableFile(f"{fmt!r} is not a mesh format")


def validate_mesh(data: bytes, fmt: str, unit: str = "mm", limits: Limits = DEFAULT_LIMITS) -> Validation:
    """Validate one mesh file's bytes; ``unit`` is the stated unit (a 3MF's own unit wins).

    Returns a :class:`Validation` with the report (metrics in mm), requirements, the canonical
    binary STL in mm (None when the report failed) and a preview ``(n, 3, 3)`` float32 in mm.
    Raises :class:`LimitExceeded` / :class:`UnreadableFile` for files past the limits or not
    readable; :func:`design_commons.validation.validate` turns those into report issues.
    """
    stated = normalise_unit(unit)
    source = read_mesh(data, fmt, limits)
    used = source.unit or stated
    triangles = source.triangles
    scale = MM_PER_UNIT[used]
    if scale != 1.0:
        if triangles.flags.writeable and triangles.dtype == np.float32:
            triangles *= np.float32(scale)
            if source.indexed is not None:
                source.indexed[0][...] *= np.float32(scale)  # the same products, so still points[corners]
        else:
            triangles = (triangles * scale).astype(np.float32)
            source.indexed = None
    # Handed over in a list the analysis empties, so the index is freed as soon as it is welded.
    indexed = [source.indexed] if source.indexed is not None else None
    source.indexed = None
    analysis = analyse(triangles, indexed)
    report = Report()
    report.metrics.update({"format": fmt, "unit": used})
    if source.unit and source.unit != stated:
        report.info("unit_from_file",
                    f"The file declares its unit ({UNIT_NAMES[source.unit]}), which is used instead of the "
                    f"stated {UNIT_NAMES[stated]}.")
    facts = source.facts or {}
    report.metrics.update(facts)
    if facts.get("skipped_faces"):
        report.warning("skipped_faces",
                       f"{facts['skipped_faces']:,} faces list fewer than three vertices and were skipped.",
                       "Remove the broken face lines or export the mesh again.")
    report.metrics.update(mesh_metrics(analysis))
    add_mesh_issues(report, analysis, used, unit_from_file=source.unit is not None)
    failed = report.status is Status.FAILED
    requirements = {
        "processes": [] if failed else list(MESH_PROCESSES),
        "bbox_mm": report.metrics["bbox_mm"],
        "volume_mm3": number(abs(analysis.signed_volume_mm3)),
    }
    canonical = None
    if not failed:
        canonical = write_binary_stl(triangles, analysis.normals, flip=is_inverted(analysis))
    return Validation(
        kind="mesh",
        format=fmt,
        report=report,
        requirements=requirements,
        canonical=canonical,
        canonical_ext="stl" if canonical is not None else None,
        preview=_preview(triangles),
    )


def _preview(triangles: np.ndarray) -> np.ndarray:
    """At most :data:`PREVIEW_MAX_TRIANGLES` triangles, evenly spread, float32 in mm (a view)."""
    step = -(-len(triangles) // PREVIEW_MAX_TRIANGLES)
    return triangles[::step] if step > 1 else triangles
