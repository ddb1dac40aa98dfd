"""The octoprint driver: a real FDM printer behind OctoPrint, fed by the PrusaSlicer command line.

A job is made in four moves: the canonical STL is sliced with the lab's PrusaSlicer profile in a
child process (:class:`~fablab_nodes.drivers.slicer.SliceRun`: :meth:`OctoPrintDriver.start`
starts it and each :meth:`OctoPrintDriver.poll` asks whether it is done, so heartbeats and offers
go on while it runs), the estimated print time is read from the G-code's comments, the G-code is
uploaded to OctoPrint as ``cosmoloc-job-<id>-<time>.gcode`` (a fresh name for each attempt:
OctoPrint keeps a file's print record across uploads) and printed. The upload runs beside the
loop too (:class:`~fablab_nodes.drivers.octoprint_client.UploadRun`, started by the poll that
finds the slice done and asked at each later poll); the print is started by the poll that finds
it arrived. While it slices and uploads the job is in production at 0 % and the machine reads
busy; a slicer that fails or runs past ``slice_timeout_s`` fails the job with its reason, a job
withdrawn mid-slice kills the slicer and nothing is uploaded. While OctoPrint is unreachable a
sliced job waits for it; an upload that fails (OctoPrint gone mid-upload or answering an error)
is tried again at a later poll, ``upload_attempts`` times in all, then fails the job. A job
withdrawn mid-upload stops waiting for it; the file is deleted once it has arrived. A restarted
agent slices again. Progress comes from ``/api/job``; the outcome
from the file's print record (OctoPrint notes each print of a file as a success or a failure), so
a print that ends while the agent is away is still told right. Once the job has ended the G-code
is deleted from OctoPrint (again at each heartbeat while OctoPrint is away or still winding the
print down).

The machine's state comes from ``/api/printer`` (and ``/api/job`` when no printer is connected);
its build volume from OctoPrint's current printer profile, which replaces the configured one (so
the heartbeat and the fitting checks use the machine's real size). OctoPrint unreachable reads as
``offline``: no call here raises into the agent's loop for that.
"""
from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from design_commons.estimates import FDM_RATE_CM3_H
from fablab_nodes.config import MachineConfig, OctoPrintSettings
from fablab_nodes.drivers.base import JobProgress, MachineState, MachineStatus
from fablab_nodes.drivers.octoprint_client import (
    OctoPrintClient,
    OctoPrintError,
    OctoPrintRejected,
    UploadRun,
)
from fablab_nodes.drivers.slicer import SliceRun, SlicingError, find_slicer, read_estimated_seconds
from fablab_nodes.fitting import check_machine
from fablab_nodes.jobs import Job
from fablab_nodes.state_db import StateDB

log = logging.getLogger(__name__)

