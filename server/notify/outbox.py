"""Writing the outbox: each event becomes notification rows in the transaction of the change that caused it.

Nothing is sent here. A notification is keyed by (recipient, kind, subject) and inserted with
``ON CONFLICT DO NOTHING``: the same event seen twice (two hub processes scanning for expiring
offers, a round retried after a crash) stays one notification, and the losing insert neither fails
nor waits past the winner's commit. Its deliveries (the email, one per subscribed webhook) are
written beside it and sent by :mod:`server.notify.sender`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, object_session

from server.notify.models import LAB_EVENTS, Channel, Delivery, Kind, Notification, WebhookEndpoint

#: an unanswered offer is told again this long before it expires (or at a third of its time, if shorter)
EXPIRY_WARNING = dt.timedelta(minutes=5)
#: a citizen whose part was made is reminded to confirm receipt after this long
RECEIPT_REMINDER_AFTER = dt.timedelta(days=3)
SCAN_BATCH = 500


def record(session: Session, recipient_id: int | None, kind: Kind, subject: str, now: dt.datetime,
           detail: dict[str, Any] | None = None, fablab_id: int | None = None) -> int | None:
    """Add one notification and its deliveries; None when it was already there (or there is nobody to tell)."""
    if recipient_id is None:
        return None
    dialect = session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (upsert(Notification)
                 .values(recipient_id=recipient_id, kind=kind, subject=subject, fablab_id=fablab_id,
                         detail=detail or {}, created_at=now)
                 .on_conflict_do_nothing(index_elements=["recipient_id", "kind", "subject"])
                 .returning(Notification.id))
    notification_id = session.execute(statement).scalar_one_or_none()
    if notification_id is None:
        return None
    rows: list[dict[str, Any]] = [{"notification_id": notification_id, "channel": Channel.EMAIL,
                                   "next_attempt_at": now, "created_at": now}]
    if fablab_id is not None and kind in LAB_EVENTS:
        for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.fablab_id == fablab_id,
                                                                      WebhookEndpoint.active.is_(True))):
            if kind.value in endpoint.events:
                rows.append({"notification_id": notification_id, "channel": Channel.WEBHOOK,
                             "endpoint_id": endpoint.id, "next_attempt_at": now, "created_at": now})
    session.execute(insert(Delivery), rows)
    return notification_id


def _operator_of(session: Session, fablab_id: int | None) -> tuple[int | None, str]:
    from server.fablabs.models import Fablab

    lab = session.get(Fablab, fablab_id) if fablab_id is not None else None
    return (lab.operator_id, lab.name) if lab is not None else (None, "")


def _design_of(session: Session, design_id: int) -> tuple[int | None, str]:
    from server.designs.models import Design

    design = session.get(Design, design_id)
    return (design.owner_id, design.title) if design is not None else (None, "")


def order_event(order: Any, kind: str, now: dt.datetime, detail: dict[str, Any]) -> None:
    """Turn an event of an order's history into the notifications it calls for (most events call for none)."""
    session = object_session(order)
    if session is None or kind not in _ORDER_EVENTS:
        return
    _ORDER_EVENTS[kind](session, order, now, detail)


def _order_detail(session: Session, order: Any, detail: dict[str, Any]) -> dict[str, Any]:
    _, title = _design_of(session, order.design_id)
    return {"order_id": order.id, "design_id": order.design_id, "design_title": title, **detail}


def _lab_kind(kind: Kind) -> Any:
    def handle(session: Session, order: Any, now: dt.datetime, detail: dict[str, Any]) -> None:
        operator_id, lab_name = _operator_of(session, detail.get("fablab_id"))
        record(session, operator_id, kind, f"job:{detail['job_id']}", now,
               {**_order_detail(session, order, detail), "fablab_name": lab_name, "quantity": order.quantity,
                "material": order.material}, fablab_id=detail.get("fablab_id"))
    return handle


def _citizen_kind(kind: Kind, subject_of: Any) -> Any:
    def handle(session: Session, order: Any, now: dt.datetime, detail: dict[str, Any]) -> None:
        record(session, order.citizen_id, kind, subject_of(order, detail), now, _order_detail(session, order, detail))
    return handle


