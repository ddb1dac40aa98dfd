"""Labs' rate cards: every change is a new version row, never an edit, so a quote keeps the card it was made on."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class RateCardVersion(Base):
    __tablename__ = "rate_card_versions"
    __table_args__ = (UniqueConstraint("fablab_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fablab_id: Mapped[int] = mapped_column(ForeignKey("fablabs.id", ondelete="CASCADE"))
    version: Mapped[int]  # 1, 2, ... per lab; the highest is in force
    card: Mapped[dict[str, Any]] = mapped_column(JSON)  # API.md's shape, as design_commons.pricing writes it
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
