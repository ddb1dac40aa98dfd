"""Filing build reports and their photos, recording receipts, and who may see a photo.

Functions take the session and never commit (the route does). A report may be filed once its
job has ended (completed or failed); a later report completes it (fields it names replace,
others stay) until the citizen has confirmed receipt, after which it no longer changes.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cosmoloc_contract.evidence import BuildReport, Receipt
from design_commons.evidence import Outcome
from design_commons.photos import CheckedPhoto
from server.designs.blobs import ensure_blob
from server.errors import ApiError, not_found
from server.evidence.models import MAX_PHOTOS, BuildPhoto, BuildReportRecord, ReceiptRecord
from server.evidence.schemas import merge, missing
from server.fablabs.models import Fablab
from server.orders import lab_actions
from server.orders import service as orders
from server.orders.models import Job, JobState, Order, OrderStatus
from server.storage import BlobStore

#: The outcomes a report may give for the way its job ended.
OUTCOMES_OF = {JobState.COMPLETED: (Outcome.SUCCESS, Outcome.PARTIAL), JobState.FAILED: (Outcome.FAILED,)}


def received(order: Order, job: Job) -> bool:
    """Whether the citizen confirmed receipt of what this job made (only a completed job is received)."""
    return job.state == JobState.COMPLETED and order.status == OrderStatus.RECEIVED


def report_of(session: Session, job_id: int) -> BuildReportRecord | None:
    return session.scalar(select(BuildReportRecord).where(BuildReportRecord.job_id == job_id))


def file_report(session: Session, lab: Fablab, job_id: int, body: BuildReport, now: dt.datetime) -> Job:
    """File or complete the report of one of ``lab``'s ended jobs.

    409 ``job_not_ended`` before the job completed or failed; 422 ``outcome_contradicts_job``
    for a success on a failed job or a failure on a completed one; 409 ``report_locked`` for a
    change after the citizen confirmed receipt.
    """
    order, job = lab_actions._locked(session, lab, job_id)
    if job.state not in OUTCOMES_OF:
        raise ApiError(409, "job_not_ended", f"The job is {job.state.value}; report on it once it completed or failed.")
    if body.outcome not in OUTCOMES_OF[job.state]:
        allowed = " or ".join(o.value for o in OUTCOMES_OF[job.state])
        raise ApiError(422, "outcome_contradicts_job", f"The job {job.state.value}: its outcome is {allowed}.",
                       {"outcome": [f"one of {allowed} for a {job.state.value} job"]})
    record = report_of(session, job.id)
    if record is not None and received(order, job):
        raise ApiError(409, "report_locked", "The citizen has confirmed receipt; the report no longer changes.")
    merged = merge(record.to_report() if record is not None else None, body)
    if record is None:
        record = BuildReportRecord(job_id=job.id, filed_at=now)
        session.add(record)
    record.store(merged)
    record.updated_at = now
    orders.event(order, "reported", now, job_id=job.id, fablab_id=lab.id, outcome=merged.outcome.value)
    session.flush()
    return job


def store_photo(session: Session, store: BlobStore, photo: CheckedPhoto) -> tuple[str, str]:
    """Put a checked photo and its thumbnail in the store, with their blob rows; their sha256s."""
    shas = []
    for data in (photo.content, photo.thumbnail):
        sha, _ = store.put_bytes(data)
        ensure_blob(session, sha, len(data))
        shas.append(sha)
    return shas[0], shas[1]


def _photo_refusal(order: Order, job: Job, record: BuildReportRecord | None, photos: int) -> ApiError | None:
    if record is None:
        return ApiError(409, "no_report", "File the job's report before adding photos to it.")
    if received(order, job):
        return ApiError(409, "report_locked", "The citizen has confirmed receipt; the report no longer changes.")
    if photos >= MAX_PHOTOS:
        return ApiError(409, "too_many_photos", f"A report carries at most {MAX_PHOTOS} photos.")
    return None


def _photo_count(session: Session, record: BuildReportRecord | None) -> int:
    if record is None:
        return 0
    return session.scalar(select(func.count()).select_from(BuildPhoto).where(BuildPhoto.report_id == record.id)) or 0


def may_add_photo(session: Session, lab: Fablab, job_id: int) -> None:
    """The checks of :func:`add_photo`, without locks: run before a photo is decoded, so a refused
    upload costs no decoding (they are made again under the lock)."""
    job = lab_actions.get_job(session, lab, job_id)
    record = report_of(session, job.id)
    refusal = _photo_refusal(job.order, job, record, _photo_count(session, record))
    if refusal is not None:
        raise refusal


def add_photo(session: Session, lab: Fablab, job_id: int, photo: CheckedPhoto, shas: tuple[str, str],
              now: dt.datetime) -> BuildPhoto:
    """Attach a stored photo to the job's report: 409 ``no_report`` before one is filed,
    ``too_many_photos`` past :data:`MAX_PHOTOS`, ``report_locked`` once receipt is confirmed."""
    order, job = lab_actions._locked(session, lab, job_id)
    record = report_of(session, job.id)
    refusal = _photo_refusal(order, job, record, _photo_count(session, record))
    if refusal is not None:
        raise refusal
    assert record is not None
    row = BuildPhoto(report_id=record.id, sha256=shas[0], thumbnail_sha256=shas[1], media_type=photo.media_type,
                     width=photo.width, height=photo.height, size_bytes=len(photo.content), created_at=now)
    session.add(row)
    session.flush()
    return row


def record_receipt(session: Session, order: Order, receipt: Receipt, now: dt.datetime) -> None:
    """The citizen's word on a received order (fit for purpose, a comment); the first one stands."""
    if session.get(ReceiptRecord, order.id) is None:
        session.add(ReceiptRecord(order_id=order.id, fit_for_purpose=receipt.fit_for_purpose,
                                  comment=receipt.comment, confirmed_at=now))
        session.flush()


