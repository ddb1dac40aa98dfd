"""Build reports (one per job), their photos, and the citizen's receipt of an order."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cosmoloc_contract.evidence import BuildReport, Machine, Material, Settings
from design_commons.evidence import FailureMode, FitForPurpose, Outcome
from server.db import Base, str_enum, utcnow

#: Photos one report may carry.
MAX_PHOTOS = 6


class BuildReportRecord(Base):
    """What a lab reported of one job; the citizen's receipt lives on :class:`Receipt`."""

    __tablename__ = "build_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome))
    failure_mode: Mapped[FailureMode | None] = mapped_column(str_enum(FailureMode))
    machine_make: Mapped[str | None] = mapped_column(String(100))
    machine_model: Mapped[str | None] = mapped_column(String(100))
    material_name: Mapped[str] = mapped_column(String(64))
    material_brand: Mapped[str | None] = mapped_column(String(100))
    material_lot: Mapped[str | None] = mapped_column(String(100))
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    estimated_time_s: Mapped[float | None] = mapped_column(Float)
    actual_time_s: Mapped[float | None] = mapped_column(Float)
    estimated_mass_g: Mapped[float | None] = mapped_column(Float)
    actual_mass_g: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    notes: Mapped[str] = mapped_column(String(2000), default="")
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    photos: Mapped[list[BuildPhoto]] = relationship(back_populates="report", order_by="BuildPhoto.id",
                                                      cascade="all, delete-orphan")

    def to_report(self) -> BuildReport:
        machine = (Machine(make=self.machine_make, model=self.machine_model)
                   if self.machine_make and self.machine_model else None)
        return BuildReport(
            outcome=self.outcome, failure_mode=self.failure_mode, machine=machine,
            material=Material(name=self.material_name, brand=self.material_brand, lot=self.material_lot),
            settings=Settings.model_validate(self.settings) if self.settings is not None else None,
            estimated_time_s=self.estimated_time_s, actual_time_s=self.actual_time_s,
            estimated_mass_g=self.estimated_mass_g, actual_mass_g=self.actual_mass_g,
            attempts=self.attempts, notes=self.notes)

    def store(self, report: BuildReport) -> None:
        self.outcome, self.failure_mode = report.outcome, report.failure_mode
        self.machine_make = report.machine.make if report.machine else None
        self.machine_model = report.machine.model if report.machine else None
        self.material_name, self.material_brand = report.material.name, report.material.brand
        self.material_lot = report.material.lot
        self.settings = report.settings.known() if report.settings is not None else None
        self.estimated_time_s, self.actual_time_s = report.estimated_time_s, report.actual_time_s
        self.estimated_mass_g, self.actual_mass_g = report.estimated_mass_g, report.actual_mass_g
        self.attempts, self.notes = report.attempts, report.notes


class BuildPhoto(Base):
    """A photo of the made part, re-encoded without metadata; both files are blobs."""

    __tablename__ = "build_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("build_reports.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    thumbnail_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    media_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    report: Mapped[BuildReportRecord] = relationship(back_populates="photos")


class ReceiptRecord(Base):
    """The citizen's confirmation that an order arrived, with their word on the part."""

    __tablename__ = "receipts"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    fit_for_purpose: Mapped[FitForPurpose | None] = mapped_column(str_enum(FitForPurpose))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    confirmed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
