"""Timed work on orders: expire offers nobody answered, retry unmatched orders.

Runs every few seconds in every hub process (and in workers). On PostgreSQL each order is
claimed with ``FOR UPDATE SKIP LOCKED``, so several processes share the work without waiting
on each other; each order is handled in its own short transaction.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from server.db import Database, utcnow
from server.orders import service
from server.orders.models import Job, JobState, Order, OrderStatus

log = logging.getLogger(__name__)
BATCH = 200


def expire_due(database: Database, rules: service.Rules, now: dt.datetime | None = None) -> int:
    """Expire every offer past its time and move each order on; return how many expired."""
    now = now or utcnow()
    with database.session() as session:
        order_ids = list(session.scalars(select(Job.order_id).where(Job.state == JobState.OFFERED,
                                                                    Job.expires_at <= now).limit(BATCH)))
    done = 0
    for order_id in order_ids:
        try:
            with database.session() as session:
                order = service.lock_order(session, order_id, skip_locked=True)
                if order is None:
                    continue  # another process is on it
                job = service.live_job(session, order)
                if job is not None and service.expire_if_due(session, order, job, rules, now):
                    done += 1
        except Exception:  # one order that cannot be moved on must not hold back every offer after it
            log.exception("expiring the offer of order %s failed", order_id)
    return done


def retry_unmatched(database: Database, rules: service.Rules, now: dt.datetime | None = None) -> int:
    """Match again the unmatched orders whose retry time has come; return how many got an offer."""
    now = now or utcnow()
    with database.session() as session:
        order_ids = list(session.scalars(select(Order.id).where(Order.status == OrderStatus.UNMATCHED,
                                                                Order.next_match_at <= now)
                                         .order_by(Order.next_match_at).limit(BATCH)))
    offered = 0
    for order_id in order_ids:
        try:
            with database.session() as session:
                order = service.lock_order(session, order_id, skip_locked=True)
                if order is None or order.status != OrderStatus.UNMATCHED:
                    continue
                if service.dispatch(session, order, rules, now) is not None:
                    offered += 1
        except Exception:  # as above: the next orders are still retried
            log.exception("retrying unmatched order %s failed", order_id)
    return offered


def sweep(database: Database, rules: service.Rules, now: dt.datetime | None = None) -> tuple[int, int]:
    """Both halves of a sweep; a failure of one (the database gone a moment) does not skip the other."""
    expired = offered = 0
    try:
        expired = expire_due(database, rules, now)
    except Exception:
        log.exception("expiring offers failed")
    try:
        offered = retry_unmatched(database, rules, now)
    except Exception:
        log.exception("retrying unmatched orders failed")
    return expired, offered
