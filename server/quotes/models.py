"""Labs' rate cards (every change is a new version row, never an edit, so a quote keeps the card it was made on)
and the reference slices quotes rest on."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
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


class SliceEstimate(Base):
    """One canonical STL sliced for one material in one reference profile (design_commons.slicing): a piece's
    grams, cm3 and printing seconds, or why it could not be sliced (``figures`` None, ``reason`` set), so
    the same bytes are never sliced twice for a profile."""

    __tablename__ = "slice_estimates"
    __table_args__ = (UniqueConstraint("file_sha256", "material", "profile_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(String(64))
    material: Mapped[str] = mapped_column(String(64))  # the vocabulary's canonical name
    profile_sha256: Mapped[str] = mapped_column(String(64))
    mass_g: Mapped[float | None] = mapped_column(Float)
    material_cm3: Mapped[float | None] = mapped_column(Float)
    machine_time_s: Mapped[float | None] = mapped_column(Float)
    slicer_version: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(300))  # set when it could not be sliced
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
