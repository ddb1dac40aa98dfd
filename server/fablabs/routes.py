"""Fablabs API: register, edit, node tokens, the directory, OKW records, machine history."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cosmoloc_contract import fablabs as contract
from cosmoloc_contract.enums import PROCESSES
from server.db import utcnow
from server.edge import current_account, db, idempotent, json_body, list_response, page_args, paginate, public_base_url
from server.errors import invalid
from server.fablabs import okw, schemas, service
from server.input_rules import finite_float
from server.openapi import Auth, operation

bp = Blueprint("fablabs_api", __name__, url_prefix="/api/v1")


def _settings() -> Any:
    return current_app.config["COSMOLOC"]


def lab_json(lab: Any, distance_km: float | None = None, machines_listed: int | None = None) -> dict[str, Any]:
    online = service.is_online(lab.last_seen_at, utcnow(), _settings().node_stale_after_s)
    return schemas.fablab_json(lab, online, distance_km, machines_listed)


@bp.post("/fablabs")
@operation("Register a fablab and its machines; answers its node token, shown once", auth=Auth.PERSONAL,
           body=contract.FablabIn, answers={201: contract.RegisteredFablab}, idempotent=True)
@idempotent("fablabs")
def register() -> tuple[dict[str, Any], int]:
    account = current_account()
    lab, token = service.register(db(), account, json_body(contract.FablabIn), _settings().limit_int("machines_per_lab"))
    return contract.RegisteredFablab.model_validate({**lab_json(lab), "node_token": token}).to_json(), 201


def _near_args() -> tuple[float, float, float] | None:
    raw = request.args.get("near")
    if raw is None:
        return None
    try:
        lat_s, lon_s = raw.split(",")
        lat, lon = float(lat_s), float(lon_s)
        radius = float(request.args.get("radius_km", service.DEFAULT_RADIUS_KM))
    except ValueError:
        raise invalid("near is 'latitude,longitude' and radius_km a number.", code="invalid_query") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not 0 < radius <= service.MAX_RADIUS_KM:
        raise invalid(f"near must be a point on Earth and radius_km in (0, {service.MAX_RADIUS_KM:.0f}].",
                      code="invalid_query")
    return lat, lon, radius


@bp.get("/fablabs")
@operation("The lab directory; with near, nearest first within radius_km", auth=Auth.NONE,
           query=contract.DirectoryQuery, answers={200: contract.FablabList})
def directory() -> Any:
    page, per_page = page_args()
    process = request.args.get("process") or None
    if process and process not in PROCESSES:
        raise invalid(f"process must be one of {', '.join(PROCESSES)}.", code="invalid_query")
    near = _near_args()
    # a directory entry lists at most machines_per_lab machines (older labs may hold more) beside a summary of all
    listed = _settings().limit_int("machines_per_lab")
    if near is None:
        rows, total = paginate(db(), service.listing(process), page, per_page)
        return list_response([lab_json(lab, machines_listed=listed) for lab in rows], page, per_page, total)
    hits, total = service.near(db(), *near, process, page, per_page)
    return list_response([lab_json(lab, d, listed) for lab, d in hits], page, per_page, total)


@bp.get("/fablabs/<int:lab_id>")
@operation("A fablab and its machines", auth=Auth.NONE, answers={200: contract.Fablab})
def get_lab(lab_id: int) -> Any:
    return jsonify(lab_json(service.get_lab(db(), lab_id)))


@bp.patch("/fablabs/<int:lab_id>")
@operation("Change a fablab (its operator only)", auth=Auth.PERSONAL, body=contract.FablabPatch,
           answers={200: contract.Fablab}, errors=(403,))
def update_lab(lab_id: int) -> Any:
    account = current_account()
    lab = service.get_lab(db(), lab_id)
    service.require_operator(lab, account)
    lab = service.update(db(), account, lab, json_body(contract.FablabPatch), utcnow(),
                         _settings().limit_int("machines_per_lab"))
    db().commit()
    return jsonify(lab_json(lab))


@bp.post("/fablabs/<int:lab_id>/token")
@operation("A new node token for the lab; the old one stops working (its operator only)",
           auth=Auth.PERSONAL, answers={201: contract.NodeToken}, errors=(403,))
def rotate_token(lab_id: int) -> Any:
    account = current_account()
    token = service.rotate_token(db(), account, service.get_lab(db(), lab_id))
    db().commit()
    return jsonify(contract.NodeToken(node_token=token).to_json()), 201


@bp.get("/fablabs/<int:lab_id>/okw")
@operation("The lab's Open Know-Where facility record", auth=Auth.NONE, answers={200: contract.OkwRecord})
def okw_record(lab_id: int) -> Any:
    lab = service.get_lab(db(), lab_id)
    online = service.is_online(lab.last_seen_at, utcnow(), _settings().node_stale_after_s)
    return jsonify(contract.OkwRecord(okw.facility_record(lab, online, public_base_url())).to_json())


@bp.get("/fablabs/<int:lab_id>/history")
@operation("Recent machine states of the lab, oldest first", auth=Auth.NONE,
           query=contract.HistoryQuery, answers={200: contract.MachineHistory})
def machine_history(lab_id: int) -> Any:
    lab = service.get_lab(db(), lab_id)
    try:
        hours = finite_float(request.args.get("hours", "24"))
    except ValueError:
        raise invalid("hours must be a number.", code="invalid_query") from None
    if not 0 < hours <= 24 * 7:
        raise invalid("hours must be above 0 and at most 168 (a week).", code="invalid_query")
    since = utcnow() - dt.timedelta(hours=hours)
    return jsonify(contract.MachineHistory.model_validate({"since": since, "machines": service.history(db(), lab, since)})
                   .to_json())
