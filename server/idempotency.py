"""``Idempotency-Key`` for POSTs that create: the same key from the same caller gets the first answer.

The key row is inserted in the same transaction as what the request creates, so a retry
either finds the stored answer or runs the whole request again; never half of it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.db import Base, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # caller and endpoint
    key: Mapped[str] = mapped_column(String(64))  # sha256 of the client's key
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                          IdempotencyRecord.key == _hash(key)))


def remember(session: Session, scope: str, key: str, status: int, body: Any) -> None:
    session.add(IdempotencyRecord(scope=scope, key=_hash(key), status=status, body=body))
