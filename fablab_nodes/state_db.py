"""The agent's local state: one SQLite file (WAL) in ``state_dir``, shared by the outbox, the job
ledger and the drivers, so the running loop and the operator's commands see the same state.

Every use opens a short connection: that is safe across threads and processes, and SQLite's own
locking (with a busy timeout) orders the writers.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_NAME = "agent.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (status, id);
CREATE TABLE IF NOT EXISTS seqs (
    job_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    machine_key TEXT,
    phase TEXT NOT NULL,
    job_json TEXT NOT NULL,
    file_path TEXT,
    accept_report_id INTEGER,
    last_percent REAL,
    reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS driver_jobs (
    machine_key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_s REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    source_path TEXT,
    gcode_name TEXT,
    gcode_removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (machine_key, job_id)
);
"""
# Columns added since the first release: a state file made by an older agent gets them on open.
_ADDED_COLUMNS = {
    "driver_jobs": ("source_path TEXT", "gcode_name TEXT", "gcode_removed INTEGER NOT NULL DEFAULT 0"),
}


class StateDB:
    """The SQLite file ``state_dir/agent.sqlite3``; created with its tables on first use."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / DB_NAME
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        finally:
            conn.close()
        with self.transaction() as c:
            for table, columns in _ADDED_COLUMNS.items():
                have = {row["name"] for row in c.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column.split()[0] not in have:
                        c.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
