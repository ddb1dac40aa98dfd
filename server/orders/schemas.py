"""Request bodies and JSON shapes of orders and jobs (API.md: Order, Job)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.fablabs.schemas import PROCESSES
from server.input_rules import MAX_DB_INT, DbId
from server.orders.models import Job, Order

MAX_ORDER_DISTANCE_KM = 1000.0


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    design_id: DbId
    file_id: DbId | None = None
    quantity: int = Field(default=1, ge=1, le=10_000)
    material: str = Field(min_length=1, max_length=64)
    process: str | None = None
    thickness_mm: float | None = Field(default=None, gt=0, le=1000)
    delivery: Delivery
    max_distance_km: float = Field(default=100.0, gt=0, le=MAX_ORDER_DISTANCE_KM)

    @field_validator("process")
    @classmethod
    def _process(cls, v: str | None) -> str | None:
        if v is not None and v not in PROCESSES:
            raise ValueError(f"process must be one of {', '.join(PROCESSES)}")
        return v


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    machine_key: str | None = Field(default=None, max_length=64)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = Field(min_length=1, max_length=500)


class ProgressBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    percent: float = Field(ge=0, le=100)
    state: str | None = None
    seq: int = Field(ge=1, le=MAX_DB_INT)

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v is not None and v != "in_production":
            raise ValueError("state may only be 'in_production'")
        return v


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: str = Field(default="", max_length=2000)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def job_summary(job: Job) -> dict[str, Any]:
    return {"id": job.id, "state": job.state.value, "expires_at": _iso(job.expires_at),
            "machine_key": job.machine_key, "progress": job.progress}


def shown_job(order: Order) -> Job | None:
    """The job an order shows: the live one, else the one that completed it."""
    for job in reversed(order.jobs):
        if job.live_order_id is not None or job.state.value == "completed":
            return job
    return None


def order_json(order: Order) -> dict[str, Any]:
    job = shown_job(order)
    lab = order.fablab
    return {
        "id": order.id, "status": order.status.value, "design_id": order.design_id, "file_id": order.file_id,
        "quantity": order.quantity, "material": order.material, "process": order.process,
        "thickness_mm": order.thickness_mm,
        "delivery": {"latitude": order.delivery_latitude, "longitude": order.delivery_longitude,
                     "address": order.delivery_address or None},
        "max_distance_km": order.max_distance_km,
        "fablab": ({"id": lab.id, "name": lab.name, "distance_km": round(order.distance_km or 0.0, 3)}
                   if lab is not None else None),
        "job": job_summary(job) if job is not None else None,
        "failed_attempts": order.failed_attempts,
        "created_at": _iso(order.created_at), "updated_at": _iso(order.updated_at),
        "events": [{"at": _iso(e.at), "kind": e.kind, "detail": e.detail} for e in order.events],
    }


def job_json(job: Job, size_bytes: int | None) -> dict[str, Any]:
    """A job as its lab sees it; ``size_bytes`` is the size of the file the lab will download."""
    order = job.order
    f = order.file
    design = order.design
    stem = f.filename.rsplit(".", 1)[0]
    return {
        **job_summary(job), "order_id": order.id, "quantity": order.quantity, "material": order.material,
        "process": order.process, "thickness_mm": order.thickness_mm, "distance_km": round(job.distance_km, 3),
        "reason": job.reason or None, "created_at": _iso(job.created_at), "updated_at": _iso(job.updated_at),
        "design": {"id": design.id, "title": design.title, "license": design.license_id},
        "file": {"id": f.id, "filename": f"{stem}.{f.canonical_format or f.format}",
                 "format": f.canonical_format or f.format, "sha256": f.canonical_sha256 or f.sha256,
                 "size_bytes": size_bytes, "original_filename": f.filename, "requirements": f.requirements or {}},
    }
