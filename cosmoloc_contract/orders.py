"""Orders, their candidates and jobs (API.md, "Orders" and "Node (agent) endpoints": Order, Job)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cosmoloc_contract.common import Answer, Items, Page
from cosmoloc_contract.designs import Requirements
from cosmoloc_contract.enums import JobState, OrderStatus
from cosmoloc_contract.fields import DbId, ProcessName, Timestamp

MAX_ORDER_DISTANCE_KM = 1000.0

# -- requests --------------------------------------------------------------------------------


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500, description="instead of latitude and longitude")


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    design_id: DbId
    file_id: DbId | None = Field(default=None, description="default: the first manufacturable file of the latest version")
    quantity: int = Field(default=1, ge=1, le=10_000)
    material: str = Field(min_length=1, max_length=64)
    process: ProcessName | None = None
    thickness_mm: float | None = Field(default=None, gt=0, le=1000, description="sheet stock, for cutting")
    delivery: Delivery
    max_distance_km: float = Field(default=100.0, gt=0, le=MAX_ORDER_DISTANCE_KM)

    @field_validator("material")
    @classmethod
    def _material(cls, v: str) -> str:
        if not v.strip():  # "   " would be stored as an empty material that no lab lists
            raise ValueError("say which material (it cannot be only spaces)")
        return v.strip()


# -- answers ---------------------------------------------------------------------------------


class JobSummary(Answer):
    id: int
    state: JobState
    expires_at: Timestamp | None
    machine_key: str | None
    progress: float | None


class DeliveryPlace(Answer):
    """Where an order goes, or (``approximate``) only its area: the point rounded to 0.1 degree."""

    latitude: float
    longitude: float
    address: str | None
    approximate: bool | None = None


class OrderLab(Answer):
    id: int
    name: str
    distance_km: float


class OrderEvent(Answer):
    at: Timestamp
    kind: str
    detail: dict[str, Any] | None


class Order(Answer):
    id: int
    status: OrderStatus
    design_id: int
    file_id: int
    quantity: int
    material: str
    process: str | None
    thickness_mm: float | None
    delivery: DeliveryPlace
    max_distance_km: float
    fablab: OrderLab | None
    job: JobSummary | None
    failed_attempts: int
    created_at: Timestamp
    updated_at: Timestamp
    events: list[OrderEvent]


OrderList = Page[Order]


class CandidateLab(Answer):
    id: int
    name: str


class Candidate(Answer):
    fablab: CandidateLab
    machine_key: str | None
    distance_km: float
    eligible: bool
    reasons: list[str]


CandidateList = Items[Candidate]


class JobDesign(Answer):
    id: int
    title: str
    license: str


class JobFile(Answer):
    """The file a lab makes: the canonical manufacturing file when there is one."""

    id: int
    filename: str
    format: str
    sha256: str
    size_bytes: int | None
    original_filename: str
    requirements: Requirements


class Job(JobSummary):
    """A job as its lab sees it: ``delivery`` is the area until the lab accepts, then the place."""

    order_id: int
    quantity: int
    material: str
    process: str | None
    thickness_mm: float | None
    distance_km: float
    delivery: DeliveryPlace
    reason: str | None
    created_at: Timestamp
    updated_at: Timestamp
    design: JobDesign
    file: JobFile


JobList = Page[Job]
