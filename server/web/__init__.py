"""Web pages for designers, operators and citizens, on top of the services the API uses.

``init_app`` registers the pages, CSRF protection of every form (the JSON API under
``/api/`` authenticates with bearer tokens and is left alone), session cookies marked
``Secure`` when the page is served over HTTPS, and the site's error pages.
"""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


class _SessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie ``Secure`` whenever the request came over HTTPS (or the hub says it is HTTPS)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        base_url = app.config["COSMOLOC"].base_url
        return bool(app.config.get("SESSION_COOKIE_SECURE") or request.is_secure or base_url.startswith("https://"))


def init_app(app: Flask) -> None:
    # importing the page modules adds their routes to the blueprint
    from server.web import auth, dashboard, designs, errorpages, fablabs, orders, pages, ratecards, site, templating  # noqa: F401

    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session, not to the clock
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.session_interface = _SessionInterface()
    csrf.init_app(app)

    @app.before_request
    def _csrf_on_forms() -> None:
        if app.config.get("WTF_CSRF_ENABLED", True) and not request.path.startswith("/api/"):
            csrf.protect()

    app.register_blueprint(site.bp)
    templating.init_app(app)
    errorpages.init_app(app)
