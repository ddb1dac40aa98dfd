"""The ledger's public API: the chain, page by page, and the rule set in force."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, request

from cosmoloc_contract import ledger as contract
from server.edge import current_account, db
from server.errors import ApiError, invalid, not_found
from server.input_rules import MAX_DB_INT
from server.ledger import earnings, receipts, service
from server.openapi import Auth, operation
from server.orders.models import Order, OrderStatus

bp = Blueprint("ledger_api", __name__, url_prefix="/api/v1/ledger")
orders_bp = Blueprint("ledger_orders_api", __name__, url_prefix="/api/v1")

MAX_LIMIT = contract.MAX_EVENTS_PER_PAGE


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
@operation("The ledger's events, page by page, with the head of the whole chain (public, append-only)",
           auth=Auth.NONE, query=contract.EventQuery, answers={200: contract.LedgerEvents})
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
    return contract.LedgerEvents.model_validate(
        {"items": items, "head": head, "next_after": rows[-1].seq if more else None}).to_json()


@bp.get("/rules")
@operation("The rule set in force: contribution percents, lab share, pass-up, generations", auth=Auth.NONE,
           answers={200: contract.Rules})
def rules() -> dict[str, Any]:
    return contract.Rules.model_validate(service.rules_in_force().public()).to_json()


@orders_bp.get("/orders/<int:order_id>/value")
@operation("The order's value receipt (its citizen, its lab's operator, anyone it pays)", auth=Auth.PERSONAL,
           answers={200: contract.ValueReceipt}, errors=(409,))
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
    return contract.ValueReceipt.model_validate(receipt).to_json()


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
@operation("The claims owed to me, with totals per currency", auth=Auth.PERSONAL, query=contract.EarningsQuery,
           answers={200: contract.Earnings})
def my_earnings() -> dict[str, Any]:
    """``?from=&to=`` (ISO dates, UTC unless stated): the claims owed to me, with totals per currency."""
    return contract.Earnings.model_validate(
        earnings.earnings(db(), current_account(), _when("from"), _when("to"))).to_json()


@orders_bp.get("/accounts/me/value-choice")
@operation("Where my shares go: the fund, another account, or me (null)", auth=Auth.PERSONAL,
           answers={200: contract.ValueChoice})
def my_value_choice() -> dict[str, Any]:
    from server.ledger.models import ValueChoice

    return contract.ValueChoice.model_validate(earnings.choice_json(db().get(ValueChoice, current_account().id))).to_json()


@orders_bp.put("/accounts/me/value-choice")
@operation("Send my future shares to the fund or another account (null: to me)", auth=Auth.PERSONAL,
           body=contract.ValueChoiceBody, answers={200: contract.ValueChoice})
def set_my_value_choice() -> dict[str, Any]:
    """``{"redirect_to": "fund" | account id | null}``: where my future shares go (null: to me)."""
    account = current_account()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "redirect_to" not in body:
        raise invalid('The body is {"redirect_to": "fund" | account id | null}.', code="invalid_body")
    choice = earnings.set_value_choice(db(), account, body["redirect_to"])
    db().commit()
    return contract.ValueChoice.model_validate(earnings.choice_json(choice)).to_json()
