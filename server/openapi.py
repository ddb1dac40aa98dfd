"""The HTTP contract as an OpenAPI 3.1 document, generated from the contract's models.

Each API view declares its operation with :func:`operation` (placed right under the route
decorator): a summary, who may call it (:class:`Auth`), its JSON body or multipart form, its
query, its answers by status (a model of :mod:`cosmoloc_contract`, or :class:`Raw` bytes) and the
problem+json refusals it may give. :func:`document` walks the app's URL map and builds the
document from those declarations and pydantic's JSON Schema, so a route and its description
cannot drift apart; a route under ``/api/v1`` without a declaration is missing from the document,
which a test catches. Served at ``GET /api/v1/openapi.json``; ``/api/docs`` shows it (Swagger UI).
"""
from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cosmoloc_contract.common import Problem
from cosmoloc_contract.fields import MAX_DB_INT

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"


class Auth(enum.StrEnum):
    """Who may call an operation."""

    NONE = "none"  # anyone
    PERSONAL = "personal"  # a personal token (clp_...); a read also takes the web session cookie
    NODE = "node"  # a lab's node token (cln_...)


@dataclass(frozen=True)
class Raw:
    """An answer that is not a contract model: bytes of ``media_type`` (a download, a manifest, a picture)."""

    media_type: str
    description: str = ""
    more: tuple[str, ...] = ()  # other media types the same answer may have


@dataclass(frozen=True)
class Operation:
    summary: str
    auth: Auth
    answers: dict[int, type[BaseModel] | Raw | None]
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    idempotent: bool = False
    body_optional: bool = False


def operation(summary: str, *, auth: Auth, answers: dict[int, type[BaseModel] | Raw | None],
              body: type[BaseModel] | None = None, form: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, errors: Iterable[int] = (),
              idempotent: bool = False, body_optional: bool = False) -> Callable[[F], F]:
    """Declare a view's operation for the document. ``answers`` maps a status to its model (None: no body);
    ``errors`` lists the refusals beyond those the declaration implies (401 with auth, 404 with a path id,
    422 with a body, form or query, 429 everywhere); ``body_optional``: an empty body is the model's defaults."""
    op = Operation(summary, auth, dict(answers), body, form, query, tuple(errors), idempotent, body_optional)

    def declare(view: F) -> F:
        view.__contract__ = op  # type: ignore[attr-defined]
        return view

    return declare


def declared(view: Callable[..., Any]) -> Operation | None:
    """The operation a view declared, looking through decorators that wrapped it."""
    while view is not None:
        op = getattr(view, "__contract__", None)
        if op is not None:
            return op
        view = getattr(view, "__wrapped__", None)  # type: ignore[assignment]
    return None


# -- the document -----------------------------------------------------------------------------

SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    Auth.NONE: [],
    Auth.PERSONAL: [{"personalToken": []}],  # reads take the session cookie too (see _operation)
    Auth.NODE: [{"nodeToken": []}],
}
SECURITY_SCHEMES = {
    "personalToken": {"type": "http", "scheme": "bearer",
                      "description": "A personal API token (clp_...): POST /api/v1/auth/tokens, or the Tokens page."},
    "nodeToken": {"type": "http", "scheme": "bearer",
                  "description": "A lab's node token (cln_...): acts for one fablab, on /api/v1/node/... only."},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                      "description": "The web pages' session: reads through the API only, never writes."},
}
REFUSALS = {400: "Bad request", 401: "No valid credentials", 403: "Not yours to change",
            404: "No such resource (or not yours to see)", 408: "The body came too slowly",
            409: "The resource's state does not allow it", 413: "Too large", 422: "Invalid input",
            429: "Too many requests: wait Retry-After seconds", 503: "Busy: try again after Retry-After seconds"}
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []
    for converter, name in _ARG.findall(rule):
        schema: dict[str, Any] = {"type": "string"}
        if converter == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _ARG.sub(r"{\2}", rule), params


def _problem() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}


def _content(answer: type[BaseModel] | Raw, names: dict[Any, str]) -> dict[str, Any]:
    if isinstance(answer, Raw):
        return {media_type: {"schema": {"type": "object"} if media_type.endswith("json")
                             else {"type": "string", "format": "binary"}}
                for media_type in (answer.media_type, *answer.more)}
    return {"application/json": {"schema": {"$ref": REF.format(model=names[(answer, "serialization")])}}}


