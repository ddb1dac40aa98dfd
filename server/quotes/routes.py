"""Rate cards and quotes API (API.md "Prices, quotes and ready times")."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cosmoloc_contract import quotes as contract
from server.db import utcnow
from server.edge import current_account, db
from server.openapi import Auth, operation
from server.quotes import schemas, service

bp = Blueprint("quotes_api", __name__, url_prefix="/api/v1")


@bp.put("/fablabs/<int:lab_id>/rates")
@operation("Publish the lab's rate card (its operator only): a new version, earlier ones kept", auth=Auth.PERSONAL,
           body=contract.RateCardBody, answers={200: contract.RateCard}, errors=(403,))
def put_rates(lab_id: int) -> Any:
    operator = current_account()
    row = service.publish_card(db(), operator, lab_id, request.get_json(silent=True), utcnow())
    db().commit()
    return jsonify(contract.RateCard.model_validate(schemas.card_json(row)).to_json())


@bp.get("/fablabs/<int:lab_id>/rates")
@operation("The lab's current rate card (404 no_rates when it publishes none)", auth=Auth.NONE,
           answers={200: contract.RateCard})
def get_rates(lab_id: int) -> Any:
    return jsonify(contract.RateCard.model_validate(schemas.card_json(service.card_for_reading(db(), lab_id))).to_json())


@bp.get("/designs/<int:design_id>/quotes")
@operation("Quotes of the labs matching would offer the part to: price, estimate, ready-by, transport CO2e",
           auth=Auth.NONE, query=contract.QuoteQuery, answers={200: contract.QuoteList}, errors=(409,))
def design_quotes(design_id: int) -> Any:
    args = schemas.quote_args(request.args.to_dict())
    stale_after_s = current_app.extensions["cosmoloc.hub"].rules.stale_after_s
    found = service.quotes(db(), design_id, args, stale_after_s, utcnow())
    return jsonify(contract.QuoteList.model_validate({
        "items": [q.to_json() for q in found.items], "page": args.page, "per_page": args.per_page,
        "total": found.total, "total_exact": found.total_exact}).to_json())
