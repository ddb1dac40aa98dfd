"""The lab's side of a job: accept, decline, progress, complete, fail (node endpoints).

Each action locks the order, then the job, re-reads both and acts only from the states the
contract allows; anything else is a 409 that both sides can see.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError, invalid, not_found
from server.fablabs.models import Fablab
from server.ledger import receipts as ledger_receipts
from server.orders import service
from server.orders.models import Job, JobState, Order, OrderStatus

ACTIVE = (JobState.ACCEPTED, JobState.IN_PRODUCTION)


def jobs_query(lab: Fablab, state: str | None) -> Any:
    query = select(Job).where(Job.fablab_id == lab.id)
    if state:
        try:
            query = query.where(Job.state == JobState(state))
        except ValueError:
            raise invalid(f"state must be one of {', '.join(s.value for s in JobState)}.", code="invalid_query") from None
    return query.order_by(Job.id.desc())


def get_job(session: Session, lab: Fablab, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.fablab_id != lab.id:
        raise not_found("job")
    return job


def _locked(session: Session, lab: Fablab, job_id: int) -> tuple[Order, Job]:
    """Lock the job's order and then the job (the hub's one lock order); 404 for another lab's job."""
    job = get_job(session, lab, job_id)
    order = service.lock_order(session, job.order_id)
    locked = session.execute(select(Job).where(Job.id == job_id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one()
    assert order is not None
    return order, locked


def accept(session: Session, lab: Fablab, job_id: int, machine_key: str | None, rules: service.Rules,
           now: dt.datetime) -> Job:
    order, job = _locked(session, lab, job_id)
    if job.state == JobState.ACCEPTED and (machine_key in (None, job.machine_key)):
        return job  # the same accept delivered twice
    if service.expire_if_due(session, order, job, rules, now):
        raise ApiError(409, "offer_expired", "The offer expired before it was accepted; the order moved on.",
                       keep_changes=True)
    if job.state != JobState.OFFERED:
        raise ApiError(409, "not_offered", f"The job is {job.state.value}, no longer offered.")
    if machine_key is not None:
        if machine_key not in {m.key for m in lab.machines}:
            raise invalid(f"This lab has no machine {machine_key!r}.", {"machine_key": ["unknown"]},
                          code="unknown_machine")
        job.machine_key = machine_key
    job.state, job.updated_at = JobState.ACCEPTED, now
    order.status = OrderStatus.ACCEPTED
    service.event(order, "accepted", now, job_id=job.id, fablab_id=lab.id, machine_key=job.machine_key)
    session.flush()
    return job


def decline(session: Session, lab: Fablab, job_id: int, reason: str, rules: service.Rules, now: dt.datetime) -> Job:
    order, job = _locked(session, lab, job_id)
    if job.state == JobState.DECLINED:
        return job
    if service.expire_if_due(session, order, job, rules, now):
        return job
    if job.state != JobState.OFFERED:
        raise ApiError(409, "not_offered", f"The job is {job.state.value}; only an offer can be declined.")
    service._end_job(job, JobState.DECLINED, now, reason)
    service.event(order, "declined", now, job_id=job.id, fablab_id=lab.id, reason=reason[:500])
    service._rematch(session, order, rules, now)
    return job


def progress(session: Session, lab: Fablab, job_id: int, percent: float, state: str | None, seq: int,
             now: dt.datetime) -> Job:
    if not (math.isfinite(percent) and 0 <= percent <= 100):  # every caller (node API, dashboard form) holds to it
        raise invalid("Progress is a percentage from 0 to 100.", {"percent": ["a number from 0 to 100"]},
                      code="invalid_progress")
    order, job = _locked(session, lab, job_id)
    if seq <= job.last_seq:
        return job  # an old or repeated report: ignored
    if job.state not in ACTIVE:
        raise ApiError(409, "job_not_active", f"The job is {job.state.value}; progress is no longer taken.")
    job.last_seq, job.progress, job.updated_at = seq, percent, now
    if job.state == JobState.ACCEPTED and (state == "in_production" or percent > 0):
        job.state = JobState.IN_PRODUCTION
        order.status = OrderStatus.IN_PRODUCTION
        service.event(order, "in_production", now, job_id=job.id, fablab_id=lab.id)
    order.updated_at = now
    session.flush()
    return job


def complete(session: Session, lab: Fablab, job_id: int, note: str, now: dt.datetime) -> Job:
    order, job = _locked(session, lab, job_id)
    if job.state == JobState.COMPLETED:
        return job
    if job.state not in ACTIVE:
        raise ApiError(409, "job_not_active", f"The job is {job.state.value}; it cannot be completed.")
    service._end_job(job, JobState.COMPLETED, now)
    job.progress, job.note = 100.0, note[:2000]
    order.status = OrderStatus.COMPLETED
    service.event(order, "completed", now, job_id=job.id, fablab_id=lab.id, note=note[:2000])
    session.flush()
    ledger_receipts.on_made(session, order.id, lab)
    return job


def fail(session: Session, lab: Fablab, job_id: int, reason: str, rules: service.Rules, now: dt.datetime) -> Job:
    order, job = _locked(session, lab, job_id)
    if job.state == JobState.FAILED:
        return job
    if job.state not in ACTIVE:
        raise ApiError(409, "job_not_active", f"The job is {job.state.value}; decline an offer instead of failing it.")
    service._end_job(job, JobState.FAILED, now, reason)
    order.failed_attempts += 1
    service.event(order, "failed_at_lab", now, job_id=job.id, fablab_id=lab.id, reason=reason[:500],
                  attempt=order.failed_attempts)
    if order.failed_attempts >= service.MAX_FAILED_ATTEMPTS:
        order.status, order.fablab_id = OrderStatus.FAILED, None
        service.event(order, "failed", now, reason=f"failed at {order.failed_attempts} labs")
        session.flush()
    else:
        service._rematch(session, order, rules, now)
    return job


def offered_count(session: Session, lab_id: int) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Job).where(Job.fablab_id == lab_id,
                                                                         Job.state == JobState.OFFERED)) or 0)
