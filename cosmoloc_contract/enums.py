"""The vocabularies of the contract, each defined once.

The processes are :data:`design_commons.validation.PROCESSES` (what validation derives from a file);
validation status and issue severity are :mod:`design_commons.reports`' own enums, so a report the
library writes and the answer the hub serves cannot drift apart; a build report's outcome, failure
mode and receipt answer and a version's readiness level are :mod:`design_commons.evidence`'s, the
delivery modes :data:`design_commons.transport.MODES` and the ledger's payee kinds and claim roles
:mod:`design_commons.ledger.split`'s.
"""
from __future__ import annotations

import enum

from design_commons.evidence import FailureMode, FitForPurpose, Outcome, Readiness
from design_commons.ledger.split import PAYEE_ORDER, ROLE_ORDER
from design_commons.reports import Severity, ValidationStatus
from design_commons.transport import MODES as DELIVERY_MODES
from design_commons.validation import PROCESSES

__all__ = ["DELIVERY_MODES", "PROCESSES", "DeliveryMode", "FailureMode", "FileKind", "FitForPurpose", "JobState",
           "LabKind", "MachineState", "OrderStatus", "Outcome", "PayeeKind", "Process", "QuoteSort", "Readiness",
           "ClaimRole", "Severity", "ValidationStatus"]

#: A manufacturing process (``fdm``, ``laser_cutting``, ...): the names of :data:`PROCESSES`.
Process = enum.StrEnum("Process", {name.upper(): name for name in PROCESSES})  # type: ignore[misc]

#: How the part travels its last leg (``walk_bike``, ..., ``parcel``): the names of :data:`DELIVERY_MODES`.
DeliveryMode = enum.StrEnum("DeliveryMode", {name.upper(): name for name in DELIVERY_MODES})  # type: ignore[misc]


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


class QuoteSort(enum.StrEnum):
    """How quotes are ranked."""

    NEAREST = "nearest"
    CHEAPEST = "cheapest"
    SOONEST = "soonest"


#: Who a value claim pays (``account``, ``fablab``, ``fund``) and why (``lab``, ``designer``, ``ancestor``,
#: ``fund``): the names the ledger's split orders claims by.
PayeeKind = enum.StrEnum("PayeeKind", {name.upper(): name for name in PAYEE_ORDER})  # type: ignore[misc]
ClaimRole = enum.StrEnum("ClaimRole", {name.upper(): name for name in ROLE_ORDER})  # type: ignore[misc]
