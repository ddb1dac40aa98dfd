"""Build reports and their photos, design evidence and lab reputation.

``POST /api/v1/node/jobs/{id}/report`` (JSON, API.md) answers the job with its ``report``;
``POST /api/v1/node/jobs/{id}/report/photos`` (multipart, one ``photo``) answers 201 the photo;
``GET /api/v1/photos/{id}`` and ``/thumbnail`` serve the clean images;
``GET /api/v1/designs/{id}/evidence`` answers ``{"design_id", "versions": [{"number", "evidence", "photos"}]}``
(photos of received orders only)
and ``GET /api/v1/fablabs/{id}/reputation`` the lab's ``reputation`` (API.md shapes).
"""
from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, jsonify, request

from cosmoloc_contract import evidence as contract
from design_commons.photos import DEFAULT_PHOTO_LIMITS, PhotoRefused, check_photo
from server.db import read_then_release, utcnow
from server.designs import service as designs
from server.designs.models import Blob
from server.edge import current_account, db, file_store, json_body, send_blob
from server.errors import ApiError, invalid
from server.evidence import records, service
from server.fablabs import service as fablabs
from server.node.auth import current_lab
from server.openapi import Auth, Raw, operation
from server.orders import schemas as order_schemas
from server.orders.models import Job

#: Photos decoded at once in this process: a 50-megapixel photo takes about 150 MB while it is checked.
PHOTO_CHECKS_AT_ONCE = 2
PHOTO_WAIT_S = 5.0
#: Photos are stored in the format they came in.
PHOTO = Raw("image/jpeg", "JPEG or PNG", more=("image/png",))
_photo_slots = threading.BoundedSemaphore(PHOTO_CHECKS_AT_ONCE)

node_bp = Blueprint("evidence_node_api", __name__, url_prefix="/api/v1/node")
bp = Blueprint("evidence_api", __name__, url_prefix="/api/v1")


def job_with_report(job: Job) -> dict[str, Any]:
    """The job as its lab sees it (API.md Job) plus its ``report`` (null before one is filed)."""
    f = job.order.file
    blob = db().get(Blob, f.canonical_sha256 or f.sha256)
    return {**order_schemas.job_json(job, blob.size_bytes if blob else None), "report": service.report_json(db(), job)}


@node_bp.post("/jobs/<int:job_id>/report")
@operation("File the job's build report (a later one replaces the fields it names)", auth=Auth.NODE,
           body=contract.BuildReport, answers={200: contract.JobWithReport}, errors=(409,))
def file_report(job_id: int) -> Any:
    job = service.file_report(db(), current_lab(), job_id, json_body(contract.BuildReport), utcnow())
    db().commit()
    return jsonify(contract.JobWithReport.model_validate(job_with_report(job)).to_json())


@node_bp.post("/jobs/<int:job_id>/report/photos")
@operation("Add a photo to the job's build report (JPEG or PNG, re-encoded from its pixels)", auth=Auth.NODE,
           form=contract.PhotoForm, answers={201: contract.Photo}, errors=(409, 503))
def add_photo(job_id: int) -> Any:
    upload = request.files.get("photo")
    if upload is None:
        raise invalid("Send the photo as the multipart field 'photo'.", {"photo": ["required"]}, code="photo_missing")
    with read_then_release(db()):  # decoding takes a while: no transaction (nor SQLite's write lock) is held
        service.may_add_photo(db(), current_lab(), job_id)
    data = upload.stream.read(DEFAULT_PHOTO_LIMITS.max_bytes + 1)
    if not _photo_slots.acquire(timeout=PHOTO_WAIT_S):
        raise ApiError(503, "busy", "The hub is checking other photos; try again in a moment.",
                       headers={"Retry-After": "2"})
    try:
        photo = check_photo(data, upload.mimetype)
    except PhotoRefused as refused:
        status = 413 if refused.code == "photo_too_large" else 422
        raise ApiError(status, refused.code, refused.message, {"photo": [refused.message]}) from None
    finally:
        _photo_slots.release()
    shas = service.store_photo(db(), file_store(), photo)
    row = service.add_photo(db(), current_lab(), job_id, photo, shas, utcnow())
    db().commit()
    return jsonify(contract.Photo.model_validate(service.photo_json(row)).to_json()), 201


def _send_photo(photo_id: int, thumbnail: bool) -> Any:
    row, public = service.photo_for_viewer(db(), photo_id, current_account(required=False))
    response = send_blob(row.thumbnail_sha256 if thumbnail else row.sha256, row.media_type)
    if not public:  # seen by the order's two parties only: no shared cache may keep it
        response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/photos/<int:photo_id>")
@operation("A build photo (public once its order is received; before, to the order's two parties only)",
           auth=Auth.NONE, answers={200: PHOTO, 304: None})
def photo(photo_id: int) -> Any:
    return _send_photo(photo_id, thumbnail=False)


@bp.get("/photos/<int:photo_id>/thumbnail")
@operation("A build photo's thumbnail", auth=Auth.NONE, answers={200: PHOTO, 304: None})
def photo_thumbnail(photo_id: int) -> Any:
    return _send_photo(photo_id, thumbnail=True)


@bp.get("/designs/<int:design_id>/evidence")
@operation("What the design's versions have shown when made: verified makes, success, failure modes, readiness",
           auth=Auth.NONE, answers={200: contract.DesignEvidence})
def design_evidence(design_id: int) -> Any:
    design = designs.get_design(db(), design_id)
    return jsonify(contract.DesignEvidence.model_validate({"design_id": design.id, "versions": [
        {"number": v.number, "evidence": records.version_evidence(db(), v).to_api(),
         "photos": [service.photo_json(p) for p in records.version_photos(db(), v)]} for v in design.versions]}).to_json())


@bp.get("/fablabs/<int:lab_id>/reputation")
@operation("The lab's record: on time, success, confirmed, declined, time to accept", auth=Auth.NONE,
           answers={200: contract.LabReputation})
def lab_reputation(lab_id: int) -> Any:
    lab = fablabs.get_lab(db(), lab_id)
    return jsonify(contract.LabReputation.model_validate({
        "fablab_id": lab.id, "reputation": records.lab_reputation(db(), lab.id, utcnow()).to_api()}).to_json())
