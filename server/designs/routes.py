"""Designs API: publish, version, browse, download, OKH manifest, validation without storing."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from cosmoloc_contract import designs as contract
from design_commons import okh
from server.designs import parents, schemas, service
from server.designs.processing import queue_validation
from server.edge import (
    content_disposition,
    current_account,
    db,
    file_store,
    idempotent,
    list_response,
    page_args,
    paginate,
    public_base_url,
    send_blob,
)
from server.errors import invalid, not_found
from server.openapi import Auth, Raw, operation
from server.ratelimits import validate_limit

bp = Blueprint("designs_api", __name__, url_prefix="/api/v1")


def hub() -> Any:
    return current_app.extensions["cosmoloc.hub"]


def _uploads(field: str = "files") -> list[service.Upload]:
    return [service.Upload(f.filename or "", f.stream) for f in request.files.getlist(field)]


def _full(design: Any) -> dict[str, Any]:
    session = db()
    return schemas.design_json(design, service.derivatives(session, design), service.ancestry(design),
                               parents.as_json(session, design))


@bp.post("/designs")
@operation("Publish a design with its files (validated in the background)", auth=Auth.PERSONAL,
           form=contract.DesignForm, answers={201: contract.Design}, errors=(409,), idempotent=True)
@idempotent("designs")
def publish() -> tuple[dict[str, Any], int]:
    account = current_account()
    form = request.form
    design = service.publish(db(), file_store(), account, form.get("title", ""), form.get("license", ""),
                             form.get("description", ""), form.get("tags"), form.get("derived_from"),
                             form.get("unit"), _uploads(), hub().settings.limit_int("description_chars"),
                             quota=hub().upload_quota, parent_weights=form.get("parent_weights"))
    body = _full(design)
    request.on_commit = lambda: queue_validation(hub().tasks, design)  # type: ignore[attr-defined]
    return body, 201


@bp.after_request
def _run_after_commit(response: Response) -> Response:
    callback = getattr(request, "on_commit", None)
    if callback is not None and response.status_code < 400:
        callback()
    return response


@bp.post("/designs/<int:design_id>/versions")
@operation("Add a version (its owner only)", auth=Auth.PERSONAL, form=contract.VersionForm,
           answers={201: contract.Design}, errors=(403, 409), idempotent=True)
@idempotent("versions")
def new_version(design_id: int) -> tuple[dict[str, Any], int]:
    account = current_account()
    design = service.get_design(db(), design_id)
    design = service.add_version(db(), file_store(), account, design, request.form.get("changelog"),
                                 request.form.get("unit"), _uploads(), quota=hub().upload_quota)
    body = _full(design)
    request.on_commit = lambda: queue_validation(hub().tasks, design)  # type: ignore[attr-defined]
    return body, 201


@bp.get("/designs")
@operation("Browse and search designs", auth=Auth.NONE, query=contract.DesignQuery,
           answers={200: contract.DesignList})
def list_designs() -> Any:
    page, per_page = page_args()
    args = request.args
    query = service.search_query(args.get("q"), args.get("tag"), args.get("process"), args.get("license"))
    rows, total = paginate(db(), query, page, per_page)
    return list_response([schemas.design_summary(d) for d in rows], page, per_page, total)


@bp.get("/designs/<int:design_id>")
@operation("A design with its versions, files and lineage", auth=Auth.NONE, answers={200: contract.Design})
def get_design(design_id: int) -> Any:
    return jsonify(_full(service.get_design(db(), design_id)))


@bp.get("/designs/<int:design_id>/okh")
@operation("The design's OKH-LOSH manifest", auth=Auth.NONE,
           answers={200: Raw("application/toml", "OKH-LOSH manifest (TOML)")})
def get_okh(design_id: int) -> Any:
    design = service.get_design(db(), design_id)
    body = _full(design)
    latest = body["versions"][-1]
    text = okh.build_manifest(body, latest, public_base_url())
    return Response(text, mimetype="application/toml",
                    headers={"Content-Disposition": content_disposition(f"okh-design-{design.id}.toml", "inline")})


@bp.get("/files/<int:file_id>")
@operation("A file with its validation report and requirements", auth=Auth.NONE,
           answers={200: contract.DesignFile})
def get_file(file_id: int) -> Any:
    return jsonify(schemas.file_json(service.get_file(db(), file_id)))


@bp.get("/files/<int:file_id>/content")
@operation("The file's bytes as uploaded (ETag: its sha256)", auth=Auth.NONE,
           answers={200: Raw("application/octet-stream", "The bytes"), 304: None})
def file_content(file_id: int) -> Response:
    row = service.get_file(db(), file_id)
    return send_blob(row.sha256, "application/octet-stream", row.filename)


@bp.get("/files/<int:file_id>/thumbnail.png")
@operation("The file's thumbnail", auth=Auth.NONE, answers={200: Raw("image/png", "PNG"), 304: None})
def file_thumbnail(file_id: int) -> Response:
    row = service.get_file(db(), file_id)
    if not row.thumbnail_sha256:
        raise not_found("thumbnail (none yet)")
    return send_blob(row.thumbnail_sha256, "image/png")


@bp.get("/files/<int:file_id>/manufacturing")
@operation("The canonical manufacturing file (binary STL or DXF, in mm)", auth=Auth.NONE,
           answers={200: Raw("application/octet-stream", "STL or DXF"), 304: None})
def file_manufacturing(file_id: int) -> Response:
    row = service.get_file(db(), file_id)
    if not row.canonical_sha256:
        raise not_found("manufacturing file (the file has not passed validation)")
    stem = row.filename.rsplit(".", 1)[0]
    return send_blob(row.canonical_sha256, "application/octet-stream", f"{stem}.{row.canonical_format}")


@bp.post("/validate")
@operation("Validate a file without storing it", auth=Auth.NONE, form=contract.ValidateForm,
           answers={200: contract.CheckedFile}, errors=(503,))
@validate_limit
def validate_upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise invalid("Send the file to check as the multipart field 'file'.", {"file": ["required"]}, code="no_files")
    unit = service.parse_unit(request.form.get("unit"))
    with tempfile.TemporaryDirectory(prefix="cosmoloc-upload-") as tmp:
        path = Path(tmp) / "upload"
        upload.save(path)
        settings = hub().settings
        result = service.check_unstored(path, upload.filename, unit, hub().limits, hub().sandboxes,
                                        settings.limit_int("sandbox_wait_s"))
    return jsonify(contract.CheckedFile.model_validate({
        **result.report, "file": upload.filename, "kind": result.kind, "format": result.format,
        "requirements": result.requirements}).to_json())
