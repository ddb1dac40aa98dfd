"""Validate one DXF drawing: read it, bound it, flatten model space, chain contours, report."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from ezdxf.document import Drawing

from design_commons.drawings import findings
from design_commons.drawings.blocks import MAX_BLOCK_DEPTH, expanded_entity_count
from design_commons.drawings.canonical import preview_segments, text_boxes, write_canonical
from design_commons.drawings.contours import Contour, chain_paths, contour_lengths, join_tolerance, pack
from design_commons.drawings.drawing_units import resolve_units
from design_commons.drawings.fastread import ReadDrawing, read_fast
from design_commons.drawings.flatten import Shapes, flatten_modelspace
from design_commons.drawings.reading import check_record_count, load_drawing
from design_commons.limits import DEFAULT_LIMITS, Limits
from design_commons.reports import Report, Status
from design_commons.units import normalise_unit
from design_commons.validation import DRAWING_PROCESSES, Validation


def validate_drawing(data: bytes, unit: str = "mm", limits: Limits = DEFAULT_LIMITS, *,
                     one_pass: bool = True) -> Validation:
    """Check a DXF drawing (ASCII or binary) and derive what a lab needs to cut it.

    ``unit`` is the unit the designer stated; it is used only when the file's $INSUNITS is
    unset. Lengths in the report, requirements, canonical file and preview are in mm; the
    preview is float32 segments ``(m, 2, 2)``.

    Raises UnreadableFile when the bytes are not DXF at all, LimitExceeded when the drawing
    is past ``limits`` (entities with blocks expanded, nesting, recursive blocks).

    Model space is read in one pass over the file's tags (:mod:`.fastread`) when it holds only
    what that reader knows; otherwise (and with ``one_pass=False``) from a whole ezdxf document.
    Both give the same report.
    """
    stated = normalise_unit(unit)
    check_record_count(data, limits)
    read = read_fast(data, stated, limits) if one_pass else None
    if read is None:
        read = read_document(data, stated, limits)
    loaded, shapes, expanded, units = read.loaded, read.shapes, read.expanded, read.units
    doc = loaded.doc

    lo, hi = _bounds(shapes)
    extents = hi - lo if lo is not None and hi is not None else None
    tol = join_tolerance(float(np.hypot(*extents)) if extents is not None else 0.0)
    # From here on the geometry is held about once: the paths by the contours chained from them,
    # then the contours by their packed blocks, which the canonical file consumes last.
    paths, loops = shapes.release()
    chained = chain_paths(paths, tol, consume=True)
    del paths
    contours: list[Contour | None] = [Contour(points, True) for points in loops]
    del loops
    contours += chained.contours
    chained.contours = []
    packed = pack(contours, consume=True)
    del contours
    cut_length = sum(contour_lengths(packed)) + sum(2.0 * math.pi * r for _, _, r in shapes.circles)
    paperspace = _paperspace(doc)

    report = Report()
    findings.reading_issues(report, loaded)
    findings.unit_issues(report, units)
    findings.content_issues(report, shapes, paperspace)
    findings.contour_issues(report, chained)
    engraved = _text_extents(shapes)
    if extents is not None:
        findings.scale_issue(report, extents, units)
    elif engraved is not None and findings.engraving_only(shapes, paperspace):
        findings.scale_issue(report, np.array(engraved), units)

    closed = sum(int(block.closed.sum()) for block in packed) + len(shapes.circles)
    report.metrics.update({
        "dxf_version": loaded.version,
        "dxf_release": loaded.release,
        "binary": loaded.binary,
        "units": units.name,
        "units_from_file": units.from_file,
        "insunits": units.insunits,
        "extents_mm": _round(extents),
        "bounds_mm": [_round(lo), _round(hi)] if lo is not None else None,
        "closed_contours": closed,
        "open_contours": chained.open_pieces,
        "loose_ends": len(chained.loose_ends),
        "stray_paths": chained.strays,
        "cut_length_mm": round(cut_length, 3),
        "engraving_texts": len(shapes.texts),
        "engraving_extents_mm": engraved,
        "entities": dict(shapes.counts.most_common()),
        "entities_expanded": expanded,
        "paperspace_entities": sum(paperspace.values()),
        "recovered": loaded.recovered,
        "audit_fixes": sum(loaded.fixes.values()),
        "audit_errors": sum(loaded.errors.values()),
        "join_tolerance_mm": round(tol, 6),
    })

    validation = Validation("drawing", "dxf", report)
    failed = report.status is Status.FAILED
    engraving = findings.engraving_only(shapes, paperspace)
    # Text alone is an engraving: only the engraver can make it (the report warns cutters).
    processes = ["laser_engraving"] if engraving else list(DRAWING_PROCESSES)
    validation.requirements = {"processes": [] if failed else processes}
    if extents is not None:
        w, h = (round(float(v), 4) for v in extents)
        validation.requirements.update({"bbox_mm": [w, h, 0.0], "sheet_mm": [w, h],
                                        "cut_length_mm": round(cut_length, 3)})
    elif engraving and engraved is not None:
        w, h = engraved
        validation.requirements.update({"bbox_mm": [w, h, 0.0], "sheet_mm": [w, h], "cut_length_mm": 0.0})
    if shapes.has_cut:
        validation.preview = preview_segments(packed, shapes.circles)
    elif engraving:
        validation.preview = text_boxes(shapes.texts)
    if not failed:
        validation.canonical = write_canonical(packed, shapes.circles, shapes.texts, consume=True)
        validation.canonical_ext = "dxf"
    return validation


def read_document(data: bytes, stated_unit: str, limits: Limits) -> ReadDrawing:
    """Model space of a whole ezdxf document (recovered when broken), flattened, and the document audited."""
    loaded = load_drawing(data)
    doc = loaded.doc
    msp = doc.modelspace()
    expanded = expanded_entity_count(doc, msp, limits)
    units = resolve_units(doc, data, stated_unit)
    shapes = flatten_modelspace(msp, units.mm_per_unit, MAX_BLOCK_DEPTH)
    loaded.audit()  # after flattening: the auditor deletes entities it cannot bookkeep
    return ReadDrawing(loaded, shapes, expanded, units)


def _bounds(shapes: Shapes) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Lower-left and upper-right corners ``(2,)`` in mm of the cut geometry, or (None, None)."""
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    arrays = [*shapes.paths, *shapes.loops]
    for first in range(0, len(arrays), 4096):  # a few thousand at a time: no copy of them all
        points = np.concatenate(arrays[first:first + 4096])
        lows.append(points.min(axis=0))
        highs.append(points.max(axis=0))
    if shapes.circles:
        circles = np.array(shapes.circles)
        lows.append((circles[:, :2] - circles[:, 2:]).min(axis=0))
        highs.append((circles[:, :2] + circles[:, 2:]).max(axis=0))
    if not lows:
        return None, None
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _text_extents(shapes: Shapes) -> list[float] | None:
    boxes = [t.extents for t in shapes.texts if t.extents is not None]
    if not boxes:
        return None
    array = np.array(boxes)
    return _round(array[:, 2:].max(axis=0) - array[:, :2].min(axis=0))


def _round(values: np.ndarray | None, digits: int = 4) -> list[float] | None:
    return None if values is None else [round(float(v), digits) for v in values]


def _paperspace(doc: Drawing) -> Counter[str]:
    """Entities per paper-space layout, viewports left out (every layout has one)."""
    counts: Counter[str] = Counter()
    for layout in doc.layouts:
        if layout.is_modelspace:
            continue
        n = sum(1 for e in layout if e.dxftype() != "VIEWPORT")
        if n:
            counts[layout.name] += n
    return counts
