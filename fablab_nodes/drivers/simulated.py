"""The simulated driver: a machine that takes the time the part would take, sped up by ``speed``.

The time is estimated from the part's requirements and the process (for FDM about
``volume_mm3 / 10`` seconds plus 60 s of setup), times the quantity, divided by the machine's
``speed`` from the config. The machine is busy while a job runs; progress grows with the time.
Its jobs live in the state file, so a restarted agent finds a print where the clock left it.
"""
from __future__ import annotations

import time

from fablab_nodes.drivers.base import JobProgress, RecordedDriver
from fablab_nodes.jobs import Job

# (setup seconds, seconds per unit of the measure), per process; the measure is chosen below.
_RATES: dict[str, tuple[float, float]] = {
    "fdm": (60.0, 1 / 10.0),               # volume mm^3 at 10 mm^3/s
    "sla": (120.0, 5.0 / 0.05),            # height mm: 0.05 mm layers, 5 s each
    "sls": (600.0, 10.0 / 0.1),            # height mm: 0.1 mm layers, 10 s each
    "cnc_milling": (300.0, 1 / 50.0),      # volume mm^3 at 50 mm^3/s
    "laser_cutting": (30.0, 1 / 20.0),     # cut length mm at 20 mm/s
    "laser_engraving": (30.0, 1 / 500.0),  # sheet area mm^2 at 500 mm^2/s
    "cnc_routing": (120.0, 1 / 10.0),      # cut length mm at 10 mm/s
    "vinyl_cutting": (30.0, 1 / 100.0),    # cut length mm at 100 mm/s
}


def estimate_seconds(job: Job, process: str) -> float:
    """Seconds of real making for ``quantity`` pieces of the job's part on a ``process`` machine."""
    req = job.file.requirements
    bbox = req.bbox_mm or (0.0, 0.0, 0.0)
    setup, rate = _RATES.get(process, (60.0, 0.0))
    if process in ("fdm", "cnc_milling"):
        measure = req.volume_mm3 if req.volume_mm3 is not None else bbox[0] * bbox[1] * bbox[2] * 0.3
    elif process in ("sla", "sls"):
        measure = min(bbox) if any(bbox) else 0.0  # printed lying flat
    elif process == "laser_engraving":
        sheet = req.sheet_mm or bbox[:2]
        measure = sheet[0] * sheet[1]
    else:
        measure = req.cut_length_mm or 0.0
    return setup + rate * measure * max(1, job.quantity)


class SimulatedDriver(RecordedDriver):
    """A machine that makes nothing but takes the time; see the module docstring."""

    def duration_s(self, job: Job) -> float:
        return estimate_seconds(job, self.config.process) / self.config.speed

    def progress_of(self, started_at: float, duration_s: float) -> JobProgress:
        if duration_s <= 0:
            return JobProgress(100.0, done=True)
        percent = (time.time() - started_at) / duration_s * 100.0
        if percent >= 100.0:
            return JobProgress(100.0, done=True)
        return JobProgress(max(0.0, percent))
