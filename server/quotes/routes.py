"""Rate cards and quotes API (API.md "Prices, quotes and ready times")."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from server.db import utcnow
from server.edge import current_account, db
from server.quotes import schemas, service

bp = Blueprint("quotes_api", __name__, url_prefix="/api/v1")


@bp.put("/fablabs/<int:lab_id>/rates")
def put_rates(lab_id: int) -> Any:
    operator = current_account()
    row = service.publish_card(db(), operator, lab_id, request.get_json(silent=True), utcnow())
    db().commit()
    return jsonify(schemas.card_json(row))


@bp.get("/fablabs/<int:lab_id>/rates")
def get_rates(lab_id: int) -> Any:
    return jsonify(schemas.card_json(service.card_for_reading(db(), lab_id)))


@bp.get("/designs/<int:design_id>/quotes")
def design_quotes(design_id: int) -> Any:
    args = schemas.quote_args(request.args.to_dict())
    stale_after_s = current_app.extensions["cosmoloc.hub"].rules.stale_after_s
    found = service.quotes(db(), design_id, args, stale_after_s, utcnow())
    return jsonify({"items": [q.to_json() for q in found.items], "page": args.page, "per_page": args.per_page,
                    "total": found.total, "total_exact": found.total_exact})
