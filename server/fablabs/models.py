"""Fablabs (nodes), their machines and the recent state history of each machine."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, str_enum, utcnow


class LabKind(enum.StrEnum):
    FABLAB = "fablab"
    MAKERSPACE = "makerspace"
    COOPERATIVE = "cooperative"
    NONPROFIT = "nonprofit"
    COMPANY = "company"
    INDIVIDUAL = "individual"


class MachineState(enum.StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    PAUSED = "paused"
    ERROR = "error"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


# States in which a machine can take a job (busy ones queue it): what matching looks for, and what a
# heartbeat watches for capacity appearing.
AVAILABLE = (MachineState.IDLE, MachineState.BUSY)


class Fablab(Base):
    __tablename__ = "fablabs"
    __table_args__ = (
        # covering: the directory counts and measures the labs of small cells from this index alone
        Index("ix_fablabs_cell_micro", "cell_micro", "latitude", "longitude", "id"),
        Index("ix_fablabs_cell_fine", "cell_fine"),
        Index("ix_fablabs_cell_mid", "cell_mid"),
        Index("ix_fablabs_cell_coarse", "cell_coarse"),
        Index("ix_fablabs_latitude", "latitude"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[LabKind] = mapped_column(str_enum(LabKind))
    description: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    # grid cells of the location at four nested sizes: the spatial prefilter of directory and matching queries
    cell_micro: Mapped[int] = mapped_column(Integer)
    cell_fine: Mapped[int] = mapped_column(Integer)
    cell_mid: Mapped[int] = mapped_column(Integer)
    cell_coarse: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(500), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    location_approximate: Mapped[bool] = mapped_column(default=False)
    accepting_orders: Mapped[bool] = mapped_column(default=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    node_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    node_token_prefix: Mapped[str | None] = mapped_column(String(20))
    last_seen_at: Mapped[dt.datetime | None]
    agent: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(40), default="registered")  # registered | import
    import_key: Mapped[str | None] = mapped_column(String(200), unique=True)  # de-duplicates imports
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    operator = relationship("Account")
    machines: Mapped[list[Machine]] = relationship(back_populates="fablab", cascade="all, delete-orphan",
                                                     order_by="Machine.key")


class Machine(Base):
    __tablename__ = "machines"
    __table_args__ = (UniqueConstraint("fablab_id", "key"), Index("ix_machines_process", "process"))

    id: Mapped[int] = mapped_column(primary_key=True)
    fablab_id: Mapped[int] = mapped_column(ForeignKey("fablabs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    process: Mapped[str] = mapped_column(String(32))
    build_x_mm: Mapped[float] = mapped_column(Float)
    build_y_mm: Mapped[float] = mapped_column(Float)
    build_z_mm: Mapped[float] = mapped_column(Float)
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[MachineState] = mapped_column(str_enum(MachineState), default=MachineState.OFFLINE)
    state_reported_at: Mapped[dt.datetime | None]
    queue_length: Mapped[int] = mapped_column(default=0)
    # seconds of work waiting on it (the current job's remainder included) as of state_reported_at; None: its
    # agent does not say
    queue_s: Mapped[int | None] = mapped_column(default=None)
    sampled_at: Mapped[dt.datetime | None]  # when the state history last took a sample of this machine
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    fablab: Mapped[Fablab] = relationship(back_populates="machines")


class MachineStateSample(Base):
    """One reported state of a machine; a short history is kept for availability pictures."""

    __tablename__ = "machine_state_samples"
    __table_args__ = (Index("ix_machine_state_samples_machine_at", "machine_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"))
    state: Mapped[MachineState] = mapped_column(str_enum(MachineState))
    queue_length: Mapped[int] = mapped_column(default=0)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
