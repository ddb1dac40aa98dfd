"""The vocabularies of the contract, each defined once.

The processes are :data:`design_commons.validation.PROCESSES` (what validation derives from a file);
validation status and issue severity are :mod:`design_commons.reports`' own enums, so a report the
library writes and the answer the hub serves cannot drift apart.
"""
from __future__ import annotations

import enum

from design_commons.reports import Severity, ValidationStatus
from design_commons.validation import PROCESSES

__all__ = ["PROCESSES", "JobState", "LabKind", "MachineState", "OrderStatus", "Process", "Severity",
           "ValidationStatus", "FileKind"]

#: A manufacturing process (``fdm``, ``laser_cutting``, ...): the names of :data:`PROCESSES`.
Process = enum.StrEnum("Process", {name.upper(): name for name in PROCESSES})  # type: ignore[misc]


class OrderStatus(enum.StrEnum):
    VALIDATING = "validating"
    REJECTED = "rejected"
    MATCHING = "matching"
    UNMATCHED = "unmatched"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    RECEIVED = "received"
    CANCELLED = "cancelled"
    FAILED = "failed"


class JobState(enum.StrEnum):
    """One offer of an order to one lab, as the hub and the lab's agent both see it."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    FAILED = "failed"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class MachineState(enum.StrEnum):
    """A machine's state as a heartbeat reports it and the hub records it (DESIGN.md, "Machine")."""

    IDLE = "idle"
    BUSY = "busy"
    PAUSED = "paused"
    ERROR = "error"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


class LabKind(enum.StrEnum):
    FABLAB = "fablab"
    MAKERSPACE = "makerspace"
    COOPERATIVE = "cooperative"
    NONPROFIT = "nonprofit"
    COMPANY = "company"
    INDIVIDUAL = "individual"


class FileKind(enum.StrEnum):
    MESH = "mesh"
    DRAWING = "drawing"
    OTHER = "other"
