"""Turn a :class:`MeshAnalysis` into coded issues and metrics, in plain words with a fix each.

Severity choices:

- ``not_watertight`` and ``inconsistent_winding`` are errors: a slicer cannot tell inside from
  outside, so what gets made is a guess.
- ``inverted_normals`` is a warning: the surface is closed and consistently wound, only turned
  inside out, which is unambiguous; every slicer flips it, and so does the canonical file a lab
  receives. Blocking the order would punish a harmless export setting.
- ``bodies_touch`` is a warning: closed shells that touch along edges (two cubes sharing an
  edge) leave edges of four faces, so the mesh is not a manifold, but every shell is closed
  and a slicer (PrusaSlicer, Cura) fills each one and prints them joined along the edge. The
  designer should know the parts will be fused there; nothing is ambiguous, so it does not block.
- ``multiple_bodies`` is info: a print plate with several parts is legitimate (stray fragments
  show up as ``not_watertight`` or ``degenerate_faces`` anyway).
- ``suspicious_scale`` is a warning: the designer may really mean a 0.5 mm part, but should see it.
"""
from __future__ import annotations

from typing import Any

from design_commons.meshes.analysis import MeshAnalysis
from design_commons.reports import Report
from design_commons.scale_guess import guess_unit, plausible, size_range
from design_commons.units import MM_PER_UNIT
from design_commons.validation import MESH_PROCESSES

UNIT_NAMES = {"mm": "millimetres", "cm": "centimetres", "m": "metres", "in": "inches",
              "um": "micrometres", "ft": "feet"}
_REPAIR = ("Repair it in your modeller or a mesh repair tool (Meshmixer 'Make Solid', "
           "PrusaSlicer/Netfabb repair, admesh), then export again.")


def number(value: float) -> float:
    """A float for JSON, to 6 significant digits."""
    return float(f"{value:.6g}")


def _size_text(extent: Any) -> str:
    return " x ".join(f"{value:.3g}" for value in extent)


def mesh_metrics(analysis: MeshAnalysis) -> dict[str, Any]:
    """The report metrics measured on the mesh (lengths mm, areas mm^2, volumes mm^3)."""
    return {
        "triangles": analysis.triangles,
        "vertices": analysis.vertices,
        "bodies": analysis.bodies,
        "watertight": analysis.watertight,
        "winding_consistent": analysis.winding_consistent,
        "volume_mm3": number(abs(analysis.signed_volume_mm3)),
        "area_mm2": number(analysis.area_mm2),
        "bbox_mm": [number(v) for v in analysis.extent_mm],
        "bbox_min_mm": [number(v) for v in analysis.bbox_min_mm],
        "degenerate_faces": analysis.degenerate_faces,
        "duplicate_faces": analysis.duplicate_faces,
        "boundary_edges": analysis.boundary_edges,
        "non_manifold_edges": analysis.non_manifold_edges,
        "touching_edges": analysis.touching_edges,
        "misoriented_edges": analysis.misoriented_edges,
    }


def is_inverted(analysis: MeshAnalysis) -> bool:
    """A closed, consistently wound mesh whose faces point inward (negative signed volume)."""
    return analysis.watertight and analysis.winding_consistent and analysis.signed_volume_mm3 < 0


