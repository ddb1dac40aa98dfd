"""Background work on stored files: validate in a bounded child, keep the report, canonical file and thumbnail."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from design_commons.limits import Limits
from design_commons.sandbox import validate_isolated
from server.db import Database, utcnow
from server.designs.models import Blob, DesignFile, FileProcess, ValidationStatus
from server.storage import BlobStore

log = logging.getLogger(__name__)


def _put_blob(session: Any, store: BlobStore, data: bytes) -> str:
    sha, _created = store.put_bytes(data)
    if session.get(Blob, sha) is None:
        session.add(Blob(sha256=sha, size_bytes=len(data)))
        session.flush()
    return sha


def validate_stored_file(database: Database, store: BlobStore, limits: Limits, file_id: int,
                         on_done: Callable[[Session, int, str], None] | None = None) -> str | None:
    """Validate one stored design file unless it already has a verdict; return the status.

    The database is not held while the child parses (that may take seconds): read, close,
    parse, then write the outcome in one short transaction.
    """
    with database.session() as session:
        row = session.get(DesignFile, file_id)
        if row is None or row.validation_status != ValidationStatus.PENDING:
            return None
        path, filename, unit = store.path(row.sha256), row.filename, row.unit
    result = validate_isolated(path, filename, unit, limits)
    with database.session() as session:
        row = session.get(DesignFile, file_id, with_for_update=True)
        if row is None or row.validation_status != ValidationStatus.PENDING:
            return None
        row.report = result.report
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


def queue_validation(tasks: Any, design: Any) -> None:
    """Queue validation of the design's files still waiting for it (call after the commit)."""
    for version in design.versions:
        for row in version.files:
            if row.validation_status == ValidationStatus.PENDING:
                tasks.enqueue("validate_file", row.id)
