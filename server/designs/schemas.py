"""JSON shapes of designs and files (API.md: Design, File, Report), built through cosmoloc_contract.designs."""
from __future__ import annotations

from typing import Any

from cosmoloc_contract import designs as contract
from design_commons import licences
from server.designs.models import Design, DesignFile, DesignVersion


def licence_json(licence_id: str) -> dict[str, Any]:
    try:
        return licences.lookup(licence_id).to_api()
    except licences.LicenceRefused:
        return {"id": licence_id, "name": licence_id, "open": False, "commercial_use": False, "share_alike": False}


def _file(row: DesignFile) -> dict[str, Any]:
    report = row.report or {"status": row.validation_status.value, "issues": [], "metrics": {}}
    out: dict[str, Any] = {
        "id": row.id,
        "filename": row.filename,
        "kind": row.kind,
        "format": row.format,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "unit": row.unit,
        "validation": {**report, "status": row.validation_status.value},
        "requirements": row.requirements or {"processes": []},
        "content_url": f"/api/v1/files/{row.id}/content",
        "design_id": row.version.design_id,
        "version": row.version.number,
    }
    if row.thumbnail_sha256:
        out["thumbnail_url"] = f"/api/v1/files/{row.id}/thumbnail.png"
    if row.canonical_sha256:
        out["manufacturing_file_url"] = f"/api/v1/files/{row.id}/manufacturing"
        out["manufacturing_format"] = row.canonical_format
    return out


def file_json(row: DesignFile) -> dict[str, Any]:
    return contract.DesignFile.model_validate(_file(row)).to_json()


def _version(version: DesignVersion) -> dict[str, Any]:
    return {"number": version.number, "created_at": version.created_at,
            "changelog": version.changelog, "files": [_file(f) for f in version.files]}


def design_ref(design: Design) -> dict[str, Any]:
    return {"id": design.id, "title": design.title}


def _design_fields(design: Design) -> dict[str, Any]:
    return {
        "id": design.id,
        "title": design.title,
        "description": design.description,
        "tags": [t.tag for t in design.tags],
        "license": licence_json(design.license_id),
        "owner": {"id": design.owner.id, "name": design.owner.name},
        "derived_from": design.derived_from_id,
        "created_at": design.created_at,
        "updated_at": design.updated_at,
        "latest_version": max((v.number for v in design.versions), default=0),
    }


def design_json(design: Design, derivatives: list[Design], ancestors: list[Design],
                parents: list[dict[str, Any]]) -> dict[str, Any]:
    """A design as API.md shows it; ``parents`` as :func:`server.designs.parents.as_json` reads them."""
    return contract.Design.model_validate({
        **_design_fields(design),
        "versions": [_version(v) for v in design.versions],
        "lineage": {"ancestors": [design_ref(d) for d in ancestors],
                    "derivatives": [design_ref(d) for d in derivatives]},
        "okh_url": f"/api/v1/designs/{design.id}/okh",
        "parents": parents,
    }).to_json()


def design_summary(design: Design) -> dict[str, Any]:
    """A design in a list: the design without the file reports of older versions."""
    latest = design.versions[-1] if design.versions else None
    thumb = next((f"/api/v1/files/{f.id}/thumbnail.png" for f in (latest.files if latest else [])
                  if f.thumbnail_sha256), None)
    return contract.DesignSummary.model_validate({
        **_design_fields(design),
        "versions": [_version(latest)] if latest else [],
        "thumbnail_url": thumb,
    }).to_json()
