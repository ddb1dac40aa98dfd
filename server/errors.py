"""One error shape for every endpoint: RFC 9457 problem+json with a stable ``code``.

Routes and services raise :class:`ApiError`; the handlers here turn it (and Werkzeug's
HTTP errors, and anything unexpected) into problem+json. The 500 handler hides internals.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE = "https://cosmoloc.org/problems/"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
}


class ApiError(Exception):
    """An error answered as problem+json. ``code`` is stable; ``detail`` is for people."""

    def __init__(self, status: int, code: str, detail: str, errors: dict[str, Any] | None = None,
                 keep_changes: bool = False, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        # the refusal follows a change that must stand (an offer found expired while accepting it)
        self.keep_changes = keep_changes
        self.headers = headers or {}  # e.g. Retry-After of a 429


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


def invalid(detail: str, errors: dict[str, Any] | None = None, code: str = "invalid_input") -> ApiError:
    return ApiError(422, code, detail, errors)


def problem(status: int, code: str, detail: str, errors: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cosmoloc"'
    return response


def too_large_detail() -> str:
    """Why a body was refused as too large: an upload's limit in MB, any other body's (JSON) in bytes."""
    from flask import current_app

    settings = current_app.config["COSMOLOC"]
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return f"The upload is larger than the limit of {settings.max_upload_mb} MB."
    return (f"The body is larger than the limit of {settings.limit_int('json_body_bytes')} bytes; "
            "files are sent as multipart/form-data uploads.")


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        if exc.keep_changes:
            from server.edge import db

            db().commit()
        response = problem(exc.status, exc.code, exc.detail, exc.errors)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if not wants_json() and "web_error_page" in app.view_functions:
            return app.view_functions["web_error_page"](exc)
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        detail = exc.description or TITLES.get(status, "Error")
        if status == 413:
            detail = too_large_detail()
        return problem(status, code, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_json() and "web_error_page" in app.view_functions:
            return app.view_functions["web_error_page"](exc)
        return problem(500, "internal_error", "Something went wrong on the hub; it has been logged.")
