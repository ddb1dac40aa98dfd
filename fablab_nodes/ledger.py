"""The ledger: the jobs this lab has decided on, and how far each has got, in the state SQLite file.

A job's phase changes together with the report that tells the hub about it, in one transaction,
so the ledger and the outbox never disagree, and the run loop and the operator's commands (two
processes) cannot both report the end of one job.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from fablab_nodes.jobs import Job
from fablab_nodes.outbox import Outbox, ReportKind
from fablab_nodes.state_db import StateDB


class Phase(StrEnum):
    """Where a job stands at this lab."""

    ACCEPTING = "accepting"      # accept queued in the outbox, not yet confirmed by the hub
    DOWNLOADING = "downloading"  # accepted: the file is to be fetched and checked
    READY = "ready"              # file checked, waiting for its machine to be free
    PRODUCING = "producing"      # started on the machine
    FINISHED = "finished"        # complete reported
    FAILED = "failed"            # fail reported
    CANCELLED = "cancelled"      # the hub withdrew it; the machine was told to stop
    ABANDONED = "abandoned"      # the hub would not let us accept it
    DECLINED = "declined"        # decline reported


ACTIVE_PHASES = frozenset({Phase.ACCEPTING, Phase.DOWNLOADING, Phase.READY, Phase.PRODUCING})
WAITING_PHASES = frozenset({Phase.ACCEPTING, Phase.DOWNLOADING, Phase.READY})


@dataclass(frozen=True)
class LocalJob:
    """A job as the ledger holds it; ``last_percent`` is the last progress queued for the hub."""

    job_id: str
    machine_key: str | None
    phase: Phase
    job: Job
    file_path: Path | None
    accept_report_id: int | None
    last_percent: float | None
    reason: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Ledger:
    """Read and change the jobs of the state file; every change that the hub must hear of queues its report."""

    def __init__(self, db: StateDB, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    def get(self, job_id: str) -> LocalJob | None:
        with self.db.transaction() as c:
            row = c.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _local(row) if row else None

    def active(self) -> list[LocalJob]:
        """Jobs accepted (or being accepted) and not finished, oldest first."""
        marks = ",".join("?" * len(ACTIVE_PHASES))
        with self.db.transaction() as c:
            rows = c.execute(f"SELECT * FROM jobs WHERE phase IN ({marks}) ORDER BY created_at, job_id",
                             tuple(p.value for p in ACTIVE_PHASES)).fetchall()
        return [_local(r) for r in rows]

    def known_ids(self) -> set[str]:
        """Every job this lab has already decided on."""
        with self.db.transaction() as c:
            return {r[0] for r in c.execute("SELECT job_id FROM jobs")}

    def waiting_jobs(self, machine_key: str) -> list[LocalJob]:
        """The accepted jobs that wait for this machine (not started on it yet), oldest first."""
        marks = ",".join("?" * len(WAITING_PHASES))
        with self.db.transaction() as c:
            rows = c.execute(f"SELECT * FROM jobs WHERE machine_key = ? AND phase IN ({marks}) "
                             "ORDER BY created_at, job_id", (machine_key, *(p.value for p in WAITING_PHASES))).fetchall()
        return [_local(r) for r in rows]

    def waiting_on(self, machine_key: str) -> int:
        """How many accepted jobs wait for this machine (its queue, beyond what it is making)."""
        marks = ",".join("?" * len(WAITING_PHASES))
        with self.db.transaction() as c:
            row = c.execute(f"SELECT count(*) FROM jobs WHERE machine_key = ? AND phase IN ({marks})",
                            (machine_key, *(p.value for p in WAITING_PHASES))).fetchone()
        return int(row[0])

    def accept(self, job: Job, machine_key: str) -> LocalJob:
        """Queue the accept of ``job`` for ``machine_key`` and hold the job as ACCEPTING."""
        with self.db.transaction() as c:
            report_id = self.outbox.append(job.id, ReportKind.ACCEPT, {"machine_key": machine_key}, conn=c)
            self._upsert(c, job, Phase.ACCEPTING, machine_key=machine_key, accept_report_id=report_id)
        result = self.get(job.id)
        assert result is not None
        return result

    def decline(self, job: Job, reason: str) -> int:
        """Queue the decline of ``job`` with ``reason``; returns the report's id."""
        with self.db.transaction() as c:
            report_id = self.outbox.append(job.id, ReportKind.DECLINE, {"reason": _clip(reason)}, conn=c)
            self._upsert(c, job, Phase.DECLINED, reason=reason)
        return report_id

    def move(self, job_id: str, phase: Phase, expect: frozenset[Phase] | set[Phase] | None = None,
             **fields: Any) -> bool:
        """Set the phase (and ``file_path``/``reason``/``last_percent`` if given); with ``expect``,
        only if the job is in one of those phases. Returns whether it changed."""
        with self.db.transaction() as c:
            return self._move(c, job_id, phase, expect, **fields)

    def progress(self, job_id: str, percent: float) -> int | None:
        """Queue a progress report (next seq) if the job is producing; returns the seq."""
        with self.db.transaction() as c:
            if not self._move(c, job_id, Phase.PRODUCING, {Phase.PRODUCING}, last_percent=percent):
                return None
            return self.outbox.append_progress(job_id, percent, conn=c)[1]

    def finish(self, job_id: str, ok: bool, reason: str = "", note: str | None = None) -> bool:
        """End an active job: queue complete (``ok``) or fail with ``reason``. Only the first caller
        to end a job reports it; returns whether this call did."""
        phase = Phase.FINISHED if ok else Phase.FAILED
        with self.db.transaction() as c:
            row = c.execute("SELECT last_percent FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if not self._move(c, job_id, phase, ACTIVE_PHASES, reason=reason or None):
                return False
            if ok:
                if row is not None and row[0] is None:
                    # Nothing told the hub production began (made by hand, say): say so first.
                    self.outbox.append_progress(job_id, 100.0, conn=c)
                self.outbox.append(job_id, ReportKind.COMPLETE, {"note": note[:2000]} if note else {}, conn=c)
            else:
                self.outbox.append(job_id, ReportKind.FAIL, {"reason": _clip(reason or "failed at the lab")}, conn=c)
        return True

    def prune_reports(self, keep_days: float, keep_last: int) -> int:
        """Prune the outbox (:meth:`Outbox.prune`), keeping every report of the jobs still in hand."""
        marks = ",".join("?" * len(ACTIVE_PHASES))
        with self.db.transaction() as c:
            active = [r[0] for r in c.execute(f"SELECT job_id FROM jobs WHERE phase IN ({marks})",
                                              tuple(p.value for p in ACTIVE_PHASES))]
            return self.outbox.prune(keep_days, keep_last, keep_jobs=active, conn=c)

    def _upsert(self, c: sqlite3.Connection, job: Job, phase: Phase, machine_key: str | None = None,
                accept_report_id: int | None = None, reason: str | None = None) -> None:
        now = _now()
        c.execute("INSERT INTO jobs (job_id, machine_key, phase, job_json, accept_report_id, reason, created_at,"
                  " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                  " machine_key = excluded.machine_key, phase = excluded.phase, job_json = excluded.job_json,"
                  " accept_report_id = excluded.accept_report_id, reason = excluded.reason,"
                  " updated_at = excluded.updated_at",
                  (job.id, machine_key, phase.value, json.dumps(job.raw), accept_report_id, reason, now, now))

    @staticmethod
    def _move(c: sqlite3.Connection, job_id: str, phase: Phase, expect: frozenset[Phase] | set[Phase] | None,
              **fields: Any) -> bool:
        allowed = {"file_path", "reason", "last_percent"}
        assert set(fields) <= allowed, set(fields) - allowed
        sets = ", ".join(f"{k} = ?" for k in fields)
        values: list[Any] = [str(v) if isinstance(v, Path) else v for v in fields.values()]
        sql = f"UPDATE jobs SET phase = ?, updated_at = ?{', ' + sets if sets else ''} WHERE job_id = ?"
        params: list[Any] = [phase.value, _now(), *values, job_id]
        if expect is not None:
            sql += f" AND phase IN ({','.join('?' * len(expect))})"
            params.extend(p.value for p in expect)
        return c.execute(sql, params).rowcount == 1


def _clip(reason: str, limit: int = 500) -> str:
    """A reason the hub takes (it refuses longer than 500 characters, or empty)."""
    reason = reason.strip() or "no reason given"
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _local(row: sqlite3.Row) -> LocalJob:
    return LocalJob(job_id=row["job_id"], machine_key=row["machine_key"], phase=Phase(row["phase"]),
                    job=Job.from_json(json.loads(row["job_json"])),
                    file_path=Path(row["file_path"]) if row["file_path"] else None,
                    accept_report_id=row["accept_report_id"], last_percent=row["last_percent"],
                    reason=row["reason"])
