"""JSON shapes of orders and jobs (API.md: Order, Job), built through cosmoloc_contract.orders."""
from __future__ import annotations

from typing import Any

from cosmoloc_contract import orders as contract
from server.orders.models import Job, JobState, Order

# A lab sees where to deliver once it has taken the job; before, only the area (and its distance).
SEES_DELIVERY = (JobState.ACCEPTED, JobState.IN_PRODUCTION, JobState.COMPLETED)
AREA_DECIMALS = 1  # the area an offered lab sees: the point rounded to 0.1 degree (about 11 km north-south)


def job_summary(job: Job) -> dict[str, Any]:
    return {"id": job.id, "state": job.state.value, "expires_at": job.expires_at,
            "machine_key": job.machine_key, "progress": job.progress}


def shown_job(order: Order) -> Job | None:
    """The job an order shows: the live one, else the one that completed it."""
    for job in reversed(order.jobs):
        if job.live_order_id is not None or job.state.value == "completed":
            return job
    return None


def delivery_json(order: Order, exact: bool) -> dict[str, Any]:
    """Where the order goes: the point and address as the citizen gave them, or (``exact`` False) only the area,
    ``{"latitude", "longitude"}`` rounded to AREA_DECIMALS, ``"address": null`` and ``"approximate": true``."""
    if exact:
        return {"latitude": order.delivery_latitude, "longitude": order.delivery_longitude,
                "address": order.delivery_address or None}
    return {"latitude": round(order.delivery_latitude, AREA_DECIMALS),
            "longitude": round(order.delivery_longitude, AREA_DECIMALS), "address": None, "approximate": True}


def _seen_by_lab(detail: dict[str, Any], lab_id: int) -> bool:
    """Whether an order event may be shown to a lab: not one about another lab (its offer, its reasons)."""
    other = detail.get("fablab_id")
    return other is None or other == lab_id


def order_json(order: Order, lab_view: int | None = None) -> dict[str, Any]:
    """An order (API.md: Order) as its citizen sees it, or with ``lab_view`` (a lab id) as that lab's operator
    does: the delivery area only until the lab accepted (then the address it delivers to), and no event about
    another lab (the labs asked before, their decline and failure reasons)."""
    job = shown_job(order)
    lab = order.fablab
    exact = lab_view is None or (job is not None and job.fablab_id == lab_view and job.state in SEES_DELIVERY)
    events = [e for e in order.events if lab_view is None or _seen_by_lab(e.detail or {}, lab_view)]
    return contract.Order.model_validate({
        "id": order.id, "status": order.status.value, "design_id": order.design_id, "file_id": order.file_id,
        "quantity": order.quantity, "material": order.material, "process": order.process,
        "thickness_mm": order.thickness_mm,
        "delivery": delivery_json(order, exact),
        "max_distance_km": order.max_distance_km,
        "fablab": ({"id": lab.id, "name": lab.name, "distance_km": round(order.distance_km or 0.0, 3)}
                   if lab is not None else None),
        "job": job_summary(job) if job is not None else None,
        "failed_attempts": order.failed_attempts,
        "created_at": order.created_at, "updated_at": order.updated_at,
        "events": [{"at": e.at, "kind": e.kind, "detail": e.detail} for e in events],
    }).to_json()


def job_json(job: Job, size_bytes: int | None) -> dict[str, Any]:
    """A job as its lab sees it; ``size_bytes`` is the size of the file the lab will download. ``delivery`` is the
    area while the job is offered (or ended unaccepted), the citizen's point and address once accepted."""
    order = job.order
    f = order.file
    design = order.design
    stem = f.filename.rsplit(".", 1)[0]
    return contract.Job.model_validate({
        **job_summary(job), "order_id": order.id, "quantity": order.quantity, "material": order.material,
        "process": order.process, "thickness_mm": order.thickness_mm, "distance_km": round(job.distance_km, 3),
        "delivery": delivery_json(order, job.state in SEES_DELIVERY),
        "reason": job.reason or None, "created_at": job.created_at, "updated_at": job.updated_at,
        "design": {"id": design.id, "title": design.title, "license": design.license_id},
        "file": {"id": f.id, "filename": f"{stem}.{f.canonical_format or f.format}",
                 "format": f.canonical_format or f.format, "sha256": f.canonical_sha256 or f.sha256,
                 "size_bytes": size_bytes, "original_filename": f.filename, "requirements": f.requirements or {}},
    }).to_json()
