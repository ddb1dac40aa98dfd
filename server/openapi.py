"""The HTTP contract as an OpenAPI 3 document, served at ``GET /api/v1/openapi.json``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

PROBLEM = {"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _op(summary: str, responses: dict[str, Any], body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, auth: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "4XX": PROBLEM}}
    if body:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    if not auth:
        op["security"] = []
    return op


def _q(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


MULTIPART_DESIGN = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["title", "license", "files"],
    "properties": {"title": {"type": "string"}, "license": {"type": "string"}, "description": {"type": "string"},
                   "tags": {"type": "string", "description": "comma-separated"},
                   "derived_from": {"type": "integer"}, "unit": {"type": "string", "enum": ["mm", "cm", "m", "in"]},
                   "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}

SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string"}, "errors": {"type": "object"}}},
    "Account": {"type": "object", "properties": {"id": {"type": "integer"}, "email": {"type": "string"},
                                                 "name": {"type": "string"}}},
    "Token": {"type": "object", "properties": {"token": {"type": "string"}}},
    "Report": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["pending", "passed", "warnings", "failed"]},
        "issues": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string"}, "severity": {"type": "string", "enum": ["error", "warning", "info"]},
            "message": {"type": "string"}, "hint": {"type": "string"}}}},
        "metrics": {"type": "object"}}},
    "File": {"type": "object", "properties": {
        "id": {"type": "integer"}, "filename": {"type": "string"},
        "kind": {"type": "string", "enum": ["mesh", "drawing", "other"]}, "format": {"type": "string"},
        "size_bytes": {"type": "integer"}, "sha256": {"type": "string"}, "unit": {"type": "string"},
        "validation": {"$ref": "#/components/schemas/Report"}, "requirements": {"type": "object"},
        "thumbnail_url": {"type": "string"}}},
    "Design": {"type": "object", "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"}, "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}, "license": {"type": "object"},
        "owner": {"type": "object"}, "derived_from": {"type": "integer", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"}, "latest_version": {"type": "integer"},
        "versions": {"type": "array", "items": {"type": "object", "properties": {
            "number": {"type": "integer"}, "created_at": {"type": "string"}, "changelog": {"type": "string"},
            "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}}}}},
        "lineage": {"type": "object"}}},
    "DesignList": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Design"}},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"}}},
}

PATHS: dict[str, Any] = {
    "/api/v1/accounts": {"post": _op("Create an account", {"201": _json("Account", "Created")}, {
        "required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["email", "password", "name"],
                                                                      "properties": {"email": {"type": "string"}, "password": {"type": "string"}, "name": {"type": "string"}}}}}},
        auth=False)},
    "/api/v1/auth/tokens": {"post": _op("Exchange credentials for a personal token", {"201": _json("Token", "Created")}, {
        "required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["email", "password"],
                                                                      "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}},
        auth=False)},
    "/api/v1/account/password": {"put": _op(
        "Change the password: every web session of the account ends; personal tokens too if revoke_tokens",
        {"200": {"description": "Changed", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "sessions_ended": {"type": "integer"}, "tokens_revoked": {"type": "integer"}}}}}}}, {
        "required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["current_password", "new_password"],
                                                                      "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"},
                                                                                     "revoke_tokens": {"type": "boolean"}}}}}})},
    "/api/v1/designs": {
        "post": _op("Publish a design", {"201": _json("Design", "Created")}, MULTIPART_DESIGN),
        "get": _op("Browse and search designs", {"200": _json("DesignList")},
                   params=[_q("q"), _q("tag"), _q("process"), _q("license"), _q("page", "integer"), _q("per_page", "integer")],
                   auth=False)},
    "/api/v1/designs/{id}": {"get": _op("A design", {"200": _json("Design")}, params=[_path("id")], auth=False)},
    "/api/v1/designs/{id}/versions": {"post": _op("Add a version (owner only)", {"201": _json("Design", "Created")}, {
        "required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}, "changelog": {"type": "string"},
            "unit": {"type": "string"}}}}}}, params=[_path("id")])},
    "/api/v1/designs/{id}/okh": {"get": _op("OKH-LOSH manifest", {"200": {"description": "TOML", "content": {"application/toml": {"schema": {"type": "string"}}}}},
                                            params=[_path("id")], auth=False)},
    "/api/v1/files/{id}": {"get": _op("A file with its report and requirements", {"200": _json("File")}, params=[_path("id")], auth=False)},
    "/api/v1/files/{id}/content": {"get": _op("The bytes as uploaded (ETag = sha256)", {"200": {"description": "bytes", "content": {"application/octet-stream": {}}}},
                                              params=[_path("id")], auth=False)},
    "/api/v1/files/{id}/thumbnail.png": {"get": _op("Thumbnail", {"200": {"description": "PNG", "content": {"image/png": {}}}}, params=[_path("id")], auth=False)},
    "/api/v1/files/{id}/manufacturing": {"get": _op("The canonical manufacturing file (STL or DXF in mm)", {"200": {"description": "bytes"}}, params=[_path("id")], auth=False)},
    "/api/v1/designs/{id}/files/{file_id}/{filename}": {"get": _op(
        "The bytes as uploaded, at a URL ending in the file's name (as OKH manifests link them)",
        {"200": {"description": "bytes", "content": {"application/octet-stream": {}}}},
        params=[_path("id"), _path("file_id"), {"name": "filename", "in": "path", "required": True,
                                                 "schema": {"type": "string"}}], auth=False)},
    "/api/v1/designs/import": {"post": _op(
        "Designs from OKH-LOSH manifests and their files: what was imported and what was skipped, and why",
        {"201": {"description": "imported and skipped manifests", "content": {"application/json": {}}}}, {
            "required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
                "archive": {"type": "string", "format": "binary", "description": "a zip of manifests and files"},
                "manifest": {"type": "string", "format": "binary"},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "each named by the path the manifest gives"}}}}}})},
    "/api/v1/validate": {"post": _op("Validate a file without storing it", {"200": _json("Report")}, {
        "required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "unit": {"type": "string"}}}}}}, auth=False)},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "cosmoloc hub API", "version": "1",
                 "description": "Design global, manufacture local: the open-hardware commons and its fablab network."},
        "servers": [{"url": "/"}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": PATHS,
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(document())
