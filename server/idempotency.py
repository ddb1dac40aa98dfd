"""``Idempotency-Key`` for POSTs that create: the same key from the same account gets the first answer.

The key row is inserted in the same transaction as what the request creates, so a retry
either finds the stored answer or runs the whole request again; never half of it. Keys are
scoped to the account (anonymous callers' keys are not honoured: strangers share addresses),
remember a fingerprint of the request (the same key with another body is a 422), and are kept
at least ``KEEP_FOR``, then pruned.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask import Request
from sqlalchemy import JSON, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db import Base, utcnow

KEEP_FOR = dt.timedelta(hours=24)
_CHUNK = 1024 * 1024


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # caller and endpoint
    key: Mapped[str] = mapped_column(String(64))  # sha256 of the client's key
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    # sha256 of the request (path, body, uploaded bytes); None on records from before it was kept
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(request: Request) -> str:
    """sha256 of what the request asks for: path, JSON body or form fields, and uploaded files' bytes.

    Uploaded files are read back from their spooled copies in 1 MB chunks and rewound, so
    the view reads them as before and a 100 MB upload is never held in memory.
    """
    digest = hashlib.sha256(request.path.encode())
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(b"\0f" + name.encode() + b"\0" + value.encode())
        for name, upload in request.files.items(multi=True):
            digest.update(b"\0u" + name.encode() + b"\0" + (upload.filename or "").encode() + b"\0")
            while chunk := upload.stream.read(_CHUNK):
                digest.update(chunk)
            upload.stream.seek(0)
    else:
        digest.update(b"\0b" + request.get_data(cache=True))
    return digest.hexdigest()


def find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                          IdempotencyRecord.key == _hash(key)))


def remember(session: Session, scope: str, key: str, status: int, body: Any, request_hash: str) -> None:
    """Store the answer with the request's fingerprint (records past ``KEEP_FOR`` go in the hub's tidy-up)."""
    session.add(IdempotencyRecord(scope=scope, key=_hash(key), status=status, body=body, request_hash=request_hash))


def prune(session: Session, now: dt.datetime | None = None) -> int:
    """Delete the records older than ``KEEP_FOR`` (in the caller's transaction); return how many."""
    cutoff = (now or utcnow()) - KEEP_FOR
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
