"""The coded issues of a drawing report, each with a plain-words message and a hint."""
from __future__ import annotations

from collections import Counter

import numpy as np

from design_commons.drawings.contours import Chained, smallest_gap
from design_commons.drawings.drawing_units import DrawingUnits, unit_words
from design_commons.drawings.flatten import Shapes
from design_commons.drawings.reading import LoadedDrawing
from design_commons.reports import Report, Severity
from design_commons.scale_guess import guess_unit, plausible, size_range
from design_commons.units import MM_PER_UNIT
from design_commons.validation import DRAWING_PROCESSES

# Auditor fixes that touched entities (the others only mend tables and dictionaries).
_ENTITY_FIXES = ("REMOVED", "UNDEFINED", "INVALID_DXF_OBJECT")
# What "no size" means per entity type; zero-length lines are harmless, degenerate curves are not.
_DEGENERATE = {"LINE": "of zero length", "CIRCLE": "with radius 0 or less", "ARC": "with radius 0 or less"}


def _listing(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common())


def _mm(value: float) -> str:
    return f"{value:.1f}"


def _size(extents_mm: np.ndarray) -> str:
    """``"140.7 x 178.9 m"`` or ``"12.0 x 30.5 mm"``: sides in the unit that reads best."""
    if float(np.max(extents_mm)) >= 10_000:
        return " x ".join(f"{v / 1000:.1f}" for v in extents_mm) + " m"
    return " x ".join(f"{v:.3g}" if v < 10 else f"{v:.1f}" for v in extents_mm) + " mm"


def reading_issues(report: Report, loaded: LoadedDrawing) -> None:
    """``recovered`` (warning) when only ezdxf's recovery could read the file; ``repaired`` (info)."""
    if loaded.recovered:
        fixed = sum(loaded.fixes.values())
        kinds = _listing(loaded.fixes).lower().replace("_", " ")
        detail = f" The recovery fixed {fixed} problem(s): {kinds}." if fixed else ""
        lost = f" {sum(loaded.errors.values())} problem(s) could not be fixed." if loaded.errors else ""
        report.warning(
            "recovered",
            f"The file is damaged ({loaded.structure_error}); it could only be read through "
            f"recovery, so some content may be missing.{detail}{lost}",
            "Open the drawing in your CAD program, check it, and export it again as DXF.",
        )
        return
    touched = [code for code in (*loaded.errors, *loaded.fixes) if code.startswith(_ENTITY_FIXES)]
    if touched or loaded.errors:
        example = loaded.examples.get((touched or list(loaded.errors))[0], "")
        report.info(
            "repaired",
            f"The file has structural flaws that a DXF auditor must repair ({example.rstrip('.')}); "
            "its geometry was read as drawn.",
            "Export the drawing again from your CAD program to get a clean file.",
        )


def unit_issues(report: Report, units: DrawingUnits) -> None:
    """``unknown_units`` (warning) when $INSUNITS is unset; ``unit_conflict`` (info) on a $MEASUREMENT clash."""
    if not units.from_file:
        why = "is not set" if units.insunits is None else f"is {units.insunits} (unitless)"
        imperial = ""
        if units.measurement == 0:
            imperial = " Its measurement system ($MEASUREMENT) is imperial, so it may be in inches."
        report.warning(
            "unknown_units",
            f"The drawing does not say which unit it uses ($INSUNITS {why}); assumed "
            f"{unit_words(units.name)}, the unit stated at upload.{imperial}",
            "Set the drawing units in your CAD program (e.g. UNITS / INSUNITS) before exporting, "
            "or state the right unit when uploading.",
        )
    conflict = units.conflict
    if conflict:
        report.info("unit_conflict", conflict, "Check the size in the report; set both unit settings alike.")


def engraving_only(shapes: Shapes, paperspace: Counter[str]) -> bool:
    """Texts in model space and nothing to cut, with no paper-space sheet that may hold the part."""
    return bool(shapes.texts) and not shapes.has_cut and not sum(paperspace.values())


