"""The octoprint driver: a real FDM printer behind OctoPrint, fed by the PrusaSlicer command line.

A job is made in four moves: the canonical STL is sliced with the lab's PrusaSlicer profile
(:func:`slice_stl`), the estimated print time is read from the G-code's comments
(:func:`read_estimated_seconds`), the G-code is uploaded to OctoPrint as
``cosmoloc-job-<id>-<start time>.gcode`` (a fresh name for each attempt: OctoPrint keeps a file's
print record across uploads) and printed. Progress comes from ``/api/job``; the outcome from the
file's print record (OctoPrint notes each print of a file as a success or a failure), so a print
that ends while the agent is away is still told right.

The machine's state comes from ``/api/printer`` (and ``/api/job`` when no printer is connected);
its build volume from OctoPrint's current printer profile, which replaces the configured one (so
the heartbeat and the fitting checks use the machine's real size). OctoPrint unreachable reads as
``offline``: no call here raises into the agent's loop for that.
"""
from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fablab_nodes.config import MachineConfig, OctoPrintSettings
from fablab_nodes.drivers.base import JobProgress, MachineState, MachineStatus
from fablab_nodes.drivers.octoprint_client import OctoPrintClient, OctoPrintError, OctoPrintRejected
from fablab_nodes.fitting import check_machine
from fablab_nodes.jobs import Job
from fablab_nodes.state_db import StateDB

log = logging.getLogger(__name__)