def _failed_at_lab(session: Session, order: Any, now: dt.datetime, detail: dict[str, Any]) -> None:
    from server.orders.service import MAX_FAILED_ATTEMPTS

    if int(detail.get("attempt", 0)) < MAX_FAILED_ATTEMPTS:  # the last failure is told as the order's failure
        record(session, order.citizen_id, Kind.ORDER_REOFFERED, f"job:{detail['job_id']}", now,
               _order_detail(session, order, detail))


def _received(session: Session, order: Any, now: dt.datetime, detail: dict[str, Any]) -> None:
    owner_id, _ = _design_of(session, order.design_id)
    if owner_id is not None and owner_id != order.citizen_id:  # a designer's own order is no news to them
        record(session, owner_id, Kind.DESIGN_MADE, f"order:{order.id}", now, _order_detail(session, order, detail))


def _nth_unmatched(order: Any, detail: dict[str, Any]) -> str:
    return f"order:{order.id}:unmatched:{sum(1 for e in order.events if e.kind == 'unmatched')}"


_ORDER_EVENTS: dict[str, Any] = {
    "offered": _lab_kind(Kind.OFFER_MADE),
    "withdrawn": _lab_kind(Kind.JOB_WITHDRAWN),
    "accepted": _citizen_kind(Kind.ORDER_ACCEPTED, lambda o, d: f"job:{d['job_id']}"),
    "completed": _citizen_kind(Kind.ORDER_READY, lambda o, d: f"job:{d['job_id']}"),
    "failed_at_lab": _failed_at_lab,
    "failed": _citizen_kind(Kind.ORDER_FAILED, lambda o, d: f"order:{o.id}"),
    "unmatched": _citizen_kind(Kind.ORDER_UNMATCHED, _nth_unmatched),
    "received": _received,
}


def design_remixed(session: Session, design: Any, parent_ids: list[int], now: dt.datetime) -> None:
    """Tell the designers of the designs a new design remixes (not the remixer, for their own designs)."""
    for parent_id in parent_ids:
        owner_id, title = _design_of(session, parent_id)
        if owner_id is not None and owner_id != design.owner_id:
            record(session, owner_id, Kind.DESIGN_REMIXED, f"design:{design.id}:of:{parent_id}", now,
                   {"design_id": parent_id, "design_title": title, "remix_id": design.id,
                    "remix_title": design.title})


def scan(session: Session, now: dt.datetime, offer_ttl_s: int) -> int:
    """Notifications that come from time passing: offers near their end, receipts not yet confirmed.

    Every hub process may run this at once; the notification key keeps each one single.
    """
    from server.orders.models import Job, JobState, Order, OrderStatus

    warn = min(EXPIRY_WARNING, dt.timedelta(seconds=offer_ttl_s / 3))
    made = 0
    expiring = session.execute(select(Job, Order).join(Order, Order.id == Job.order_id)
                               .where(Job.state == JobState.OFFERED, Job.expires_at > now,
                                      Job.expires_at <= now + warn).limit(SCAN_BATCH))
    for job, order in expiring:
        operator_id, lab_name = _operator_of(session, job.fablab_id)
        detail = {**_order_detail(session, order, {"job_id": job.id, "fablab_id": job.fablab_id}),
                  "fablab_name": lab_name, "expires_at": job.expires_at.isoformat() if job.expires_at else None,
                  "quantity": order.quantity, "material": order.material}
        made += record(session, operator_id, Kind.OFFER_EXPIRING, f"job:{job.id}", now, detail,
                       fablab_id=job.fablab_id) is not None
    waiting = session.scalars(select(Order).where(Order.status == OrderStatus.COMPLETED,
                                                  Order.updated_at <= now - RECEIPT_REMINDER_AFTER).limit(SCAN_BATCH))
    for order in waiting:
        made += record(session, order.citizen_id, Kind.CONFIRM_RECEIPT, f"order:{order.id}", now,
                       _order_detail(session, order, {})) is not None
    return made
