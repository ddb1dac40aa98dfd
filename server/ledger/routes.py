"""The ledger's public API: the chain, page by page, and the rule set in force."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, request

from server.edge import current_account, db
from server.errors import ApiError, invalid, not_found
from server.input_rules import MAX_DB_INT
from server.ledger import earnings, receipts, service
from server.orders.models import Order, OrderStatus

bp = Blueprint("ledger_api", __name__, url_prefix="/api/v1/ledger")
orders_bp = Blueprint("ledger_orders_api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 1000


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise invalid(f"{name} must be an integer from {lo} to {hi}.", {name: [f"from {lo} to {hi}"]}, code="invalid_query")
    return value


@bp.get("/events")
def events() -> dict[str, Any]:
    """``?after=seq&limit=n``: the events after ``after`` (default 0), at most ``limit`` (default 100, at most 1000),
    with the head of the whole chain; ``next_after`` is the ``after`` of the next page (null: this was the last)."""
    after = _int_arg("after", 0, 0, MAX_DB_INT)
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    session = db()
    head = service.head(session)  # read first: every event of the page is at or before it
    rows = service.page(session, after, limit)
    items = [service.event_json(r) for r in rows]
    more = bool(rows) and rows[-1].hash != head
    return {"items": items, "head": head, "next_after": rows[-1].seq if more else None}


@bp.get("/rules")
def rules() -> dict[str, Any]:
    return service.rules_in_force().public()


@orders_bp.get("/orders/<int:order_id>/value")
def order_value(order_id: int) -> dict[str, Any]:
    """The order's value receipt, for its citizen, its lab's operator and anyone it pays (anyone else: 404)."""
    account = current_account()
    session = db()
    order = session.get(Order, order_id)
    receipt = receipts.value_receipt(session, order_id)
    if order is None or not receipts.can_view(order, account, receipt):
        raise not_found("order")
    if order.status != OrderStatus.RECEIVED:
        raise ApiError(409, "not_received", "The value of an order is shared once its citizen confirms receipt.")
    if receipt is None:
        raise ApiError(409, "no_agreed_price", "This order was made without an agreed price, so nothing was contributed.")
    return receipt


def _when(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(f"{name} must be an ISO 8601 date or time.", {name: ["not a date"]}, code="invalid_query") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@orders_bp.get("/accounts/me/earnings")
def my_earnings() -> dict[str, Any]:
    """``?from=&to=`` (ISO dates, UTC unless stated): the claims owed to me, with totals per currency."""
    return earnings.earnings(db(), current_account(), _when("from"), _when("to"))


@orders_bp.get("/accounts/me/value-choice")
def my_value_choice() -> dict[str, Any]:
    from server.ledger.models import ValueChoice

    return earnings.choice_json(db().get(ValueChoice, current_account().id))


@orders_bp.put("/accounts/me/value-choice")
def set_my_value_choice() -> dict[str, Any]:
    """``{"redirect_to": "fund" | account id | null}``: where my future shares go (null: to me)."""
    account = current_account()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "redirect_to" not in body:
        raise invalid('The body is {"redirect_to": "fund" | account id | null}.', code="invalid_body")
    choice = earnings.set_value_choice(db(), account, body["redirect_to"])
    db().commit()
    return earnings.choice_json(choice)