SLICER_NAMES = ("prusa-slicer", "prusa-slicer-console", "PrusaSlicer")
PROFILE_TTL_S = 300.0  # how long the build volume read from OctoPrint is trusted
START_GRACE_S = 20.0  # a print that has neither started nor ended this long after the command has failed
_ESTIMATE = re.compile(r"^;\s*estimated printing time(?: \(normal mode\))?\s*=\s*(.+)$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_BUSY_FLAGS = ("printing", "cancelling", "finishing", "pausing", "resuming", "starting")


class SlicingError(Exception):
    """PrusaSlicer is missing, failed or took too long; the message is meant for people."""


def find_slicer(configured: str | None = None) -> str | None:
    """The PrusaSlicer program to run: ``configured`` (a path, or a name on PATH), else the first of
    :data:`SLICER_NAMES` found on PATH; None when there is none."""
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else shutil.which(configured)
    return next((found for name in SLICER_NAMES if (found := shutil.which(name))), None)


def slice_stl(stl_path: Path, ini_path: Path, out_path: Path, *, slicer: str | None = None,
              timeout_s: float = 600.0, copies: int = 1) -> Path:
    """Slice ``stl_path`` with the PrusaSlicer profile ``ini_path`` into ``out_path`` (G-code).

    ``copies`` > 1 prints that many copies side by side. Runs headless; when the slicer wants a
    display and none is there, it is run again under ``xvfb-run``. Raises :class:`SlicingError`.
    """
    program = find_slicer(slicer)
    if program is None:
        raise SlicingError(f"PrusaSlicer not found (looked for {slicer or ', '.join(SLICER_NAMES)})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.unlink(missing_ok=True)
    args = [program, "--export-gcode", "--load", str(ini_path), "--output", str(out_path)]
    if copies > 1:
        args += ["--duplicate", str(copies)]
    args.append(str(stl_path))
    # The command line needs no display; Qt/GTK parts that look for one are told to do without.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = _run(args, env, timeout_s)
    if result.returncode != 0 and "display" in result.stderr.lower() and shutil.which("xvfb-run"):
        result = _run(["xvfb-run", "-a", *args], env, timeout_s)
    if result.returncode != 0 or not out_path.is_file() or out_path.stat().st_size == 0:
        raise SlicingError(f"PrusaSlicer failed (exit {result.returncode}): {_last_words(result)}")
    return out_path


def _run(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, env=env, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise SlicingError(f"PrusaSlicer took longer than {timeout_s:g} s") from None
    except OSError as exc:
        raise SlicingError(f"cannot run PrusaSlicer: {exc.strerror or exc}") from None


def _last_words(result: subprocess.CompletedProcess[str]) -> str:
    # PrusaSlicer logs a lot at trace level; its real complaint is among the last lines without it.
    lines = [ln.strip() for ln in (result.stderr + "\n" + result.stdout).splitlines()
             if ln.strip() and "[trace]" not in ln and "[debug]" not in ln]
    return " | ".join(lines[-3:])[:500] or "no message"


def parse_duration(text: str) -> float | None:
    """Seconds in a PrusaSlicer duration such as ``1d 2h 3m 4s`` or ``42s``; None if it has none."""
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return sum(float(n) * _SECONDS[unit] for n, unit in parts)


def read_estimated_seconds(gcode_path: Path) -> float | None:
    """The estimated print time (normal mode) from PrusaSlicer's G-code comments, in seconds; None
    when the file has no estimate."""
    found: float | None = None
    with gcode_path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(";") and "estimated printing time" in line:
                m = _ESTIMATE.match(line.strip())
                if m and "silent" not in line:
                    found = parse_duration(m.group(1))
    return found


def status_from_flags(flags: dict[str, Any]) -> MachineStatus:
    """The machine state for OctoPrint's printer state flags (``/api/printer`` ``state.flags``)."""
    if flags.get("error"):
        return MachineStatus.ERROR
    if flags.get("closedOrError") or not flags.get("operational", False):
        return MachineStatus.OFFLINE
    if flags.get("paused"):
        return MachineStatus.PAUSED
    if any(flags.get(f) for f in _BUSY_FLAGS) or not flags.get("ready", True):
        return MachineStatus.BUSY
    return MachineStatus.IDLE


def volume_from_profiles(data: dict[str, Any]) -> tuple[float, float, float] | None:
    """The build volume (x, y, z mm) of the current printer profile (else the default one) in a
    ``/api/printerprofiles`` answer. A round bed gives the square inscribed in its circle."""
    profiles = [p for p in (data.get("profiles") or {}).values() if isinstance(p, dict)]
    chosen = next((p for p in profiles if p.get("current")), None) or next((p for p in profiles if p.get("default")), None)
    volume = (chosen or {}).get("volume") or {}
    try:
        width, depth, height = (float(volume[k]) for k in ("width", "depth", "height"))
    except (KeyError, TypeError, ValueError):
        return None
    if min(width, depth, height) <= 0:
        return None
    if volume.get("formFactor") == "circular":
        width = depth = min(width, depth) / math.sqrt(2)
    return (width, depth, height)


class OctoPrintDriver:
    """A printer run by OctoPrint; see the module docstring. Jobs are recorded in the state file's
    ``driver_jobs`` (started_at, the slicer's estimate as duration_s, status) so a restarted agent
    picks its prints up again."""

    def __init__(self, config: MachineConfig, db: StateDB, client: OctoPrintClient | None = None) -> None:
        settings = config.options.get("octoprint")
        if not isinstance(settings, OctoPrintSettings):
            raise ValueError(f"machine {config.key}: the octoprint driver needs a [machines.octoprint] table")
        self.config = config
        self.db = db
        self.settings = settings
        self.client = client or OctoPrintClient(settings.url, settings.api_key)
        self._volume_read_at = -math.inf
        self._last_percent: dict[str, float] = {}
        self._last_status: MachineStatus | None = None
        self._last_problem = ""

    # -- state ----------------------------------------------------------------------------

    def state(self) -> MachineState:
        status = self._status()
        if status is not MachineStatus.OFFLINE:
            self._refresh_volume()
        if status is not self._last_status:
            log.info("machine %s (OctoPrint %s): %s", self.config.key, self.settings.url, status.value)
            self._last_status = status
        return MachineState(status=status, queue_length=0, materials=self.config.materials,
                            build_volume_mm=self.config.build_volume_mm)

    def _status(self) -> MachineStatus:
        try:
            printer = self.client.printer()
        except OctoPrintRejected as exc:
            if exc.status != 409:  # 409: OctoPrint runs but no printer is connected
                if str(exc) != self._last_problem:  # a bad API key, say: once, not every few seconds
                    log.warning("machine %s: %s", self.config.key, exc)
                    self._last_problem = str(exc)
                return MachineStatus.OFFLINE
            try:
                job_state = str(self.client.job().get("state", ""))
            except OctoPrintError:
                return MachineStatus.OFFLINE
            return MachineStatus.ERROR if "error" in job_state.lower() else MachineStatus.OFFLINE
        except OctoPrintError as exc:
            log.debug("machine %s: %s", self.config.key, exc)
            return MachineStatus.OFFLINE
        self._last_problem = ""
        flags = (printer.get("state") or {}).get("flags") or {}
        return status_from_flags(flags)

    def _refresh_volume(self) -> None:
        if time.monotonic() - self._volume_read_at < PROFILE_TTL_S:
            return
        try:
            volume = volume_from_profiles(self.client.printer_profiles())
        except OctoPrintError as exc:
            log.debug("machine %s: no printer profile: %s", self.config.key, exc)
            return
        self._volume_read_at = time.monotonic()
        if volume is not None and volume != self.config.build_volume_mm:
            log.info("machine %s: build volume %s mm from OctoPrint's printer profile (configured: %s)",
                     self.config.key, "x".join(f"{v:g}" for v in volume),
                     "x".join(f"{v:g}" for v in self.config.build_volume_mm))
            # The heartbeat and the fitting checks read the config: the machine's own size wins.
            self.config = replace(self.config, build_volume_mm=volume)

    def can_make(self, job: Job) -> tuple[bool, str]:
        free = self.state().status is MachineStatus.IDLE
        fit = check_machine(self.config, job, free=free)
        if not fit.ok:
            return fit.ok, fit.reason
        if find_slicer(self.settings.slicer) is None:
            return False, "no slicer installed for the printer"
        return True, ""

    # -- jobs -----------------------------------------------------------------------------

    @staticmethod
    def _gcode_name(job_id: str, started_at: float) -> str:
        return f"cosmoloc-job-{re.sub(r'[^A-Za-z0-9_-]+', '_', job_id)}-{int(started_at)}.gcode"

    def _row(self, job: Job) -> Any:
        with self.db.transaction() as c:
            return c.execute("SELECT * FROM driver_jobs WHERE machine_key = ? AND job_id = ?",
                             (self.config.key, job.id)).fetchone()

    def gcode_name(self, job: Job) -> str | None:
        """The name of the job's G-code on OctoPrint, once it was started."""
        row = self._row(job)
        return None if row is None else self._gcode_name(job.id, float(row["started_at"]))

    def start(self, job: Job, file_path: Path) -> None:
        """Slice, upload and print. Raises (SlicingError, OctoPrintError) with a reason for people
        when the print cannot be started; the run loop fails the job with it."""
        gcode = slice_stl(file_path, self.settings.slicer_config, file_path.with_suffix(".gcode"),
                          slicer=self.settings.slicer, timeout_s=self.settings.slice_timeout_s,
                          copies=max(1, job.quantity))
        estimate = read_estimated_seconds(gcode)
        log.info("job %s: sliced for %s, estimated print time %s", job.id, self.config.key,
                 f"{estimate:.0f} s" if estimate is not None else "unknown")
        started_at = time.time()
        name = self._gcode_name(job.id, started_at)
        self.client.upload(gcode, name)
        try:
            self.client.select_and_print(name)
        except OctoPrintError as exc:
            # The answer may have been lost after OctoPrint took the command: look before failing.
            if not self._printing(name):
                raise OctoPrintError(f"OctoPrint would not start the print: {exc}") from None
        with self.db.transaction() as c:
            c.execute("INSERT INTO driver_jobs (machine_key, job_id, started_at, duration_s, status) "
                      "VALUES (?, ?, ?, ?, 'running') ON CONFLICT (machine_key, job_id) DO UPDATE SET "
                      "started_at = excluded.started_at, duration_s = excluded.duration_s, status = 'running', "
                      "reason = NULL", (self.config.key, job.id, started_at, estimate or 0.0))
        self._last_percent[job.id] = 0.0

    def _printing(self, name: str) -> bool:
        try:
            data = self.client.job()
        except OctoPrintError:
            return False
        return _job_file(data) == name and str(data.get("state", "")).lower() in ("printing", "starting")

    def poll(self, job: Job) -> JobProgress:
        row = self._row(job)
        if row is None:
            return JobProgress(0.0, failed=True, reason="the machine has no record of this job")
        if row["status"] == "done":
            return JobProgress(100.0, done=True)
        if row["status"] in ("failed", "cancelled"):
            return JobProgress(0.0, failed=True, reason=row["reason"] or row["status"])
        last = self._last_percent.get(job.id, 0.0)
        try:
            progress = self._observe(job, float(row["started_at"]))
        except OctoPrintError as exc:  # not reachable now: the print may well go on; ask again later
            log.debug("job %s: %s", job.id, exc)
            return JobProgress(last)
        if progress.done or progress.failed:
            self._close(job.id, "done" if progress.done else "failed", progress.reason)
            self._last_percent.pop(job.id, None)
        else:
            progress = JobProgress(max(last, progress.percent))
            self._last_percent[job.id] = progress.percent
        return progress

    def _observe(self, job: Job, started_at: float) -> JobProgress:
        name = self._gcode_name(job.id, started_at)
        data = self.client.job()
        state_text = str(data.get("state", ""))
        if _job_file(data) == name:
            completion = (data.get("progress") or {}).get("completion")
            percent = min(100.0, max(0.0, float(completion))) if isinstance(completion, int | float) else 0.0
            lowered = state_text.lower()
            if lowered.startswith(("printing", "pausing", "paused", "resuming", "finishing", "starting", "cancelling")):
                return JobProgress(min(percent, 99.9))
            if "error" in lowered:
                return JobProgress(percent, failed=True, reason=f"OctoPrint: {state_text}")
        outcome = self._outcome(name)
        if outcome is not None:
            return outcome
        if time.time() - started_at < START_GRACE_S:
            return JobProgress(0.0)  # the print command is on its way
        return JobProgress(0.0, failed=True, reason=f"the print stopped on OctoPrint without an outcome ({state_text})")

    def _outcome(self, name: str) -> JobProgress | None:
        try:
            info = self.client.file_info(name)
        except OctoPrintRejected as exc:
            if exc.status == 404:
                return JobProgress(0.0, failed=True, reason="the G-code file was removed from OctoPrint")
            raise
        last = (info.get("prints") or {}).get("last")
        if not isinstance(last, dict) or "success" not in last:
            return None
        if last["success"]:
            return JobProgress(100.0, done=True)
        return JobProgress(0.0, failed=True, reason="the print was cancelled or failed on OctoPrint")

    def cancel(self, job: Job) -> None:
        """Cancel the job's print if it is the one OctoPrint is making; the record is closed either way."""
        name = self.gcode_name(job)
        try:
            data = self.client.job()
            if name and _job_file(data) == name and str(data.get("state", "")).lower().startswith(
                    ("printing", "paused", "pausing", "resuming", "starting")):
                self.client.job_command("cancel")
                log.info("job %s: print cancelled on %s", job.id, self.config.key)
        except OctoPrintError as exc:
            log.error("job %s: could not cancel the print on %s (%s); stop it by hand", job.id, self.config.key, exc)
        self._close(job.id, "cancelled", "withdrawn by the hub")
        self._last_percent.pop(job.id, None)

    def _close(self, job_id: str, status: str, reason: str = "") -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE driver_jobs SET status = ?, reason = ? WHERE machine_key = ? AND job_id = ? "
                      "AND status = 'running'", (status, reason or None, self.config.key, job_id))


def _job_file(data: dict[str, Any]) -> str | None:
    file = ((data.get("job") or {}).get("file") or {})
    name = file.get("name") or file.get("path")
    return str(name) if name else None
