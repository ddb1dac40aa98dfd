"""The agent's loop: heartbeat, offers, production, reports.

Each step: deliver what waits in the outbox; send a heartbeat when due (every poll interval, or
the interval the hub answers); take offered jobs (``accept = "auto"``: accept when a free machine
can make the part, else decline with the reason; ``"manual"``: leave them to the operator);
stop jobs the hub withdrew; move each accepted job on (download and check the file, start it on
its machine, report progress, complete or fail); tidy up (remove the files of jobs that have
ended, prune delivered reports from the outbox); deliver again. A hub that is down or answers 5xx
never ends the loop: reports wait in the outbox and go, in order, when it is back. The agent only
connects out. SIGINT and SIGTERM end the loop cleanly after the current step.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from fablab_nodes import AGENT_NAME, job_files
from fablab_nodes.config import AcceptPolicy, AgentConfig
from fablab_nodes.drivers import Driver, MachineStatus, make_driver
from fablab_nodes.fitting import Fit, Stage, best_fit, check_machine
from fablab_nodes.hub_client import HubClient, HubError, HubRejected, HubUnavailable
from fablab_nodes.jobs import GONE_STATES, Job, JobState
from fablab_nodes.ledger import ACTIVE_PHASES, Ledger, LocalJob, Phase
from fablab_nodes.outbox import DeliveryResult, Outbox, ReportStatus
from fablab_nodes.state_db import StateDB

log = logging.getLogger(__name__)

PROGRESS_STEP = 1.0  # percent: a smaller move is not worth a report
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.01, 3600.0
PRUNE_EVERY_S = 600.0  # how often delivered reports past their retention are pruned from the outbox


class Runner:
    """One lab's agent over ``config``: its state file, outbox, ledger, drivers and hub client.

    Building a Runner starts nothing; :meth:`run` runs the loop, :meth:`step` one pass of it. The
    operator's commands use the same object for its parts (``ledger``, ``client``, ...).
    """

    def __init__(self, config: AgentConfig, client: HubClient | None = None) -> None:
        self.config = config
        self.db = StateDB(config.state_dir)
        self.outbox = Outbox(self.db)
        self.ledger = Ledger(self.db, self.outbox)
        self.drivers: dict[str, Driver] = {m.key: make_driver(m, self.db) for m in config.machines}
        self._stop = threading.Event()
        self.client = client or HubClient(config.hub, config.token, sleep=lambda s: self._stop.wait(s))
        self.poll_interval_s = config.poll_interval_s
        self.hub_reachable: bool | None = None
        self._announced: set[str] = set()
        self._hub_failed = False
        self._offered_hint: int | None = None
        self._refused_machines: list[str] = []  # machines the hub last said it would not add (its machine limit)
        self._prune_due = 0.0

    # -- the loop -------------------------------------------------------------------------

    def run(self, max_iterations: int | None = None, stop_event: threading.Event | None = None) -> int:
        """Run steps every poll interval until ``stop_event`` is set, SIGINT/SIGTERM arrives or
        ``max_iterations`` steps are done. Returns the number of steps run. Never raises for hub trouble."""
        if stop_event is not None:
            self._stop = stop_event
        done = 0
        log.info("%s for %s: %d machine(s), accept %s", AGENT_NAME, self.config.hub, len(self.drivers),
                 self.config.accept.value)
        with self._signals_stop():
            self._guarded(self.tidy_up)  # leftovers of jobs that ended before this start
            while not self._stop.is_set():
                self.step()
                done += 1
                if max_iterations is not None and done >= max_iterations:
                    break
                self._stop.wait(self.poll_interval_s)
        log.info("agent stopped after %d step(s); %d report(s) wait in the outbox", done, len(self.outbox.pending()))
        return done

    def stop(self) -> None:
        """Ask the loop to end after the current step."""
        self._stop.set()

    def step(self) -> None:
        """One pass of the loop; every part catches its own trouble so the others still run. Once the
        hub has proved unreachable in a step, the rest of the step leaves it alone (local work goes on)."""
        self._hub_failed = False
        for part, needs_hub in ((self.deliver, True), (self.heartbeat, True), (self.handle_offers, True),
                                (self.check_withdrawn, True), (self.advance_jobs, False), (self.tidy_up, False),
                                (self.deliver, True)):
            if self._stop.is_set():
                break  # everything done so far is in the state file: the next start goes on from there
            if needs_hub and self._hub_failed:
                continue
            self._guarded(part)

    def _guarded(self, part: Callable[[], Any]) -> None:
        try:
            part()
        except HubError as exc:
            self._hub_trouble(exc)
        except Exception:  # a bug or a driver's failure must not end the loop
            log.exception("agent step %s failed", getattr(part, "__name__", part))

    @contextmanager
    def _signals_stop(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            self._stop.set()

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _hub_trouble(self, exc: HubError) -> None:
        if isinstance(exc, HubUnavailable):
            self._hub_failed = True
            if self.hub_reachable is not False:
                log.warning("hub unreachable (%s); reports wait in the outbox", exc)
            self.hub_reachable = False
        else:
            log.warning("%s", exc)

    def _hub_ok(self) -> None:
        if self.hub_reachable is False:
            log.info("hub reachable again")
        self.hub_reachable = True

    # -- the parts of a step --------------------------------------------------------------

    def deliver(self) -> DeliveryResult:
        """Send the outbox, in order, as far as the hub takes it."""
        result = self.outbox.deliver(self.client)
        if result.delivered:
            self._hub_ok()
        if result.stopped_by and result.remaining and not result.locked_out:
            self._hub_trouble(HubUnavailable(result.stopped_by))
        return result

    def machine_reports(self) -> list[dict[str, Any]]:
        """The heartbeat's ``machines``: each machine's state, queue and description. ``queue_s`` is the work the
        machine holds (its driver's word) plus what the accepted jobs waiting for it would take; it is left out
        when the driver cannot tell either."""
        out = []
        for key, driver in self.drivers.items():
            waiting = self.ledger.waiting_jobs(key)
            queue_s: float | None
            try:
                state = driver.state()
                status, queue, queue_s = state.status, state.queue_length, state.queue_s
                for local in waiting:
                    more = driver.expected_s(local.job) if queue_s is not None else None
                    queue_s = None if more is None or queue_s is None else queue_s + more
            except Exception:
                log.exception("machine %s: cannot read its state", key)
                status, queue, queue_s = MachineStatus.OFFLINE, 0, None
            cfg = driver.config
            report: dict[str, Any] = {"key": key, "state": status.value, "queue_length": queue + len(waiting)}
            if queue_s is not None:
                report["queue_s"] = round(queue_s, 1)
            out.append({**report, "name": cfg.name, "process": cfg.process,
                        "build_volume_mm": list(cfg.build_volume_mm), "materials": list(cfg.materials)})
        return out

    def heartbeat(self) -> None:
        """POST the heartbeat and follow the poll interval the hub answers."""
        answer = self.client.heartbeat(self.machine_reports())
        self._hub_ok()
        offered = answer.get("offered_jobs") if isinstance(answer, dict) else None
        self._offered_hint = offered if isinstance(offered, int) and not isinstance(offered, bool) else None
        refused = answer.get("machines_refused") if isinstance(answer, dict) else None
        refused = [str(k) for k in refused] if isinstance(refused, list) else []
        if refused and refused != self._refused_machines:  # told once per change, not at every beat
            log.warning("the hub takes at most %s machines per lab; not added: %s (remove machines from the config)",
                        answer.get("machines_limit"), ", ".join(refused))
        self._refused_machines = refused
        interval = answer.get("poll_interval_s") if isinstance(answer, dict) else None
        if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
            self.poll_interval_s = min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, float(interval)))

    def choose_machine(self, job: Job, require_free: bool = True, reserved: set[str] | None = None) -> Fit | None:
        """The machine for ``job`` (a Fit that is ok), or the Fit whose reason explains why none can."""
        fits = []
        for key, driver in self.drivers.items():
            free = (driver.state().status is MachineStatus.IDLE and self.ledger.waiting_on(key) == 0
                    and key not in (reserved or set()))
            fit = check_machine(driver.config, job, free=free or not require_free)
            if fit.ok and require_free:
                can, why = driver.can_make(job)
                if not can:
                    fit = Fit(key, Stage.FREE, why or "no free machine")
            fits.append(fit)
        return best_fit(fits, preferred_key=job.machine_key)

    def handle_offers(self) -> None:
        """Decide on new offers (auto), or announce them to the operator (manual). Skipped when the
        last heartbeat's answer said no job is offered."""
        if self._offered_hint == 0:
            return
        offers = [Job.from_json(j) for j in reversed(self.client.jobs(state=JobState.OFFERED.value))]
        self._hub_ok()
        known = self.ledger.known_ids()
        reserved: set[str] = set()
        for job in offers:
            if job.id in known:
                continue
            if self.config.accept is AcceptPolicy.MANUAL:
                if job.id not in self._announced:
                    self._announced.add(job.id)
                    log.info("offer %s (%s, %s) waits for the operator: cosmoloc agent accept %s",
                             job.id, job.title or job.file.filename, job.material, job.id)
                continue
            fit = self.choose_machine(job, reserved=reserved)
            if fit is not None and fit.ok:
                reserved.add(fit.machine_key)
                self.ledger.accept(job, fit.machine_key)
                log.info("accepting job %s on %s", job.id, fit.machine_key)
            else:
                reason = fit.reason if fit else "no machines configured"
                self.ledger.decline(job, reason)
                log.info("declining job %s: %s", job.id, reason)
        if reserved:
            self.deliver()

    def check_withdrawn(self) -> None:
        """Stop the jobs the hub has withdrawn (or let expire, or no longer shows us)."""
        for lj in self.ledger.active():
            if lj.phase is Phase.ACCEPTING:
                continue  # the accept's answer tells
            try:
                state = Job.from_json(self.client.job(lj.job_id)).state
            except HubRejected as exc:
                if exc.status != 404:
                    raise
                state = JobState.WITHDRAWN
            if state in GONE_STATES:
                self.cancel(lj, f"the hub {state.value} it")

    def cancel(self, lj: LocalJob, why: str) -> None:
        """Stop ``lj`` on its machine and mark it cancelled (nothing is reported: the hub knows)."""
        if self.ledger.move(lj.job_id, Phase.CANCELLED, ACTIVE_PHASES, reason=why):
            driver = self.drivers.get(lj.machine_key or "")
            if driver is not None and lj.phase is Phase.PRODUCING:
                driver.cancel(lj.job)
            log.info("job %s cancelled: %s", lj.job_id, why)

    def advance_jobs(self) -> None:
        """Move every accepted job one phase on where it can."""
        for lj in self.ledger.active():
            try:
                self._advance(lj)
            except HubError as exc:  # one job waiting for the hub does not hold the others up
                self._hub_trouble(exc)

    def _advance(self, lj: LocalJob) -> None:
        driver = self.drivers.get(lj.machine_key or "")
        if driver is None and lj.phase is not Phase.ACCEPTING:
            self.ledger.finish(lj.job_id, ok=False, reason=f"machine {lj.machine_key} is no longer configured")
        elif lj.phase is Phase.ACCEPTING:
            self._accepting(lj)
        elif lj.phase is Phase.DOWNLOADING and not self._hub_failed:
            self._download(lj)
        elif lj.phase is Phase.READY and driver is not None:
            self._start(lj, driver)
        elif lj.phase is Phase.PRODUCING and driver is not None:
            self._produce(lj, driver)

    def _accepting(self, lj: LocalJob) -> None:
        status = self.outbox.status(lj.accept_report_id) if lj.accept_report_id else ReportStatus.DELIVERED
        if status is ReportStatus.PENDING:
            return
        if status is ReportStatus.DROPPED:
            # A crash after the hub took the accept and before it was marked sends it again: 409.
            try:
                hub_job = Job.from_json(self.client.job(lj.job_id))
            except HubRejected:
                hub_job = None
            mine = hub_job is not None and hub_job.state in (JobState.ACCEPTED, JobState.IN_PRODUCTION) and (
                hub_job.machine_key in (None, lj.machine_key))
            if not mine:
                self.ledger.move(lj.job_id, Phase.ABANDONED, {Phase.ACCEPTING}, reason="the hub refused the accept")
                log.warning("job %s: the hub refused the accept; abandoned", lj.job_id)
                return
        self.ledger.move(lj.job_id, Phase.DOWNLOADING, {Phase.ACCEPTING})

    def _download(self, lj: LocalJob) -> None:
        dest = job_files.download_path(self.config.state_dir, lj.job)
        try:
            got = self.client.download(lj.job_id, dest)
        except HubRejected as exc:
            if exc.code == "file_not_ready":  # the hub is still making the canonical file
                log.info("job %s: the hub has no file to make yet; trying again later", lj.job_id)
                return
            if exc.status in (404, 409, 410):
                self.cancel(lj, f"the file is no longer offered ({exc.code})")
                return
            raise
        expected = lj.job.file.sha256
        problem = ""
        if expected and got.sha256 != expected:
            problem = f"file sha256 mismatch: expected {expected}, got {got.sha256}"
        elif got.etag and got.etag != got.sha256:
            problem = f"file sha256 mismatch: ETag {got.etag}, content {got.sha256}"
        elif not expected and not got.etag:
            problem = "the hub gave no sha256 to check the file against"
        if problem:
            dest.unlink(missing_ok=True)
            self.ledger.finish(lj.job_id, ok=False, reason=problem)
            log.error("job %s: %s; reported as failed", lj.job_id, problem)
            return
        self.ledger.move(lj.job_id, Phase.READY, {Phase.DOWNLOADING}, file_path=dest)
        log.info("job %s: file %s checked (sha256 %s)", lj.job_id, dest.name, got.sha256[:12])

    def _start(self, lj: LocalJob, driver: Driver) -> None:
        if driver.state().status is not MachineStatus.IDLE or lj.file_path is None:
            return
        try:
            driver.start(lj.job, lj.file_path)
        except Exception as exc:
            log.exception("job %s: machine %s would not start", lj.job_id, driver.config.key)
            self.ledger.finish(lj.job_id, ok=False, reason=f"the machine would not start: {exc}")
            return
        if self.ledger.move(lj.job_id, Phase.PRODUCING, {Phase.READY}):
            self.ledger.progress(lj.job_id, 0.0)
            log.info("job %s started on %s", lj.job_id, driver.config.key)

    def _produce(self, lj: LocalJob, driver: Driver) -> None:
        progress = driver.poll(lj.job)
        if progress.done:
            if self.ledger.finish(lj.job_id, ok=True):
                log.info("job %s completed on %s", lj.job_id, driver.config.key)
        elif progress.failed:
            if self.ledger.finish(lj.job_id, ok=False, reason=progress.reason or "failed on the machine"):
                log.warning("job %s failed on %s: %s", lj.job_id, driver.config.key, progress.reason)
        elif lj.last_percent is None or progress.percent >= lj.last_percent + PROGRESS_STEP:
            self.ledger.progress(lj.job_id, progress.percent)

    def tidy_up(self) -> None:
        """Remove the files of the jobs that have ended (their last report is queued by then); prune
        the outbox's delivered reports past their retention every :data:`PRUNE_EVERY_S`."""
        job_files.remove_ended(self.config.state_dir, (lj.job_id for lj in self.ledger.active()))
        if time.monotonic() >= self._prune_due:
            self._prune_due = time.monotonic() + PRUNE_EVERY_S
            self.ledger.prune_reports(self.config.outbox_keep_days, self.config.outbox_keep_reports)

    def close(self) -> None:
        """Stop what the drivers run in the background (a slicer) and release the hub connection."""
        for driver in self.drivers.values():
            shutdown = getattr(driver, "shutdown", None)
            if callable(shutdown):
                with suppress(Exception):
                    shutdown()
        with suppress(Exception):
            self.client.close()

