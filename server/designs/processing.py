"""Background work on stored files: validate in a bounded child, keep the report, canonical file and thumbnail."""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from sqlalchemy.orm import Session

from design_commons.limits import Limits
from design_commons.reports import Report
from design_commons.sandbox import SandboxSlots, validate_isolated
from server.db import Database, utcnow
from server.designs.blobs import ensure_blob
from server.designs.models import DesignFile, FileProcess, ValidationStatus
from server.storage import BlobStore

log = logging.getLogger(__name__)

OnDone = Callable[[Session, int, str], None]


def _put_blob(session: Session, store: BlobStore, data: bytes) -> str:
    sha, _created = store.put_bytes(data)
    ensure_blob(session, sha, len(data))  # a worker validating the same bytes may have written it first
    return sha


def validate_stored_file(database: Database, store: BlobStore, limits: Limits, file_id: int,
                         on_done: OnDone | None = None, slots: SandboxSlots | None = None) -> str | None:
    """Validate one stored design file unless it already has a verdict; return the status.

    The database is not held while the child parses (that may take seconds): read, close,
    parse, then write the outcome in one short transaction. ``slots`` bounds the sandboxes
    this process runs at once; background work waits for a slot, and leaves one for callers who wait.
    """
    with database.session() as session:
        row = session.get(DesignFile, file_id)
        if row is None or row.validation_status != ValidationStatus.PENDING:
            return None
        path, filename, unit = store.path(row.sha256), row.filename, row.unit
    with slots.hold(background=True) if slots is not None else nullcontext():
        result = validate_isolated(path, filename, unit, limits)
    report = dict(result.report)
    if result.resource_limited:
        report["resource_limited"] = True  # see reusable_verdict: the next upload is checked again
    with database.session() as session:
        row = session.get(DesignFile, file_id, with_for_update=True)
        if row is None or row.validation_status != ValidationStatus.PENDING:
            return None
        row.report = report
        row.requirements = result.requirements
        row.validation_status = ValidationStatus(result.report["status"])
        row.kind = result.kind
        row.format = result.format
        if result.canonical is not None:
            row.canonical_sha256 = _put_blob(session, store, result.canonical)
            row.canonical_format = result.canonical_ext
        if result.thumbnail_png is not None:
            row.thumbnail_sha256 = _put_blob(session, store, result.thumbnail_png)
        row.processes = [FileProcess(process=p) for p in result.requirements.get("processes", [])]
        row.validated_at = utcnow()
        status = row.validation_status.value
        session.flush()
        if on_done is not None:
            on_done(session, file_id, status)  # orders waiting for this file move on in the same transaction
    log.info("validated file %s: %s", file_id, status)
    return status


def mark_failed(database: Database, file_id: int, reason: str, on_done: OnDone | None = None) -> str | None:
    """Give a file that could not be validated (the task kept failing) a failed verdict with the reason.

    Never leaves the file pending: its orders are released (rejected) like any failed file's.
    The verdict is not reused for later uploads of the same bytes.
    """
    with database.session() as session:
        row = session.get(DesignFile, file_id, with_for_update=True)
        if row is None or row.validation_status != ValidationStatus.PENDING:
            return None
        report = Report()
        report.error("validation_error", f"The hub could not finish checking this file ({reason[:200]}).",
                     "Upload it again as a new version; if that fails too, tell the hub's operators.")
        row.report = {**report.to_dict(), "resource_limited": True}
        row.requirements = {"processes": []}
        row.validation_status = ValidationStatus.FAILED
        row.validated_at = utcnow()
        session.flush()
        if on_done is not None:
            on_done(session, file_id, ValidationStatus.FAILED.value)
    log.warning("file %s marked failed after repeated errors: %s", file_id, reason)
    return ValidationStatus.FAILED.value


def queue_validation(tasks: Any, design: Any) -> None:
    """Queue validation of the design's files still waiting for it (call after the commit)."""
    for version in design.versions:
        for row in version.files:
            if row.validation_status == ValidationStatus.PENDING:
                tasks.enqueue("validate_file", row.id)
