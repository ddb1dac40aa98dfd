"""The ledger's events: one row each, appended and never updated or deleted."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class LedgerEvent(Base):
    """One event of the chain. ``seq`` runs 1, 2, 3, ... with no gap; ``prev`` is the hash before it
    (unique: two events naming the same predecessor would be a fork, which the database refuses);
    ``hash`` = sha256(prev + the canonical JSON of the other fields, see ``design_commons.ledger.chain``)."""

    __tablename__ = "ledger_events"
    __table_args__ = (Index("ix_ledger_events_at", "at"), Index("ix_ledger_events_payee", "payee_kind", "payee_id"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(32))
    provider: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    receiver: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resource: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    quantity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the order an event is about (its resource), for finding an order's events; not hashed: derived from resource
    order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # who a claim or reversal is owed to (account, fablab or fund, and its id), for earnings and the fund's page;
    # not hashed: derived from receiver
    payee_kind: Mapped[str | None] = mapped_column(String(8))
    payee_id: Mapped[int | None] = mapped_column(Integer)
    prev: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ValueChoice(Base):
    """An account's standing choice to send its shares elsewhere: to the commons fund, or to another account.
    Applied when a receipt is written (and shown on it); a receipt already written keeps the choice it had."""

    __tablename__ = "value_choices"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    to_fund: Mapped[bool] = mapped_column(default=False)
    to_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
