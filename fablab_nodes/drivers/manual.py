"""The manual driver: the operator makes the part and says so with ``cosmoloc agent done JOB``
(or ``fail JOB --reason ...``).

A started job stays at 0 % and the machine busy until the operator's command closes its row in
the state file; the run loop reads the same row, so both agree on the machine's state.
"""
from __future__ import annotations

from fablab_nodes.drivers.base import JobProgress, RecordedDriver
from fablab_nodes.jobs import Job


class ManualDriver(RecordedDriver):
    """A machine run by hand; see the module docstring. How long a person takes is not known, so its
    heartbeat says nothing of ``queue_s``."""

    knows_durations = False

    def duration_s(self, job: Job) -> float:
        return 0.0

    def progress_of(self, started_at: float, duration_s: float) -> JobProgress:
        return JobProgress(0.0)