def add_mesh_issues(report: Report, analysis: MeshAnalysis, unit: str, unit_from_file: bool) -> None:
    """Add the coded issues for ``analysis`` to ``report``; ``unit`` is the unit the numbers were in."""
    if analysis.triangles == 0:
        report.error("empty", "The file holds no triangles, so there is nothing to make.",
                     "Export the solid body as a mesh; point clouds, lattices without a skin and "
                     "empty exports cannot be made.")
        return
    if analysis.bodies_touch:
        report.warning("bodies_touch",
                       f"Each shell of the surface is closed, but shells touch at "
                       f"{analysis.non_manifold_edges:,} non-manifold edge(s), each shared by four or more "
                       "faces. A slicer prints them fused along those edges.",
                       "If the parts should be separate, move them apart; if they should be one part, "
                       "join them with a boolean union so they overlap instead of touching.")
    elif not analysis.watertight:
        parts = []
        if analysis.boundary_edges:
            parts.append(f"{analysis.boundary_edges:,} edges border a single face (holes or gaps)")
        if analysis.non_manifold_edges:
            parts.append(f"{analysis.non_manifold_edges:,} edges are shared by more than two faces")
        if analysis.duplicate_faces:
            parts.append(f"{analysis.duplicate_faces:,} faces are duplicated")
        report.error("not_watertight",
                     "The surface is not closed: " + "; ".join(parts) + ". A printer cannot tell the "
                     "inside from the outside, and the volume is unreliable.",
                     "Close the holes and remove stray or duplicate faces. " + _REPAIR)
    if not analysis.winding_consistent:
        report.error("inconsistent_winding",
                     f"{analysis.misoriented_edges:,} edges are run in the same direction by both faces "
                     "that share them: some faces are flipped relative to their neighbours.",
                     "Recalculate the normals so they all point outward (Blender: Mesh > Normals > "
                     "Recalculate Outside; admesh --normal-directions).")
    if is_inverted(analysis):
        report.warning("inverted_normals",
                       f"The mesh is closed but turned inside out: all faces point inward (signed volume "
                       f"{number(analysis.signed_volume_mm3)} mm^3). The copy sent to labs is turned the right way out.",
                       "Flip the normals in your modeller so the file itself is right.")
    if analysis.degenerate_faces:
        report.warning("degenerate_faces",
                       f"{analysis.degenerate_faces:,} faces have no area or collapse once coincident "
                       "vertices are merged.",
                       "Slicers usually ignore them; remove them ('merge by distance', 'remove "
                       "degenerate faces') to be safe.")
    if analysis.bodies > 1:
        report.info("multiple_bodies",
                    f"The mesh is made of {analysis.bodies} separate bodies. A plate of several parts is "
                    "fine; if you meant one part, some pieces are not joined.",
                    "Join the pieces (boolean union) if they should be one part.")
    _check_scale(report, analysis, unit, unit_from_file)


def _check_scale(report: Report, analysis: MeshAnalysis, unit: str, unit_from_file: bool) -> None:
    extent = analysis.extent_mm
    largest = float(extent.max())
    if largest <= 0 or plausible(largest, MESH_PROCESSES):
        return
    raw = extent / MM_PER_UNIT[unit]
    guess = guess_unit(float(raw.max()), unit, MESH_PROCESSES)
    source = "the file declares" if unit_from_file else "it was uploaded in"
    low, high = size_range(MESH_PROCESSES)
    said = f"The part is {_size_text(extent)} mm ({source} {UNIT_NAMES[unit]})"
    if guess.probable is not None:
        report.metrics["probable_unit"] = guess.probable
        report.warning("suspicious_scale",
                       f"{said}: it was probably drawn in {UNIT_NAMES[guess.probable]}, which would make it "
                       f"{_size_text(raw * MM_PER_UNIT[guess.probable])} mm.",
                       f"Upload it again stating the unit {guess.probable!r}, or scale it in your CAD program "
                       "before exporting.")
        return
    if guess.readings:
        readings = "; ".join(f"in {UNIT_NAMES[u]} it would be {_size_text(raw * MM_PER_UNIT[u])} mm"
                             for u, _ in guess.readings)
        report.warning("suspicious_scale",
                       f"{said}, outside the {low:g} to {high:g} mm the processes make. Its numbers fit "
                       f"several units ({readings}), and none stands out.",
                       "Upload it again stating the unit you drew in, or scale it in your CAD program.")
        return
    report.warning("suspicious_scale",
                   f"{said}, outside the {low:g} to {high:g} mm the processes make, and no unit (mm, cm, m, "
                   "in, um) makes it a plausible part.",
                   "Scale the model to the size it should be made at (a scale model of a large object, "
                   "or a detail of it) and export again.")
