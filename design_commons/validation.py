"""One entry point that validates any design file: detect the format, check it, derive requirements.

``validate(data, filename, unit)`` never raises for a bad file: an unreadable or hostile file
gives a report with ``parse_error`` or ``too_large``. It runs in-process; the hub and the CLI
call it through :mod:`design_commons.sandbox`, which bounds memory and time in a child process.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.reports import LimitExceeded, Report, UnreadableFile
from design_commons.units import normalise_unit

MESH_FORMATS = ("stl", "3mf", "obj", "ply", "off")
DRAWING_FORMATS = ("dxf",)
MESH_PROCESSES = ["fdm", "sla", "sls", "cnc_milling"]
DRAWING_PROCESSES = ["laser_cutting", "laser_engraving", "cnc_routing", "vinyl_cutting"]
#: The one process vocabulary (DESIGN.md), used by the hub for designs, machines and orders alike.
PROCESSES: tuple[str, ...] = (*MESH_PROCESSES, *DRAWING_PROCESSES)


@dataclass
class Validation:
    """The outcome of validating one file.

    ``canonical`` is the manufacturing file a lab receives (binary STL in mm for meshes, a
    re-written DXF in mm for drawings), or None when the file failed. ``preview`` is geometry
    for the thumbnail: triangles ``(n, 3, 3)`` in mm for meshes, segments ``(m, 2, 2)`` in mm
    for drawings.
    """

    kind: str  # "mesh" | "drawing" | "other"
    format: str
    report: Report
    requirements: dict[str, Any] = field(default_factory=dict)
    canonical: bytes | None = None
    canonical_ext: str | None = None
    preview: np.ndarray | None = None


def detect_format(filename: str, head: bytes = b"") -> tuple[str, str]:
    """Return ``(kind, format)`` from the file name, falling back to the first bytes."""
    name = filename.lower()
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext in MESH_FORMATS:
        return "mesh", ext
    if ext in DRAWING_FORMATS:
        return "drawing", ext
    if head.startswith(b"PK\x03\x04") and b"3D/" in head[:200]:
        return "mesh", "3mf"
    if head.lstrip().lower().startswith(b"solid"):
        return "mesh", "stl"
    if head.startswith(b"ply"):
        return "mesh", "ply"
    if head.startswith(b"AutoCAD Binary DXF"):
        return "drawing", "dxf"
    return "other", ext or "bin"


def validate(data: bytes, filename: str, unit: str = "mm", limits: Limits = DEFAULT_LIMITS) -> Validation:
    """Validate one file's bytes. ``unit`` is the unit the designer states (3MF and DXF may override)."""
    unit = normalise_unit(unit)
    kind, fmt = detect_format(filename, data[:256])
    report = Report()
    if not data.strip():
        report.error("empty", "The file is empty.", "Export the part again; the upload held no data.")
        return Validation(kind, fmt, report)
    if len(data) > limits.max_bytes:
        report.error("too_large", f"The file is {len(data)} bytes; the limit is {limits.max_bytes}.")
        return Validation(kind, fmt, report)
    try:
        if kind == "mesh":
            from design_commons.meshes import validate_mesh

            return validate_mesh(data, fmt, unit, limits)
        if kind == "drawing":
            from design_commons.drawings import validate_drawing

            return validate_drawing(data, unit, limits)
    except LimitExceeded as exc:
        report.error(exc.code, str(exc), "Simplify the model or split it into several files.")
        return Validation(kind, fmt, report)
    except UnreadableFile as exc:
        report.error("parse_error", f"The file cannot be read as {fmt.upper()}: {exc}",
                     "Export it again from your CAD program.")
        return Validation(kind, fmt, report)
    except (ValueError, KeyError, IndexError, OverflowError, UnicodeError, EOFError) as exc:
        # Third-party parsers signal malformed input this way; it is the file's fault, not ours.
        report.error("parse_error", f"The file cannot be read as {fmt.upper()}: {exc}",
                     "Export it again from your CAD program.")
        return Validation(kind, fmt, report)
    report.info("not_manufacturable", "Kept as documentation; only meshes and DXF drawings are checked and made.")
    return Validation(kind, fmt, report)
