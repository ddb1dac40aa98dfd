"""Reference slices: each canonical STL sliced once per material and profile in the background, for quotes.

After a file passes validation the task runner calls :func:`slice_file`: when PrusaSlicer is there
(setting ``slicer``) and the file is an FDM mesh, its canonical STL is sliced for each of
design_commons.slicing's SLICED_MATERIALS in a sandbox slot (a background one, so ``/validate``
keeps its slot). The figures, or the reason a slice failed, are kept per (file sha256, material,
profile sha256), so the same bytes are sliced once however many designs hold them. Quotes read
them with :func:`sliced_estimate`; a request never slices.
"""
from __future__ import annotations

import logging
import shutil
from contextlib import nullcontext
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from design_commons import estimates, materials, slicing
from server.designs.models import DesignFile, ValidationStatus
from server.quotes.models import SliceEstimate

log = logging.getLogger(__name__)


def slicer_program(setting: str) -> str | None:
    """The PrusaSlicer to run for the ``slicer`` setting, or None (off, or not installed)."""
    if setting == "off":
        return None
    return slicing.find_slicer() if setting == "auto" else shutil.which(setting)


def _sliceable(row: DesignFile | None) -> bool:
    return (row is not None and row.validation_status in (ValidationStatus.PASSED, ValidationStatus.WARNINGS)
            and row.canonical_sha256 is not None and row.canonical_format == "stl"
            and "fdm" in ((row.requirements or {}).get("processes") or []))


def slice_file(hub: Any, file_id: int) -> int:
    """Slice the file's canonical STL for every reference material it has no slice for; returns how many
    slices were made. Safe to run twice: a slice already kept (by this or another process) is skipped."""
    program = slicer_program(hub.settings.slicer)
    if program is None:
        return 0
    with hub.db.session() as session:
        row = session.get(DesignFile, file_id)
        if not _sliceable(row):
            return 0
        assert row is not None and row.canonical_sha256 is not None
        sha = row.canonical_sha256
        done = set(session.scalars(select(SliceEstimate.material).where(SliceEstimate.file_sha256 == sha)))
    made = 0
    for material in slicing.SLICED_MATERIALS:
        if material in done:
            continue
        with hub.sandboxes.hold(background=True) if hub.sandboxes is not None else nullcontext():
            try:
                figures = slicing.slice_stl(hub.store.path(sha), material, slicer=program)
                kept = SliceEstimate(file_sha256=sha, material=figures.material, profile_sha256=figures.profile_sha256,
                                     mass_g=figures.mass_g, material_cm3=figures.material_cm3,
                                     machine_time_s=figures.machine_time_s, slicer_version=figures.slicer_version)
            except slicing.SliceError as e:
                log.warning("file %s (%s): not sliced for %s: %s", file_id, sha[:12], material, e)
                kept = SliceEstimate(file_sha256=sha, material=material, profile_sha256=slicing.profile_sha256(material),
                                     reason=f"{e.code}: {e}"[:300])
        with hub.db.session() as session:
            try:
                with session.begin_nested():
                    session.add(kept)
            except IntegrityError:
                continue  # another worker sliced the same bytes first
        made += 1
    return made


def sliced_estimate(session: Session, row: DesignFile, material: str) -> tuple[estimates.Estimate | None, str]:
    """The FDM estimate of the file's reference slice for ``material``, or None with the reason there is none."""
    if row.canonical_sha256 is None:
        return None, "no canonical STL to slice"
    name = materials.canonical(material)
    try:
        profile = slicing.profile_sha256(name)
    except slicing.SliceError:
        return None, f"no reference slicer profile for {name}"
    kept = session.scalar(select(SliceEstimate).where(SliceEstimate.file_sha256 == row.canonical_sha256,
                                                      SliceEstimate.material == name,
                                                      SliceEstimate.profile_sha256 == profile))
    if kept is None:
        return None, "not sliced (yet): PrusaSlicer off or not installed on the hub, or the slice still queued"
    if kept.mass_g is None or kept.material_cm3 is None or kept.machine_time_s is None:
        return None, f"the slice failed: {kept.reason}"
    return estimates.Estimate("fdm", material, kept.mass_g, kept.material_cm3, kept.machine_time_s, source="slicer",
                              assumptions={"slicer": f"PrusaSlicer {kept.slicer_version}", "profile_sha256": profile,
                                           "profile": "the hub's reference: 0.2 mm layers, 15 % infill, "
                                                      "2 perimeters, 0.4 mm nozzle",
                                           "time": "PrusaSlicer's estimated printing time (normal mode)"}), ""
