"""The site's 404, 500 and other error pages (server/errors.py calls ``web_error_page`` for non-API requests)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server.errors import too_large_detail
from server.web.site import error_title

log = logging.getLogger(__name__)

CSRF_DETAIL = ("This form has expired or did not come from this site. "
               "Go back, reload the page and send the form again.")


def web_error_page(exc: BaseException) -> Any:
    """An HTML page in the site's style with the right status; never a stack trace."""
    from flask import g

    status = exc.code if isinstance(exc, HTTPException) and exc.code else 500
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    if isinstance(exc, CSRFError):
        detail = CSRF_DETAIL
    elif status == 404:
        detail = "There is nothing at this address. It may have moved, or the link may be mistyped."
    elif status == 413:
        detail = too_large_detail()
    elif status >= 500:
        detail = "The hub ran into a problem and it has been logged. Please try again in a moment."
    else:
        detail = (exc.description if isinstance(exc, HTTPException) else None) or error_title(status)
    try:
        return render_template("error.html", status=status, title=error_title(status), detail=detail), status
    except Exception:  # the page itself failed: say it plainly rather than raise again
        log.exception("the error page could not be rendered")
        return f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1><p>{detail}</p>", status


def init_app(app: Flask) -> None:
    app.view_functions["web_error_page"] = web_error_page