def photo_for_viewer(session: Session, photo_id: int, account: Any) -> tuple[BuildPhoto, bool]:
    """A photo and whether it is public: once its order was received anyone may see it, before
    only the order's citizen and the lab's operator (anyone else: 404)."""
    photo = session.get(BuildPhoto, photo_id)
    if photo is None:
        raise not_found("photo")
    job = session.get(Job, photo.report.job_id)
    assert job is not None
    order = job.order
    if received(order, job):
        return photo, True
    if account is not None and account.id in (order.citizen_id, job.fablab.operator_id):
        return photo, False
    raise not_found("photo")


def report_complete(session: Session, order: Order) -> bool:
    """Whether the lab that made ``order`` filed a complete report (the ledger's lab share follows it)."""
    job = next((j for j in order.jobs if j.state == JobState.COMPLETED), None)
    if job is None:
        return False
    record = report_of(session, job.id)
    return record is not None and not missing(record.to_report(), received(order, job))


def photo_json(photo: BuildPhoto) -> dict[str, Any]:
    return {"id": photo.id, "media_type": photo.media_type, "width": photo.width, "height": photo.height,
            "url": f"/api/v1/photos/{photo.id}", "thumbnail_url": f"/api/v1/photos/{photo.id}/thumbnail"}


def report_json(session: Session, job: Job) -> dict[str, Any] | None:
    """The job's report as API.md shows it, with ``complete`` and what is ``missing``; None before one is filed."""
    record = report_of(session, job.id)
    if record is None:
        return None
    report = record.to_report()
    gaps = missing(report, received(job.order, job))
    settings = report.settings.known() if report.settings is not None else None
    return {**report.model_dump(mode="json"), "settings": settings, "complete": not gaps, "missing": gaps,
            "photos": [photo_json(p) for p in record.photos],
            "filed_at": record.filed_at.isoformat(), "updated_at": record.updated_at.isoformat()}
