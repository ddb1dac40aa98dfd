"""What a part needs before anyone slices it: material and machine time, from a validation report.

Every figure here is an *estimate* (``Estimate.is_estimate`` is always true) and carries the
assumptions it was made on. Meshes (FDM, SLA, SLS) are estimated from the report's
``volume_mm3``, ``area_mm2`` and ``bbox_mm``; drawings (laser and CNC cutting) from
``cut_length_mm``, ``closed_contours``, ``open_contours`` and ``extents_mm``.

FDM, DESIGN.md's formula: shell = min(V, A x w) with w = 2 perimeters x 0.45 mm; extruded =
shell + infill x (V - shell) with 15 % infill; mass = density x extruded; time = extruded /
the machine's rate (12 cm3/h until it has history). SLA and SLS are laid down layer by layer,
so their time follows the part's height, their material its solid volume.

A machine's estimates are calibrated by the median actual/estimated ratio of its last 20 jobs
(:func:`calibration`, :func:`calibrated`).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from design_commons import materials
from design_commons.reports import CodedError

PERIMETERS = 2
EXTRUSION_WIDTH_MM = 0.45
INFILL = 0.15
FDM_RATE_CM3_H = 12.0
SLA_LAYER_MM = 0.05
SLA_LAYER_S = 8.0
SLA_SUPPORT_SHARE = 0.10  # resin in supports and rafts, on top of the part
SLS_LAYER_MM = 0.1
SLS_LAYER_S = 12.0
HISTORY_JOBS = 20
MESH_PROCESSES = ("fdm", "sla", "sls")
CUT_PROCESSES = ("laser_cutting", "laser_engraving", "cnc_routing", "vinyl_cutting")
# mm/s along the path and seconds per pierce: moderate figures for 3 mm stock on a 40-80 W CO2 laser,
# a 6 mm end mill and a drag knife; a lab's history corrects them.
CUT_SPEED_MM_S = {"laser_cutting": 15.0, "laser_engraving": 100.0, "cnc_routing": 20.0, "vinyl_cutting": 50.0}
PIERCE_S = {"laser_cutting": 1.0, "laser_engraving": 0.2, "cnc_routing": 4.0, "vinyl_cutting": 0.5}
DEFAULT_DENSITY_G_CM3 = 1.24  # PLA's, for a material the vocabulary does not know


class EstimateError(CodedError):
    """The report lacks what this process's estimate needs (``code``: ``no_geometry``, ``wrong_kind``)."""


@dataclass(frozen=True)
class Estimate:
    """One piece: grams of material, its volume (cm3 = ml), sheet area (m2) and machine seconds."""

    process: str
    material: str
    mass_g: float
    material_cm3: float
    machine_time_s: float
    sheet_m2: float = 0.0
    source: str = "geometry"  # "geometry", "slicer" or "history"
    assumptions: dict[str, Any] = field(default_factory=dict)
    is_estimate: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"mass_g": round(self.mass_g, 2), "material_cm3": round(self.material_cm3, 3),
                "machine_time_s": round(self.machine_time_s), "sheet_m2": round(self.sheet_m2, 6),
                "source": self.source, "is_estimate": True, "assumptions": dict(self.assumptions)}


def _density(material: str) -> tuple[float, dict[str, Any]]:
    known = materials.density(material)
    if known is None:
        return DEFAULT_DENSITY_G_CM3, {"density_g_cm3": DEFAULT_DENSITY_G_CM3,
                                       "density_source": f"{material!r} is not in the vocabulary: PLA's density used"}
    return known.density_g_cm3, {"density_g_cm3": known.density_g_cm3, "density_source": known.source}


def _number(metrics: dict[str, Any], key: str) -> float:
    value = metrics.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise EstimateError("no_geometry", f"the report gives no {key}")
    return float(value)


def _height_mm(metrics: dict[str, Any]) -> float:
    bbox = metrics.get("bbox_mm")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 3:
        raise EstimateError("no_geometry", "the report gives no bbox_mm")
    # printed in the orientation that is lowest: the fewest layers
    return float(min(bbox))


