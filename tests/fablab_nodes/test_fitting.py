"""Which machine can make a part: process, material, size (any orientation), sheet turned or not."""
from __future__ import annotations

from typing import Any

import pytest

from fablab_nodes.config import MachineConfig
from fablab_nodes.fitting import Stage, best_fit, check_machine
from fablab_nodes.jobs import Job

PRINTER = MachineConfig("mk4", "MK4", "fdm", (250, 210, 220), ("PLA", "PETG"), "simulated")
LASER = MachineConfig("laser", "Laser", "laser_cutting", (600, 400, 6), ("Plywood",), "simulated")


def job(material: str = "PLA", **req: Any) -> Job:
    req.setdefault("processes", ["fdm"])
    return Job.from_json({"id": 1, "state": "offered", "material": material,
                          "file": {"sha256": "ab", "requirements": req}})


@pytest.mark.parametrize(("machine", "j", "stage", "reason"), [
    (PRINTER, job(bbox_mm=[20, 240, 15]), Stage.OK, ""),
    (PRINTER, job(bbox_mm=[230, 230, 20]), Stage.SIZE, "part 230x230x20 mm does not fit"),
    (PRINTER, job("petg", bbox_mm=[10, 10, 10]), Stage.OK, ""),
    (PRINTER, job("ABS", bbox_mm=[10, 10, 10]), Stage.MATERIAL, "no machine with material ABS"),
    (LASER, job("plywood", processes=["laser_cutting"], sheet_mm=[350, 550], bbox_mm=[350, 550, 0]), Stage.OK, ""),
    (LASER, job("plywood", processes=["laser_cutting"], sheet_mm=[700, 100]), Stage.SIZE,
     "sheet 700x100 mm does not fit the 600x400 mm bed"),
    (LASER, job("plywood", processes=["laser_cutting"], sheet_mm=[100, 100], thickness_mm=9), Stage.SIZE,
     "stock 9 mm is thicker than the 6 mm the machine cuts"),
    (LASER, job("plywood", bbox_mm=[10, 10, 10]), Stage.PROCESS, "no machine for process fdm"),
])
def test_check_machine(machine: MachineConfig, j: Job, stage: Stage, reason: str) -> None:
    fit = check_machine(machine, j)
    assert (fit.stage, fit.reason) == (stage, reason)


def test_the_furthest_machine_explains_a_decline() -> None:
    j = job("PLA", bbox_mm=[300, 20, 20])
    fit = best_fit([check_machine(LASER, j), check_machine(PRINTER, j)])
    assert fit is not None and fit.reason == "part 300x20x20 mm does not fit"
    busy = best_fit([check_machine(PRINTER, job(bbox_mm=[1, 1, 1]), free=False), check_machine(LASER, j)])
    assert busy is not None and busy.reason == "no free machine"
