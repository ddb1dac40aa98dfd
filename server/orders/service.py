"""The order life (DESIGN.md): placing, matching, offering, the lab's answers, cancel and confirm.

Every change of an order happens in one transaction that holds the order's row lock
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are write transactions from
their first statement). Locks are always taken order first, then job, so two hub processes
never deadlock, never offer one order twice, and an expiry racing an accept has one winner.
Services flush; the caller commits.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from cosmoloc_contract.orders import NewOrder
from server.accounts.models import Account
from server.config import DEFAULT_LIMITS
from server.designs import service as designs
from server.designs.models import Design, DesignFile, ValidationStatus
from server.errors import ApiError, invalid, not_found
from server.fablabs.models import Fablab
from server.ledger import receipts as ledger_receipts
from server.orders import matching
from server.orders.models import LIVE_JOB_STATES, Job, JobState, Order, OrderEvent, OrderStatus

MAX_FAILED_ATTEMPTS = 3
UNMATCHED_RETRY = dt.timedelta(minutes=2)
CANCELLABLE = (OrderStatus.VALIDATING, OrderStatus.MATCHING, OrderStatus.UNMATCHED, OrderStatus.OFFERED,
               OrderStatus.ACCEPTED)


OPEN = (OrderStatus.VALIDATING, OrderStatus.MATCHING, OrderStatus.UNMATCHED, OrderStatus.OFFERED,
        OrderStatus.ACCEPTED, OrderStatus.IN_PRODUCTION)  # what counts against open_orders_per_account
ORDER_WINDOW = dt.timedelta(hours=1)  # the window of orders_per_account_hour


@dataclass(frozen=True)
class Rules:
    """The settings the order life depends on."""

    offer_ttl_s: int
    stale_after_s: int
    open_orders_per_account: int = int(DEFAULT_LIMITS["open_orders_per_account"])
    orders_per_account_hour: int = int(DEFAULT_LIMITS["orders_per_account_hour"])


def event(order: Order, kind: str, now: dt.datetime, **detail: Any) -> None:
    order.events.append(OrderEvent(kind=kind, at=now, detail=detail))
    order.updated_at = now


def lock_order(session: Session, order_id: int, skip_locked: bool = False) -> Order | None:
    """The order, row-locked for this transaction (None if missing, or locked elsewhere with skip_locked)."""
    query = select(Order).where(Order.id == order_id).with_for_update(skip_locked=skip_locked)
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def live_job(session: Session, order: Order) -> Job | None:
    query = select(Job).where(Job.live_order_id == order.id).with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def choose_file(session: Session, design: Design, file_id: int | None) -> DesignFile:
    """The file an order asks for (default: :func:`server.designs.service.order_file`); 422 when it cannot be made."""
    return _design_and_file(session, design.id, file_id)[1]


def _design_and_file(session: Session, design_id: int, file_id: int | None) -> tuple[Design, DesignFile]:
    """The design and the file an order of it makes, in one query; 422 when either is missing or the file cannot
    be made (only then is the design looked up apart, to say which)."""
    row = designs.order_file(session, design_id, file_id)
    if row is not None and row.kind in designs.MAKEABLE_KINDS:
        return row.version.design, row
    if session.get(Design, design_id) is None:
        raise invalid("No such design.", {"design_id": ["no such design"]}, code="unknown_design")
    if file_id is None:
        raise invalid("The latest version of this design has no file that can be made.", code="no_manufacturable_file")
    if row is None:
        raise invalid("That file is not part of this design.", {"file_id": ["not in this design"]},
                      code="unknown_file")
    raise invalid("That file is documentation, not something a lab can make.", {"file_id": ["not makeable"]},
                  code="not_manufacturable")


def check_citizen_bounds(session: Session, citizen: Account, rules: Rules, now: dt.datetime) -> None:
    """Refuse an order past the citizen's bounds: 429 ``rate_limited`` (with ``Retry-After``) past
    ``orders_per_account_hour`` orders in the last hour, 409 ``too_many_open_orders`` past
    ``open_orders_per_account`` unfinished ones. One citizen cannot fill the labs near them with offers.

    The citizen's account row is locked first (PostgreSQL; SQLite's write transaction serialises anyway),
    so two orders placed at once are counted one after the other and cannot both slip under a bound.
    """
    mine = Order.citizen_id == citizen.id
    window = (mine, Order.created_at > now - ORDER_WINDOW)
    row = session.execute(select(
        select(func.count()).select_from(Order).where(*window).scalar_subquery(),
        select(func.min(Order.created_at)).where(*window).scalar_subquery(),
        select(func.count()).select_from(Order).where(mine, Order.status.in_(OPEN)).scalar_subquery(),
    ).where(Account.id == citizen.id).select_from(Account).with_for_update(of=Account)).one()
    recent, oldest, open_count = int(row[0] or 0), row[1], int(row[2] or 0)
    if recent >= rules.orders_per_account_hour:
        wait = max(1, int((oldest + ORDER_WINDOW - now).total_seconds()) + 1) if oldest else 1
        raise ApiError(429, "rate_limited", f"At most {rules.orders_per_account_hour} orders an hour; "
                       f"try again in {wait} s.", headers={"Retry-After": str(wait)})
    if open_count >= rules.open_orders_per_account:
        raise ApiError(409, "too_many_open_orders", f"You have {open_count} orders under way, the most one account "
                       "may have; cancel one or wait until one is made.")


def place(session: Session, citizen: Account, body: NewOrder, where: Any, rules: Rules, now: dt.datetime) -> Order:
    """Place an order and, when its file is checked, match it at once (within :func:`check_citizen_bounds`).

    A new order is matched before it is written: no one else can see it until the commit, so it needs no
    row lock, and it has no past offers. The order, its job and its events then go in with one statement each.
    """
    check_citizen_bounds(session, citizen, rules, now)
    design, row = _design_and_file(session, body.design_id, body.file_id)
    if row.validation_status == ValidationStatus.FAILED:
        raise invalid("That file failed validation and cannot be made; a later version must fix it.",
                      {"file_id": ["failed validation"]}, code="file_failed")
    processes = (row.requirements or {}).get("processes") or []
    if body.process and row.validation_status != ValidationStatus.PENDING and body.process not in processes:
        raise invalid(f"This file cannot be made by {body.process}; it can be made by {', '.join(processes)}.",
                      {"process": ["not possible for this file"]}, code="process_not_possible")
    order = Order(citizen_id=citizen.id, design_id=design.id, file_id=row.id, quantity=body.quantity,
                  material=body.material.strip(), process=body.process, thickness_mm=body.thickness_mm,
                  delivery_latitude=where.latitude, delivery_longitude=where.longitude,
                  delivery_address=where.address, max_distance_km=body.max_distance_km,
                  status=OrderStatus.MATCHING, created_at=now, updated_at=now, jobs=[], events=[])
    pending = row.validation_status == ValidationStatus.PENDING
    best = None if pending else matching.best(session, order, row.requirements or {}, now, rules.stale_after_s,
                                              design.license_id)
    session.add(order)
    job = _offer(session, order, best, rules, now) if best is not None else None
    event(order, "created", now, quantity=order.quantity, material=order.material)
    if pending:
        order.status = OrderStatus.VALIDATING
        event(order, "validating", now, file_id=row.id)
    elif job is None:
        _leave_unmatched(order, now)
    else:
        assert best is not None
        _offered(order, job, best, now)
        # the answer names the lab: matching read its name, so it need not be loaded again
        set_committed_value(order, "fablab", _known_lab(session, best))
    session.flush()
    return order


def dispatch(session: Session, order: Order, rules: Rules, now: dt.datetime) -> Job | None:
    """Offer the order to the best eligible lab, or leave it unmatched. The order must be locked."""
    if order.status not in (OrderStatus.MATCHING, OrderStatus.UNMATCHED):
        return None
    if live_job(session, order) is not None:
        return None
    file_row = session.get(DesignFile, order.file_id)
    design = session.get(Design, order.design_id)
    assert file_row is not None and design is not None
    best = matching.best(session, order, file_row.requirements or {}, now, rules.stale_after_s, design.license_id)
    if best is None:
        _leave_unmatched(order, now)
        session.flush()
        return None
    job = _offer(session, order, best, rules, now)
    _offered(order, job, best, now)
    session.flush()
    return job


def _offer(session: Session, order: Order, best: matching.Candidate, rules: Rules, now: dt.datetime) -> Job:
    """Give the order to the lab matching chose and write the job (the order's row first: a new one gets its id)."""
    order.status, order.fablab_id, order.distance_km, order.next_match_at, order.updated_at = (
        OrderStatus.OFFERED, best.fablab_id, best.distance_km, None, now)
    session.flush()
    job = Job(order=order, live_order_id=order.id, fablab_id=best.fablab_id, machine_key=best.machine_key,
              state=JobState.OFFERED, distance_km=best.distance_km,
              expires_at=now + dt.timedelta(seconds=rules.offer_ttl_s), created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def _offered(order: Order, job: Job, best: matching.Candidate, now: dt.datetime) -> None:
    event(order, "offered", now, job_id=job.id, fablab_id=best.fablab_id, fablab_name=best.fablab_name,
          distance_km=round(best.distance_km, 3), machine_key=best.machine_key,
          expires_at=job.expires_at.isoformat() if job.expires_at else None)


def _leave_unmatched(order: Order, now: dt.datetime) -> None:
    if order.status != OrderStatus.UNMATCHED:
        event(order, "unmatched", now, max_distance_km=order.max_distance_km)
    order.status, order.fablab_id, order.distance_km = OrderStatus.UNMATCHED, None, None
    order.next_match_at = now + UNMATCHED_RETRY


def _known_lab(session: Session, best: matching.Candidate) -> Fablab:
    """The chosen lab as a session object: the one already loaded, else one holding what matching read (id and
    name) and treated as loaded from the database; its other attributes load on first use."""
    lab = session.identity_map.get(identity_key(Fablab, best.fablab_id))
    if lab is None:
        lab = Fablab(id=best.fablab_id, name=best.fablab_name)
        make_transient_to_detached(lab)
        session.add(lab)
    assert isinstance(lab, Fablab)
    return lab


def _end_job(job: Job, state: JobState, now: dt.datetime, reason: str = "") -> None:
    job.state, job.live_order_id, job.updated_at = state, None, now
    if reason:
        job.reason = reason[:500]


def _rematch(session: Session, order: Order, rules: Rules, now: dt.datetime) -> None:
    order.status, order.fablab_id, order.distance_km = OrderStatus.MATCHING, None, None
    session.flush()
    dispatch(session, order, rules, now)


def expire_if_due(session: Session, order: Order, job: Job, rules: Rules, now: dt.datetime) -> bool:
    """Expire an offer whose time is up and move on to the next lab; True when it did."""
    if job.state != JobState.OFFERED or job.expires_at is None or job.expires_at > now:
        return False
    _end_job(job, JobState.EXPIRED, now, "no answer in time")
    event(order, "expired", now, job_id=job.id, fablab_id=job.fablab_id)
    _rematch(session, order, rules, now)
    return True


# --- the citizen's side --------------------------------------------------------------------------------------

def get_for_viewer(session: Session, order_id: int, account: Account) -> Order:
    """The order, if the caller is its citizen or operates the lab it is with (else 404)."""
    order = session.get(Order, order_id)
    if order is None:
        raise not_found("order")
    if order.citizen_id == account.id:
        return order
    if order.fablab is not None and order.fablab.operator_id == account.id:
        return order
    raise not_found("order")


def lab_view(order: Order, account: Account) -> int | None:
    """None when the viewer is the order's citizen, else the id of their lab the order is with (what they
    may see of it: :func:`server.orders.schemas.order_json`)."""
    return None if order.citizen_id == account.id else order.fablab_id


def lock_own(session: Session, order_id: int, account: Account) -> Order:
    order = lock_order(session, order_id)
    if order is None or order.citizen_id != account.id:
        raise not_found("order")
    return order


def cancel(session: Session, order: Order, now: dt.datetime) -> Order:
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in CANCELLABLE:
        raise ApiError(409, "cannot_cancel", f"An order that is {order.status.value} can no longer be cancelled.")
    job = live_job(session, order)
    if job is not None:
        _end_job(job, JobState.WITHDRAWN, now, "cancelled by the citizen")
        event(order, "withdrawn", now, job_id=job.id, fablab_id=job.fablab_id)
    order.status, order.next_match_at = OrderStatus.CANCELLED, None
    event(order, "cancelled", now)
    session.flush()
    return order


def confirm(session: Session, order: Order, now: dt.datetime) -> Order:
    if order.status == OrderStatus.RECEIVED:
        return order
    if order.status != OrderStatus.COMPLETED:
        raise ApiError(409, "not_completed", "Only a completed order can be confirmed as received.")
    order.status = OrderStatus.RECEIVED
    event(order, "received", now)
    session.flush()
    ledger_receipts.on_received(session, order.id)
    return order


def citizen_orders(account: Account) -> Any:
    return select(Order).where(Order.citizen_id == account.id).order_by(Order.id.desc())


# --- reactions to the rest of the hub ------------------------------------------------------------------------

def on_file_validated(session: Session, file_id: int, status: str, rules: Rules, now: dt.datetime) -> None:
    """Orders waiting for this file: reject them if it failed, else match them."""
    ids = list(session.scalars(select(Order.id).where(Order.file_id == file_id,
                                                      Order.status == OrderStatus.VALIDATING)))
    for order_id in ids:
        order = lock_order(session, order_id)
        if order is None or order.status != OrderStatus.VALIDATING:
            continue
        if status == ValidationStatus.FAILED.value:
            order.status = OrderStatus.REJECTED
            event(order, "rejected", now, reason="the file failed validation")
        else:
            event(order, "validated", now, status=status)
            _rematch(session, order, rules, now)
    session.flush()


def capacity_appeared(session: Session, latitude: float, longitude: float, now: dt.datetime) -> int:
    """A lab came online, gained a material or opened to orders: nearby unmatched orders are retried now."""
    band = 2000.0 / 110.574 + 0.5  # orders look at most 2,000 km (reach included) away
    result = session.execute(update(Order).where(Order.status == OrderStatus.UNMATCHED,
                                                 Order.delivery_latitude.between(latitude - band, latitude + band))
                             .values(next_match_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def live_jobs_of(session: Session, order: Order) -> list[Job]:
    return [j for j in order.jobs if j.state in LIVE_JOB_STATES]
