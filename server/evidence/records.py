"""The record of jobs as :class:`design_commons.evidence.JobRecord` values, and the figures made from it.

Readiness and reputation are computed by the pure functions of ``design_commons.evidence``
from what the hub stored: the jobs, their orders' events (when a job was accepted, completed
and received), build reports and receipts. Evidence belongs to the geometry that was made: a
design version's evidence is that of the jobs whose file has the same canonical sha256 as one
of the version's files, whichever version they were ordered from.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from design_commons import evidence
from design_commons.evidence import Answer, DesignEvidence, JobRecord, Reputation
from server.designs.models import DesignFile, DesignVersion
from server.evidence.models import BuildPhoto, BuildReportRecord, ReceiptRecord
from server.fablabs.models import Fablab
from server.orders.models import Job, JobState, Order, OrderEvent, OrderStatus

_ACCEPTED_STATES = (JobState.ACCEPTED, JobState.IN_PRODUCTION, JobState.COMPLETED, JobState.FAILED)
_ANSWERS = {JobState.DECLINED: Answer.DECLINED, JobState.EXPIRED: Answer.EXPIRED, JobState.WITHDRAWN: Answer.WITHDRAWN}


def _event_times(session: Session, order_ids: Any) -> tuple[dict[tuple[int, str], dt.datetime], dict[int, dt.datetime]]:
    """``(job id, kind) -> at`` for accepted/completed events, and ``order id -> at`` of its receipt."""
    by_job: dict[tuple[int, str], dt.datetime] = {}
    received: dict[int, dt.datetime] = {}
    rows = session.execute(select(OrderEvent.order_id, OrderEvent.kind, OrderEvent.at, OrderEvent.detail)
                           .where(OrderEvent.order_id.in_(order_ids),
                                  OrderEvent.kind.in_(("accepted", "completed", "received"))))
    for order_id, kind, at, detail in rows:
        if kind == "received":
            received.setdefault(order_id, at)
        elif isinstance(detail, dict) and isinstance(detail.get("job_id"), int):
            by_job.setdefault((detail["job_id"], kind), at)
    return by_job, received


def job_records(session: Session, where: ColumnElement[bool]) -> list[JobRecord]:
    """Every job matching ``where`` (on :class:`Job` or :class:`Order` columns) as a JobRecord.

    Quotes do not exist on jobs yet, so ``price_agreed`` is False and ``promised_by`` None:
    until they do, a lab's on-time, success and confirmation rates have no evidence to count.
    """
    rows = session.execute(
        select(Job, Order.citizen_id, Order.status, Fablab.operator_id, BuildReportRecord, ReceiptRecord)
        .join(Order, Job.order_id == Order.id).join(Fablab, Fablab.id == Job.fablab_id)
        .outerjoin(BuildReportRecord, BuildReportRecord.job_id == Job.id)
        .outerjoin(ReceiptRecord, ReceiptRecord.order_id == Job.order_id)
        .where(where)).all()
    times, received = _event_times(session, select(Job.order_id).join(Order, Job.order_id == Order.id).where(where))
    records = []
    for job, citizen_id, status, operator_id, report, receipt in rows:
        accepted_at = times.get((job.id, "accepted"))
        if job.state in _ACCEPTED_STATES or (job.state == JobState.WITHDRAWN and accepted_at is not None):
            answer: Answer | None = Answer.ACCEPTED
            answered_at = accepted_at
        else:
            answer, answered_at = _ANSWERS.get(job.state), job.updated_at
        completed_at = times.get((job.id, "completed"), job.updated_at) if job.state == JobState.COMPLETED else None
        got = completed_at is not None and status == OrderStatus.RECEIVED
        records.append(JobRecord(
            job_id=job.id, lab_id=job.fablab_id, citizen_id=citizen_id, offered_at=job.created_at,
            lab_operator_ids=frozenset({operator_id} if operator_id is not None else ()),
            answer=answer, answered_at=answered_at, completed_at=completed_at,
            failed_at=job.updated_at if job.state == JobState.FAILED else None,
            outcome=report.outcome if report else None, failure_mode=report.failure_mode if report else None,
            received_at=((receipt.confirmed_at if receipt else received.get(job.order_id, job.updated_at))
                         if got else None),
            fit_for_purpose=receipt.fit_for_purpose if receipt and got else None,
            estimated_time_s=report.estimated_time_s if report else None,
            actual_time_s=report.actual_time_s if report else None,
            estimated_mass_g=report.estimated_mass_g if report else None,
            actual_mass_g=report.actual_mass_g if report else None,
        ))
    return records


def version_geometry(version: DesignVersion) -> set[str]:
    """The sha256s a version's files are made from (the canonical file, else the upload)."""
    return {f.canonical_sha256 or f.sha256 for f in version.files}


def _made_from(version: DesignVersion) -> Any:
    """The ids of the files (of any version) with the same geometry as one of ``version``'s."""
    return select(DesignFile.id).where(func.coalesce(DesignFile.canonical_sha256, DesignFile.sha256)
                                       .in_(version_geometry(version)))


def version_evidence(session: Session, version: DesignVersion) -> DesignEvidence:
    """Readiness evidence for one design version: the jobs that made any of its geometry."""
    return evidence.design_evidence(job_records(session, Order.file_id.in_(_made_from(version))))


def version_photos(session: Session, version: DesignVersion, limit: int = 24) -> list[BuildPhoto]:
    """Photos of made parts of this geometry whose orders were received (public), newest first."""
    return list(session.scalars(
        select(BuildPhoto).join(BuildReportRecord, BuildPhoto.report_id == BuildReportRecord.id)
        .join(Job, Job.id == BuildReportRecord.job_id).join(Order, Order.id == Job.order_id)
        .where(Order.file_id.in_(_made_from(version)), Order.status == OrderStatus.RECEIVED,
               Job.state == JobState.COMPLETED)
        .order_by(BuildPhoto.id.desc()).limit(limit)))


def lab_reputation(session: Session, lab_id: int, now: dt.datetime,
                   window_days: int = evidence.WINDOW_DAYS) -> Reputation:
    """A lab's reputation at ``now`` over ``window_days``."""
    start = now - dt.timedelta(days=window_days)
    return evidence.lab_reputation(job_records(session, (Job.fablab_id == lab_id) & (Job.created_at >= start)),
                                   now, window_days)
