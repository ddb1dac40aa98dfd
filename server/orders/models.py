"""Orders, their event history, and jobs (one offer of an order to one lab)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cosmoloc_contract.enums import JobState, OrderStatus
from server.db import Base, str_enum, utcnow

LIVE_JOB_STATES = (JobState.OFFERED, JobState.ACCEPTED, JobState.IN_PRODUCTION)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status", "status"), Index("ix_orders_citizen", "citizen_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    design_id: Mapped[int] = mapped_column(ForeignKey("designs.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("design_files.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    material: Mapped[str] = mapped_column(String(64))
    process: Mapped[str | None] = mapped_column(String(32))
    thickness_mm: Mapped[float | None] = mapped_column(Float)
    delivery_latitude: Mapped[float] = mapped_column(Float)
    delivery_longitude: Mapped[float] = mapped_column(Float)
    delivery_address: Mapped[str] = mapped_column(String(500), default="")
    max_distance_km: Mapped[float] = mapped_column(Float, default=100.0)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    fablab_id: Mapped[int | None] = mapped_column(ForeignKey("fablabs.id"))
    distance_km: Mapped[float | None] = mapped_column(Float)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    next_match_at: Mapped[dt.datetime | None]  # when an unmatched order is tried again
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    events: Mapped[list[OrderEvent]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                      order_by="OrderEvent.id")
    jobs: Mapped[list[Job]] = relationship(back_populates="order", order_by="Job.id",
                                             foreign_keys="Job.order_id")
    fablab = relationship("Fablab")
    file = relationship("DesignFile")
    design = relationship("Design")


class OrderEvent(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    order: Mapped[Order] = relationship(back_populates="events")


class Job(Base):
    """One offer of an order to one lab. ``live_order_id`` equals ``order_id`` while the job is live and is
    NULL after; its unique constraint is the database's guarantee of at most one live job per order."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_expires", "state", "expires_at"), Index("ix_jobs_lab_state", "fablab_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    live_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    fablab_id: Mapped[int] = mapped_column(ForeignKey("fablabs.id"))
    machine_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[JobState] = mapped_column(str_enum(JobState))
    distance_km: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[dt.datetime | None]
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(500), default="")
    note: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="jobs", foreign_keys=[order_id])
    fablab = relationship("Fablab")
