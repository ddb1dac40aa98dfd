"""The outbox: reports to the hub (accept, decline, progress, complete, fail), kept in order in the
state SQLite file until the hub has them.

Reports are appended in order and delivered in order; a delivered report is marked done. The
outbox lives in ``state_dir`` so it survives a restart. Progress carries a ``seq`` that strictly
increases per job, from a counter kept in the same file. The hub answers a repeated report
harmlessly (a ``seq`` not above the last is ignored; complete is idempotent), so delivering twice
after a crash does not change the result. A report the hub refuses for good (409, 404, 422: the
job was withdrawn or is no longer offered) is dropped with a log line rather than retried forever.
Delivery holds a lock file so the run loop and an operator's command never deliver at once.

Delivered and dropped reports are kept for a while, then pruned (:meth:`Outbox.prune`); pending
ones never are. Pruning cannot make a report go twice or a ``seq`` come back: only rows that left
the queue are deleted, report ids are never reused (``AUTOINCREMENT``) and the ``seq`` counters
live in their own table.
"""
from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from fablab_nodes.hub_client import HubRejected, HubUnavailable
from fablab_nodes.state_db import StateDB

log = logging.getLogger(__name__)

# The hub's answer when a job is not (any more) in a state for this report: give up on it.
DROP_STATUSES = frozenset({404, 409, 410, 422})
# Answers that say the agent itself is at fault (bad or rotated token): keep the reports and wait.
HOLD_STATUSES = frozenset({401, 403})


class ReportKind(StrEnum):
    """What a report tells the hub; the value is the last part of its URL."""

    ACCEPT = "accept"
    DECLINE = "decline"
    PROGRESS = "progress"
    COMPLETE = "complete"
    FAIL = "fail"


class ReportStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DROPPED = "dropped"


@dataclass(frozen=True)
class Report:
    """One report: ``id`` gives the order of delivery."""

    id: int
    job_id: str
    kind: ReportKind
    body: dict[str, Any]
    status: ReportStatus
    attempts: int = 0
    note: str | None = None


@dataclass
class DeliveryResult:
    """What one :meth:`Outbox.deliver` did: the reports delivered and dropped, how many still wait,
    and why delivery stopped early (None when the outbox was emptied; ``locked_out`` when another
    process held the delivery lock)."""

    delivered: list[Report] = field(default_factory=list)
    dropped: list[Report] = field(default_factory=list)
    remaining: int = 0
    stopped_by: str | None = None
    locked_out: bool = False


