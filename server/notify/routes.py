"""Notification API: preferences, one-click unsubscribe (RFC 8058, no session), a lab's webhooks."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from server.db import utcnow
from server.edge import current_account, db
from server.errors import ApiError, invalid
from server.fablabs import service as fablabs
from server.notify import service, tokens

bp = Blueprint("notify_api", __name__, url_prefix="/api/v1")


def _notify() -> Any:
    return current_app.extensions["cosmoloc.notify"]


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object.", code="invalid_body")
    return data


@bp.get("/accounts/me/notifications")
def get_prefs() -> dict[str, Any]:
    account = current_account()
    answer = service.prefs_json(service.prefs_of(db(), account.id), account.email, _notify().email_on)
    db().rollback()  # the default preferences are not stored until changed
    return answer


@bp.put("/accounts/me/notifications")
def put_prefs() -> dict[str, Any]:
    account = current_account()
    data = _body()
    email_on, kinds = data.get("email_on"), data.get("kinds")
    if email_on is not None and not isinstance(email_on, bool):
        raise invalid("email_on is true or false.", {"email_on": ["a boolean"]})
    if kinds is not None and not (isinstance(kinds, dict) and all(isinstance(v, bool) for v in kinds.values())):
        raise invalid("kinds maps kinds to true or false.", {"kinds": ["an object of booleans"]})
    prefs = service.set_prefs(db(), account.id, email_on, kinds)
    db().commit()
    return service.prefs_json(prefs, account.email, _notify().email_on)


@bp.post("/notifications/unsubscribe/<token>")
def unsubscribe(token: str) -> tuple[dict[str, Any], int]:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click`` here, with no session."""
    found = tokens.read_unsubscribe(current_app.config["SECRET_KEY"], token)
    if found is None:
        raise ApiError(404, "unknown_token", "This unsubscribe link is not valid.")
    account_id, kind = found
    service.unsubscribe(db(), account_id, kind)
    db().commit()
    return {"unsubscribed": kind}, 200


def _operated_lab(lab_id: int) -> Any:
    account = current_account()
    lab = fablabs.get_lab(db(), lab_id)
    fablabs.require_operator(lab, account)
    return lab


@bp.get("/fablabs/<int:lab_id>/webhooks")
def list_webhooks(lab_id: int) -> Any:
    lab = _operated_lab(lab_id)
    return jsonify({"items": [service.endpoint_json(e) for e in service.endpoints_of(db(), lab.id)]})


@bp.post("/fablabs/<int:lab_id>/webhooks")
def add_webhook(lab_id: int) -> tuple[dict[str, Any], int]:
    _operated_lab(lab_id)
    data = _body()
    db().rollback()  # the URL's host is resolved next: no transaction held open through it
    endpoint = service.add_endpoint(db(), lab_id, data.get("url"), data.get("events"),
                                    _notify().allow_private_webhooks, utcnow())
    db().commit()
    return service.endpoint_json(endpoint, with_secret=True), 201


@bp.delete("/fablabs/<int:lab_id>/webhooks/<int:endpoint_id>")
def remove_webhook(lab_id: int, endpoint_id: int) -> tuple[str, int]:
    lab = _operated_lab(lab_id)
    service.remove_endpoint(db(), lab.id, endpoint_id)
    db().commit()
    return "", 204


@bp.get("/fablabs/<int:lab_id>/webhooks/deliveries")
def webhook_deliveries(lab_id: int) -> Any:
    lab = _operated_lab(lab_id)
    return jsonify({"items": service.delivery_log(db(), lab.id)})
