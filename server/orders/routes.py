"""Orders API: place, read, candidates, cancel, confirm."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cosmoloc_contract import orders as contract
from cosmoloc_contract.common import PageQuery
from cosmoloc_contract.evidence import Receipt
from server.db import utcnow
from server.designs.models import DesignFile
from server.edge import current_account, db, idempotent, json_body, list_response, page_args, paginate
from server.evidence import service as evidence
from server.fablabs.service import resolve_location
from server.openapi import Auth, operation
from server.orders import matching, schemas, service

bp = Blueprint("orders_api", __name__, url_prefix="/api/v1")


def rules() -> service.Rules:
    rules_now: service.Rules = current_app.extensions["cosmoloc.hub"].rules
    return rules_now


@bp.post("/orders")
@operation("Place an order: matched to a nearby lab that can make it", auth=Auth.PERSONAL,
           body=contract.NewOrder, answers={201: contract.Order}, errors=(409,), idempotent=True)
@idempotent("orders")
def place() -> tuple[dict[str, Any], int]:
    citizen = current_account()
    body = json_body(contract.NewOrder)
    where = resolve_location(body.delivery.latitude, body.delivery.longitude, body.delivery.address)
    order = service.place(db(), citizen, body, where, rules(), utcnow())
    return schemas.order_json(order), 201


@bp.get("/orders")
@operation("The caller's orders", auth=Auth.PERSONAL, query=PageQuery, answers={200: contract.OrderList})
def my_orders() -> Any:
    page, per_page = page_args()
    rows, total = paginate(db(), service.citizen_orders(current_account()), page, per_page)
    return list_response([schemas.order_json(o) for o in rows], page, per_page, total)


@bp.get("/orders/<int:order_id>")
@operation("An order (its citizen; the operator of its current lab)", auth=Auth.PERSONAL,
           answers={200: contract.Order})
def get_order(order_id: int) -> Any:
    account = current_account()
    order = service.get_for_viewer(db(), order_id, account)
    return jsonify(schemas.order_json(order, service.lab_view(order, account)))


@bp.get("/orders/<int:order_id>/candidates")
@operation("The labs considered for the order, eligible first in rank order, with reasons",
           auth=Auth.PERSONAL, answers={200: contract.CandidateList})
def candidates(order_id: int) -> Any:
    account = current_account()
    order = service.get_for_viewer(db(), order_id, account)
    file_row = db().get(DesignFile, order.file_id)
    assert file_row is not None
    ranked = matching.candidates(db(), order, file_row.requirements or {}, utcnow(), rules().stale_after_s,
                                 order.design.license_id)
    viewer_lab = service.lab_view(order, account)  # a lab sees its own entry, not the other labs' reasons
    shown = [c.to_json() for c in ranked if viewer_lab is None or c.fablab_id == viewer_lab]
    return jsonify(contract.CandidateList.model_validate({"items": shown}).to_json())


@bp.post("/orders/<int:order_id>/cancel")
@operation("Cancel the order (not once in production)", auth=Auth.PERSONAL, answers={200: contract.Order},
           errors=(409,))
def cancel(order_id: int) -> Any:
    order = service.cancel(db(), service.lock_own(db(), order_id, current_account()), utcnow())
    db().commit()
    return jsonify(schemas.order_json(order))


@bp.post("/orders/<int:order_id>/confirm")
@operation("Confirm the order was received (once completed), with the part's fit for purpose if known",
           auth=Auth.PERSONAL, body=Receipt, body_optional=True, answers={200: contract.Order}, errors=(409,))
def confirm(order_id: int) -> Any:
    receipt = json_body(Receipt) if request.get_data() else Receipt()
    order = service.confirm(db(), service.lock_own(db(), order_id, current_account()), utcnow())
    evidence.record_receipt(db(), order, receipt, utcnow())
    db().commit()
    return jsonify(schemas.order_json(order))