def _query_params(model: type[BaseModel], defs: dict[str, Any], names: dict[Any, str]) -> list[dict[str, Any]]:
    schema = defs[names[(model, "validation")]]
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _operation(op: Operation, method: str, endpoint: str, path_params: list[dict[str, Any]], defs: dict[str, Any],
               names: dict[Any, str]) -> dict[str, Any]:
    security = SECURITY[op.auth]
    if op.auth is Auth.PERSONAL and method == "get":  # the pages read through the API with their session
        security = [*security, {"sessionCookie": []}]
    out: dict[str, Any] = {"operationId": endpoint.replace(".", "_"), "summary": op.summary,
                           "tags": [endpoint.split(".")[0].removesuffix("_api")], "security": security}
    params = list(path_params)
    if op.query is not None:
        params += _query_params(op.query, defs, names)
    if op.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "maxLength": 200},
                       "description": "The same key from the same account answers the first result again."})
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": not op.body_optional, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=names[(op.body, "validation")])}}}}
    elif op.form is not None:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            "schema": {"$ref": REF.format(model=names[(op.form, "validation")])}}}}
    responses: dict[str, Any] = {}
    for status, answer in op.answers.items():
        description = answer.description if isinstance(answer, Raw) and answer.description else "OK"
        if answer is None:
            description = {204: "Done; no body", 304: "Not modified: If-None-Match named the ETag"}.get(status, "")
        responses[str(status)] = {"description": description}
        if answer is not None:
            responses[str(status)]["content"] = _content(answer, names)
    for status in sorted(refusals(op, bool(path_params))):
        responses[str(status)] = {"description": REFUSALS.get(status, "Refused"), "content": _problem()}
    out["responses"] = responses
    return out


def refusals(op: Operation, has_path_params: bool) -> set[int]:
    """The problem+json statuses an operation documents: its own, and those its declaration implies."""
    out = set(op.errors) | {429}
    if op.auth in (Auth.PERSONAL, Auth.NODE):
        out.add(401)
    if has_path_params:
        out.add(404)
    if op.body is not None or op.form is not None or op.query is not None:
        out.add(422)
    if op.body is not None or op.form is not None:
        out |= {400, 408, 413}
    return out


def _operations(app: Flask) -> list[tuple[str, str, str, list[dict[str, Any]], Operation]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        op = declared(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path, params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), rule.endpoint, params, op))
    return found


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared operation under ``/api/v1`` of ``app``."""
    found = _operations(app)
    wanted: set[tuple[type[BaseModel], str]] = {(Problem, "serialization")}
    for *_, op in found:
        for model in (op.body, op.form, op.query):
            if model is not None:
                wanted.add((model, "validation"))
        wanted |= {(a, "serialization") for a in op.answers.values() if isinstance(a, type)}
    ordered = sorted(wanted, key=lambda pair: (pair[0].__module__, pair[0].__qualname__, pair[1]))
    keyed, top = models_json_schema(ordered, ref_template=REF)  # type: ignore[arg-type]
    defs: dict[str, Any] = top.get("$defs", {})
    names = {pair: schema["$ref"].rsplit("/", 1)[-1] for pair, schema in keyed.items()}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint, params, op in found:
        paths.setdefault(path, {})[method] = _operation(op, method, endpoint, params, defs, names)
    return {
        "openapi": "3.1.0",
        "info": {"title": "cosmoloc hub API", "version": "1",
                 "description": "Design global, manufacture local: the open-hardware commons and its fablab "
                                "network. Errors are problem+json with a stable `code`; lists are pages of "
                                "`items`; times are ISO 8601 UTC, lengths mm, distances km."},
        "servers": [{"url": "/"}],
        "components": {"schemas": defs, "securitySchemes": SECURITY_SCHEMES},
        "paths": dict(sorted(paths.items())),
    }


@bp.get("/openapi.json")
@operation("This document: the API as OpenAPI 3.1", auth=Auth.NONE,
           answers={200: Raw("application/json", "The OpenAPI document")})
def openapi_json() -> Any:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get("cosmoloc.openapi")
    if cached is None:
        cached = app.extensions["cosmoloc.openapi"] = document(app)
    return jsonify(cached)