class ReportSender(Protocol):
    """Anything that can send a report; :class:`fablab_nodes.hub_client.HubClient` does."""

    def report(self, job_id: str, kind: str, body: dict[str, Any]) -> object: ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Outbox:
    """The ordered queue of reports in the state file of ``db``."""

    def __init__(self, db: StateDB, lock_timeout_s: float = 30.0) -> None:
        self.db = db
        self.lock_path = db.state_dir / "deliver.lock"
        self.lock_timeout_s = lock_timeout_s

    def append(self, job_id: str, kind: ReportKind, body: dict[str, Any],
               conn: sqlite3.Connection | None = None) -> int:
        """Queue a report after all earlier ones; returns its id. With ``conn``, it joins that transaction."""
        with self._conn(conn) as c:
            cur = c.execute("INSERT INTO reports (job_id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                            (job_id, kind.value, json.dumps(body), _now()))
            return int(cur.lastrowid or 0)

    def append_progress(self, job_id: str, percent: float, state: str = "in_production",
                        conn: sqlite3.Connection | None = None) -> tuple[int, int]:
        """Queue a progress report with the job's next ``seq``; returns (report id, seq)."""
        with self._conn(conn) as c:
            c.execute("INSERT INTO seqs (job_id, last_seq) VALUES (?, 1) "
                      "ON CONFLICT (job_id) DO UPDATE SET last_seq = last_seq + 1", (job_id,))
            seq = int(c.execute("SELECT last_seq FROM seqs WHERE job_id = ?", (job_id,)).fetchone()[0])
            body = {"percent": round(float(percent), 1), "state": state, "seq": seq}
            return self.append(job_id, ReportKind.PROGRESS, body, conn=c), seq

    def pending(self) -> list[Report]:
        """The reports not yet delivered, in delivery order."""
        with self.db.transaction() as c:
            rows = c.execute("SELECT * FROM reports WHERE status = 'pending' ORDER BY id").fetchall()
        return [_report(r) for r in rows]

    def reports(self, job_id: str | None = None) -> list[Report]:
        """All reports kept (of one job, if given), in order, whatever their status."""
        with self.db.transaction() as c:
            if job_id is None:
                rows = c.execute("SELECT * FROM reports ORDER BY id").fetchall()
            else:
                rows = c.execute("SELECT * FROM reports WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
        return [_report(r) for r in rows]

    def status(self, report_id: int) -> ReportStatus | None:
        """The status of one report, or None if there is no such report (any more: see :meth:`prune`)."""
        with self.db.transaction() as c:
            row = c.execute("SELECT status FROM reports WHERE id = ?", (report_id,)).fetchone()
        return ReportStatus(row[0]) if row else None

    def deliver(self, client: ReportSender) -> DeliveryResult:
        """Send the pending reports in order until the outbox is empty or the hub cannot take more.

        Stops at the first report the hub cannot take now (unreachable, 5xx, 401/403), so later
        reports never overtake it. Never raises for network problems.
        """
        result = DeliveryResult()
        with self._delivery_lock() as locked:
            if not locked:
                result.stopped_by = "another process is delivering"
                result.locked_out = True
                result.remaining = len(self.pending())
                return result
            for report in self.pending():
                try:
                    client.report(report.job_id, report.kind.value, report.body)
                except HubUnavailable as exc:
                    self._attempted(report, str(exc))
                    result.stopped_by = str(exc)
                    break
                except HubRejected as exc:
                    if exc.status in HOLD_STATUSES:
                        self._attempted(report, str(exc))
                        log.error("the hub refuses this agent's token (%s): reports are kept until it accepts it",
                                  exc.status)
                        result.stopped_by = str(exc)
                        break
                    self._finish(report, ReportStatus.DROPPED, str(exc))
                    log.warning("dropped %s report for job %s: %s", report.kind.value, report.job_id, exc)
                    result.dropped.append(report)
                    continue
                self._finish(report, ReportStatus.DELIVERED)
                log.debug("delivered %s report for job %s", report.kind.value, report.job_id)
                result.delivered.append(report)
            result.remaining = len(self.pending())
        return result

    def prune(self, keep_days: float, keep_last: int, keep_jobs: Iterable[str] = (),
              conn: sqlite3.Connection | None = None) -> int:
        """Delete the delivered and dropped reports that left the queue more than ``keep_days`` ago,
        except the ``keep_last`` newest of them and every report of the jobs in ``keep_jobs``. Pending
        reports are never deleted. Returns how many were. With ``conn``, it joins that transaction."""
        cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat()
        jobs = sorted(set(keep_jobs))
        with self._conn(conn) as c:
            cur = c.execute(
                "DELETE FROM reports WHERE status != 'pending' AND finished_at IS NOT NULL AND finished_at < ? "
                f"AND job_id NOT IN ({','.join('?' * len(jobs))}) "
                "AND id NOT IN (SELECT id FROM reports WHERE status != 'pending' ORDER BY id DESC LIMIT ?)",
                (cutoff, *jobs, max(0, keep_last)))
            pruned = cur.rowcount
        if pruned:
            log.info("outbox: pruned %d delivered report(s)", pruned)
        return pruned

    def _attempted(self, report: Report, note: str) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE reports SET attempts = attempts + 1, note = ? WHERE id = ?", (note, report.id))

    def _finish(self, report: Report, status: ReportStatus, note: str | None = None) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE reports SET status = ?, note = ?, finished_at = ?, attempts = attempts + 1 "
                      "WHERE id = ?", (status.value, note, _now(), report.id))

    @contextmanager
    def _conn(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if conn is not None:
            yield conn
        else:
            with self.db.transaction() as c:
                yield c

    @contextmanager
    def _delivery_lock(self) -> Iterator[bool]:
        with self.lock_path.open("a") as handle:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _report(row: sqlite3.Row) -> Report:
    return Report(id=row["id"], job_id=row["job_id"], kind=ReportKind(row["kind"]), body=json.loads(row["body"]),
                  status=ReportStatus(row["status"]), attempts=row["attempts"], note=row["note"])
