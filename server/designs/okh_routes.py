"""Designs by the open standards: files under their own names (as OKH manifests link them) and OKH import."""
from __future__ import annotations

import mimetypes
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, request

from cosmoloc_contract import importing as contract
from server.designs import importing, service
from server.designs import routes as designs_routes
from server.designs.processing import queue_validation
from server.edge import current_account, db, file_store, idempotent, public_base_url, send_blob
from server.errors import ApiError, invalid, not_found
from server.openapi import Auth, Raw, operation

bp = Blueprint("designs_standards_api", __name__, url_prefix="/api/v1")


def hub() -> Any:
    return current_app.extensions["cosmoloc.hub"]


def _mimetype(filename: str) -> str:
    guessed, _encoding = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


@bp.get("/designs/<int:design_id>/files/<int:file_id>/<path:filename>")
@operation("The file's bytes as uploaded, at a URL ending in its name (as OKH manifests link them)",
           auth=Auth.NONE, answers={200: Raw("*/*", "The bytes, typed by the file's name"), 304: None})
def file_by_name(design_id: int, file_id: int, filename: str) -> Response:
    """The bytes as uploaded, as ``/api/v1/files/{id}/content`` serves them, at a URL ending in the file's name.

    404 unless the file belongs to the design and ``filename`` is its name: one file, one such URL.
    """
    row: Any = service.order_file(db(), design_id, file_id)
    if row is None or row.filename != filename:
        raise not_found("file")
    return send_blob(row.sha256, _mimetype(row.filename), row.filename)


def _unpack(root: Path) -> list[Path]:
    """The request's manifests, laid out in ``root``: a zip ``archive``, or a ``manifest`` and its ``files``."""
    limit = hub().limits.max_bytes
    archive, manifest = request.files.get("archive"), request.files.get("manifest")
    if archive is not None and archive.filename:
        importing.unpack_zip(archive.stream, root, limit)
    elif manifest is not None and manifest.filename:
        files = [(f.filename or "", f.stream) for f in request.files.getlist("files") if f.filename]
        importing.place_uploads((manifest.filename, manifest.stream), files, root, limit)
    else:
        raise invalid("Send a zip 'archive' of OKH manifests and their files, or a 'manifest' and its 'files'.",
                      {"archive": ["required"]}, code="no_files")
    return importing.find_manifests([root])


@bp.post("/designs/import")
@operation("Designs from OKH-LOSH manifests and their files: what was imported and what was skipped, and why",
           auth=Auth.PERSONAL, form=contract.ImportForm, answers={201: contract.ImportSummary}, errors=(409,),
           idempotent=True)
@idempotent("designs_import")
def import_designs() -> tuple[dict[str, Any], int]:
    """Designs from OKH-LOSH manifests: 201 with what was imported and skipped; 422 when nothing was."""
    account = current_account()
    with tempfile.TemporaryDirectory(prefix="cosmoloc-okh-") as tmp:
        root = Path(tmp)
        try:
            manifests = _unpack(root)
        except importing.Refused as exc:
            raise invalid(exc.reason, {"archive": [exc.reason]}, code=exc.code) from None
        except importing.ImportFileError as exc:
            raise invalid(str(exc), {"archive": [str(exc)]}, code="too_many_manifests") from None
        if not manifests:
            raise invalid("No OKH manifest (okh.toml, okh-*.toml, *.okh.toml) was sent.", {"archive": ["no manifest"]},
                          code="no_manifest")
        summary = importing.import_manifests(db(), file_store(), account, manifests, public_base_url(),
                                             shown=lambda p: p.relative_to(root).as_posix(),
                                             quota=hub().upload_quota,
                                             max_description=hub().settings.limit_int("description_chars"))
    if not summary.imported:
        raise ApiError(422, "nothing_imported", "No design could be imported: " +
                       "; ".join(f"{s.manifest}: {s.reason}" for s in summary.skipped),
                       {s.manifest: [s.code, s.reason] for s in summary.skipped})
    designs = [item.design for item in summary.imported]

    def queue() -> None:
        for design in designs:
            queue_validation(hub().tasks, design)

    request.on_commit = queue  # type: ignore[attr-defined]
    return contract.ImportSummary.model_validate(summary.to_json()).to_json(), 201


# validation is queued once the import is committed (the idempotency edge commits), as publishing does
bp.after_request(designs_routes._run_after_commit)
