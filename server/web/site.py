"""The web blueprint and what its pages share: the signed-in account, sign-in gates, plain-words errors.

Pages call the same services as the API; this module only adapts them to HTML: an
:class:`~server.errors.ApiError` raised on a page becomes its error page (or a redirect to
sign in), and forms show ``ApiError.detail`` next to the fields instead.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

from server.edge import current_account, db
from server.errors import ApiError

# templates and static files are the app's own (server/templates, server/static)
bp = Blueprint("web", __name__)

F = Callable[..., Any]


def settings() -> Any:
    return current_app.config["COSMOLOC"]


def hub() -> Any:
    return current_app.extensions["cosmoloc.hub"]


def rules() -> Any:
    return hub().rules


def signed_in() -> Any:
    """The account of the browser session, or None."""
    return current_account(required=False)


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in; anything else becomes the home page."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.home")
    return target


def sign_in_required(view: F) -> F:
    """Send visitors who are not signed in to the sign-in page, and back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if signed_in() is None:
            return redirect(url_for("web.login", next=_come_back_to()))
        return view(*args, **kwargs)

    return wrapper


def secret_page(template: str, **context: Any) -> Any:
    """A page that shows a token once: never kept in a cache or the browser's history."""
    response = make_response(render_template(template, **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def _come_back_to() -> str:
    """Where to return after signing in: this page, or for a form sent while signed out, the page it was on."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "") + "#main"
    return "/"


def form_page(template: str, error: ApiError | str | None = None, status: int | None = None, **context: Any) -> Any:
    """Render a form page again with the error in plain words (422 unless told otherwise)."""
    if isinstance(error, ApiError):
        db().rollback()
        context.setdefault("field_errors", error.errors or {})
        status = status or (error.status if error.status >= 400 else 422)
        error = error.detail
    return render_template(template, error=error, form=request.form, **context), status or (422 if error else 200)


@bp.errorhandler(ApiError)
def _api_error_page(exc: ApiError) -> Any:
    """An ApiError that no form caught: sign in for 401, else the error page with its detail."""
    db().rollback()
    if exc.status == 401:
        return redirect(url_for("web.login", next=_come_back_to()))
    return render_template("error.html", status=exc.status, title=_TITLES.get(exc.status, "Something went wrong"),
                           detail=exc.detail), exc.status


_TITLES = {400: "That request could not be read", 403: "Not yours to change", 404: "Page not found",
           405: "Not allowed here", 409: "That cannot be done now", 413: "The upload is too large",
           422: "Something is missing or wrong", 500: "Something went wrong on our side"}


def error_title(status: int) -> str:
    return _TITLES.get(status, "Something went wrong")