def mesh(metrics: dict[str, Any], process: str, material: str, rate_cm3_h: float = FDM_RATE_CM3_H) -> Estimate:
    """Mass and time for one piece of a mesh (metrics of a mesh report) by ``fdm``, ``sla`` or ``sls``."""
    if process not in MESH_PROCESSES:
        raise EstimateError("wrong_kind", f"{process} is not estimated from a mesh")
    volume, area = _number(metrics, "volume_mm3"), _number(metrics, "area_mm2")
    density, said = _density(material)
    if process == "fdm":
        wall = PERIMETERS * EXTRUSION_WIDTH_MM
        shell = min(volume, area * wall)
        extruded = shell + INFILL * (volume - shell)
        cm3 = extruded / 1000
        return Estimate(process, material, density * cm3, cm3, cm3 / rate_cm3_h * 3600, assumptions={
            "formula": "shell = min(V, A x w); extruded = shell + infill x (V - shell); mass = density x extruded; "
                       "time = extruded / rate",
            "perimeters": PERIMETERS, "extrusion_width_mm": EXTRUSION_WIDTH_MM, "infill": INFILL,
            "rate_cm3_h": rate_cm3_h, **said, "supports": "none counted"})
    height = _height_mm(metrics)
    if process == "sla":
        layers = max(1, math.ceil(round(height / SLA_LAYER_MM, 6)))
        cm3 = volume / 1000 * (1 + SLA_SUPPORT_SHARE)
        return Estimate(process, material, density * cm3, cm3, layers * SLA_LAYER_S, assumptions={
            "formula": "resin = V x (1 + supports); time = layers x seconds per layer (layers over the lowest side)",
            "layer_mm": SLA_LAYER_MM, "layer_s": SLA_LAYER_S, "support_share": SLA_SUPPORT_SHARE,
            "height_mm": height, **said})
    layers = max(1, math.ceil(round(height / SLS_LAYER_MM, 6)))
    cm3 = volume / 1000
    return Estimate(process, material, density * cm3, cm3, layers * SLS_LAYER_S, assumptions={
        "formula": "powder = V (solid part); time = layers x seconds per layer, the whole bed's layer time "
                   "charged to this part",
        "layer_mm": SLS_LAYER_MM, "layer_s": SLS_LAYER_S, "height_mm": height, **said})


def drawing(metrics: dict[str, Any], process: str, material: str, thickness_mm: float | None = None,
            speed_mm_s: float | None = None) -> Estimate:
    """Cutting time and sheet area for one piece of a drawing (metrics of a drawing report)."""
    if process not in CUT_PROCESSES:
        raise EstimateError("wrong_kind", f"{process} is not estimated from a drawing")
    length = _number(metrics, "cut_length_mm")
    contours = int(metrics.get("closed_contours") or 0) + int(metrics.get("open_contours") or 0)
    extents = metrics.get("extents_mm")
    if not isinstance(extents, (list, tuple)) or len(extents) < 2:
        raise EstimateError("no_geometry", "the report gives no extents_mm")
    speed = speed_mm_s or CUT_SPEED_MM_S[process]
    sheet_m2 = float(extents[0]) * float(extents[1]) / 1e6
    seconds = length / speed + contours * PIERCE_S[process]
    density, said = _density(material)
    cm3 = sheet_m2 * 1e6 * thickness_mm / 1000 if thickness_mm else 0.0
    assumptions: dict[str, Any] = {
        "formula": "time = cut length / speed + pierces x seconds per pierce; sheet = extents x by y",
        "speed_mm_s": speed, "pierce_s": PIERCE_S[process], "pierces": contours,
        "sheet": "the drawing's bounding rectangle, no margin or nesting"}
    if thickness_mm:
        assumptions.update({"thickness_mm": thickness_mm, **said})
    else:
        assumptions["mass"] = "not estimated: no stock thickness given"
    return Estimate(process, material, density * cm3, cm3, seconds, sheet_m2, assumptions=assumptions)


@dataclass(frozen=True)
class Calibration:
    """A machine's history: the median actual/estimated time ratio of its last jobs, and those ratios."""

    factor: float
    ratios: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.ratios)


def calibration(jobs: list[tuple[float, float]]) -> Calibration | None:
    """From (estimated_s, actual_s) pairs, oldest first, the last :data:`HISTORY_JOBS` with both
    positive; None without any."""
    ratios = tuple(actual / estimated for estimated, actual in jobs if estimated > 0 and actual > 0)[-HISTORY_JOBS:]
    if not ratios:
        return None
    return Calibration(statistics.median(ratios), ratios)


def calibrated(estimate: Estimate, history: Calibration | None) -> Estimate:
    """The estimate with its time scaled by the machine's median actual/estimated (source ``history``)."""
    if history is None:
        return estimate
    return dataclasses.replace(
        estimate, machine_time_s=estimate.machine_time_s * history.factor, source="history",
        assumptions={**estimate.assumptions, "calibration": {
            "factor": round(history.factor, 4), "jobs": history.n, "from": estimate.source,
            "rule": f"median actual/estimated time of the machine's last {HISTORY_JOBS} jobs"}})
