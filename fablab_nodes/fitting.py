"""Can a machine of this lab make a job? Process, material, size and whether it is free.

The rules follow DESIGN.md's eligibility: the material is listed (case-insensitive); a mesh's
bounding box fits the build volume in some axis-aligned orientation; a drawing's sheet fits the
bed turned 90 degrees or not, and its stock is not thicker than the machine cuts.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from design_commons import fitting as rule
from fablab_nodes.config import MachineConfig
from fablab_nodes.jobs import Job


class Stage(IntEnum):
    """How far a machine got through the checks; the furthest one explains a decline best."""

    PROCESS = 0
    MATERIAL = 1
    SIZE = 2
    FREE = 3
    OK = 4


@dataclass(frozen=True)
class Fit:
    """The answer for one machine: ``ok`` and, when not, the stage it failed at and a reason for people."""

    machine_key: str
    stage: Stage
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.stage is Stage.OK


def _mm(values: Iterable[float]) -> str:
    return "x".join(f"{v:g}" for v in values)


def check_machine(machine: MachineConfig, job: Job, free: bool = True) -> Fit:
    """Check one machine against a job; ``free`` says whether the machine is idle now."""
    req = job.file.requirements
    wanted_process = job.process
    if wanted_process and wanted_process != machine.process:
        return Fit(machine.key, Stage.PROCESS, f"no machine for process {wanted_process}")
    if req.processes and machine.process not in req.processes:
        return Fit(machine.key, Stage.PROCESS, f"no machine for process {' or '.join(req.processes)}")
    if job.material and job.material.casefold() not in {m.casefold() for m in machine.materials}:
        return Fit(machine.key, Stage.MATERIAL, f"no machine with material {job.material}")
    size_problem = _size_problem(machine, job)
    if size_problem:
        return Fit(machine.key, Stage.SIZE, size_problem)
    if not free:
        return Fit(machine.key, Stage.FREE, "no free machine")
    return Fit(machine.key, Stage.OK)


def _size_problem(machine: MachineConfig, job: Job) -> str:
    req = job.file.requirements
    requirements = {"bbox_mm": req.bbox_mm, "sheet_mm": req.sheet_mm}
    misfit = rule.fits(requirements, machine.build_volume_mm, machine.process, req.thickness_mm)
    if misfit is None:
        return ""
    x, y, z = machine.build_volume_mm
    if misfit is rule.Misfit.TOO_THICK:
        return f"stock {req.thickness_mm:g} mm is thicker than the {z:g} mm the machine cuts"
    if machine.process in rule.SHEET_PROCESSES:
        sheet = rule.sheet_of(requirements)
        if sheet is None:
            return "the sheet's size is unknown"
        return f"sheet {_mm(sheet)} mm does not fit the {_mm((x, y))} mm bed"
    if req.bbox_mm is None:
        return "the part's size is unknown"
    return f"part {_mm(req.bbox_mm)} mm does not fit"


def best_fit(fits: Iterable[Fit], preferred_key: str | None = None) -> Fit | None:
    """The machine to use (the preferred one when it fits, else the first that does), or, when none
    fits, the one that got furthest (its reason explains the decline). None for no machines."""
    fits = list(fits)
    if not fits:
        return None
    ok = [f for f in fits if f.ok]
    if ok:
        return next((f for f in ok if f.machine_key == preferred_key), ok[0])
    return max(fits, key=lambda f: f.stage)
