"""Designs, their versions and files, and the stored blobs they point at."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cosmoloc_contract.enums import ValidationStatus
from server.db import Base, utcnow


class Blob(Base):
    """One stored file content, kept once by its sha256 however many files point at it."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Design(Base):
    __tablename__ = "designs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    license_id: Mapped[str] = mapped_column(String(64), index=True)
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("designs.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    owner = relationship("Account")
    tags: Mapped[list[DesignTag]] = relationship(cascade="all, delete-orphan", order_by="DesignTag.tag")
    versions: Mapped[list[DesignVersion]] = relationship(
        back_populates="design", cascade="all, delete-orphan", order_by="DesignVersion.number"
    )
    derived_from: Mapped[Design | None] = relationship(remote_side=[id], back_populates="derivatives")
    derivatives: Mapped[list[Design]] = relationship(back_populates="derived_from", order_by="Design.id")


class DesignTag(Base):
    __tablename__ = "design_tags"

    design_id: Mapped[int] = mapped_column(ForeignKey("designs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DesignVersion(Base):
    __tablename__ = "design_versions"
    __table_args__ = (UniqueConstraint("design_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    design_id: Mapped[int] = mapped_column(ForeignKey("designs.id", ondelete="CASCADE"))
    number: Mapped[int]
    changelog: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    design: Mapped[Design] = relationship(back_populates="versions")
    files: Mapped[list[DesignFile]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="DesignFile.position"
    )


class DesignFile(Base):
    """A file of a design version with its validation report and derived requirements."""

    __tablename__ = "design_files"
    __table_args__ = (Index("ix_design_files_status", "validation_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("design_versions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # mesh | drawing | other
    format: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(8), default="mm")
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    validation_status: Mapped[ValidationStatus] = mapped_column(
        Enum(ValidationStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=ValidationStatus.PENDING,
    )
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requirements: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    canonical_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    canonical_format: Mapped[str | None] = mapped_column(String(16))
    thumbnail_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    validated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    version: Mapped[DesignVersion] = relationship(back_populates="files")
    processes: Mapped[list[FileProcess]] = relationship(cascade="all, delete-orphan")


class FileProcess(Base):
    """A process that can make a file (derived at validation), kept as rows so lists can filter on it."""

    __tablename__ = "file_processes"

    file_id: Mapped[int] = mapped_column(ForeignKey("design_files.id", ondelete="CASCADE"), primary_key=True)
    process: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