def content_issues(report: Report, shapes: Shapes, paperspace: Counter[str]) -> None:
    """``empty`` or ``no_cut_geometry`` (errors), ``engraving_only`` (warning), notes on what is not cut."""
    paper_total = sum(paperspace.values())
    if not shapes.counts and not paper_total:
        report.error("empty", "The drawing contains no entities at all.",
                     "Export the drawing again and check that it contains the part's outlines.")
        return
    if engraving_only(shapes, paperspace):
        report.warning(
            "engraving_only",
            f"The drawing holds only engraving ({len(shapes.texts)} text(s)) and no outline to cut: "
            "it can be laser engraved, but there is nothing for a cutter to cut.",
            "Nothing to do for an engraving. For a cut part, add its outlines (lines, arcs, circles, "
            "polylines) in model space.",
        )
    elif not shapes.has_cut:
        found = []
        if shapes.texts:
            found.append(f"{len(shapes.texts)} text(s)")
        if shapes.solids:
            found.append(f"3D content ({_listing(shapes.solids)})")
        if shapes.ignored:
            found.append(_listing(shapes.ignored))
        if shapes.degenerate:
            found.append(f"only degenerate geometry ({_listing(shapes.degenerate)})")
        held = f"Model space holds {'; '.join(found)}" if found else "Model space is empty"
        if paper_total:
            layouts = ", ".join(f"'{name}'" for name in paperspace)
            where = (f"{held}; the drawing's {paper_total} entities are all in paper space "
                     f"(layout {layouts}), which is a printing sheet, not the part.")
            hint = "Move the outlines to model space (or export the model, not the layout) and upload again."
        else:
            where = f"{held}: there is nothing to cut."
            hint = "Export the part's 2D outlines (lines, arcs, circles, polylines) in model space."
        report.error("no_cut_geometry", where, hint)
    if shapes.solids:
        report.warning(
            "3d_content",
            f"The drawing holds 3D content ({_listing(shapes.solids)}), which is not cut geometry; it was left out.",
            "For cutting, export a flat 2D drawing of the outline (a projection or section) instead.",
        )
    if shapes.degenerate:
        parts = ", ".join(f"{n} {kind} {_DEGENERATE.get(kind, 'without extent')}"
                          for kind, n in shapes.degenerate.most_common())
        harmless = set(shapes.degenerate) <= {"LINE"}  # zero-length lines cut nothing anyway
        report.add(
            "degenerate_entities",
            Severity.INFO if harmless else Severity.WARNING,
            f"{sum(shapes.degenerate.values())} entities have no size ({parts}) and were ignored.",
            "Delete or redraw them in your CAD program.",
        )
    if shapes.unreadable:
        report.warning(
            "unreadable_entities",
            f"{sum(shapes.unreadable.values())} entities could not be read ({_listing(shapes.unreadable)}) "
            "and were left out.",
            "Explode or redraw them as plain lines, arcs and polylines, then export again.",
        )
    if shapes.projected:
        report.info("projected_3d",
                    f"{shapes.projected} entities lie off the flat XY plane; they were projected flat onto it.",
                    "Check the outline: a drawing for cutting should be flat.")
    if shapes.ignored and shapes.has_cut:
        report.info("not_cut", f"Entities that are not cut were ignored: {_listing(shapes.ignored)}.",
                    "Nothing to do unless these were meant to be cut.")
    if shapes.texts and shapes.has_cut:
        report.info("engraving", f"{len(shapes.texts)} text(s) count as engraving, not cutting.",
                    "Convert text to outlines in your CAD program if it must be cut through.")


def contour_issues(report: Report, chained: Chained) -> None:
    """``open_contour`` (warning) when outlines have loose ends: how many and roughly where;
    ``stray_paths`` (warning) for open paths hanging off closed outlines, which stay closed."""
    if chained.strays:
        report.warning(
            "stray_paths",
            f"{chained.strays} open path(s) touch a closed outline without closing anything (leader or "
            "construction lines?). The outlines they touch still count as closed, but a laser cuts "
            "these paths too.",
            "Delete the lines that are not to be cut, or move them to a layer you do not upload.",
        )
    if not chained.open_pieces:
        return
    ends = chained.open_ends
    where = " and ".join(f"({_mm(x)}, {_mm(y)})" for x, y in ends[:3])
    gap = smallest_gap(ends)
    gap_text = f" The closest loose ends are {gap:.3g} mm apart." if gap is not None else ""
    report.warning(
        "open_contour",
        f"{chained.open_pieces} outline(s) do not close ({len(ends)} loose ends, e.g. near {where} mm). "
        f"A laser can still cut an open path, but the part may not drop out of the sheet.{gap_text}",
        "Join the loose ends in your CAD program (e.g. JOIN / PEDIT) so every outline closes.",
    )


def scale_issue(report: Report, extents_mm: np.ndarray, units: DrawingUnits) -> None:
    """``suspicious_scale`` (warning) when no drawing process makes a part of this size.

    Every unit is tried (:mod:`design_commons.scale_guess`); one is named as probable, and put
    in the metric ``probable_unit``, only when it stands out.
    """
    largest = float(np.max(extents_mm))
    if plausible(largest, DRAWING_PROCESSES):
        return
    raw = extents_mm / units.mm_per_unit
    guess = guess_unit(float(raw.max()), units.name, DRAWING_PROCESSES)
    source = "the file's" if units.from_file else "the stated"
    said = (f"The part measures {_size(extents_mm)} read in {source} unit ({unit_words(units.name)}), "
            "which is implausible for a sheet part.")
    if guess.probable is not None:
        report.metrics["probable_unit"] = guess.probable
        better = (f" Its numbers are probably {unit_words(guess.probable)}, which makes it "
                  f"{_size(raw * MM_PER_UNIT[guess.probable])}.")
    elif guess.readings:
        better = "".join(f" If its numbers are {unit_words(u)}, it measures {_size(raw * MM_PER_UNIT[u])}."
                         for u, _ in guess.readings) + " No unit stands out."
    else:
        low, high = size_range(DRAWING_PROCESSES)
        better = (f" No unit (mm, cm, m, in, um) makes it a plausible part ({low:g} to {high:g} mm across).")
    report.warning(
        "suspicious_scale",
        said + better,
        "Set the drawing units ($INSUNITS) to the unit you drew in and export again, "
        "or state the right unit when uploading.",
    )
