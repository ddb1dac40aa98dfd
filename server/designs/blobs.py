"""Blob rows beside the stored files: added if absent, collected when nothing points at them.

Several requests and workers may store the same bytes at the same moment (two people
uploading one popular file, two workers writing the same canonical mesh). A blob row is
therefore inserted with ``ON CONFLICT``: the loser of the race simply uses the winner's row,
and no failed INSERT is left in anybody's session. A row that exists already is touched (its
``created_at`` set to now), which locks it for the rest of the transaction and makes it young,
so the sweep cannot delete it under an upload that is about to point at it.

Files are never removed because a request failed (a concurrent request may be about to
commit a row pointing at the same bytes); :func:`sweep_orphans` removes, every few minutes,
rows and files that nothing has pointed at for longer than a grace period.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import Database, utcnow
from server.designs.models import Blob, DesignFile
from server.storage import BlobStore

log = logging.getLogger(__name__)

SWEEP_CHUNK = 500  # stored files looked up per query by the sweep


def ensure_blob(session: Session, sha256: str, size_bytes: int) -> None:
    """Add the blob row for ``sha256``, or touch it if it exists (or a concurrent transaction adds it first)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    session.execute(insert(Blob).values(sha256=sha256, size_bytes=size_bytes, created_at=now)
                    .on_conflict_do_update(index_elements=["sha256"], set_={"created_at": now}))


def _referenced(sha_column: Any) -> ColumnElement[bool]:
    from server.evidence.models import BuildPhoto

    return or_(exists().where(or_(DesignFile.sha256 == sha_column, DesignFile.canonical_sha256 == sha_column,
                                  DesignFile.thumbnail_sha256 == sha_column)),
               exists().where(or_(BuildPhoto.sha256 == sha_column, BuildPhoto.thumbnail_sha256 == sha_column)))


def sweep_orphans(database: Database, store: BlobStore, grace_s: float, now: float | None = None) -> int:
    """Remove blob rows no file points at and stored files with no row, both older than ``grace_s``.

    Returns how many stored files were removed. Safe beside running requests: a row or file
    written less than ``grace_s`` seconds ago stays, every upload refreshes its file's mtime, and
    on PostgreSQL a row that a concurrent transaction is starting to use cannot be deleted (the
    foreign key refuses, and that row is kept).
    """
    now = time.time() if now is None else now
    cutoff = now - grace_s
    cutoff_at = dt.datetime.fromtimestamp(cutoff, dt.UTC)
    with database.session() as session:
        stale = list(session.scalars(select(Blob.sha256).where(Blob.created_at < cutoff_at,
                                                              ~_referenced(Blob.sha256)).limit(1000)))
    for sha in stale:
        try:
            with database.session() as session:
                # created_at again: an upload may have touched the row since it was listed
                session.execute(delete(Blob).where(Blob.sha256 == sha, Blob.created_at < cutoff_at,
                                                   ~_referenced(Blob.sha256)))
                session.commit()
        except IntegrityError:
            continue  # a file began to point at it meanwhile: it stays
    removed = 0
    old = [sha for sha, mtime in store.stored() if mtime < cutoff]
    for start in range(0, len(old), SWEEP_CHUNK):
        chunk = old[start:start + SWEEP_CHUNK]
        with database.session() as session:
            rowed = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(chunk))))
        removed += sum(1 for sha in chunk if sha not in rowed and store.remove_if_older(sha, cutoff))
    if removed or stale:
        log.info("blob sweep: %d unreferenced rows, %d stored files removed", len(stale), removed)
    return removed
