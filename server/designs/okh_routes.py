"""Designs by the open standards: files under their own names (as OKH manifests link them) and OKH import."""
from __future__ import annotations

import mimetypes
from typing import Any

from flask import Blueprint, Response

from server.designs import service
from server.edge import db, send_blob
from server.errors import not_found

bp = Blueprint("designs_standards_api", __name__, url_prefix="/api/v1")


def _mimetype(filename: str) -> str:
    guessed, _encoding = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


@bp.get("/designs/<int:design_id>/files/<int:file_id>/<path:filename>")
def file_by_name(design_id: int, file_id: int, filename: str) -> Response:
    """The bytes as uploaded, as ``/api/v1/files/{id}/content`` serves them, at a URL ending in the file's name.

    404 unless the file belongs to the design and ``filename`` is its name: one file, one such URL.
    """
    row: Any = service.order_file(db(), design_id, file_id)
    if row is None or row.filename != filename:
        raise not_found("file")
    return send_blob(row.sha256, _mimetype(row.filename), row.filename)