PROFILE_TTL_S = 300.0  # how long the build volume read from OctoPrint is trusted
START_GRACE_S = 20.0  # a print that has neither started nor ended this long after the command has failed
UPLOAD_ATTEMPTS = 3  # uploads of a job's G-code that may fail before the job fails
_BUSY_FLAGS = ("printing", "cancelling", "finishing", "pausing", "resuming", "starting")
_ENDED = ("done", "failed", "cancelled")


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
    ``driver_jobs`` (status ``slicing``, ``running``, ``done``, ``failed`` or ``cancelled``; the STL
    being sliced; the G-code's name on OctoPrint; started_at and the slicer's estimate as duration_s
    once printing) so a restarted agent picks its slices and prints up again."""

    def __init__(self, config: MachineConfig, db: StateDB, client: OctoPrintClient | None = None, *,
                 upload_attempts: int = UPLOAD_ATTEMPTS) -> None:
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
        self._slicing: dict[str, SliceRun] = {}
        self.upload_attempts = upload_attempts
        self._uploads: dict[str, UploadRun] = {}
        self._upload_failures: dict[str, int] = {}
        self._abandoned: list[UploadRun] = []  # uploads of ended jobs still on their way: deleted once there
        self._answered = True  # whether OctoPrint answered when the state was last read
        self._printer_idle = False  # whether OctoPrint itself was idle when the state was last read

    # -- state ----------------------------------------------------------------------------

    def state(self) -> MachineState:
        status = self._status()
        slicing = self._tidy(reachable=status is not MachineStatus.OFFLINE)
        if status is not MachineStatus.OFFLINE:
            self._refresh_volume()
        self._printer_idle = status is MachineStatus.IDLE
        if status is MachineStatus.IDLE and slicing:
            status = MachineStatus.BUSY  # OctoPrint is idle, but the machine is taken by the job being sliced
        if status is not self._last_status:
            log.info("machine %s (OctoPrint %s): %s", self.config.key, self.settings.url, status.value)
            self._last_status = status
        return MachineState(status=status, queue_length=0, materials=self.config.materials,
                            build_volume_mm=self.config.build_volume_mm, queue_s=self._queue_s(status))

    def _queue_s(self, status: MachineStatus) -> float | None:
        """The work the printer holds: the print time OctoPrint has left (``/api/job``) and, for a job
        being sliced, its guess (:meth:`expected_s`). None while OctoPrint cannot say."""
        if status in (MachineStatus.OFFLINE, MachineStatus.ERROR):
            return None
        with self.db.transaction() as c:
            slicing = [r[0] for r in c.execute("SELECT duration_s FROM driver_jobs WHERE machine_key = ? AND "
                                               "status = 'slicing'", (self.config.key,))]
        left = 0.0
        if not self._printer_idle:  # printing, paused or winding down
            try:
                found = time_left_s(self.client.job())
            except OctoPrintError:
                return None
            if found is None:
                return None
            left = found
        return left + sum(float(d or 0.0) for d in slicing)

    def expected_s(self, job: Job) -> float | None:
        """A job not yet sliced, counted solid at the hub's FDM rate (design_commons.estimates), an upper
        bound of what the slicer will say; None without the part's volume."""
        volume = job.file.requirements.volume_mm3
        if volume is None:
            return None
        return volume / 1000 / FDM_RATE_CM3_H * 3600 * max(1, job.quantity)

    def _status(self) -> MachineStatus:
        self._answered = True
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
            self._answered = False
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
    def _gcode_name(job_id: str, stamp: float) -> str:
        return f"cosmoloc-job-{re.sub(r'[^A-Za-z0-9_-]+', '_', job_id)}-{int(stamp)}.gcode"

    def _row(self, job_id: str) -> Any:
        with self.db.transaction() as c:
            return c.execute("SELECT * FROM driver_jobs WHERE machine_key = ? AND job_id = ?",
                             (self.config.key, job_id)).fetchone()

    def _name_of(self, row: Any) -> str | None:
        if row["gcode_name"]:
            return str(row["gcode_name"])
        if row["source_path"] is None and row["status"] != "slicing":
            # A row from before the name was kept: it came from the print's start time.
            return self._gcode_name(str(row["job_id"]), float(row["started_at"]))
        return None

    def gcode_name(self, job: Job) -> str | None:
        """The name of the job's G-code on OctoPrint, once it was uploaded."""
        row = self._row(job.id)
        return None if row is None else self._name_of(row)

    def start(self, job: Job, file_path: Path) -> None:
        """Start slicing ``file_path`` (the checked STL) and return at once: :meth:`poll` uploads and
        prints the G-code once the slicer is done. Raises :class:`SlicingError` when the slicer cannot
        be run at all; the run loop fails the job with it."""
        self._slice(job, file_path)
        with self.db.transaction() as c:
            # A fresh G-code name for each attempt: the name is chosen when the G-code is uploaded.
            # Until the slicer says, duration_s holds the guess of expected_s (the queue the heartbeat reports).
            c.execute("INSERT INTO driver_jobs (machine_key, job_id, started_at, duration_s, status, source_path) "
                      "VALUES (?, ?, ?, ?, 'slicing', ?) ON CONFLICT (machine_key, job_id) DO UPDATE SET "
                      "started_at = excluded.started_at, duration_s = excluded.duration_s, status = 'slicing', "
                      "reason = NULL, source_path = excluded.source_path, gcode_name = NULL, gcode_removed = 0",
                      (self.config.key, job.id, time.time(), self.expected_s(job) or 0.0, str(file_path)))

    def _slice(self, job: Job, stl: Path) -> SliceRun:
        run = SliceRun(stl, self.settings.slicer_config, stl.with_suffix(".gcode"), slicer=self.settings.slicer,
                       timeout_s=self.settings.slice_timeout_s, copies=max(1, job.quantity))
        self._slicing[job.id] = run
        log.info("job %s: slicing for %s (slicer pid %d)", job.id, self.config.key, run.pid)
        return run

    def poll(self, job: Job) -> JobProgress:
        """The job's progress: 0 % while it is sliced (then uploaded and started), then OctoPrint's."""
        row = self._row(job.id)
        if row is None:
            return JobProgress(0.0, failed=True, reason="the machine has no record of this job")
        if row["status"] == "done":
            return JobProgress(100.0, done=True)
        if row["status"] in ("failed", "cancelled"):
            return JobProgress(0.0, failed=True, reason=row["reason"] or row["status"])
        if row["status"] == "slicing":
            return self._poll_slice(job, row)
        last = self._last_percent.get(job.id, 0.0)
        try:
            progress = self._observe(job, row)
        except OctoPrintError as exc:  # not reachable now: the print may well go on; ask again later
            log.debug("job %s: %s", job.id, exc)
            return JobProgress(last)
        if progress.done or progress.failed:
            self.close(job.id, "done" if progress.done else "failed", progress.reason)
        else:
            progress = JobProgress(max(last, progress.percent))
            self._last_percent[job.id] = progress.percent
        return progress

    def _poll_slice(self, job: Job, row: Any) -> JobProgress:
        try:
            run = self._slicing.get(job.id)
            if run is None:  # the agent was restarted mid-slice: slice again
                source = Path(row["source_path"] or "")
                if not row["source_path"] or not source.is_file():
                    raise SlicingError("the file to slice is no longer there")
                run = self._slice(job, source)
            gcode = run.poll()
        except SlicingError as exc:
            return self._failed(job.id, str(exc))
        if gcode is None:
            return JobProgress(0.0)
        return self._poll_upload(job, gcode, row)

    def _poll_upload(self, job: Job, gcode: Path, row: Any) -> JobProgress:
        upload = self._uploads.get(job.id)
        if upload is None:
            if self._answered:  # else sliced, but OctoPrint is away: upload when it is back
                self._uploads[job.id] = self._upload(job, gcode, row)
            return JobProgress(0.0)
        try:
            if not upload.poll():
                return JobProgress(0.0)
        except OctoPrintError as exc:
            del self._uploads[job.id]
            failures = self._upload_failures.get(job.id, 0) + 1
            if failures >= self.upload_attempts:
                return self._failed(job.id, f"the G-code could not be uploaded to OctoPrint "
                                            f"({failures} attempts): {exc}")
            self._upload_failures[job.id] = failures
            log.warning("job %s: upload %d of %d to %s failed, tried again at a later step: %s", job.id, failures,
                        self.upload_attempts, self.config.key, exc)
            return JobProgress(0.0)
        try:
            self._print(job, gcode, upload.name)
        except OctoPrintError as exc:
            return self._failed(job.id, str(exc))
        return JobProgress(0.0)

    def _upload(self, job: Job, gcode: Path, row: Any) -> UploadRun:
        name = row["gcode_name"] or self._gcode_name(job.id, time.time())
        with self.db.transaction() as c:  # kept before the upload, so an upload that ends badly is still deleted
            c.execute("UPDATE driver_jobs SET gcode_name = ? WHERE machine_key = ? AND job_id = ?",
                      (name, self.config.key, job.id))
        log.info("job %s: sliced for %s; uploading %s", job.id, self.config.key, name)
        return UploadRun(self.client, gcode, name)

    def _print(self, job: Job, gcode: Path, name: str) -> None:
        estimate = read_estimated_seconds(gcode)
        try:
            self.client.select_and_print(name)
        except OctoPrintError as exc:
            # The answer may have been lost after OctoPrint took the command: look before failing.
            if not self._printing(name):
                raise OctoPrintError(f"OctoPrint would not start the print: {exc}") from None
        with self.db.transaction() as c:
            c.execute("UPDATE driver_jobs SET started_at = ?, duration_s = ?, status = 'running', reason = NULL "
                      "WHERE machine_key = ? AND job_id = ? AND status = 'slicing'",
                      (time.time(), estimate or 0.0, self.config.key, job.id))
        self._slicing.pop(job.id, None)
        self._drop_upload(job.id)
        self._last_percent[job.id] = 0.0
        log.info("job %s: uploaded to %s, estimated print time %s; printing %s", job.id, self.config.key,
                 f"{estimate:.0f} s" if estimate is not None else "unknown", name)

    def _failed(self, job_id: str, reason: str) -> JobProgress:
        self.close(job_id, "failed", reason)
        return JobProgress(0.0, failed=True, reason=reason)

    def _printing(self, name: str) -> bool:
        try:
            data = self.client.job()
        except OctoPrintError:
            return False
        return _job_file(data) == name and str(data.get("state", "")).lower() in ("printing", "starting")

    def _observe(self, job: Job, row: Any) -> JobProgress:
        name = self._name_of(row) or ""
        started_at = float(row["started_at"])
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
        """Stop the job: a slice is killed (nothing is uploaded); a print is cancelled if it is the one
        OctoPrint is making. The record is closed either way."""
        row = self._row(job.id)
        name = self._name_of(row) if row is not None and row["status"] == "running" else None
        if name:
            try:
                data = self.client.job()
                if _job_file(data) == name and str(data.get("state", "")).lower().startswith(
                        ("printing", "paused", "pausing", "resuming", "starting")):
                    self.client.job_command("cancel")
                    log.info("job %s: print cancelled on %s", job.id, self.config.key)
            except OctoPrintError as exc:
                log.error("job %s: could not cancel the print on %s (%s); stop it by hand", job.id, self.config.key,
                          exc)
        if self.close(job.id, "cancelled", "withdrawn by the hub") and row is not None and row["status"] == "slicing":
            log.info("job %s: slicing stopped on %s; nothing was printed", job.id, self.config.key)

    def close(self, job_id: str, status: str, reason: str = "") -> bool:
        """End the job's record as ``done``, ``failed`` or ``cancelled`` (a slicer still running for it
        is killed, an upload is no longer waited for) and delete its G-code from OctoPrint (an upload
        on its way: once it has arrived); returns whether the job was in hand."""
        assert status in _ENDED
        run = self._slicing.pop(job_id, None)
        if run is not None:
            run.kill()
        self._drop_upload(job_id)
        self._last_percent.pop(job_id, None)
        with self.db.transaction() as c:
            closed = c.execute("UPDATE driver_jobs SET status = ?, reason = ? WHERE machine_key = ? AND job_id = ? "
                               "AND status IN ('slicing', 'running')",
                               (status, reason or None, self.config.key, job_id)).rowcount == 1
        self._remove_uploads()
        return closed

    def shutdown(self) -> None:
        """Kill the slicers this process started (the agent stops); their jobs stay ``slicing`` and
        the next agent slices them again. An upload on its way is left to end with the process."""
        for run in self._slicing.values():
            run.kill()
        self._slicing.clear()
        self._uploads.clear()

    def _drop_upload(self, job_id: str) -> None:
        self._upload_failures.pop(job_id, None)
        upload = self._uploads.pop(job_id, None)
        if upload is not None and not upload.finished:
            self._abandoned.append(upload)

    def _tidy(self, reachable: bool) -> bool:
        """Kill slices of jobs ended elsewhere (``cosmoloc agent done``/``fail``) and, when OctoPrint
        answers, delete the G-code of ended jobs. Returns whether a job is being sliced."""
        with self.db.transaction() as c:
            slicing = {str(r[0]) for r in c.execute("SELECT job_id FROM driver_jobs WHERE machine_key = ? AND "
                                                    "status = 'slicing'", (self.config.key,))}
        for job_id in set(self._slicing) - slicing:
            self._slicing.pop(job_id).kill()
            log.info("job %s: ended while it was sliced; slicer stopped", job_id)
        for job_id in set(self._uploads) - slicing:
            self._drop_upload(job_id)
            log.info("job %s: ended while it was uploaded; no longer waited for", job_id)
        if reachable:
            self._remove_uploads()
        return bool(slicing)

    def _remove_uploads(self) -> None:
        self._abandoned = [u for u in self._abandoned if not u.finished]
        arriving = {u.name for u in self._abandoned}  # not there yet: deleted at a later step, once it is
        with self.db.transaction() as c:
            rows = c.execute("SELECT job_id, gcode_name FROM driver_jobs WHERE machine_key = ? AND gcode_removed = 0 "
                             "AND gcode_name IS NOT NULL AND status IN ('done', 'failed', 'cancelled')",
                             (self.config.key,)).fetchall()
        for row in rows:
            if row["gcode_name"] in arriving:
                continue
            try:
                self.client.delete_file(row["gcode_name"])
            except OctoPrintRejected as exc:
                if exc.status != 404:  # 409: the print is still winding down; the next heartbeat tries again
                    log.debug("job %s: G-code not deleted yet: %s", row["job_id"], exc)
                    continue
            except OctoPrintError as exc:
                log.debug("job %s: G-code not deleted yet: %s", row["job_id"], exc)
                return
            with self.db.transaction() as c:
                c.execute("UPDATE driver_jobs SET gcode_removed = 1 WHERE machine_key = ? AND job_id = ?",
                          (self.config.key, row["job_id"]))
            log.info("job %s: G-code %s deleted from OctoPrint", row["job_id"], row["gcode_name"])

def time_left_s(data: dict[str, Any]) -> float | None:
    """The seconds a print has left in a ``/api/job`` answer: ``progress.printTimeLeft``, else the file's
    estimated print time less the time printed so far; 0 when nothing is printing; None when unknown."""
    if not str(data.get("state", "")).lower().startswith(("printing", "pausing", "paused", "resuming", "starting",
                                                         "finishing", "cancelling")):
        return 0.0
    progress = data.get("progress") or {}
    left = progress.get("printTimeLeft")
    if isinstance(left, int | float) and not isinstance(left, bool) and left >= 0:
        return float(left)
    estimated = (data.get("job") or {}).get("estimatedPrintTime")
    printed = progress.get("printTime") or 0
    if isinstance(estimated, int | float) and isinstance(printed, int | float) and estimated > 0:
        return max(0.0, float(estimated) - float(printed))
    return None


def _job_file(data: dict[str, Any]) -> str | None:
    file = ((data.get("job") or {}).get("file") or {})
    name = file.get("name") or file.get("path")
    return str(name) if name else None
