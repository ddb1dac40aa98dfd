"""The driver interface: what the run loop needs from a machine, whatever the machine is.

A driver reports the machine's state, says whether it can make a job, starts a job from the
downloaded canonical file, reports progress and stops a job. Drivers that keep no connection of
their own (simulated, manual) derive from :class:`RecordedDriver`, which keeps each job's record in
the state SQLite file so the run loop and the operator's commands see the same machine.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fablab_nodes.config import MachineConfig
from fablab_nodes.fitting import check_machine
from fablab_nodes.jobs import Job
from fablab_nodes.state_db import StateDB


class MachineStatus(StrEnum):
    """A machine's state as the hub knows them (DESIGN.md, "Machine")."""

    IDLE = "idle"
    BUSY = "busy"
    PAUSED = "paused"
    ERROR = "error"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class MachineState:
    """What a machine reports: status, jobs queued on it, loaded materials and build volume (x, y, z mm), and
    ``queue_s``: seconds of work the machine holds now (the current job's remainder; None: it cannot tell)."""

    status: MachineStatus
    queue_length: int
    materials: tuple[str, ...]
    build_volume_mm: tuple[float, float, float]
    queue_s: float | None = None


@dataclass(frozen=True)
class JobProgress:
    """How far a job is: ``percent`` 0-100; ``done`` or ``failed`` (with ``reason``) once it ended."""

    percent: float
    done: bool = False
    failed: bool = False
    reason: str = ""


@runtime_checkable
class Driver(Protocol):
    """A machine behind a small typed interface. ``config`` is the machine's section of the TOML."""

    config: MachineConfig

    def state(self) -> MachineState:
        """The machine's state now."""
        ...

    def can_make(self, job: Job) -> tuple[bool, str]:
        """(True, "") when the machine can take the job now, else (False, a reason for people)."""
        ...

    def expected_s(self, job: Job) -> float | None:
        """Seconds the job would keep the machine busy, for the queue of accepted jobs not started yet
        (None: the driver cannot tell)."""
        ...

    def start(self, job: Job, file_path: Path) -> None:
        """Start making ``job`` from the checked canonical file at ``file_path``."""
        ...

    def poll(self, job: Job) -> JobProgress:
        """The progress of a started job."""
        ...

    def cancel(self, job: Job) -> None:
        """Stop the job (the hub withdrew it); a job that is not running is ignored."""
        ...


class RecordedDriver(ABC):
    """A driver whose jobs live as rows of ``driver_jobs`` in the state file.

    Row status: ``running``, ``done``, ``failed``, ``cancelled``. Subclasses say how long a job
    takes (:meth:`duration_s`) and how a running row reads (:meth:`progress_of`).
    """

    def __init__(self, config: MachineConfig, db: StateDB) -> None:
        self.config = config
        self.db = db

    @abstractmethod
    def duration_s(self, job: Job) -> float:
        """Expected real seconds to make the job (0 when unknown)."""

    @abstractmethod
    def progress_of(self, started_at: float, duration_s: float) -> JobProgress:
        """The progress of a running row."""

    knows_durations = True  # whether duration_s says how long a job takes (a person's pace: it does not)

    def _running(self) -> list[Any]:
        with self.db.transaction() as c:
            rows = c.execute("SELECT job_id, started_at, duration_s FROM driver_jobs "
                             "WHERE machine_key = ? AND status = 'running' ORDER BY started_at",
                             (self.config.key,)).fetchall()
        return [r for r in rows if not self.progress_of(r["started_at"], r["duration_s"]).done]

    def running_job_id(self) -> str | None:
        """The job the machine is making now, if any."""
        rows = self._running()
        return str(rows[0]["job_id"]) if rows else None

    def state(self) -> MachineState:
        rows = self._running()
        status = MachineStatus.BUSY if rows else MachineStatus.IDLE
        now = time.time()
        queue_s = (sum(max(0.0, r["started_at"] + r["duration_s"] - now) for r in rows) if self.knows_durations
                   else None)
        return MachineState(status=status, queue_length=0, materials=self.config.materials,
                            build_volume_mm=self.config.build_volume_mm, queue_s=queue_s)

    def expected_s(self, job: Job) -> float | None:
        return self.duration_s(job) if self.knows_durations else None

    def can_make(self, job: Job) -> tuple[bool, str]:
        fit = check_machine(self.config, job, free=self.state().status is MachineStatus.IDLE)
        return fit.ok, fit.reason

    def start(self, job: Job, file_path: Path) -> None:
        with self.db.transaction() as c:
            c.execute("INSERT INTO driver_jobs (machine_key, job_id, started_at, duration_s, status) "
                      "VALUES (?, ?, ?, ?, 'running') ON CONFLICT (machine_key, job_id) DO NOTHING",
                      (self.config.key, job.id, time.time(), self.duration_s(job)))

    def poll(self, job: Job) -> JobProgress:
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM driver_jobs WHERE machine_key = ? AND job_id = ?",
                            (self.config.key, job.id)).fetchone()
        if row is None:
            return JobProgress(0.0, failed=True, reason="the machine has no record of this job")
        status = row["status"]
        if status == "done":
            return JobProgress(100.0, done=True)
        if status in ("failed", "cancelled"):
            return JobProgress(0.0, failed=True, reason=row["reason"] or status)
        return self.progress_of(row["started_at"], row["duration_s"])

    def cancel(self, job: Job) -> None:
        self.close(job.id, "cancelled", "withdrawn by the hub")

    def close(self, job_id: str, status: str, reason: str = "") -> bool:
        """End a running job's row as ``done``, ``failed`` or ``cancelled``; returns whether one was running."""
        assert status in ("done", "failed", "cancelled")
        with self.db.transaction() as c:
            cur = c.execute("UPDATE driver_jobs SET status = ?, reason = ? "
                            "WHERE machine_key = ? AND job_id = ? AND status = 'running'",
                            (status, reason or None, self.config.key, job_id))
            return cur.rowcount == 1
